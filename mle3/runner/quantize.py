"""``mle3 export`` and ``mle3 quantize``: float ONNX, INT8 by PTQ or QAT, all re-validated.

Tooling: ultralytics exports the ONNX graph (and runs QAT through NVIDIA ModelOpt inside
its own training loop); ONNX Runtime quantizes statically (weights per channel,
activations per tensor, QDQ format, weights stored as int8 initializers) and runs every
evaluation; ultralytics' validator computes the metrics. Calibration images come from the
**training** split only, a seeded sample whose exact list is recorded with its hash.

Every method is judged against the float model on the same val and test splits by the
same evaluator (ultralytics val running the ONNX file through ONNX Runtime). A drop in
mAP50 over ``quantization.max_map50_drop`` (mle3.yaml) is flagged in the output, the run
record, the child model version and by ``mle3 check``.
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import yaml

from .. import audit
from .._atomic import atomic_write_text
from ..errors import Mle3Error
from ..formats import tagged_sha256
from ..paths import inside_workspace
from ..vocab import CALIBRATION_SUFFIXES, FROZEN_STATUSES, AuditAction
from ..workspace.versions import draft_id, model_line_of
from ..recipe.mapping import Deviation
from ..runs.records import RunRecord, clean, now_iso

if TYPE_CHECKING:
    from ..workspace import Workspace

MAP_AGREEMENT = 0.005  # float ONNX vs PyTorch mAP50 on val (large val splits)


def agreement_tolerance(dataset: Any) -> float:
    """How far two correct evaluators of one model may differ in val mAP50: numerically
    different kernels flip a detection at the confidence or NMS boundary now and then, and
    one flip moves AP50 by about 1/instances. So 0.005, or 1.5 flips' worth on a small
    val split (80 hard images, about 200 objects: 0.0075)."""
    info = dataset.split("val") if dataset is not None else None
    instances = sum((info.instances or {}).values()) if info is not None else 0
    return round(max(MAP_AGREEMENT, 1.5 / instances), 6) if instances else MAP_AGREEMENT


@dataclass
class QuantizeOptions:
    method: str = "ptq"  # ptq | qat
    calibration_images: int | None = None
    calibration_method: str | None = None
    qat_epochs: int | None = None
    lr: float | None = None
    latency_runs: int = 30


@dataclass
class Evaluation:
    val: dict[str, float]
    test: dict[str, float]


@dataclass
class QuantizeResult:
    run_id: str
    status: str
    model_version: str | None = None
    method: str = ""
    table: list[dict[str, Any]] = field(default_factory=list)
    drop: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.01
    passed: bool | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- inputs
@dataclass
class Parent:
    model: Any
    weights: Path
    weights_sha256: str
    config: Any | None
    dataset: Any
    imgsz: int
    settings: Any
    #: the data set's data.yaml on this machine (materialized once when it is remote)
    data_yaml: Path
    #: the folder the data set's paths are relative to on this machine: the workspace, a
    #: mounted data root, or the checked cache of a remote one
    data_base: Path


def resolve_parent(ws: Any, ref: str) -> Parent:
    """The float model version and everything quantization needs; one-line errors."""
    from ..hashing import sha256_file
    from ..workspace.schema import QuantizationSettings

    model = ws.get(ref)
    if model.kind != "model_version":
        raise Mle3Error(f"{ref} is a {model.kind}, not a model version")
    rel = model.artifacts.weights
    if not rel:
        raise Mle3Error(
            "the model version names no weights file",
            file=model._file,
            line=ws.line_of(model, ("artifacts",)),
            field="artifacts.weights",
        )
    weights = ws.root / rel
    from ..lfs import not_materialized

    fetch = not_materialized(ws.root, rel) if inside_workspace(ws.root, rel) else None
    if fetch:
        raise Mle3Error(
            fetch, file=model._file, line=ws.line_of(model, ("artifacts", "weights")), field="artifacts.weights"
        )
    if not inside_workspace(ws.root, rel) or not weights.is_file():
        raise Mle3Error(
            f"weights file {rel!r} is missing",
            file=model._file,
            line=ws.line_of(model, ("artifacts", "weights")),
            field="artifacts.weights",
        )
    digest = sha256_file(weights)
    recorded = model.weights_sha256
    if recorded and recorded != digest:
        raise Mle3Error(
            f"weights {rel!r} no longer match the recorded sha256 ({recorded[:12]}..., file has {digest[:12]}...)",
            file=model._file,
            line=ws.line_of(model, ("weights_sha256",)),
            field="weights_sha256",
        )
    run = ws.resolve(model.training_run)
    if run is not None and run.kind == "run":
        _refuse_broken(ws, run.config)
    config = ws.resolve(run.config) if run is not None and run.kind == "run" else run
    config = config if config is not None and config.kind == "training" else None
    dataset = ws.resolve(model.training_data.dataset_version)
    if dataset is None or dataset.kind != "dataset" or not dataset.data_yaml:
        raise Mle3Error(
            "the model's data set version is not a registered data set (needed for calibration and evaluation)",
            file=model._file,
            line=ws.line_of(model, ("training_data", "dataset_version")),
            field="training_data.dataset_version",
        )
    from ..datasets.materialize import local_data_base

    base = local_data_base(ws.root, ws.config, dataset)  # the data's place on this machine
    train = dataset.split("train")
    if train is None or not train.path or not (base / train.path).is_dir() or not _images(base / train.path):
        raise Mle3Error(
            f"data set {dataset.key} has no training images (calibration uses the training split only)",
            file=dataset._file,
            field="splits.train",
        )
    raw = dict((config._raw or {}).get("quantization") or {}) if config is not None else {}
    try:
        settings = QuantizationSettings.model_validate(raw)
    except Exception as exc:  # validated at load already; a clear message all the same
        raise Mle3Error(
            f"invalid quantization block: {exc}", file=config._file if config else None, field="quantization"
        ) from None
    imgsz = None
    if run is not None and run.kind == "run":
        imgsz = ((run._raw or {}).get("parameters") or {}).get("imgsz")
    if imgsz is None and config is not None:
        size = config.image_size
        imgsz = max(size) if isinstance(size, (list, tuple)) else size
    return Parent(model, weights, digest, config, dataset, int(imgsz or 640), settings, base / dataset.data_yaml, base)


def refuse_changing_approved(model: Any, ws: Any) -> None:
    """Export records the ONNX file in the model version itself; for a validated or
    released model that changes approved content, so it is refused before anything runs
    (quantization is not: it writes a new child model version)."""
    if model.status in FROZEN_STATUSES:
        raise Mle3Error(
            f"{model.id} is {model.status}: exporting would change the content its approvals cover and break its "
            f"{'release' if model.status == 'released' else 'validation'}; export before validation, or quantize "
            f"(`mle3 quantize {model.id}` writes a new child and leaves {model.id} as approved)",
            file=model._file,
            line=ws.line_of(model, ("status",)),
            field="status",
        )


def _refuse_broken(ws: Any, item_id: str) -> None:
    """An item that failed to load (schema errors) cannot silently fall back to defaults."""
    for f in ws.findings:
        if f.item == item_id and f.severity == "error":
            raise Mle3Error(f.message, file=f.file, line=f.line, field=f.field)


def _images(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in CALIBRATION_SUFFIXES and p.is_file())


def calibration_set(base: Path, dataset: Any, count: int, seed: int = 0) -> tuple[list[Path], str]:
    """A seeded sample of training images (never val or test) and the sha256 of the list of
    their paths relative to ``base``, the folder the data set's paths are relative to (so a
    data set below a data root lists the same paths on every machine)."""
    train_dir = base / dataset.split("train").path
    images = _images(train_dir)
    chosen = sorted(random.Random(seed).sample(images, min(count, len(images))))
    listing = "".join(p.relative_to(base).as_posix() + "\n" for p in chosen)
    return chosen, tagged_sha256(listing.encode())


# ----------------------------------------------------------------------------- ONNX helpers
def preprocess(path: Path, imgsz: int):
    """ultralytics' inference preprocessing: letterbox, BGR->RGB, CHW, [0, 1] float32."""
    import cv2
    import numpy as np
    from ultralytics.data.augment import LetterBox

    image = cv2.imread(str(path))
    if image is None:
        raise Mle3Error(f"calibration image {path} cannot be read")
    # with image= alone LetterBox returns the image; ultralytics annotates its return as a dict
    boxed: Any = LetterBox(new_shape=(imgsz, imgsz), auto=False, stride=32)(image=image)
    return np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255.0


def export_float_onnx(weights: Path, imgsz: int) -> Path:
    from ultralytics import YOLO

    return Path(
        YOLO(str(weights)).export(
            format="onnx", imgsz=imgsz, simplify=True, dynamic=False, batch=1, device="cpu", verbose=False
        )
    )


def quantize_static_onnx(float_onnx: Path, int8_onnx: Path, images: list[Path], imgsz: int, method: str) -> None:
    """ONNX Runtime static INT8: QDQ, per-channel int8 weights, per-tensor activations.
    As ultralytics does, only weighted ops are quantized: one scale spanning box pixels
    and class scores in the detection head would round the scores to zero."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(images)

        def get_next(self):
            path = next(self._it, None)
            return None if path is None else {"images": preprocess(path, imgsz)}

    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = int8_onnx.with_name(int8_onnx.stem + ".prepared.onnx")
    quant_pre_process(str(float_onnx), str(prepared))  # ONNX Runtime's recommended shape inference + graph cleanup
    graph = onnx.load(str(prepared)).graph
    exclude = [n.name for n in graph.node if n.op_type not in {"Conv", "Gemm", "MatMul"}]
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    quantize_static(
        str(prepared),
        str(int8_onnx),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        calibrate_method=methods[method],
        nodes_to_exclude=exclude,
    )
    prepared.unlink(missing_ok=True)


def onnx_summary(path: Path) -> dict[str, Any]:
    """Node types that prove quantization, and the element types of the weights."""
    import onnx

    model = onnx.load(str(path))
    ops: dict[str, int] = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    int8 = sum(1 for t in model.graph.initializer if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8))
    return {
        "quantize_linear": ops.get("QuantizeLinear", 0),
        "dequantize_linear": ops.get("DequantizeLinear", 0),
        "int8_initializers": int8,
        "initializers": len(model.graph.initializer),
        "bytes": path.stat().st_size,
    }


def evaluate_onnx(path: Path, data_yaml: Path, imgsz: int, project: Path, name: str) -> Evaluation:
    """ultralytics val running the ONNX file through ONNX Runtime, on val and test."""
    from ultralytics import YOLO

    out: dict[str, Any] = {}
    for split in ("val", "test"):
        if not (yaml.safe_load(data_yaml.read_text()) or {}).get(split):
            out[split] = {}
            continue
        m = YOLO(str(path), task="detect").val(
            data=str(data_yaml),
            split=split,
            imgsz=imgsz,
            batch=1,
            device="cpu",
            plots=False,
            project=str(project),
            name=f"{name}-{split}",
            exist_ok=True,
            verbose=False,
        )
        p, r = float(m.box.mp), float(m.box.mr)
        out[split] = {
            "mAP_50": round(float(m.box.map50), 6),
            "mAP_50_95": round(float(m.box.map), 6),
            "precision": round(p, 6),
            "recall": round(r, 6),
            "f1": round(2 * p * r / (p + r), 6) if p + r else 0.0,
        }
    return Evaluation(out["val"], out["test"])


def latency_ms(path: Path, sample: Path, imgsz: int, runs: int = 30) -> float:
    """Median CPU latency per image (batch 1) after warm-up."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: preprocess(sample, imgsz)}
    for _ in range(5):
        session.run(None, feed)
    times = []
    for _ in range(max(20, runs)):
        t = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 3)


# ----------------------------------------------------------------------------- commands
def _evaluation_yaml(parent: Parent, directory: Path) -> Path:
    source = parent.data_yaml
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["path"] = str((source.parent / str(data.get("path") or ".")).resolve())
    target = directory / "data.yaml"
    atomic_write_text(target, yaml.safe_dump(data, sort_keys=False))
    return target


def export(root: Workspace | Path, ref: str, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Float ONNX next to the weights, validated against PyTorch on val, recorded in the
    model version (``artifacts.onnx`` and ``onnx_sha256``) only if the two agree."""
    from ..hashing import sha256_file
    from ..optional import require
    from ..workspace import as_workspace
    from ..recipe.environment import offline_ultralytics

    require("onnx", "onnxruntime", "ultralytics")
    ws = as_workspace(root)
    root = ws.root
    parent = resolve_parent(ws, ref)
    refuse_changing_approved(parent.model, ws)
    offline_ultralytics(root)
    from ultralytics import YOLO

    from .train import attach_log

    work = root / ws.layout.export_dir / parent.model.id
    work.mkdir(parents=True, exist_ok=True)
    data_yaml = _evaluation_yaml(parent, work)
    echo(f"exporting {parent.weights.relative_to(root)} to ONNX at {parent.imgsz} px")
    detach_log = attach_log(work / "export.log")
    try:
        onnx_path = export_float_onnx(parent.weights, parent.imgsz)
        torch_val = YOLO(str(parent.weights)).val(
            data=str(data_yaml),
            split="val",
            imgsz=parent.imgsz,
            batch=1,
            device="cpu",
            plots=False,
            project=str(work),
            name="torch",
            exist_ok=True,
            verbose=False,
        )
        onnx_eval = evaluate_onnx(onnx_path, data_yaml, parent.imgsz, work, "onnx")
    finally:
        detach_log()
    torch_map = round(float(torch_val.box.map50), 6)
    gap = abs(onnx_eval.val.get("mAP_50", 0.0) - torch_map)
    tolerance = agreement_tolerance(parent.dataset)
    result = {
        "model": parent.model.id,
        "onnx": onnx_path.relative_to(root).as_posix(),
        "torch_val_mAP_50": torch_map,
        "onnx_metrics": {"validation": onnx_eval.val, "test": onnx_eval.test},
        "gap": round(gap, 6),
        "tolerance": tolerance,
        "recorded": False,
    }
    if gap > tolerance:
        onnx_path.unlink(missing_ok=True)
        raise Mle3Error(
            f"ONNX val mAP50 {onnx_eval.val.get('mAP_50')} differs from PyTorch {torch_map} by {gap:.4f} (> "
            f"{tolerance}); the export is not recorded",
            exit_code=1,
        )
    digest = sha256_file(onnx_path)
    from ..itemfile import set_fields
    from ..workspace.layout import PROMOTE_LOCK
    from ..workspace.load import locked

    fields = {
        ("artifacts", "onnx"): result["onnx"],
        ("onnx_sha256",): digest,
        ("onnx_metrics",): clean(result["onnx_metrics"]),
    }
    with locked(ws, PROMOTE_LOCK):  # a promotion while the export ran: checked again, then written
        model = ws.get(parent.model.id)
        refuse_changing_approved(model, ws)
        set_fields(ws, model, fields)
        audit.append(
            root,
            AuditAction.MODEL_EXPORT,
            model.id,
            {"format": "onnx", "file": result["onnx"], "sha256": digest, "gap": result["gap"]},
        )
    result.update(recorded=True, sha256=digest)
    return result


def quantize(
    root: Workspace | Path, ref: str, options: QuantizeOptions, echo: Callable[[str], None] = print
) -> QuantizeResult:
    from ..workspace import as_workspace
    from ..recipe.environment import environment, git_state, offline_ultralytics

    from ..optional import require

    require("onnx", "onnxruntime", "ultralytics", *(("modelopt",) if options.method == "qat" else ()))
    ws = as_workspace(root)
    root = ws.root
    parent = resolve_parent(ws, ref)
    settings = parent.settings
    deviations = []
    calib_n = settings.calibration_images
    calib_method = settings.calibration_method
    qat_epochs = settings.qat_epochs
    for name, configured, override in (
        ("quantization.calibration_images", settings.calibration_images, options.calibration_images),
        ("quantization.calibration_method", settings.calibration_method, options.calibration_method),
        ("quantization.qat_epochs", settings.qat_epochs, options.qat_epochs),
        ("quantization.lr", settings.lr, options.lr),
    ):
        if override is not None and override != configured:
            deviations.append(Deviation(name, configured, override, "command line"))
    calib_n = options.calibration_images or calib_n
    calib_method = options.calibration_method or calib_method
    qat_epochs = options.qat_epochs or qat_epochs
    threshold = ws.config.quantization.max_map50_drop
    offline_ultralytics(root)
    images, list_hash = calibration_set(parent.data_base, parent.dataset, calib_n)
    listed = [p.relative_to(parent.data_base).as_posix() for p in images]  # the data set's own paths
    config_id = parent.config.id if parent.config is not None else (parent.model.training_run or parent.model.id)
    record = RunRecord.create(
        root,
        config_id,
        kind="quantization",
        method=options.method,
        parent_model=parent.model.id,
        parent_weights_sha256=parent.weights_sha256,
        dataset_version=parent.dataset.key,
        dataset_fingerprint=parent.dataset.fingerprint,
        calibration={
            "split": "train",
            "images": len(images),
            "method": calib_method,
            "list_sha256": list_hash,
            "files": listed,
            **({"data_root": parent.dataset.data_root} if getattr(parent.dataset, "data_root", None) else {}),
        },
        code=git_state(root),
        environment=environment(),
        deviations=[d.__dict__ for d in deviations],
        threshold=threshold,
        attempts=[],
    )
    # named after its own run (like a training's draft): two quantizations of one model on
    # two branches never collide
    child_id = f"{draft_id(model_line_of(parent.model) or parent.model.id, record.id)}-int8-{options.method}"
    atomic_write_text(record.directory / "calibration.txt", "".join(path + "\n" for path in listed))
    audit.append(
        root,
        AuditAction.RUN_START,
        record.id,
        {"kind": "quantization", "method": options.method, "parent": parent.model.id},
    )
    result = QuantizeResult(record.id, "in_progress", method=options.method, threshold=threshold)
    started = time.time()
    record.update(status="in_progress", started=now_iso())
    from .train import attach_log

    detach_log = attach_log(record.directory / "quantize.log")
    try:
        data_yaml = _evaluation_yaml(parent, record.directory)
        echo(f"float reference: exporting {parent.model.id} to ONNX at {parent.imgsz} px")
        float_pt = record.directory / "float.pt"  # ultralytics exports next to the weights:
        shutil.copyfile(parent.weights, float_pt)  # a copy keeps the parent's own files untouched
        float_copy = export_float_onnx(float_pt, parent.imgsz)
        int8_tmp = record.directory / "int8.onnx"
        if options.method == "ptq":
            echo(f"PTQ: ONNX Runtime static INT8, {len(images)} training images, {calib_method} calibration")
            t = time.time()
            quantize_static_onnx(float_copy, int8_tmp, images, parent.imgsz, calib_method)
            record.update(quantize_seconds=round(time.time() - t, 2))
        else:
            from .qat import run_qat

            echo(f"QAT: {qat_epochs} epoch(s) of fake-quantized fine-tuning (ModelOpt in ultralytics), then INT8 ONNX")
            run_qat(root, record, parent, data_yaml, qat_epochs, options.lr or settings.lr, int8_tmp, threshold, echo)
        echo("evaluating float and INT8 ONNX on val and test (same evaluator)")
        float_eval = evaluate_onnx(float_copy, data_yaml, parent.imgsz, record.directory, "float")
        int8_eval = evaluate_onnx(int8_tmp, data_yaml, parent.imgsz, record.directory, "int8")
        sample = images[0]
        lat_float = latency_ms(float_copy, sample, parent.imgsz, options.latency_runs)
        lat_int8 = latency_ms(int8_tmp, sample, parent.imgsz, options.latency_runs)
        summary = onnx_summary(int8_tmp)
        drop = {
            split: round(
                getattr(float_eval, split).get("mAP_50", 0.0) - getattr(int8_eval, split).get("mAP_50", 0.0), 6
            )
            for split in ("val", "test")
            if getattr(float_eval, split)
        }
        passed = all(d <= threshold for d in drop.values())
        table = [
            {
                "model": f"{parent.model.id} (float ONNX)",
                "method": "float",
                "val": float_eval.val,
                "test": float_eval.test,
                "bytes": float_copy.stat().st_size,
                "latency_ms": lat_float,
            },
            {
                "model": child_id,
                "method": options.method,
                "val": int8_eval.val,
                "test": int8_eval.test,
                "bytes": int8_tmp.stat().st_size,
                "latency_ms": lat_int8,
            },
        ]
        from .model_version import write_quantized_model

        child_file = write_quantized_model(
            ws,
            record,
            parent,
            child_id,
            int8_tmp,
            {
                "method": options.method,
                "library": _library(options.method),
                "backend": settings.backend,
                "format": "ONNX QDQ, int8 weights per channel, uint8 activations per tensor",
                "calibration": (
                    {
                        "data_set_version": parent.dataset.key,
                        "split": "train",
                        "images": len(images),
                        "method": calib_method,
                        "list_sha256": list_hash,
                        "list": f"{record.rel_dir}/calibration.txt",
                    }
                    if options.method == "ptq"
                    else {
                        "data_set_version": parent.dataset.key,
                        "split": "train",
                        "method": "ModelOpt max calibration over 8 batches of the training loader, then fixed ranges",
                        "images": 8 * int((record.data.get("qat") or {}).get("parameters", {}).get("batch", 16)),
                    }
                ),
                "qat_epochs": qat_epochs if options.method == "qat" else None,
                "float_reference": {
                    "model_version": parent.model.id,
                    "weights_sha256": parent.weights_sha256,
                    "metrics": {"val": float_eval.val, "test": float_eval.test},
                },
                "metrics": {"val": int8_eval.val, "test": int8_eval.test},
                "drop": drop,
                "threshold": threshold,
                "passed": passed,
                "size_bytes": int8_tmp.stat().st_size,
                "float_size_bytes": float_copy.stat().st_size,
                "size_ratio": round(int8_tmp.stat().st_size / float_copy.stat().st_size, 4),
                "latency_ms": lat_int8,
                "float_latency_ms": lat_float,
                "latency_device": "CPU, ONNX Runtime, batch 1, median",
                "onnx_nodes": summary,
                "trt_int8": _tensorrt_note(),
            },
        )
        record.update(
            status="success",
            ended=now_iso(),
            duration_s=round(time.time() - started, 2),
            model_version=child_id,
            table=table,
            drop=drop,
            passed=passed,
            onnx=summary,
        )
        result.status, result.model_version, result.table, result.drop, result.passed = (
            "success",
            child_id,
            table,
            drop,
            passed,
        )
        if not passed:
            result.warnings.append(
                f"mAP50 drop {max(drop.values()):.4f} exceeds the threshold {threshold} (quantization.max_map50_drop)"
            )
            echo(f"WARNING: {result.warnings[-1]}")
        echo(f"wrote {child_file}")
    except (KeyboardInterrupt, Exception) as exc:
        record.update(
            status="aborted" if isinstance(exc, KeyboardInterrupt) else "failed",
            ended=now_iso(),
            duration_s=round(time.time() - started, 2),
            error=f"{type(exc).__name__}: {exc}",
        )
        audit.append(
            root, AuditAction.RUN_END, record.id, {"status": record.data["status"], "error": record.data["error"]}
        )
        if isinstance(exc, (Mle3Error, KeyboardInterrupt)):
            raise
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        return result
    finally:
        detach_log()
    audit.append(
        root, AuditAction.RUN_END, record.id, {"status": "success", "model_version": child_id, "passed": result.passed}
    )
    return result


def _library(method: str) -> dict[str, str]:
    import onnxruntime
    import ultralytics

    lib = {"ultralytics": ultralytics.__version__, "onnxruntime": onnxruntime.__version__}
    if method == "qat":
        try:
            import modelopt

            lib["nvidia-modelopt"] = modelopt.__version__
        except ImportError:
            pass
    return lib


def _tensorrt_note() -> dict[str, Any]:
    try:
        import tensorrt  # noqa: F401
        import torch

        if torch.cuda.is_available():
            return {
                "built": False,
                "reason": "TensorRT is present; build the engine on the target from the exported ONNX with TensorRT "
                "(`trtexec --onnx=MODEL.onnx --int8`; mle3 does not automate it yet)",
            }
        return {"built": False, "reason": "TensorRT is importable but no GPU is present"}
    except ImportError:
        return {"built": False, "reason": "TensorRT is not installed on this machine"}


def result_json(result: QuantizeResult) -> dict[str, Any]:
    return {"schema": "mle3.quantize/1", **asdict(result)}
