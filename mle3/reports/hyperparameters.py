"""ASPICE 4.0 information item 01-54 (hyperparameter): per hyperparameter, a description,
its initial value, its final value and how it was chosen.

The initial value is what the configuration's first training run trained with (its
``config.yaml`` snapshot), else the configuration as it stands; the final value is what the
model version's own run trained with (04-11: the configuration as it stands). "Chosen by"
names the study a value came from (``optimized_by``, when the value is in the study's
search space), else "set by hand". Descriptions are mle3's vocabulary; ``hyperparameters:``
in mle3.yaml overrides or adds any.
"""

from __future__ import annotations

from typing import Any

#: the seed's training configuration fields that are hyperparameters, with what they mean
DESCRIPTIONS: dict[str, str] = {
    "epochs": "training epochs (the budget; early stopping may end sooner)",
    "batch_size": "images per optimizer step",
    "image_size": "input size in pixels the images are letterboxed to",
    "optimizer.type": "optimization algorithm",
    "optimizer.lr": "initial learning rate",
    "optimizer.weight_decay": "L2 penalty on the weights",
    "optimizer.momentum": "momentum (SGD) or beta1 (Adam)",
    "scheduler.type": "learning-rate schedule over the epochs",
    "scheduler.warmup_epochs": "epochs of learning-rate warm-up",
    "scheduler.warmup_bias_lr": "bias learning rate during warm-up",
    "scheduler.warmup_momentum": "momentum during warm-up",
    "scheduler.min_lr": "final learning rate, as a fraction of the initial one",
    "transfer.pretrained": "weights training starts from",
    "transfer.freeze_backbone": "whether the backbone's weights are frozen",
    "transfer.freeze_epochs": "epochs the backbone stays frozen",
    "loss.box_loss": "weight of the box regression loss",
    "loss.cls_loss": "weight of the classification loss",
    "loss.dfl_loss": "weight of the distribution focal loss",
    "early_stopping.patience": "epochs without improvement before training stops",
    "early_stopping.metric": "validation metric early stopping watches",
    "reproducibility.seed": "random seed",
    "augmentation": "augmentation configuration",
}
MAX_SNAPSHOT_BYTES = 1 << 20


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.update(_flat(value, path))
            else:
                out[path] = value
    return out


def snapshot(ws: Any, run: Any) -> dict[str, Any] | None:
    """The configuration a run trained with (its ``config.yaml``), None when absent or unreadable."""
    from ..workspace.yamlpos import YamlProblem, parse_fast

    rel = str(getattr(run, "_file", "") or "")
    if not rel.endswith("/run.yaml"):
        return None
    path = ws.root / (rel[: -len("run.yaml")] + "config.yaml")
    try:
        if not path.is_file() or path.stat().st_size > MAX_SNAPSHOT_BYTES:
            return None
        docs, _ = parse_fast(path.read_bytes())
    except (OSError, YamlProblem, ValueError):
        return None
    training = docs[0].get("training") if docs and isinstance(docs[0], dict) else None
    return training if isinstance(training, dict) else None


def _trainings(ws: Any, cfg: Any) -> list[Any]:
    runs = [r for r in ws.of_kind("run") if r.run_kind == "training" and ws.resolve(r.config) is cfg]
    return sorted(runs, key=lambda r: str(r.created or r.started or ""))


def hyperparameters(ws: Any, cfg: Any, final_run: Any | None = None) -> dict[str, Any]:
    """The 01-54 table of a configuration: ``rows`` (name, description, initial, final,
    chosen by, changed) and where the initial and final values come from."""
    runs = _trainings(ws, cfg)
    first = snapshot(ws, runs[0]) if runs else None
    final = snapshot(ws, final_run) if final_run is not None else None
    current = {k: v for k, v in (cfg._raw or {}).items()}
    initial_values = _flat(first if first is not None else current)
    final_values = _flat(final if final is not None else current)
    descriptions = {**DESCRIPTIONS, **dict(getattr(ws.config, "hyperparameters", {}) or {})}
    tuned = set(cfg.tuning.space) if cfg.tuning is not None else set()
    rows = []
    for name, description in descriptions.items():
        if name not in initial_values and name not in final_values:
            continue
        start, end = initial_values.get(name), final_values.get(name)
        by = f"study {cfg.optimized_by}" if cfg.optimized_by and name in tuned else "set by hand"
        rows.append(
            {
                "name": name,
                "description": description,
                "initial": start,
                "final": end,
                "chosen": by,
                "changed": start != end,
            }  # fmt: skip
        )
    initial_source = (
        f"run {runs[0].id} (the configuration's first training)"
        if first is not None
        else "the configuration as it stands (no training run recorded its values)"
    )
    final_source = (
        f"run {final_run.id} (the model's training)"
        if final is not None and final_run is not None
        else "the configuration as it stands"
    )
    return {"rows": rows, "initial_source": initial_source, "final_source": final_source}
