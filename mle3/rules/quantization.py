"""Family ``quantization``: quantized model versions over the accuracy-drop threshold, or
built from a float model that has changed since."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ..ledger.fingerprint import Fingerprints
from .registry import Context, Hit, rule

_RELEASED = ("validated", "released")


def _quantized(ctx: Context):
    for model in ctx.ws.of_kind("model_version"):
        if model.quantization is not None:
            yield model, model.quantization


@rule(
    "quantization.drop",
    "error",
    "A quantized model loses more mAP50 against its float model than quantization.max_map50_drop allows (warning for drafts).",
    "Calibrate with more training images, use QAT, or record an approved deviation (`mle3 approve ID --role ROLE --deviation quantization.drop`).",
)
def drop_over_threshold(ctx: Context) -> Iterator[Hit]:
    threshold = ctx.ws.config.quantization.max_map50_drop
    for model, block in _quantized(ctx):
        drops = block.drop
        if drops is None:
            continue
        values = list(drops.values()) if isinstance(drops, dict) else None
        if values is None or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
        ):
            # a drop that is not a mapping of numbers must not pass for "no drop"
            yield Hit(
                model,
                f"quantization.drop must map metrics to finite numbers (got {str(drops)[:80]!r})",
                ("quantization", "drop"),
            )
            continue
        worst = max(values, default=None)
        if worst is not None and worst > threshold:
            severity = None if model.status in _RELEASED else "warning"
            yield Hit(
                model,
                f"mAP50 drop {worst:.4f} against the float model exceeds {threshold} (quantization.max_map50_drop)",
                ("quantization", "drop"),
                severity,
            )


@rule(
    "quantization.stale-parent",
    "error",
    "The float model a quantized model was made from has changed since (weights, data, configuration or anything upstream).",
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
