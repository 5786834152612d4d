"""Quantization-aware training: ultralytics' own QAT (NVIDIA ModelOpt fake quantization
inside its training loop), then an INT8 ONNX whose weights are real int8 initializers.

The fine-tune uses the parent run's loss, data and augmentation arguments; only epochs,
learning rate and ``quantize=8`` differ (recorded). Every epoch's val mAP50 is compared
with the float model measured by the same evaluator (ultralytics val in PyTorch), and an
epoch over the threshold prints a warning. ultralytics' QAT export keeps float weights
behind QuantizeLinear/DequantizeLinear pairs; :func:`fold_weight_quantization` replaces
each such weight by its int8 values (what the QuantizeLinear node computes), so the file
is really small. (ModelOpt's own ``qdq_to_dq`` does the same but needs its ``[onnx]``
extra, which installs onnxruntime-gpu over onnxruntime and downgrades onnx.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Callable

from ..runs.records import RunRecord, now_iso


def _constant(name: str, initializers: dict[str, Any], constants: dict[str, Any]):
    from onnx import numpy_helper

    if name in initializers:
        return numpy_helper.to_array(initializers[name])
    if name in constants:
        return constants[name]
    return None


def fold_weight_quantization(source: Path, target: Path) -> dict[str, int]:
    """Replace float weight -> QuantizeLinear with an int8 initializer feeding the same
    DequantizeLinear. Activation Q/DQ pairs (non-constant inputs) are left as they are."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    constants = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    folded, remove = 0, []
    for node in list(graph.node):
        if node.op_type != "QuantizeLinear" or node.input[0] not in initializers:
            continue
        weight = numpy_helper.to_array(initializers[node.input[0]]).astype(np.float64)
        scale = _constant(node.input[1], initializers, constants)
        zero = (
            _constant(node.input[2], initializers, constants)
            if len(node.input) > 2 and node.input[2]
            else np.zeros((), dtype=np.int8)
        )
        if scale is None or zero is None:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * weight.ndim
            shape[axis] = scale.size
            scale_b, zero_b = scale.reshape(shape), zero.reshape(shape)
        else:
            scale_b, zero_b = scale, zero
        info = np.iinfo(zero.dtype)
        q = np.clip(np.rint(weight / scale_b) + zero_b.astype(np.float64), info.min, info.max).astype(zero.dtype)
        name = node.input[0] + "_quantized"
        graph.initializer.append(numpy_helper.from_array(q, name))
        for dq in consumers.get(node.output[0], []):
            if dq.op_type == "DequantizeLinear":
                dq.input[0] = name
        remove.append(node)
        folded += 1
    for node in remove:
        graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    return {"folded_weights": folded}


def run_qat(
    root: Path,
    record: RunRecord,
    parent: Any,
    data_yaml: Path,
    epochs: int,
    lr: float | None,
    int8_out: Path,
    threshold: float,
    echo: Callable[[str], None],
) -> None:
    from ultralytics import YOLO

    from .train import epoch_metrics, flag_final_eval

    params = _parent_parameters(root, parent)
    float_ref = YOLO(str(parent.weights)).val(
        data=str(data_yaml),
        split="val",
        imgsz=parent.imgsz,
        batch=params.get("batch", 16),
        device=params.get("device", "cpu"),
        plots=False,
        project=str(record.directory),
        name="float-val",
        exist_ok=True,
        verbose=False,
    )
    reference = float(float_ref.box.map50)
    lr0 = lr if lr is not None else round(float(params.get("lr0", 0.01)) * 0.1, 8)
    args = {
        k: v
        for k, v in params.items()
        if k not in ("model", "epochs", "pretrained", "lr0", "freeze", "save_period", "resume", "time")
    }
    args.update(epochs=epochs, lr0=lr0, quantize=8, warmup_epochs=0)
    record.update(
        qat={
            "epochs": epochs,
            "lr0": lr0,
            "float_val_mAP_50": round(reference, 6),
            "parameters": args,
            "calibration": "ModelOpt: 8 batches of the training loader (training split only)",
        }
    )
    if str(args.get("device", "cpu")) != "cpu":
        record.update(qat={**record.data["qat"], "cuda_extension": modelopt_cuda_extension(echo)})
    model = YOLO(str(parent.weights))
    state = {"final": False}

    def on_train_start(trainer: Any) -> None:
        flag_final_eval(trainer, state)

    def on_fit_epoch_end(trainer: Any) -> None:
        if state["final"]:
            return
        metrics = {
            "epoch": trainer.epoch + 1,
            "epochs": trainer.epochs,
            "time": now_iso(),
            "epoch_time_s": round(float(trainer.epoch_time or 0), 3),
            **epoch_metrics(trainer),
        }
        drop = reference - metrics.get("mAP50", 0.0)
        metrics.update(float_val_mAP50=round(reference, 6), drop=round(drop, 6), over_threshold=drop > threshold)
        record.append_epoch(metrics)
        record.update(epochs_completed=metrics["epoch"])
        line = (
            f"QAT epoch {metrics['epoch']}/{trainer.epochs}  val mAP50 {metrics.get('mAP50', 0):.3f} (float "
            f"{reference:.3f}, drop {drop:+.4f})"
        )
        echo(line)
        if drop > threshold:
            echo(
                f"WARNING: QAT epoch {metrics['epoch']} loses {drop:.4f} mAP50 against the float model (threshold "
                f"{threshold})"
            )

    model.add_callback("on_train_start", on_train_start)
    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    model.train(
        data=str(data_yaml), project=str(record.directory), name="qat", exist_ok=True, plots=False, val=True, **args
    )
    trainer: Any = model.trainer  # set by model.train(); ultralytics annotates it as always None
    weights_dir = Path(trainer.save_dir) / "weights"
    best = weights_dir / "best.pt" if (weights_dir / "best.pt").exists() else weights_dir / "last.pt"
    exported = Path(
        YOLO(str(best)).export(
            format="onnx", imgsz=parent.imgsz, simplify=True, dynamic=False, batch=1, device="cpu", verbose=False
        )
    )
    qdq = record.directory / "qat-qdq.onnx"
    exported.replace(qdq)
    folded = fold_weight_quantization(qdq, int8_out)
    record.update(
        qat={
            **record.data["qat"],
            "weights": best.relative_to(root).as_posix(),
            **folded,
            "qdq_float_weights_bytes": qdq.stat().st_size,
        }
    )


EXTENSION = "modelopt_cuda_ext"


def extension_cache(name: str = EXTENSION) -> tuple[Path, bool]:
    """Where torch keeps the build of a C++/CUDA extension (``TORCH_EXTENSIONS_DIR``, else
    ``~/.cache/torch_extensions``) and whether a build is already there."""
    from torch.utils.cpp_extension import get_default_build_root

    root = Path(get_default_build_root())
    built = any(root.glob(f"**/{name}/{name}*.so"))
    return root, built


def modelopt_cuda_extension(echo: Callable[[str], None]) -> dict[str, Any]:
    """Load ModelOpt's CUDA kernels before QAT starts. The first time on a machine they are
    compiled (about a minute on an H100): say so instead of a silent pause, time it, and
    leave the build in torch's extension cache so later QATs load it at once."""
    import time

    import torch

    if not torch.cuda.is_available():
        return {"needed": False}
    root, built = extension_cache()
    if not built:
        echo(f"QAT: building ModelOpt's CUDA extension, once per machine (about a minute); cached in {root}")
    started = time.time()
    from modelopt.torch.quantization.extensions import get_cuda_ext

    loaded = get_cuda_ext() is not None
    seconds = round(time.time() - started, 1)
    if not built:
        echo(
            "QAT: CUDA extension "
            f"{'built' if loaded else 'could not be built; ModelOpt falls back to slower kernels'} in {seconds} s"
        )
    return {
        "needed": True,
        "name": EXTENSION,
        "cache": str(root),
        "was_cached": built,
        "loaded": loaded,
        "seconds": seconds,
    }


def _parent_parameters(root: Path, parent: Any) -> dict[str, Any]:
    """The ultralytics arguments of the run that trained the float model."""
    from ..workspace.records import read_run, run_file

    params: dict[str, Any] = {}
    path = run_file(root, str(parent.model.training_run))
    if parent.model.training_run and path.is_file():
        params = dict(read_run(path, str(parent.model.training_run)).parameters or {})
    params.setdefault("imgsz", parent.imgsz)
    return params
