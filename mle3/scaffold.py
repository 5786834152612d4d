"""``mle3 init``: a new workspace in a git repository, with example requirements and an
example configuration that say they are examples. Nothing with results is written by hand:
data sets and model versions come from ``mle3 dataset register`` and ``mle3 train``, so a
new workspace's ``check`` lists exactly the next steps (register the data it needs)."""

from __future__ import annotations

from pathlib import Path

from .errors import Mle3Error
from .workspace import CONFIG_NAME

SCHEMA_LINE = "# yaml-language-server: $schema={up}schemas/{kind}.schema.json\n"

FILES: dict[str, str] = {
    CONFIG_NAME: """\
# mle3 workspace settings. Reference: docs/workspace/settings.md (the documentation site).
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
  derived_from: [SYS-REQ-001]
  text: The model shall reach mAP@0.5 of at least 0.5 on the held-out test split.
  criteria:
    - metric: mAP_50
      split: test
      min: 0.5
""",
    "artifacts/training/APPROACH-001.yaml": """\
# The training and validation approach (ASPICE 4.0 08-65, MLE.3.BP1): what every run of the
# configurations that follow it (approach: APPROACH-001) is held to. `mle3 check` checks the
# runs against it (rules approach.*); `mle3 report 08-65 APPROACH-001` renders it.
approach:
  id: APPROACH-001
  version: "1.0"
  description: How the detector is trained and validated.
  requirements: [REQ-PERF-001]
  entry_criteria:
    dataset_verified: true        # the data matched its registration when the run started
    dataset_approved: true        # the data set's 11-07 was approved before the run started
    configuration_approved: false # the configuration's 04-11 was approved before the run started
    clean_worktree: false         # every input was committed when the run started
  exit_criteria:                  # met when the run succeeded and one of these holds
    metric: {metric: mAP_50, split: val, min: 0.5}
    early_stopping: {metric: "mAP@0.5", patience: 10}   # every configuration must stop this way
    # epoch_budget: 100           # default: the configuration's epochs
  tuning:
    description: Hyperparameters by hand first, then studies (mle3 tune) on val only, accepted with mle3 tune accept.
    configurations: [TRAIN-001]
    max_trials: 50
  data:
    split_policy: Train, val and test mutually exclusive by recording session; test is never used for tuning.
    sources: [Fleet recordings, labelled by the annotation team]
    modification: A change to the data is a new registered version (`mle3 dataset register`), never an edit in place.
  environment:
    hardware: "1x NVIDIA, amp"    # the GPU model and count your training requires, e.g. "2x NVIDIA A100, amp", or cpu
    framework: ultralytics YOLOv8
  interface:
    input: RGB images, letterboxed to 320 px
    output: Boxes (xyxy, pixels), class id and confidence per detection
  robustification:
    - method: photometric and geometric augmentation
      description: Brightness, contrast, flips and scale changes during training
""",
    "artifacts/training/TRAIN-001.yaml": """\
# An example configuration: edit it for your model. Data sets and model versions are not
# written by hand: `mle3 dataset register` and `mle3 train` record them with real counts,
# fingerprints and metrics.
training:
  id: TRAIN-001
  model: yolov8n.yaml       # built from the model yaml: nothing is downloaded
  # dataset: DATA-001       # the data set you register; latest version, or pin one: DATA-001-v1
  requirements: [REQ-PERF-001]
  approach: APPROACH-001    # the training and validation approach it follows (08-65)
  epochs: 50
  batch_size: 16
  image_size: 320
  optimizer: {type: AdamW, lr: 0.001, weight_decay: 0.0005, momentum: 0.937}
  scheduler: {type: cosine, warmup_epochs: 3}
  early_stopping: {patience: 10, metric: "mAP@0.5", mode: max}
  reproducibility: {seed: 42, deterministic: true}
""",
}


#: what a workspace keeps out of git (docs/guides/team.md, "What to commit")
GITIGNORE = """\
# per-machine state and caches of mle3 (never shared: see docs/guides/team.md, "What to commit")
.mle3/
# ultralytics' epoch checkpoints (tens of MB each); the model version keeps its own copy
# of the chosen weights, and the run record their sha256
artifacts/runs/*/ultralytics/weights/
artifacts/runs/*/qat/weights/
"""


def init_git(target: Path) -> str | None:
    """``git init`` the new workspace unless it lies inside a repository already; returns
    a note when git is missing (the workspace still works, teams need git to merge)."""
    try:
        import git
    except ImportError:
        return "gitpython is not installed: the workspace is not a git repository (pip install gitpython; git init)"
    try:
        git.Repo(target, search_parent_directories=True)
        return None
    except git.InvalidGitRepositoryError:
        pass
    except git.NoSuchPathError:
        pass
    try:
        git.Repo.init(target)
    except (git.GitCommandError, git.GitCommandNotFound, OSError) as exc:
        return (
            f"git init failed ({type(exc).__name__}); the workspace is not a git repository yet (apt-get install "
            "git; git init)"
        )
    return None


def write_gitattributes(target: Path, lfs: bool | None = None) -> list[str]:
    """With git LFS installed (or ``lfs`` True), weights, ONNX and TensorRT files go to
    LFS (``.gitattributes``). Returns the lines added."""
    from . import lfs as git_lfs

    use_lfs = git_lfs.available() if lfs is None else lfs
    return git_lfs.write_attributes(target) if use_lfs else []


def init_workspace(
    target: Path, project: str | None = None, *, force: bool = False, lfs: bool | None = None
) -> list[Path]:
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
        gitignore.write_text(GITIGNORE)
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
