"""Training caveats read from a run's per-epoch record: the generalization gap, best versus
last epoch, why training stopped, and signs of over- and underfitting.

Pure functions over the rows of ``epochs.jsonl`` (no torch), shared by the run record
(written when training ends), the ``training`` rule family and the 13-65 report. The
thresholds come from ``training_caveats:`` in ``mle3.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRAIN_LOSSES = ("train_box_loss", "train_cls_loss", "train_dfl_loss")
VAL_LOSSES = ("val_box_loss", "val_cls_loss", "val_dfl_loss")


def _total(row: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    values = [row.get(k) for k in keys]
    numbers = [v for v in values if isinstance(v, (int, float))]
    return float(sum(numbers)) if len(numbers) == len(values) else None


def gap_per_epoch(epochs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per epoch: total train loss, total val loss and the gap (val minus train)."""
    out = []
    for row in epochs:
        train, val = _total(row, TRAIN_LOSSES), _total(row, VAL_LOSSES)
        out.append(
            {
                "epoch": row.get("epoch"),
                "train_loss": train,
                "val_loss": val,
                "gap": round(val - train, 6) if train is not None and val is not None else None,
            }
        )
    return out


@dataclass
class Finding:
    kind: str  # overfit | underfit
    message: str


def stop_reason(run: dict[str, Any], epochs: list[dict[str, Any]]) -> str:
    """Why training ended, in words: early stopping, all epochs, or the run's status."""
    status = run.get("status")
    planned = epochs[-1].get("epochs") if epochs else None
    if status in ("terminated", "aborted", "failed"):
        return f"{status}: {run.get('error') or status}"
    if run.get("early_stop_epoch"):
        return (
            f"early stopping after epoch {run['early_stop_epoch']} (no improvement of the fitness metric within "
            "the patience)"
        )
    if epochs and planned and epochs[-1].get("epoch") == planned:
        return f"all {planned} epochs completed"
    return f"ended after epoch {epochs[-1].get('epoch')}" if epochs else "no epoch recorded"


def overfit(epochs: list[dict[str, Any]], rising_epochs: int) -> Finding | None:
    """Validation loss rose for ``rising_epochs`` epochs in a row while training loss fell."""
    rows = [r for r in gap_per_epoch(epochs) if r["train_loss"] is not None and r["val_loss"] is not None]
    streak, first = 0, None
    for before, after in zip(rows, rows[1:]):
        if after["val_loss"] > before["val_loss"] and after["train_loss"] < before["train_loss"]:
            streak += 1
            first = before if streak == 1 else first
            if streak >= rising_epochs and first is not None:
                return Finding(
                    "overfit",
                    f"validation loss rose for {streak} epochs in a row (epochs {first['epoch']}-{after['epoch']}: "
                    f"{first['val_loss']:.3f} -> {after['val_loss']:.3f}) while training loss fell "
                    f"({first['train_loss']:.3f} -> {after['train_loss']:.3f})",
                )
        else:
            streak, first = 0, None
    return None


def underfit(
    epochs: list[dict[str, Any]], max_loss_ratio: float, flat_epochs: int, flat_delta: float, flat_below: float
) -> Finding | None:
    """Training loss still high (above ``max_loss_ratio`` of the first epoch's), or val
    mAP50 flat (moving less than ``flat_delta`` over the last ``flat_epochs`` epochs)
    below ``flat_below``."""
    rows = gap_per_epoch(epochs)
    losses = [r["train_loss"] for r in rows if r["train_loss"] is not None]
    if len(losses) >= 2 and losses[-1] > max_loss_ratio * losses[0]:
        return Finding(
            "underfit",
            f"training loss is still {losses[-1] / losses[0]:.0%} of the first epoch's ({losses[0]:.3f} -> "
            f"{losses[-1]:.3f}; "
            f"threshold {max_loss_ratio:.0%}): the model has not learned the training data",
        )
    maps: list[float] = [m for e in epochs if isinstance(m := e.get("mAP50"), (int, float))]
    if len(maps) >= flat_epochs:
        window = maps[-flat_epochs:]
        if max(window) - min(window) < flat_delta and max(window) < flat_below:
            return Finding(
                "underfit",
                f"val mAP50 stayed flat at {max(window):.3f} over the last {flat_epochs} epochs "
                f"(moved {max(window) - min(window):.4f} < {flat_delta}; below {flat_below})",
            )
    return None


def findings(epochs: list[dict[str, Any]], limits: Any) -> list[Finding]:
    """Over- and underfitting under the thresholds of ``training_caveats`` (mle3.yaml)."""
    found = [
        overfit(epochs, limits.overfit_epochs),
        underfit(
            epochs, limits.underfit_loss_ratio, limits.flat_epochs, limits.flat_map50_delta, limits.flat_map50_below
        ),
    ]
    return [f for f in found if f is not None]


def too_few_to_judge(epochs: list[dict[str, Any]], limits: Any) -> str | None:
    """Why finding nothing means nothing: with fewer epochs than the rising-loss streak or
    the flat-mAP window needs, neither overfitting nor a plateau can show."""
    needed = max(limits.overfit_epochs + 1, limits.flat_epochs)
    if len(epochs) >= needed:
        return None
    return (
        f"too few epochs to judge: {len(epochs)} recorded, overfitting needs {limits.overfit_epochs + 1} "
        f"and a flat mAP50 {limits.flat_epochs} (training_caveats in mle3.yaml)"
    )


def summary(run: dict[str, Any], epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the run record keeps: gap per epoch, best versus last epoch, why it stopped."""
    gaps = gap_per_epoch(epochs)
    best = run.get("best_epoch")
    by_epoch = {e.get("epoch"): e for e in epochs}
    last = epochs[-1] if epochs else {}
    best_row = by_epoch.get(best, {})
    return {
        "generalization_gap": [{"epoch": g["epoch"], "gap": g["gap"]} for g in gaps],
        "best_epoch": best,
        "last_epoch": last.get("epoch"),
        "best_val_mAP50": best_row.get("mAP50"),
        "last_val_mAP50": last.get("mAP50"),
        "stopped": stop_reason(run, epochs),
    }
