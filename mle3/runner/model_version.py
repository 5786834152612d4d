"""The draft model version a successful run leaves behind (the seed's shape, filled in).

Naming (see :mod:`mle3.workspace.versions`): a configuration may set ``model_line``
(e.g. ``MLE-MODEL-001``); otherwise the line is the configuration id with ``TRAIN``
replaced by ``MODEL``. The draft is named after its run, ``<line>-<RUN-ID>``, so two
trainings on two branches never choose the same id or weights file; the semantic
version is given by ``mle3 promote --to validated``. ``previous_version`` is the line's
highest version, or else its most recent model. Writing holds the workspace's model lock.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from .._atomic import atomic_copy, atomic_write_text
from ..errors import Mle3Error
from ..hashing import sha256_file
from ..workspace.layout import DEFAULT, layout_at
from ..workspace.versions import SEMVER, draft_id, model_line_of, version_key, version_of
from ..runs.records import RunRecord, clean, now_iso

#: the default places (``Layout.models_dir`` and ``Layout.weights_dir`` are the workspace's own)
MODELS_DIR = DEFAULT.models_dir
WEIGHTS_DIR = DEFAULT.weights_dir


def model_line(cfg: Any) -> str:
    explicit = cfg.model_line
    if explicit:
        return str(explicit)
    return cfg.id.replace("TRAIN", "MODEL") if "TRAIN" in cfg.id else f"{cfg.id}-MODEL"


def _line_models(root: Path, line: str) -> list[dict[str, Any]]:
    """Model versions of ``line`` on disk now (not the loaded snapshot: another run may
    have written one since this run started)."""
    found = []
    for path in (root / layout_at(root).models_dir).glob("*.yaml"):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for entry in doc.get("model_versions") or [doc.get("model_version")]:
            if not isinstance(entry, dict) or not entry.get("id"):
                continue
            view = SimpleNamespace(
                id=str(entry["id"]), model_line=entry.get("model_line"), version=entry.get("version")
            )
            if model_line_of(view) == line:
                found.append({"id": view.id, "version": version_of(view), "created": str(entry.get("created") or "")})
    return found


def previous_of(models: list[dict[str, Any]]) -> str | None:
    """The model a new draft follows: the line's highest version, else its newest model."""
    versioned = [m for m in models if m["version"] and SEMVER.match(m["version"])]
    if versioned:
        return max(versioned, key=lambda m: version_key(m["version"]))["id"]
    return max(models, key=lambda m: (m["created"], m["id"]))["id"] if models else None


def _duration(seconds: float) -> str:
    """The seed's ``36h 42m`` with the seconds, so a 29 s run is not ``0h 00m``."""
    total = int(round(seconds))
    return f"{total // 3600}h {total % 3600 // 60:02d}m {total % 60:02d}s"


def write_model_version(
    ws: Any, record: RunRecord, prep: Any, outcome: dict[str, Any], model_id: str | None = None
) -> str:
    root: Path = ws.root
    cfg, dataset = prep.cfg, prep.dataset
    env = record.data.get("environment", {})
    layout = ws.layout
    with layout.lock("model-versions", timeout=120):
        line = model_line(cfg)
        models = _line_models(root, line)
        previous = previous_of(models)
        new_id = model_id or draft_id(line, record.id)
        if (
            model_id
            and any(m["id"] == model_id for m in models)
            or (root / layout.models_dir / f"{new_id}.yaml").exists()
        ):
            raise Mle3Error(f"model version {new_id} already exists")
        weights_rel = f"{layout.weights_dir}/{new_id}.pt"
        atomic_copy(outcome["best_weights"], root / weights_rel)
        requirements = list(
            dict.fromkeys(list(cfg.requirements) + (list(dataset.requirements) if dataset is not None else []))
        )
        previous_item = ws.resolve(previous) if previous else None
        inherited = previous_item.traceability.architecture if previous_item is not None else None
        architecture = cfg.architecture or inherited
        gpus = env.get("gpus") or []
        train_samples = dataset.samples("train") if dataset is not None else None
        item: dict[str, Any] = {
            "id": new_id,
            "created": now_iso(),
            "training_run": record.id,
            "artifacts": {"weights": weights_rel, "config": f"{record.rel_dir}/config.yaml"},
            "weights_sha256": sha256_file(root / weights_rel),
            "metrics": outcome["final"],
            "training_data": {
                "dataset_version": dataset.key if dataset is not None else None,
                "train_samples": train_samples,
                "val_samples": dataset.samples("val") if dataset is not None else None,
                "test_samples": dataset.samples("test") if dataset is not None else None,
                "augmentation": cfg.augmentation,
            },
            "training_params": {
                "epochs": outcome["epochs_run"],
                "best_epoch": outcome["best_epoch"],
                "training_time": _duration(sum(a.get("duration_s", 0) for a in record.data.get("attempts", [])) or 0),
                "gpu": ", ".join(gpus) if gpus else f"none (CPU: {env.get('cpu')})",
            },
            "dependencies": {
                "pytorch": env.get("torch"),
                "ultralytics": env.get("ultralytics"),
                "cuda": env.get("cuda") or "none",
                "python": env.get("python"),
            },
            "traceability": {"requirements": requirements, "architecture": architecture, "previous_version": previous},
            "status": "draft",
            "approver": None,
            "approval_date": None,
            "model_line": line,
        }
        if outcome.get("slices"):
            item["slices"] = outcome["slices"]
        item["training_data"] = {k: v for k, v in item["training_data"].items() if v is not None}
        item["traceability"] = {k: v for k, v in item["traceability"].items() if v}
        text = (
            f"# Written by `mle3 train` for run {record.id}. Status changes go through `mle3 promote`.\n"
            + yaml.safe_dump({"model_version": clean(item)}, sort_keys=False, allow_unicode=True, width=120)
        )
        atomic_write_text(root / layout.models_dir / f"{new_id}.yaml", text)
    return new_id


def write_quantized_model(
    ws: Any,
    record: RunRecord,
    parent: Any,
    child_id: str,
    int8_onnx: Path,
    quantization: dict[str, Any],
    slices: dict[str, Any] | None = None,
) -> str:
    """The child model version of a quantization run: the INT8 ONNX file, the parent as
    ``previous_version``, the parent's traceability and data, and the ``quantization``
    block (method, tooling, calibration set, float reference, metrics, drop, gate, size,
    latency). Returns the written file (workspace-relative)."""
    root: Path = ws.root
    model = parent.model
    layout = ws.layout
    with layout.lock("model-versions", timeout=120):
        onnx_rel = f"{layout.weights_dir}/{child_id}.onnx"
        atomic_copy(int8_onnx, root / onnx_rel)
        from ..ledger.fingerprint import FINGERPRINT_VERSION, Fingerprints
        from ..graph import build_graph

        parent_fp = Fingerprints(ws, build_graph(ws)).of(model.id)
        item: dict[str, Any] = {
            "id": child_id,
            "created": now_iso(),
            "training_run": record.id,
            "artifacts": {"onnx": onnx_rel},
            "onnx_sha256": sha256_file(root / onnx_rel),
            "metrics": {"validation": quantization["metrics"]["val"], "test": quantization["metrics"]["test"]},
            "training_data": model.training_data.model_dump(exclude_none=True),
            "training_params": {
                "epochs": quantization.get("qat_epochs") or 0,
                "training_time": _duration(record.data.get("duration_s") or 0),
            },
            "dependencies": {
                "ultralytics": quantization["library"].get("ultralytics"),
                "onnxruntime": quantization["library"].get("onnxruntime"),
            },
            "traceability": {**model.traceability.model_dump(exclude_none=True), "previous_version": model.id},
            "quantization": {
                **quantization,
                "parent_fingerprint": parent_fp,
                "parent_fingerprint_version": FINGERPRINT_VERSION,
            },
            "status": "draft",
            "model_line": model_line_of(model),
            **({"slices": slices} if slices else {}),
        }
        item["quantization"] = {k: v for k, v in item["quantization"].items() if v is not None}
        path = root / layout.models_dir / f"{child_id}.yaml"
        text = f"# Written by `mle3 quantize` (run {record.id}) from {model.id}.\n" + yaml.safe_dump(
            {"model_version": clean(item)}, sort_keys=False, allow_unicode=True, width=120
        )
        atomic_write_text(path, text)
    return path.relative_to(root).as_posix()
