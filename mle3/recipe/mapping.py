"""How every field of the training and augmentation configuration reaches ultralytics.

:func:`map_config` returns the ultralytics arguments and one :class:`MappedField` row per
configuration field with its status: ``applied`` (passed as is), ``converted`` (passed
after a documented conversion), ``implemented`` (mle3 does it itself, e.g. unfreezing the
backbone after ``freeze_epochs``), or ``not_applied`` (no equivalent: recorded in the run
and warned about, never silently dropped). The mapping table in docs/guides/training.md mirrors this file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..vocab import FITNESS_METRICS
from ..workspace.schema import Augmentation, Training

#: model names used in configurations -> ultralytics model yaml (built from scratch)
MODEL_YAMLS = {
    "yolov8-nano": "yolov8n.yaml",
    "yolov8n": "yolov8n.yaml",
    "yolov8-small": "yolov8s.yaml",
    "yolov8s": "yolov8s.yaml",
    "yolov8-medium": "yolov8m.yaml",
    "yolov8m": "yolov8m.yaml",
    "yolov8-large": "yolov8l.yaml",
    "yolov8l": "yolov8l.yaml",
    "yolov8-xlarge": "yolov8x.yaml",
    "yolov8x": "yolov8x.yaml",
}
#: backbone layers of the YOLOv8 family (model.0 ... model.9)
YOLOV8_BACKBONE_LAYERS = 10
ULTRALYTICS_OPTIMIZERS = {"SGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp", "MuSGD", "auto"}


@dataclass
class MappedField:
    field: str
    value: Any
    target: str | None
    status: str  # applied | converted | implemented | not_applied
    note: str = ""


@dataclass
class Deviation:
    field: str
    configured: Any
    used: Any
    source: str  # command line | environment
    reason: str = ""


@dataclass
class Mapping:
    args: dict[str, Any] = field(default_factory=dict)
    rows: list[MappedField] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)
    #: things the runner implements itself through callbacks
    fitness_metric: str | None = None
    unfreeze_at_epoch: int | None = None
    keep_best: bool = True
    keep_last: bool = True
    problems: list[str] = field(default_factory=list)
    #: albumentations transforms for ultralytics' ``augmentations=`` (see :mod:`.augment`)
    albumentations: list[Any] = field(default_factory=list)

    def add(self, field_: str, value: Any, target: str | None, status: str, note: str = "", arg: Any = None) -> None:
        self.rows.append(MappedField(field_, value, target, status, note))
        if target and status in ("applied", "converted") and target not in ("-",):
            self.args[target] = value if arg is None else arg

    @property
    def not_applied(self) -> list[MappedField]:
        return [r for r in self.rows if r.status == "not_applied"]

    def to_record(self) -> dict[str, Any]:
        return {"rows": [asdict(r) for r in self.rows], "deviations": [asdict(d) for d in self.deviations]}


def model_yaml(name: str) -> str:
    key = name.strip().lower()
    if key.endswith((".yaml", ".yml")):
        return name
    if key in MODEL_YAMLS:
        return MODEL_YAMLS[key]
    raise ValueError(
        f"unknown model {name!r}: use a model yaml (e.g. yolov8n.yaml) or one of {', '.join(sorted(MODEL_YAMLS))}"
    )


def map_config(cfg: Training, aug: Augmentation | None) -> Mapping:
    m = Mapping()
    try:
        m.add(
            "model",
            cfg.model,
            "model",
            "converted",
            "built from the model yaml (no weights downloaded)",
            model_yaml(cfg.model),
        )
    except ValueError as exc:
        m.problems.append(str(exc))
    m.add("epochs", cfg.epochs, "epochs", "applied")
    m.add("batch_size", cfg.batch_size, "batch", "applied")
    _image_size(m, cfg.image_size)
    _optimizer(m, cfg)
    _scheduler(m, cfg)
    _transfer(m, cfg)
    for name, target in (("box_loss", "box"), ("cls_loss", "cls"), ("dfl_loss", "dfl")):
        value = getattr(cfg.loss, name)
        if value is not None:
            m.add(f"loss.{name}", value, target, "applied", "loss gain")
    _early_stopping(m, cfg)
    _checkpointing(m, cfg)
    _hardware(m, cfg)
    r = cfg.reproducibility
    if r.seed is not None:
        m.add("reproducibility.seed", r.seed, "seed", "applied")
    if r.deterministic is not None:
        m.add("reproducibility.deterministic", r.deterministic, "deterministic", "applied")
    if aug is not None:
        map_augmentation(m, aug, int(m.args.get("imgsz") or 640))
    for extra in sorted(cfg.model_extra or {}):
        if extra not in ("model_line", "architecture", "description"):
            m.add(extra, (cfg.model_extra or {})[extra], None, "not_applied", "field unknown to mle3's runner")
    return m


def _image_size(m: Mapping, size: Any) -> None:
    if isinstance(size, (list, tuple)):
        w, h = int(size[0]), int(size[1])
        side = max(w, h)
        m.add(
            "image_size",
            [w, h],
            "imgsz",
            "converted",
            f"ultralytics trains square letterboxed images: imgsz={side} (the {w}x{h} frame fits without scaling down)",
            side,
        )
    else:
        m.add("image_size", size, "imgsz", "applied")


def _optimizer(m: Mapping, cfg: Training) -> None:
    o = cfg.optimizer
    name = {k.lower(): k for k in ULTRALYTICS_OPTIMIZERS}.get(o.type.lower())
    if name is None:
        m.problems.append(f"optimizer.type {o.type!r} is not one of {', '.join(sorted(ULTRALYTICS_OPTIMIZERS))}")
        return
    m.add("optimizer.type", o.type, "optimizer", "applied" if name == o.type else "converted", "", name)
    if o.lr is not None:
        m.add("optimizer.lr", o.lr, "lr0", "applied", "initial learning rate")
    if o.weight_decay is not None:
        m.add("optimizer.weight_decay", o.weight_decay, "weight_decay", "applied")
    if o.momentum is not None:
        note = "beta1 for Adam-type optimizers" if "adam" in name.lower() else ""
        m.add("optimizer.momentum", o.momentum, "momentum", "applied", note)


def _scheduler(m: Mapping, cfg: Training) -> None:
    s = cfg.scheduler
    if s.type == "constant":
        m.add("scheduler.type", s.type, "lrf", "converted", "constant learning rate: lrf=1.0", 1.0)
    else:
        m.add(
            "scheduler.type",
            s.type,
            "cos_lr",
            "converted",
            "cosine -> cos_lr=True, linear -> cos_lr=False",
            s.type == "cosine",
        )
    for name in ("warmup_epochs", "warmup_bias_lr", "warmup_momentum"):
        value = getattr(s, name)
        if value is not None:
            m.add(f"scheduler.{name}", value, name, "applied")
    if s.min_lr is not None and s.type != "constant":
        lr0 = cfg.optimizer.lr
        if lr0:
            m.add(
                "scheduler.min_lr",
                s.min_lr,
                "lrf",
                "converted",
                f"final lr fraction lrf = min_lr / lr = {s.min_lr / lr0:g}",
                s.min_lr / lr0,
            )
        else:
            m.add(
                "scheduler.min_lr", s.min_lr, None, "not_applied", "needs optimizer.lr to convert into ultralytics' lrf"
            )


def _transfer(m: Mapping, cfg: Training) -> None:
    t = cfg.transfer
    if t.pretrained:
        m.add(
            "transfer.pretrained",
            t.pretrained,
            "pretrained",
            "applied",
            "local weights file loaded into the model (never downloaded)",
        )
    else:
        m.add("transfer.pretrained", t.pretrained, "pretrained", "converted", "trained from scratch", False)
    if t.freeze_backbone:
        m.add(
            "transfer.freeze_backbone",
            True,
            "freeze",
            "converted",
            f"freezes the YOLOv8 backbone (layers 0-{YOLOV8_BACKBONE_LAYERS - 1})",
            YOLOV8_BACKBONE_LAYERS,
        )
        if t.freeze_epochs:
            m.unfreeze_at_epoch = t.freeze_epochs
            m.add(
                "transfer.freeze_epochs",
                t.freeze_epochs,
                "callback",
                "implemented",
                f"mle3 unfreezes the backbone at the start of epoch {t.freeze_epochs + 1}",
            )
        else:
            m.add(
                "transfer.freeze_epochs",
                t.freeze_epochs,
                "-",
                "implemented",
                "0: the backbone stays frozen for the whole training",
            )
    elif t.freeze_epochs:
        m.add(
            "transfer.freeze_epochs",
            t.freeze_epochs,
            "freeze",
            "converted",
            f"backbone frozen for the first {t.freeze_epochs} epochs",
            YOLOV8_BACKBONE_LAYERS,
        )
        m.unfreeze_at_epoch = t.freeze_epochs
    else:
        m.add("transfer.freeze_backbone", False, "-", "applied", "nothing frozen")
        m.add("transfer.freeze_epochs", 0, "-", "applied", "nothing frozen")


def _early_stopping(m: Mapping, cfg: Training) -> None:
    e = cfg.early_stopping
    if e.patience is not None:
        m.add("early_stopping.patience", e.patience, "patience", "applied", "epochs without improvement")
    if e.metric:
        target = FITNESS_METRICS.get(e.metric.strip().lower())
        if target is None:
            m.add(
                "early_stopping.metric",
                e.metric,
                None,
                "not_applied",
                "unknown metric; ultralytics' fitness (0.1 mAP50 + 0.9 mAP50-95) is used. Known: "
                f"{', '.join(sorted(FITNESS_METRICS))}",
            )
        else:
            m.fitness_metric = target
            m.add(
                "early_stopping.metric",
                e.metric,
                "callback",
                "implemented",
                f"mle3 makes {target} the fitness that selects best.pt and drives early stopping",
            )
    if e.mode != "max":
        m.add(
            "early_stopping.mode",
            e.mode,
            None,
            "not_applied",
            "all supported metrics improve upwards; 'min' has no meaning for them",
        )
    else:
        m.add("early_stopping.mode", e.mode, "-", "applied", "higher is better")


def _checkpointing(m: Mapping, cfg: Training) -> None:
    c = cfg.checkpointing
    if c.save_period is not None:
        m.add("checkpointing.save_period", c.save_period, "save_period", "applied", "epoch checkpoints every N epochs")
    m.keep_best, m.keep_last = c.save_best, c.save_last
    m.add(
        "checkpointing.save_best",
        c.save_best,
        "-",
        "implemented",
        "best.pt kept" if c.save_best else "best.pt removed after the final evaluation",
    )
    m.add(
        "checkpointing.save_last",
        c.save_last,
        "-",
        "implemented",
        "last.pt kept" if c.save_last else "last.pt removed after training",
    )


def _hardware(m: Mapping, cfg: Training) -> None:
    h = cfg.hardware
    if h.device is not None:
        m.add(
            "hardware.device",
            h.device,
            "device",
            "converted",
            "resolved against the GPUs present at run time",
            ultralytics_device(h.device),
        )
    if h.workers is not None:
        m.add("hardware.workers", h.workers, "workers", "applied")
    if h.pin_memory is not None:
        m.add(
            "hardware.pin_memory",
            h.pin_memory,
            "PIN_MEMORY",
            "implemented",
            "set through ultralytics' PIN_MEMORY environment variable",
        )
    if h.amp is not None:
        m.add("hardware.amp", h.amp, "amp", "applied", "mixed precision on GPU; ignored on CPU")


def ultralytics_device(device: Any) -> Any:
    """``cuda:0`` -> ``0``, ``cuda:0,1`` / ``[0, 1]`` -> ``0,1``; ``cpu`` stays."""
    if isinstance(device, list):
        return ",".join(str(d) for d in device)
    text = str(device).strip().lower()
    if text.startswith("cuda"):
        rest = text[4:].lstrip(":")
        return rest or "0"
    return text


def settings(entry: Any) -> dict[str, Any]:
    """An augmentation entry's parameters, its ``probability`` included."""
    if entry is None:
        return {}
    out = dict(entry.model_extra or {})
    if entry.probability is not None:
        out["probability"] = entry.probability
    return out


def map_albumentations(m: Mapping, aug: Augmentation, imgsz: int, night_list: str | None = None) -> None:
    """Rows (``applied``, target ``augmentations``) for the fields albumentations carries;
    called again once the image size and the data set's night-image list are known."""
    from .augment import plan

    m.rows = [r for r in m.rows if r.target != "augmentations"]
    m.albumentations = plan(aug, imgsz, night_list)
    for planned in m.albumentations:
        m.rows.append(
            MappedField(
                planned.path, planned.params, "augmentations", "applied", f"{planned.origin} {planned.describe()}"
            )
        )


def map_augmentation(m: Mapping, aug: Augmentation, imgsz: int = 640) -> None:
    def section(group: dict, name: str):
        entry = group.get(name)
        return entry, settings(entry)

    def off(path: str, entry) -> bool:
        if entry is not None and not entry.enabled:
            m.add(path, "disabled", None, "applied", "disabled in the configuration")
            return True
        return entry is None

    geo, pho = aug.geometric, aug.photometric
    entry, extra = section(geo, "horizontal_flip")
    if not off("augmentation.geometric.horizontal_flip", entry):
        m.add("augmentation.geometric.horizontal_flip", extra.get("probability", 0.5), "fliplr", "applied")
    elif entry is not None:
        m.args["fliplr"] = 0.0
    entry, extra = section(geo, "scale")
    if not off("augmentation.geometric.scale", entry):
        lo, hi = extra.get("range", [0.5, 1.5])
        gain = max(abs(1 - lo), abs(hi - 1))
        m.add(
            "augmentation.geometric.scale",
            [lo, hi],
            "scale",
            "converted",
            f"symmetric scale gain +/-{gain:g}",
            round(gain, 6),
        )
    elif entry is not None:
        m.args["scale"] = 0.0
    entry, extra = section(geo, "rotation")
    if not off("augmentation.geometric.rotation", entry):
        lo, hi = extra.get("range", [0, 0])
        m.add(
            "augmentation.geometric.rotation",
            [lo, hi],
            "degrees",
            "converted",
            f"+/-{max(abs(lo), abs(hi)):g} degrees",
            float(max(abs(lo), abs(hi))),
        )
    off("augmentation.geometric.crop", section(geo, "crop")[0])  # enabled: an albumentations row below
    for name, target in (("brightness", "hsv_v"), ("saturation", "hsv_s"), ("hue", "hsv_h")):
        entry, extra = section(pho, name)
        path = f"augmentation.photometric.{name}"
        if off(path, entry):
            if entry is not None:
                m.args[target] = 0.0
            continue
        lo, hi = extra.get("range", [0, 0])
        gain = max(abs(lo), abs(hi)) if name != "saturation" else max(abs(1 - lo), abs(hi - 1))
        m.add(path, [lo, hi], target, "converted", f"HSV gain {gain:g}", round(gain, 6))
    off("augmentation.photometric.contrast", section(pho, "contrast")[0])
    for group_name, group in (
        ("weather_simulation", aug.weather_simulation),
        ("automotive_specific", aug.automotive_specific),
    ):
        for name, entry in group.items():
            off(f"augmentation.{group_name}.{name}", entry)
    map_albumentations(m, aug, imgsz)
    if aug.mosaic is not None:
        if not aug.mosaic.enabled:
            m.add("augmentation.mosaic", "disabled", "mosaic", "applied", "", 0.0)
        else:
            extra = settings(aug.mosaic)
            m.add("augmentation.mosaic.probability", extra.get("probability", 1.0), "mosaic", "applied")
            grid = extra.get("grid_size", 2)
            if grid == 2:
                m.add("augmentation.mosaic.grid_size", grid, "-", "applied", "ultralytics mosaics are 2x2")
            else:
                m.add(
                    "augmentation.mosaic.grid_size",
                    grid,
                    None,
                    "not_applied",
                    "ultralytics' detection pipeline always builds 2x2 mosaics (its Mosaic class knows 3x3, the "
                    "training pipeline does not use it)",
                )
    if aug.mixup is not None:
        if not aug.mixup.enabled:
            m.add("augmentation.mixup", "disabled", "mixup", "applied", "", 0.0)
        else:
            extra = settings(aug.mixup)
            m.add("augmentation.mixup.probability", extra.get("probability", 0.0), "mixup", "applied")
            if "alpha" in extra:
                m.add(
                    "augmentation.mixup.alpha",
                    extra["alpha"],
                    None,
                    "not_applied",
                    "ultralytics draws the mixup ratio from Beta(32, 32); its alpha cannot be set",
                )
