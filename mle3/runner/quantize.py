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
from ..vocab import CALIBRATION_SUFFIXES, DECISION_SPLIT, FROZEN_STATUSES, AuditAction, is_validation_split
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
    #: split -> the validation's per-image statistics (:class:`.slices.SplitStats`)
    stats: dict[str, Any] = field(default_factory=dict)


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
    model = ws.get(ref)
    if model.kind != "model_version":
        raise Mle3Error(f"{ref} is a {model.kind}, not a model version")
    weights, digest = _parent_weights(ws, model)
    run = ws.resolve(model.training_run)
    if run is not None and run.kind == "run":
        _refuse_broken(ws, run.config)
    config = ws.resolve(run.config) if run is not None and run.kind == "run" else run
    config = config if config is not None and config.kind == "training" else None
    dataset, base = _parent_data(ws, model)
    settings = _quantization_settings(config)
    imgsz = _image_size(run, config)
    return Parent(model, weights, digest, config, dataset, imgsz, settings, base / dataset.data_yaml, base)


def _parent_weights(ws: Any, model: Any) -> tuple[Path, str]:
    """The parent's weights file and its sha256: present, materialized (not an LFS pointer)
    and still the bytes the model version recorded."""
    from ..hashing import sha256_file
    from ..lfs import not_materialized

    rel = model.artifacts.weights
    if not rel:
        raise Mle3Error(
            "the model version names no weights file",
            file=model._file,
            line=ws.line_of(model, ("artifacts",)),
            field="artifacts.weights",
        )
    weights = ws.root / rel
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
    return weights, digest


def _parent_data(ws: Any, model: Any) -> tuple[Any, Path]:
    """The data set the parent was trained on and its folder on this machine: calibration
    and evaluation need it registered, with training images present."""
    from ..datasets.materialize import local_data_base

    dataset = ws.resolve(model.training_data.dataset_version)
    if dataset is None or dataset.kind != "dataset" or not dataset.data_yaml:
        raise Mle3Error(
            "the model's data set version is not a registered data set (needed for calibration and evaluation)",
            file=model._file,
            line=ws.line_of(model, ("training_data", "dataset_version")),
            field="training_data.dataset_version",
        )
    base = local_data_base(ws.root, ws.config, dataset)  # the data's place on this machine
    train = dataset.split("train")
    if train is None or not train.path or not (base / train.path).is_dir() or not _images(base / train.path):
        raise Mle3Error(
            f"data set {dataset.key} has no training images (calibration uses the training split only)",
            file=dataset._file,
            field="splits.train",
        )
    return dataset, base


def _quantization_settings(config: Any | None) -> Any:
    """The training configuration's ``quantization`` block (defaults without a configuration)."""
    from ..workspace.schema import QuantizationSettings

    raw = dict((config._raw or {}).get("quantization") or {}) if config is not None else {}
    try:
        return QuantizationSettings.model_validate(raw)
    except Exception as exc:  # validated at load already; a clear message all the same
        raise Mle3Error(
            f"invalid quantization block: {exc}", file=config._file if config else None, field="quantization"
        ) from None


def _image_size(run: Any | None, config: Any | None) -> int:
    """The image size the parent was trained at: its run's, else its configuration's, else 640."""
    imgsz = None
    if run is not None and run.kind == "run":
        imgsz = ((run._raw or {}).get("parameters") or {}).get("imgsz")
    if imgsz is None and config is not None:
        size = config.image_size
        imgsz = max(size) if isinstance(size, (list, tuple)) else size
    return int(imgsz or 640)


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


def evaluate_onnx(
    path: Path, data_yaml: Path, imgsz: int, project: Path, name: str, sizes: list[tuple[str, ...]] | None = None
) -> Evaluation:
    """ultralytics val running the ONNX file through ONNX Runtime, on val and test: one
    validation per split, its per-image statistics kept for the slices (:mod:`.slices`;
    ``sizes``: the object size sets they name)."""
    from .slices import has_split, validate_split

    out: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    for split in ("val", "test"):
        if not has_split(data_yaml, split):
            out[split] = {}
            continue
        stats[split] = validate_split(
            path, data_yaml, split, imgsz, "cpu", 1, project, f"{name}-{split}", sizes=sizes or ()
        )
        out[split] = dict(stats[split].metrics)
    return Evaluation(out["val"], out["test"], stats)


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
    work = root / ws.layout.export_dir / parent.model.id
    work.mkdir(parents=True, exist_ok=True)
    data_yaml = _evaluation_yaml(parent, work)
    echo(f"exporting {parent.weights.relative_to(root)} to ONNX at {parent.imgsz} px")
    onnx_path, torch_map, onnx_eval = _export_and_evaluate(parent, data_yaml, work)
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
    _record_export(ws, parent.model.id, result, digest)
    result.update(recorded=True, sha256=digest)
    return result


def _export_and_evaluate(parent: Parent, data_yaml: Path, work: Path) -> tuple[Path, float, Evaluation]:
    """The float ONNX file, the PyTorch weights' val mAP50 and the ONNX file's evaluation,
    with ultralytics' log in export.log."""
    from ultralytics import YOLO

    from .train import attach_log

    detach_log = attach_log(work / "export.log")
    try:
        onnx_path = export_float_onnx(parent.weights, parent.imgsz)
        torch_val = YOLO(str(parent.weights)).val(
            data=str(data_yaml),
            split="val",
            imgsz=parent.imgsz,
            batch=1,
            # letterboxed to the square the static ONNX model sees (rect would pad 160 px to 192:
            # a systematic gap, not the numerical flips the agreement tolerance is sized for)
            rect=False,
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
    return onnx_path, round(float(torch_val.box.map50), 6), onnx_eval


def _record_export(ws: Any, model_id: str, result: dict[str, Any], digest: str) -> None:
    """Write the ONNX file into the model version and the audit, under the promotion lock:
    a promotion while the export ran is checked again first."""
    from ..itemfile import set_fields
    from ..workspace.layout import PROMOTE_LOCK
    from ..workspace.load import locked

    fields = {
        ("artifacts", "onnx"): result["onnx"],
        ("onnx_sha256",): digest,
        ("onnx_metrics",): clean(result["onnx_metrics"]),
    }
    with locked(ws, PROMOTE_LOCK):
        model = ws.get(model_id)
        refuse_changing_approved(model, ws)
        set_fields(ws, model, fields)
        audit.append(
            ws.root,
            AuditAction.MODEL_EXPORT,
            model.id,
            {"format": "onnx", "file": result["onnx"], "sha256": digest, "gap": result["gap"]},
        )


def quantize(
    root: Workspace | Path, ref: str, options: QuantizeOptions, echo: Callable[[str], None] = print
) -> QuantizeResult:
    """Quantize a model version into a new INT8 child, judged against its float parent
    (phases in :class:`QuantizeSession`)."""
    from ..optional import require

    require("onnx", "onnxruntime", "ultralytics", *(("modelopt",) if options.method == "qat" else ()))
    session = QuantizeSession(options, echo)
    session.resolve(root, ref)
    session.open_record()
    return session.run()


@dataclass
class _Plan:
    """The quantization settings in effect: the configuration's, overridden from the command
    line (each override recorded as a deviation)."""

    calibration_images: int
    calibration_method: str
    qat_epochs: int
    lr: float
    threshold: float
    deviations: list[Deviation]


@dataclass
class _Converted:
    """The two ONNX files compared: the float reference and its INT8 conversion."""

    float_onnx: Path
    int8_onnx: Path


@dataclass
class _Comparison:
    """Float and INT8 judged by one evaluator, and the gate's verdict on the mAP50 drop."""

    float_eval: Evaluation
    int8_eval: Evaluation
    float_latency: float
    int8_latency: float
    summary: dict[str, Any]
    drop: dict[str, float]
    passed: bool


class QuantizeSession:
    """One ``mle3 quantize`` run in named phases: :meth:`resolve` (parent, settings,
    calibration set; writes nothing), :meth:`open_record` (run record, calibration list, the
    audit's start), then :meth:`run`: convert -> evaluate -> gate -> record the child model
    version. A failure after the record is opened ends the run ``failed`` (Ctrl-C:
    ``aborted``) with the audit's end written either way."""

    def __init__(self, options: QuantizeOptions, echo: Callable[[str], None]) -> None:
        self.options = options
        self.echo = echo
        self.ws: Any = None
        self.root = Path()
        self.parent: Any = None
        self.plan: Any = None
        self.images: list[Path] = []
        self.list_hash = ""
        self.record: Any = None
        self.child_id = ""
        self.result = QuantizeResult("", "pending")
        self.started = 0.0

    # ------------------------------------------------------------------ phases
    def resolve(self, root: Workspace | Path, ref: str) -> None:
        """Resolve the parent and the settings in effect, and draw the calibration set."""
        from ..workspace import as_workspace
        from ..recipe.environment import offline_ultralytics

        self.ws = as_workspace(root)
        self.root = self.ws.root
        self.parent = resolve_parent(self.ws, ref)
        self.plan = _plan(self.parent.settings, self.options, self.ws.config.quantization.max_map50_drop)
        offline_ultralytics(self.root)
        self.images, self.list_hash = calibration_set(
            self.parent.data_base, self.parent.dataset, self.plan.calibration_images
        )

    def open_record(self) -> None:
        """Create the quantization's run record (with the calibration list, also kept as
        calibration.txt), name the child after it, and write the audit's run start."""
        from ..recipe.environment import environment, git_state

        parent, options, plan = self.parent, self.options, self.plan
        listed = [p.relative_to(parent.data_base).as_posix() for p in self.images]  # the data set's own paths
        config_id = parent.config.id if parent.config is not None else (parent.model.training_run or parent.model.id)
        data_root = getattr(parent.dataset, "data_root", None)
        self.record = record = RunRecord.create(
            self.root,
            config_id,
            kind="quantization",
            method=options.method,
            parent_model=parent.model.id,
            parent_weights_sha256=parent.weights_sha256,
            dataset_version=parent.dataset.key,
            dataset_fingerprint=parent.dataset.fingerprint,
            calibration={
                "split": "train",
                "images": len(self.images),
                "method": plan.calibration_method,
                "list_sha256": self.list_hash,
                "files": listed,
                **({"data_root": parent.dataset.data_root} if data_root else {}),
            },
            code=git_state(self.root),
            environment=environment(),
            deviations=[d.__dict__ for d in plan.deviations],
            threshold=plan.threshold,
            attempts=[],
        )
        # named after its own run (like a training's draft): two quantizations of one model on
        # two branches never collide
        line = model_line_of(parent.model) or parent.model.id
        self.child_id = f"{draft_id(line, record.id)}-int8-{options.method}"
        atomic_write_text(record.directory / "calibration.txt", "".join(path + "\n" for path in listed))
        audit.append(
            self.root,
            AuditAction.RUN_START,
            record.id,
            {"kind": "quantization", "method": options.method, "parent": parent.model.id},
        )

    def run(self) -> QuantizeResult:
        """Convert, evaluate, gate and record, with the log routed to quantize.log; a failure
        is recorded (and a user error or Ctrl-C raised again after that)."""
        record = self.record
        self.result = QuantizeResult(
            record.id, "in_progress", method=self.options.method, threshold=self.plan.threshold
        )
        self.started = time.time()
        record.update(status="in_progress", started=now_iso())
        from .train import attach_log

        detach_log = attach_log(record.directory / "quantize.log")
        try:
            data_yaml = _evaluation_yaml(self.parent, record.directory)
            converted = self._convert(data_yaml)
            comparison = self._evaluate(converted, data_yaml)
            self._record_child(converted, comparison)
        except (KeyboardInterrupt, Exception) as exc:
            return self._fail(exc)
        finally:
            detach_log()
        audit.append(
            self.root,
            AuditAction.RUN_END,
            record.id,
            {"status": "success", "model_version": self.child_id, "passed": self.result.passed},
        )
        return self.result

    # ------------------------------------------------------------------ steps
    def _convert(self, data_yaml: Path) -> _Converted:
        """The float reference exported from a copy of the parent's weights, and its INT8
        conversion: static PTQ in ONNX Runtime, or QAT fine-tuning then export."""
        parent, record, plan = self.parent, self.record, self.plan
        self.echo(f"float reference: exporting {parent.model.id} to ONNX at {parent.imgsz} px")
        float_pt = record.directory / "float.pt"  # ultralytics exports next to the weights:
        shutil.copyfile(parent.weights, float_pt)  # a copy keeps the parent's own files untouched
        float_copy = export_float_onnx(float_pt, parent.imgsz)
        int8_tmp = record.directory / "int8.onnx"
        if self.options.method == "ptq":
            self.echo(
                f"PTQ: ONNX Runtime static INT8, {len(self.images)} training images, "
                f"{plan.calibration_method} calibration"
            )
            t = time.time()
            quantize_static_onnx(float_copy, int8_tmp, self.images, parent.imgsz, plan.calibration_method)
            record.update(quantize_seconds=round(time.time() - t, 2))
        else:
            from .qat import run_qat

            self.echo(
                f"QAT: {plan.qat_epochs} epoch(s) of fake-quantized fine-tuning (ModelOpt in ultralytics), "
                "then INT8 ONNX"
            )
            run_qat(self.root, record, parent, data_yaml, plan.qat_epochs, plan.lr, int8_tmp, plan.threshold, self.echo)
        return _Converted(float_copy, int8_tmp)

    def _evaluate(self, converted: _Converted, data_yaml: Path) -> _Comparison:
        """Both files through the same evaluator on val and test, their CPU latency, then the
        gate: the INT8 model passes when no split's mAP50 drops more than the threshold."""
        parent, directory = self.parent, self.record.directory
        self.echo("evaluating float and INT8 ONNX on val and test (same evaluator)")
        from .slices import child_size_sets

        sizes = child_size_sets(self.ws, parent)
        float_eval = evaluate_onnx(converted.float_onnx, data_yaml, parent.imgsz, directory, "float", sizes)
        int8_eval = evaluate_onnx(converted.int8_onnx, data_yaml, parent.imgsz, directory, "int8", sizes)
        sample = self.images[0]
        lat_float = latency_ms(converted.float_onnx, sample, parent.imgsz, self.options.latency_runs)
        lat_int8 = latency_ms(converted.int8_onnx, sample, parent.imgsz, self.options.latency_runs)
        summary = onnx_summary(converted.int8_onnx)
        drop = _map50_drop(float_eval, int8_eval)
        decided = drop.get(DECISION_SPLIT)  # MLE.3 decides on val; the test drop is testing evidence (MLE.4)
        passed = decided is not None and decided <= self.plan.threshold
        return _Comparison(float_eval, int8_eval, lat_float, lat_int8, summary, drop, passed)

    def _record_child(self, converted: _Converted, comparison: _Comparison) -> None:
        """Write the child model version, then the run's success and the result (a warning
        when the gate failed: the child exists, flagged, for the user to judge)."""
        from .model_version import write_quantized_model

        table = self._table(converted, comparison)
        quantization = self._quantization(converted, comparison)
        slices, slice_warnings = self._slices(comparison, quantization)
        child_file = write_quantized_model(
            self.ws, self.record, self.parent, self.child_id, converted.int8_onnx, quantization, slices
        )
        drop, passed = comparison.drop, comparison.passed and not slice_warnings
        self.record.update(
            status="success",
            ended=now_iso(),
            duration_s=round(time.time() - self.started, 2),
            model_version=self.child_id,
            table=table,
            drop=drop,
            passed=passed,
            onnx=comparison.summary,
        )
        result = self.result
        result.status, result.model_version, result.table, result.drop, result.passed = (
            "success",
            self.child_id,
            table,
            drop,
            passed,
        )
        if not comparison.passed:
            decided = drop.get(DECISION_SPLIT)
            result.warnings.append(
                f"mAP50 drop on {DECISION_SPLIT} {decided:.4f} exceeds the threshold {self.plan.threshold} "
                "(quantization.max_map50_drop)"
                if decided is not None
                else f"no {DECISION_SPLIT} split was evaluated: the quantization gate decides on {DECISION_SPLIT}"
            )
            self.echo(f"WARNING: {result.warnings[-1]}")
        for line in slice_warnings:
            result.warnings.append(line)
            self.echo(f"WARNING: {line}")
        self.echo(f"wrote {child_file}")

    def _slices(self, comparison: _Comparison, quantization: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
        """The child's ``slices`` when its parent has slices: the same slices, from the INT8
        evaluation already run (the float ONNX model's go into ``float_reference.slices``), and
        the gate per slice: one line per slice whose mAP50 drops beyond the threshold."""
        from ..rules.quantization import slice_drops
        from ..workspace.characteristics import SliceRecord, where_text
        from .slices import for_child

        child = for_child(self.ws, self.parent, comparison.int8_eval)
        reference = for_child(self.ws, self.parent, comparison.float_eval)
        if child is None or reference is None:
            return None, []
        quantization["float_reference"]["slices"] = reference["results"]
        drops = slice_drops(
            SliceRecord.model_validate(reference).results,
            SliceRecord.model_validate(child).results,
            self.plan.threshold,
        )
        quantization["slice_drops"] = [{"split": r.split, "where": dict(r.where), "drop": drop} for r, _, drop in drops]
        lines = [  # the gate: slices of val; a test slice's drop is testing evidence, shown, not decided on
            f"mAP50 drop {drop:.4f} on the {r.split} slice {where_text(r.where)} exceeds the threshold "
            f"{self.plan.threshold} (quantization.max_map50_drop)"
            for r, _, drop in drops
            if is_validation_split(r.split)
        ]
        if lines:
            quantization["passed"] = False
        return child, lines

    def _table(self, converted: _Converted, comparison: _Comparison) -> list[dict[str, Any]]:
        """The float and INT8 rows of the comparison shown to the user and recorded."""
        return [
            {
                "model": f"{self.parent.model.id} (float ONNX)",
                "method": "float",
                "val": comparison.float_eval.val,
                "test": comparison.float_eval.test,
                "bytes": converted.float_onnx.stat().st_size,
                "latency_ms": comparison.float_latency,
            },
            {
                "model": self.child_id,
                "method": self.options.method,
                "val": comparison.int8_eval.val,
                "test": comparison.int8_eval.test,
                "bytes": converted.int8_onnx.stat().st_size,
                "latency_ms": comparison.int8_latency,
            },
        ]

    def _quantization(self, converted: _Converted, comparison: _Comparison) -> dict[str, Any]:
        """The child model version's ``quantization`` block: how it was made and how it compares."""
        parent, options, plan = self.parent, self.options, self.plan
        int8_bytes, float_bytes = converted.int8_onnx.stat().st_size, converted.float_onnx.stat().st_size
        return {
            "method": options.method,
            "library": _library(options.method),
            "backend": parent.settings.backend,
            "format": "ONNX QDQ, int8 weights per channel, uint8 activations per tensor",
            "calibration": self._calibration_note(),
            "qat_epochs": plan.qat_epochs if options.method == "qat" else None,
            "float_reference": {
                "model_version": parent.model.id,
                "weights_sha256": parent.weights_sha256,
                "metrics": {"val": comparison.float_eval.val, "test": comparison.float_eval.test},
            },
            "metrics": {"val": comparison.int8_eval.val, "test": comparison.int8_eval.test},
            "drop": comparison.drop,
            "threshold": plan.threshold,
            "passed": comparison.passed,
            "size_bytes": int8_bytes,
            "float_size_bytes": float_bytes,
            "size_ratio": round(int8_bytes / float_bytes, 4),
            "latency_ms": comparison.int8_latency,
            "float_latency_ms": comparison.float_latency,
            "latency_device": "CPU, ONNX Runtime, batch 1, median",
            "onnx_nodes": comparison.summary,
            "trt_int8": _tensorrt_note(),
        }

    def _calibration_note(self) -> dict[str, Any]:
        """The calibration the child records: PTQ's recorded image list, or QAT's loader batches."""
        dataset_version = self.parent.dataset.key
        if self.options.method == "ptq":
            return {
                "data_set_version": dataset_version,
                "split": "train",
                "images": len(self.images),
                "method": self.plan.calibration_method,
                "list_sha256": self.list_hash,
                "list": f"{self.record.rel_dir}/calibration.txt",
            }
        batch = int((self.record.data.get("qat") or {}).get("parameters", {}).get("batch", 16))
        return {
            "data_set_version": dataset_version,
            "split": "train",
            "method": "ModelOpt max calibration over 8 batches of the training loader, then fixed ranges",
            "images": 8 * batch,
        }

    def _fail(self, exc: BaseException) -> QuantizeResult:
        """Record the run's end (``aborted`` on Ctrl-C, else ``failed``) and the audit's; a user
        error or Ctrl-C goes on to the caller, any other error is the result's."""
        record = self.record
        record.update(
            status="aborted" if isinstance(exc, KeyboardInterrupt) else "failed",
            ended=now_iso(),
            duration_s=round(time.time() - self.started, 2),
            error=f"{type(exc).__name__}: {exc}",
        )
        audit.append(
            self.root, AuditAction.RUN_END, record.id, {"status": record.data["status"], "error": record.data["error"]}
        )
        if isinstance(exc, (Mle3Error, KeyboardInterrupt)):
            raise exc
        self.result.status, self.result.error = "failed", f"{type(exc).__name__}: {exc}"
        return self.result


def _plan(settings: Any, options: QuantizeOptions, threshold: float) -> _Plan:
    """The settings in effect and a deviation for each command-line value that differs."""
    deviations = []
    for name, configured, override in (
        ("quantization.calibration_images", settings.calibration_images, options.calibration_images),
        ("quantization.calibration_method", settings.calibration_method, options.calibration_method),
        ("quantization.qat_epochs", settings.qat_epochs, options.qat_epochs),
        ("quantization.lr", settings.lr, options.lr),
    ):
        if override is not None and override != configured:
            deviations.append(Deviation(name, configured, override, "command line"))
    return _Plan(
        calibration_images=options.calibration_images or settings.calibration_images,
        calibration_method=options.calibration_method or settings.calibration_method,
        qat_epochs=options.qat_epochs or settings.qat_epochs,
        lr=options.lr or settings.lr,
        threshold=threshold,
        deviations=deviations,
    )


def _map50_drop(float_eval: Evaluation, int8_eval: Evaluation) -> dict[str, float]:
    """Float minus INT8 mAP50 on each split that was evaluated."""
    return {
        split: round(getattr(float_eval, split).get("mAP_50", 0.0) - getattr(int8_eval, split).get("mAP_50", 0.0), 6)
        for split in ("val", "test")
        if getattr(float_eval, split)
    }


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
