"""Family ``quantization``: quantized model versions over the accuracy-drop threshold, or
built from a float model that has changed since."""

from __future__ import annotations

import math
from collections.abc import Iterator

from typing import Any

from ..ledger.fingerprint import Fingerprints
from ..vocab import DECISION_SPLIT, is_validation_split
from ..workspace.characteristics import SliceResult, where_text
from .registry import Context, Hit, rule

_RELEASED = ("validated", "released")


def reference_slices(ws: Any, model: Any) -> list[SliceResult]:
    """What a quantized model's slices are compared with: the float ONNX model's slices
    its quantization recorded (the same evaluator), else its float parent's ``slices``."""
    block = model.quantization
    recorded = (block.float_reference or {}).get("slices") if block is not None else None
    if isinstance(recorded, list):
        out = []
        for entry in recorded:
            try:
                out.append(SliceResult.model_validate(entry))
            except Exception:  # noqa: BLE001  (a hand-edited entry: compared with nothing)
                continue
        return out
    parent = ws.resolve(model.traceability.previous_version) if model.traceability.previous_version else None
    slices = getattr(parent, "slices", None) if parent is not None else None
    return list(slices.results) if slices is not None else []


#: what a drop on a split other than val is: reported, never decided on (MLE.3 decides on val)
TESTING_EVIDENCE = f": testing evidence (MLE.4); the gate decides on {DECISION_SPLIT}"


def finite_number(value: Any) -> bool:
    """A recorded drop or threshold that can be compared: a finite int or float, never a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def slice_drops(
    reference: list[SliceResult], child: list[SliceResult], threshold: float
) -> list[tuple[SliceResult, SliceResult, float]]:
    """Each condition slice (not the whole split, whose drop is ``quantization.drop``'s own)
    whose mAP50 drops more than ``threshold`` against the reference's slice of the same split
    and ``where``: (child slice, reference slice, drop). Slices too small on either side, or
    without mAP50, are not judged."""
    out = []
    for result in child:
        if not result.where or result.too_small or result.mAP_50 is None:
            continue
        ref = next((r for r in reference if r.matches(result.split, result.where)), None)
        if ref is None or ref.too_small or ref.mAP_50 is None:
            continue
        drop = round(ref.mAP_50 - result.mAP_50, 6)
        if math.isfinite(drop) and drop > threshold:
            out.append((result, ref, drop))
    return out


def _quantized(ctx: Context):
    for model in ctx.ws.of_kind("model_version"):
        if model.quantization is not None:
            yield model, model.quantization


@rule(
    "quantization.drop",
    "error",
    "A quantized model loses more mAP50 against its float model than quantization.max_map50_drop allows on the "
    "validation split, whole or on a slice of it (a condition such as time_of_day=night; slices too small are not "
    "judged; warning for drafts). A drop on test is reported as info: testing evidence (MLE.4), not an MLE.3 decision.",
    "Calibrate with more training images, use QAT, or record an approved deviation (`mle3 approve ID --role ROLE "
    "--deviation quantization.drop`).",
)
def drop_over_threshold(ctx: Context) -> Iterator[Hit]:
    threshold = ctx.ws.config.quantization.max_map50_drop
    for model, block in _quantized(ctx):
        drops = block.drop
        if drops is None:
            continue
        values = list(drops.values()) if isinstance(drops, dict) else None
        if values is None or not all(finite_number(v) for v in values):
            # a drop that is not a mapping of numbers must not pass for "no drop"
            yield Hit(
                model,
                f"quantization.drop must map metrics to finite numbers (got {str(drops)[:80]!r})",
                ("quantization", "drop"),
            )
            continue
        severity = None if model.status in _RELEASED else "warning"
        # MLE.3 decides on val; a drop on test is ML model testing evidence (MLE.4): said, never decided on
        for split, value in sorted(drops.items(), key=lambda kv: str(kv[0])):
            if value <= threshold:
                continue
            deciding = is_validation_split(str(split))
            yield Hit(
                model,
                f"mAP50 drop {value:.4f} on {split} against the float model exceeds {threshold} "
                "(quantization.max_map50_drop)" + ("" if deciding else TESTING_EVIDENCE),
                ("quantization", "drop", split),
                severity if deciding else "info",
            )
        if model.slices is None:
            continue
        for result, ref, drop in slice_drops(reference_slices(ctx.ws, model), model.slices.results, threshold):
            deciding = is_validation_split(result.split)
            yield Hit(
                model,
                f"mAP50 drop {drop:.4f} on the {result.split} slice {where_text(result.where)} "
                f"(float {ref.mAP_50:.4f}, quantized {result.mAP_50:.4f}) exceeds {threshold} "
                "(quantization.max_map50_drop)" + ("" if deciding else TESTING_EVIDENCE),
                ("slices", "results", model.slices.results.index(result)),
                severity if deciding else "info",
            )


@rule(
    "quantization.stale-parent",
    "error",
    "The float model a quantized model was made from has changed since (weights, data, configuration or anything "
    "upstream).",
    "Quantize the current float model again (`mle3 quantize PARENT`).",
)
def stale_parent(ctx: Context) -> Iterator[Hit]:
    fingerprints = None
    for model, block in _quantized(ctx):
        parent = ctx.ws.resolve(model.traceability.previous_version)
        recorded = block.parent_fingerprint
        if parent is None or not recorded or not isinstance(recorded, str):
            continue
        for name in ("weights", "onnx"):
            rel = getattr(parent.artifacts, name, None)
            if rel:
                ctx.exists(rel)
        fingerprints = fingerprints or Fingerprints(ctx.ws, ctx.graph)
        current = fingerprints.of(ctx.key(parent))
        older = block.parent_fingerprint_version is None
        if current != recorded and older and recorded == fingerprints.v1_of(ctx.key(parent)):
            continue  # recorded before fingerprints covered run evidence: checked the way it was defined then
        if current != recorded:
            yield Hit(
                model,
                f"float model {ctx.key(parent)} changed since quantization ({recorded[:19]}... -> {current[:19]}...)",
                ("quantization", "parent_fingerprint"),
            )
