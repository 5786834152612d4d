"""Per-condition (per-slice) evaluation: one ultralytics validation per split, split afterwards.

A model is validated once on each of val and test by ultralytics' own detection validator
(PyTorch weights or an ONNX file alike); a subclass keeps each image's statistics (true
positives per IoU threshold, confidences, predicted and target classes) with the image's
path. Each slice, the images of a split meeting a condition (``time_of_day=night``), is then
scored from its images' statistics by ultralytics' own ``ap_per_class``: the whole split
gives exactly the numbers ultralytics reports for that validation, and no slice costs a
second pass over the images (ISO/PAS 8800 asks performance per ODD condition; ASPICE 4.0
08-64 asks "the quantity of each ML test scenario": every slice records its images and
instances, and one smaller than ``slices.min_images`` is marked ``too_small``).

Nothing here imports torch or ultralytics at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

import yaml

from ..workspace.characteristics import OBJECT_SIZE, SliceResult, Where

#: the per-image statistics ultralytics' detection metrics are computed from
STAT_KEYS = ("tp", "conf", "pred_cls", "target_cls")


@dataclass
class SplitStats:
    """One validation of one split: ultralytics' own mean metrics and, per image (in the
    validator's order), its path relative to the data set folder and its statistics."""

    split: str
    metrics: dict[str, float]
    images: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)


def _relative(im_file: str, base: Path) -> str:
    path = Path(im_file)
    for candidate, root in ((path, base), (path.resolve(), base.resolve())):
        try:
            return candidate.relative_to(root).as_posix()
        except ValueError:
            continue
    return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


def data_folder(data_yaml: Path) -> Path:
    """The folder a data.yaml's image paths are relative to (its ``path``)."""
    data = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8")) or {}
    return (Path(data_yaml).parent / str(data.get("path") or ".")).resolve()


def has_split(data_yaml: Path, split: str) -> bool:
    return bool((yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8")) or {}).get(split))


#: a set of object size classes a ``where`` names (``object_size: [small, medium]``), as a key
SizeSet = tuple[str, ...]


def size_sets(wheres: Iterable[Where]) -> list[SizeSet]:
    """The object size sets the ``where``s name: each needs its own matching per image."""
    out: list[SizeSet] = []
    for where in wheres:
        if OBJECT_SIZE in where:
            key = tuple(sorted(_wanted(where)[OBJECT_SIZE]))
            if key not in out:
                out.append(key)
    return out


def _validator_class() -> Any:
    from ultralytics.models.yolo.detect import DetectionValidator

    class SliceValidator(DetectionValidator):
        """ultralytics' detection validator that also keeps every image's statistics (and,
        for each size set asked for, the statistics of its boxes of those sizes alone)."""

        size_sets: list[SizeSet] = []

        def init_metrics(self, model: Any) -> None:
            super().init_metrics(model)
            self.per_image: list[tuple[str, dict[str, Any]]] = []

        def update_metrics(self, preds: Any, batch: dict[str, Any]) -> None:
            start = len(self.metrics.stats["tp"])
            super().update_metrics(preds, batch)
            stats = self.metrics.stats
            for si, k in enumerate(range(start, len(stats["tp"]))):
                stat = {key: stats[key][k] for key in STAT_KEYS}
                if self.size_sets:
                    stat["sizes"] = self._by_size(self._prepare_batch(si, batch), preds[si])
                self.per_image.append((batch["im_file"][si], stat))

        def _by_size(self, pbatch: dict[str, Any], pred: dict[str, Any]) -> dict[SizeSet, dict[str, Any]]:
            """Targets and predictions of the sizes of each set (normalised area against the
            original image, the thresholds registration counts with), matched again."""
            import numpy as np
            from ultralytics.utils import ops

            from ..workspace.characteristics import SIZES, size_class

            height, width = (int(x) for x in pbatch["ori_shape"][:2])

            def classes(boxes: Any) -> Any:
                if not len(boxes):
                    return np.zeros(0, dtype=int)
                scaled = ops.scale_boxes(
                    pbatch["imgsz"], boxes.clone(), pbatch["ori_shape"], ratio_pad=pbatch["ratio_pad"]
                )
                areas = ((scaled[:, 2] - scaled[:, 0]) * (scaled[:, 3] - scaled[:, 1])).cpu().numpy()
                return np.array([size_class(float(a) / (width * height)) for a in areas], dtype=int)

            target_size, pred_size = classes(pbatch["bboxes"]), classes(pred["bboxes"])
            out = {}
            for key in self.size_sets:
                wanted = [SIZES.index(s) for s in key if s in SIZES]
                t = torch_mask(np.isin(target_size, wanted), pbatch["cls"])
                p = torch_mask(np.isin(pred_size, wanted), pred["cls"])
                gt = {"cls": pbatch["cls"][t], "bboxes": pbatch["bboxes"][t]}
                sub = {"cls": pred["cls"][p], "bboxes": pred["bboxes"][p], "conf": pred["conf"][p]}
                out[key] = {
                    "tp": self._process_batch(sub, gt)["tp"],
                    "conf": sub["conf"].cpu().numpy(),
                    "pred_cls": sub["cls"].cpu().numpy(),
                    "target_cls": gt["cls"].cpu().numpy(),
                }
            return out

    return SliceValidator


def torch_mask(mask: Any, like: Any) -> Any:
    """A boolean numpy mask as a tensor on ``like``'s device."""
    import torch

    return torch.as_tensor(mask, dtype=torch.bool, device=like.device)


def validate_split(
    model_path: Path,
    data_yaml: Path,
    split: str,
    imgsz: int,
    device: str | None = "cpu",
    batch: int = 16,
    project: Path | None = None,
    name: str | None = None,
    sizes: Sequence[SizeSet] = (),
) -> SplitStats:
    """One ultralytics validation of ``split`` (the same call ``YOLO.val`` makes), keeping
    the per-image statistics (and those of the boxes of each object size set in ``sizes``)."""
    from ultralytics import YOLO

    cls = _validator_class()
    cls.size_sets = list(sizes)
    made: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        made.append(cls(**kwargs))
        return made[-1]

    kwargs: dict[str, Any] = dict(
        data=str(data_yaml), split=split, imgsz=imgsz, batch=batch, device=device, plots=False, verbose=False
    )
    if project is not None:
        kwargs.update(project=str(project), name=name or f"slices-{split}", exist_ok=True)
    m = YOLO(str(model_path), task="detect").val(validator=factory, **kwargs)
    validator = made[-1]
    base = data_folder(data_yaml)
    images = [(_relative(f, base), stat) for f, stat in getattr(validator, "per_image", [])]
    p, r = float(m.box.mp), float(m.box.mr)
    metrics = {
        "mAP_50": round(float(m.box.map50), 6),
        "mAP_50_95": round(float(m.box.map), 6),
        "precision": round(p, 6),
        "recall": round(r, 6),
        "f1": round(2 * p * r / (p + r), 6) if p + r else 0.0,
    }
    return SplitStats(split, metrics, images, dict(getattr(validator, "names", None) or {}))


def score(stats: Sequence[dict[str, Any]], names: Mapping[int, str] | None = None) -> dict[str, float] | None:
    """mAP50, mAP50-95, precision and recall of these images' statistics, by ultralytics'
    own ``ap_per_class`` and ``Metric`` (the numbers its validator prints); None without targets."""
    import numpy as np
    from ultralytics.utils.metrics import Metric, ap_per_class

    if not stats:
        return None
    joined = {k: np.concatenate([s[k] for s in stats], 0) for k in STAT_KEYS}
    if joined["target_cls"].size == 0:
        return None
    results = ap_per_class(
        joined["tp"], joined["conf"], joined["pred_cls"], joined["target_cls"], names=dict(names or {})
    )[2:]
    metric = Metric()
    metric.nc = len(names or {})
    metric.update(results)
    p, r, map50, map5095 = (float(x) for x in metric.mean_results())
    return {"mAP_50": round(map50, 6), "mAP_50_95": round(map5095, 6), "precision": round(p, 6), "recall": round(r, 6)}


def _wanted(where: Where) -> dict[str, set[str]]:
    return {k: {str(x) for x in v} if isinstance(v, list) else {str(v)} for k, v in where.items()}


def matches(values: Mapping[str, Any], where: Where) -> bool:
    """Whether an image with these characteristic values meets ``where`` (any of a list)."""
    return all(k in values and str(values[k]) in allowed for k, allowed in _wanted(where).items())


#: a characteristic with more distinct values in a split is an identifier or a measurement,
#: not a condition: its values are sliced only where a requirement names them
MAX_VALUES = 50


def slice_wheres(
    split_images: Iterable[str],
    conditions: Mapping[str, Mapping[str, Any]],
    wheres: Iterable[Where],
    skip: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The slices of one split: the whole split, every value of every characteristic its
    images have (but those in ``skip`` and those with more than :data:`MAX_VALUES` values),
    then every ``where`` asked for (each once)."""
    values: dict[str, set[str]] = {}
    for image in split_images:
        for name, value in (conditions.get(image) or {}).items():
            if value is not None and value != "":
                values.setdefault(name, set()).add(str(value))
    out: list[dict[str, Any]] = [{}]
    skipped = set(skip)
    for name in sorted(values):
        if name not in skipped and len(values[name]) <= MAX_VALUES:
            out.extend({name: value} for value in sorted(values[name]))
    for where in wheres:
        normal = {k: sorted({str(x) for x in v}) if isinstance(v, list) else str(v) for k, v in dict(where).items()}
        if normal and all(_wanted(normal) != _wanted(seen) for seen in out):
            out.append(normal)
    return out


def split_slices(
    split: SplitStats,
    conditions: Mapping[str, Mapping[str, Any]],
    wheres: Iterable[Where],
    min_images: int,
    skip: Iterable[str] = (),
) -> list[SliceResult]:
    """Every slice of one validated split, scored from its images' statistics."""
    results = []
    for where in slice_wheres([image for image, _ in split.images], conditions, wheres, skip):
        images = {k: v for k, v in where.items() if k != OBJECT_SIZE}  # a size filters boxes, not images
        chosen = [stat for image, stat in split.images if matches(conditions.get(image) or {}, images)]
        if OBJECT_SIZE in where:
            key = tuple(sorted(_wanted(where)[OBJECT_SIZE]))
            if not all(key in (stat.get("sizes") or {}) for stat in chosen):
                # not measured by this validation: the slice is listed, never passed
                results.append(SliceResult(split=split.split, where=where, images=len(chosen), too_small=True))
                continue
            chosen = [stat["sizes"][key] for stat in chosen]
        instances = int(sum(len(stat["target_cls"]) for stat in chosen))
        metrics = score(chosen, split.names) or {}
        results.append(
            SliceResult(
                split=split.split,
                where=where,
                images=len(chosen),
                instances=instances,
                too_small=len(chosen) < min_images,
                **metrics,
            )
        )
    return results


def evaluate_slices(
    model_path: Path,
    data_yaml: Path,
    conditions: Mapping[str, Mapping[str, Any]],
    wheres: Iterable[Where],
    min_images: int,
    splits: Sequence[str] = ("val", "test"),
    imgsz: int = 640,
    device: str | None = "cpu",
    batch: int = 16,
    project: Path | None = None,
    skip: Iterable[str] = (),
) -> list[SliceResult]:
    """One validation per split of the data.yaml (those it lacks are skipped), split into
    slices: the whole split, every value of every characteristic in ``conditions`` (but
    ``skip``), and every ``where``."""
    skip = list(skip)
    wheres = list(wheres)
    results: list[SliceResult] = []
    for split in splits:
        if not has_split(data_yaml, split):
            continue
        stats = validate_split(model_path, data_yaml, split, imgsz, device, batch, project, sizes=size_sets(wheres))
        results.extend(split_slices(stats, conditions, wheres, min_images, skip))
    return results


# ----------------------------------------------------------------------------- the workspace side
def result_dict(result: SliceResult) -> dict[str, Any]:
    """One ``slices.results`` entry as written (``too_small`` only when true, unmeasured metrics left out)."""
    out: dict[str, Any] = {"split": result.split, "where": dict(result.where), "images": result.images}
    out["instances"] = result.instances
    for name in ("mAP_50", "mAP_50_95", "precision", "recall"):
        value = getattr(result, name)
        if value is not None:
            out[name] = value
    if result.too_small:
        out["too_small"] = True
    return out


def slice_record(dataset: Any, min_images: int, results: Iterable[SliceResult]) -> dict[str, Any]:
    """The ``slices:`` block of a model version (SliceRecord's shape)."""
    from ..runs.records import now_iso

    return {
        "dataset": getattr(dataset, "key", None),
        "fingerprint": getattr(dataset, "fingerprint", None),
        "at": now_iso(),
        "min_images": min_images,
        "results": [result_dict(r) for r in results],
    }


def requirement_wheres(ws: Any, model: Any) -> list[dict[str, Any]]:
    """The ``where`` of every metric criterion of the requirements ``model`` traces to."""
    return wheres_of(ws, getattr(model.traceability, "requirements", None) or [])


def wheres_of(ws: Any, requirements: Iterable[str]) -> list[dict[str, Any]]:
    """The ``where`` of every metric criterion of these requirements (each once)."""
    out: list[dict[str, Any]] = []
    for ref in requirements:
        requirement = ws.resolve(ref)
        if requirement is None or requirement.kind != "requirement":
            continue
        for criterion in requirement.criteria:
            where = getattr(criterion, "where", None)
            if getattr(criterion, "metric", None) and where and dict(where) not in out:
                out.append(dict(where))
    return out


def child_wheres(ws: Any, parent: Any, split: str) -> list[dict[str, Any]]:
    """A quantized child's slices of one split: its parent's there (every where it recorded)
    and its requirements'."""
    wheres = requirement_wheres(ws, parent)
    for result in parent.slices.results if parent.slices is not None else []:
        if result.where and result.matches(split, result.where) and dict(result.where) not in wheres:
            wheres.append(dict(result.where))
    return wheres


def conditions_of(ws: Any, dataset: Any) -> dict[str, dict[str, Any]]:
    """Per-image values of the data set's characteristics (empty without any)."""
    from ..datasets.conditions import image_conditions

    return image_conditions(ws, dataset)


def not_sliced(ws: Any, dataset: Any) -> list[str]:
    """Characteristics whose values are not slices by themselves: those the data set's ODD
    declares a group (a drive or sequence id) or free text or numbers without listed values."""
    metadata = getattr(dataset, "metadata", None)
    odd = ws.resolve(metadata.odd) if metadata is not None and metadata.odd else None
    if odd is None or odd.kind != "odd":
        return list((getattr(dataset.characteristics, "groups", None) or {}).keys())
    return [
        name
        for name, spec in odd.characteristics.items()
        if spec.role == "group" or (spec.type in ("string", "number") and not spec.values)
    ]


def has_metadata(dataset: Any) -> bool:
    """Whether slices are evaluated after training: only for a data set registered with a
    metadata table (no time is added to trainings of data sets without one)."""
    return dataset is not None and getattr(dataset, "metadata", None) is not None


def refuse_changing_approved(model: Any, ws: Any) -> None:
    """Slices are content of the model version its approvals cover: a validated or released
    model is not changed (as for ``mle3 export``)."""
    from ..errors import Mle3Error
    from ..vocab import FROZEN_STATUSES

    if model.status in FROZEN_STATUSES:
        raise Mle3Error(
            f"{model.id} is {model.status}: recording slices would change the content its approvals cover; evaluate "
            "before validation (or train or quantize a new version, which writes its slices itself)",
            file=model._file,
            line=ws.line_of(model, ("status",)),
            field="status",
        )


@dataclass
class _Target:
    model: Any
    file: Path
    onnx: bool
    dataset: Any
    data_yaml: Path
    imgsz: int


def _target(ws: Any, model: Any) -> _Target:
    """The model file to evaluate (its weights, or a quantized child's ONNX file, checked
    against the recorded sha256), its data set on this machine and its image size."""
    from ..errors import Mle3Error
    from ..hashing import sha256_file
    from ..paths import inside_workspace
    from ..datasets.materialize import local_data_base
    from .quantize import _image_size, _parent_weights

    if model.artifacts.weights:
        file, _ = _parent_weights(ws, model)
        onnx = False
    else:
        rel = model.artifacts.onnx
        if not rel or not inside_workspace(ws.root, rel) or not (ws.root / rel).is_file():
            raise Mle3Error(
                f"{model.id} names no weights or ONNX file to evaluate",
                file=model._file,
                line=ws.line_of(model, ("artifacts",)),
                field="artifacts",
            )
        file = ws.root / rel
        if model.onnx_sha256 and sha256_file(file) != model.onnx_sha256:
            raise Mle3Error(
                f"ONNX file {rel!r} no longer matches the recorded onnx_sha256",
                file=model._file,
                line=ws.line_of(model, ("onnx_sha256",)),
                field="onnx_sha256",
            )
        onnx = True
    dataset = ws.resolve(model.training_data.dataset_version)
    if dataset is None or dataset.kind != "dataset" or not dataset.data_yaml:
        raise Mle3Error(
            "the model's data set version is not a registered data set (its val and test splits are evaluated)",
            file=model._file,
            line=ws.line_of(model, ("training_data", "dataset_version")),
            field="training_data.dataset_version",
        )
    base = local_data_base(ws.root, ws.config, dataset)
    source = model
    if model.quantization is not None and model.traceability.previous_version:
        source = ws.resolve(model.traceability.previous_version) or model  # trained at the parent's size
    run = ws.resolve(source.training_run)
    config = ws.resolve(run.config) if run is not None and run.kind == "run" else None
    imgsz = _image_size(run, config if config is not None and config.kind == "training" else None)
    return _Target(model, file, onnx, dataset, base / dataset.data_yaml, imgsz)


def evaluation_yaml(data_yaml: Path, directory: Path) -> Path:
    """A copy of the data.yaml with an absolute ``path`` (ultralytics resolves relative ones
    against its own datasets folder)."""
    from .._atomic import atomic_write_text

    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    data["path"] = str((data_yaml.parent / str(data.get("path") or ".")).resolve())
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "data.yaml"
    atomic_write_text(target, yaml.safe_dump(data, sort_keys=False))
    return target


def write_slices(ws: Any, model_id: str, record: dict[str, Any]) -> None:
    """Record ``slices:`` in the model version under the promotion lock (a promotion while
    the evaluation ran is checked again first), with an audit entry."""
    from .. import audit
    from ..itemfile import set_fields
    from ..runs.records import clean
    from ..vocab import AuditAction
    from ..workspace.layout import PROMOTE_LOCK
    from ..workspace.load import locked

    with locked(ws, PROMOTE_LOCK):
        model = ws.get(model_id)
        refuse_changing_approved(model, ws)
        set_fields(ws, model, {("slices",): clean(record)})
        audit.append(
            ws.root,
            AuditAction.MODEL_EVALUATE,
            model.id,
            {
                "dataset": record.get("dataset"),
                "fingerprint": record.get("fingerprint"),
                "slices": len(record.get("results") or []),
            },
        )


def _unchanged(model: Any, record: dict[str, Any]) -> bool:
    """Whether the model version already records exactly these slices (all but the time)."""
    from ..runs.records import clean

    recorded = dict((getattr(model, "_raw", None) or {}).get("slices") or {})
    fresh = dict(clean(record))
    recorded.pop("at", None)
    fresh.pop("at", None)
    return bool(recorded) and recorded == fresh


def evaluate(root: Any, ref: str, device: str | None = "cpu", echo: Any = print) -> dict[str, Any]:
    """``mle3 evaluate MODEL``: the model on every slice of val and test of its data set,
    recorded in its model version. Returns the ``slices`` block written."""
    from ..optional import require
    from ..recipe.environment import offline_ultralytics
    from ..errors import Mle3Error
    from ..workspace import as_workspace

    ws = as_workspace(root)
    model = ws.get(ref)
    if model.kind != "model_version":
        raise Mle3Error(f"{ref} is a {model.kind}, not a model version")
    refuse_changing_approved(model, ws)
    target = _target(ws, model)
    require("ultralytics", *(("onnxruntime",) if target.onnx else ()))
    offline_ultralytics(ws.root)
    conditions = conditions_of(ws, target.dataset)
    wheres = requirement_wheres(ws, model)
    min_images = ws.config.slices.min_images
    work = ws.root / ws.layout.export_dir / model.id / "slices"
    data_yaml = evaluation_yaml(target.data_yaml, work)
    echo(
        f"evaluating {model.id} on val and test of {target.dataset.key} "
        f"({len(conditions)} images with characteristics, {len(wheres)} requirement slice(s))"
    )
    from .train import attach_log

    detach_log = attach_log(work / "evaluate.log")
    try:
        results = evaluate_slices(
            target.file,
            data_yaml,
            conditions,
            wheres,
            min_images,
            imgsz=target.imgsz,
            device=device,
            batch=1 if target.onnx else 16,
            project=work,
            skip=not_sliced(ws, target.dataset),
        )
    finally:
        detach_log()
    record = slice_record(target.dataset, min_images, results)
    if _unchanged(model, record):
        # the same numbers again: the model's content (and its children's parent fingerprint) stays
        echo(f"{model.id}: the same slices as recorded at {model.slices.at}; nothing changed")
        return {"model": model.id, **record, "at": str(model.slices.at), "warnings": []}
    write_slices(ws, model.id, record)
    warnings = [
        f"{child.id} was quantized from {model.id}: recording slices changed {model.id}'s content, so "
        f"quantization.stale-parent now flags {child.id} (quantize {model.id} again)"
        for child in ws.of_kind("model_version")
        if child.quantization is not None and child.traceability.previous_version == model.id
    ]
    for line in warnings:
        echo(f"warning: {line}")
    return {"model": model.id, **record, "warnings": warnings}


def after_training(ws: Any, record: Any, prep: Any, outcome: dict[str, Any]) -> dict[str, Any] | None:
    """The ``slices:`` block of a model version a training is about to write, evaluated with
    the run's own data.yaml, image size and device; None (nothing evaluated, no time added)
    for a data set without a metadata table."""
    dataset = prep.dataset
    if not has_metadata(dataset):
        return None
    requirements = list(dict.fromkeys(list(prep.cfg.requirements) + list(dataset.requirements)))
    params = record.data.get("parameters") or {}
    min_images = ws.config.slices.min_images
    device = params.get("device")
    results = evaluate_slices(
        Path(outcome["best_weights"]),
        record.directory / "data.yaml",
        conditions_of(ws, dataset),
        wheres_of(ws, requirements),
        min_images,
        imgsz=int(params.get("imgsz") or 640),
        device=None if device in (None, "") else str(device),
        batch=int(params.get("batch") or 16),
        project=record.directory / "slices",
        skip=not_sliced(ws, dataset),
    )
    return slice_record(dataset, min_images, results)


def child_size_sets(ws: Any, parent: Any) -> list[SizeSet]:
    """The object size sets a quantized child's evaluation must measure (its parent's slices')."""
    if parent.model.slices is None:
        return []
    return size_sets(child_wheres(ws, parent.model, "val") + child_wheres(ws, parent.model, "test"))


def for_child(ws: Any, parent: Any, evaluation: Any) -> dict[str, Any] | None:
    """A quantized child's ``slices:`` from the INT8 evaluation quantization ran anyway (no
    validation more), on its parent's slices and requirements; None when the parent has none."""
    if parent.model.slices is None:
        return None
    conditions = conditions_of(ws, parent.dataset)
    min_images = ws.config.slices.min_images
    results: list[SliceResult] = []
    for split in ("val", "test"):
        stats = evaluation.stats.get(split)
        if stats is not None:
            wheres = child_wheres(ws, parent.model, split)
            results.extend(split_slices(stats, conditions, wheres, min_images, not_sliced(ws, parent.dataset)))
    return slice_record(parent.dataset, min_images, results)
