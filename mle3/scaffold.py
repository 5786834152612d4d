"""``mle3 init``: a new workspace whose commented examples already pass ``mle3 check``."""

from __future__ import annotations

from pathlib import Path

from .errors import Mle3Error
from .workspace import CONFIG_NAME

SCHEMA_LINE = "# yaml-language-server: $schema={up}schemas/{kind}.schema.json\n"

FILES: dict[str, str] = {
    CONFIG_NAME: """\
# mle3 workspace settings. Reference: README.md, section "Workspace format".
project: {project}
# Ids owned by other tools (e.g. system requirements in your ALM): never reported as dangling.
external: ["SYS-*"]
# Change a rule's severity (error, warning, info, off); a reason is required.
rules: {{}}
#   trace.config-unused:
#     severity: info
#     reason: configurations are drafted before the data set exists
policy:
  # Allowed share of every split (train/val/test), checked for every data set version.
  split_ratios: {{train: [0.6, 0.8], val: [0.1, 0.2], test: [0.1, 0.2]}}
quantization:
  max_map50_drop: 0.01
""",
    "requirements/REQ-DATA-001.yaml": """\
requirement:
  id: REQ-DATA-001
  title: Training data for the detector
  type: ml_data            # ml_data, ml_model, performance, robustness, safety, interface, other
  derived_from: [SYS-REQ-001]
  text: >-
    The training data shall contain at least 300 labelled images, split into mutually
    exclusive train, validation and test sets.
  criteria:
    - samples: train
      min: 300
    - split_ratio: {train: [0.6, 0.8], val: [0.1, 0.2], test: [0.1, 0.2]}
""",
    "requirements/REQ-PERF-001.yaml": """\
requirement:
  id: REQ-PERF-001
  title: Detection quality
  type: performance
  derived_from: [REQ-DATA-001]
  text: The model shall reach mAP@0.5 of at least 0.5 on the held-out test split.
  criteria:
    - metric: mAP_50
      split: test
      min: 0.5
""",
    "artifacts/datasets/DATA-001-v1.yaml": """\
# `mle3 dataset register data.yaml --id DATA-001 --version v2` writes files like this one.
dataset:
  id: DATA-001
  version: v1
  title: First labelled image set
  requirements: [REQ-DATA-001]
  classes: [object]
  splits:
    train: {samples: 350}
    val: {samples: 75}
    test: {samples: 75}
""",
    "artifacts/training/TRAIN-001.yaml": """\
training:
  id: TRAIN-001
  model: yolov8n.yaml       # built from the model yaml: nothing is downloaded
  dataset: DATA-001         # latest version; or pin one: DATA-001-v1
  requirements: [REQ-PERF-001]
  epochs: 50
  batch_size: 16
  image_size: 320
  optimizer: {type: AdamW, lr: 0.001, weight_decay: 0.0005, momentum: 0.937}
  scheduler: {type: cosine, warmup_epochs: 3}
  early_stopping: {patience: 10, metric: "mAP@0.5", mode: max}
  reproducibility: {seed: 42, deterministic: true}
""",
    "artifacts/models/MODEL-001-v0.1.0.yaml": """\
# `mle3 train TRAIN-001` writes model versions like this one, with real metrics.
model_version:
  id: MODEL-001-v0.1.0
  training_run: TRAIN-001
  metrics:
    test: {mAP_50: 0.61}
  training_data:
    dataset_version: DATA-001-v1
    train_samples: 350
    val_samples: 75
  traceability:
    requirements: [REQ-PERF-001]
  status: draft
""",
}


def write_gitattributes(target: Path, lfs: bool | None = None) -> list[str]:
    """With git LFS installed (or ``lfs`` True), weights, ONNX and TensorRT files go to
    LFS (``.gitattributes``). Returns the lines added."""
    from . import lfs as git_lfs

    use_lfs = git_lfs.available() if lfs is None else lfs
    return git_lfs.write_attributes(target) if use_lfs else []


def init_workspace(target: Path, project: str | None = None, *, force: bool = False, lfs: bool | None = None) -> list[Path]:
    """Write the skeleton; refuses to overwrite an existing workspace unless ``force``."""
    target = target.resolve()
    if (target / CONFIG_NAME).exists() and not force:
        raise Mle3Error(f"{target / CONFIG_NAME} already exists (use --force to overwrite the examples)")
    written = []
    for rel, text in FILES.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        body = text.format(project=project or target.name) if rel == CONFIG_NAME else text
        if rel != CONFIG_NAME:
            body = SCHEMA_LINE.format(up="../" * rel.count("/"), kind=_kind_of(body)) + body
        path.write_text(body)
        written.append(path)
    written.extend(write_schemas(target / "schemas"))
    gitignore = target / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(".mle3/\n")
        written.append(gitignore)
    if write_gitattributes(target, lfs):
        written.append(target / ".gitattributes")
    return written


def write_schemas(directory: Path) -> list[Path]:
    """One ``<kind>.schema.json`` per item file kind, for YAML editors."""
    import json

    from .workspace import json_schemas

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, schema in json_schemas().items():
        path = directory / f"{kind}.schema.json"
        path.write_text(json.dumps(schema, indent=2) + "\n")
        written.append(path)
    return written


def _kind_of(body: str) -> str:
    for line in body.splitlines():
        if line and not line.startswith("#") and line.endswith(":"):
            return line[:-1]
    raise ValueError("scaffold file without item key")
