"""Family ``status``: life-cycle states that are unknown or not backed by their trace."""

from __future__ import annotations

from collections.abc import Iterator

from ..graph import upstream
from ..vocab import MODEL_STATUSES, RUN_STATUSES
from .registry import Context, Hit, rule

_KNOWN = {"model_version": MODEL_STATUSES, "run": RUN_STATUSES}


@rule(
    "status.unknown",
    "error",
    "A model version or run has a status outside the life cycle.",
    "Model versions: draft, training, validated, released, rejected, obsolete. Runs: pending, in_progress, success, failed, aborted, terminated.",
)
def unknown_status(ctx: Context) -> Iterator[Hit]:
    for item in ctx.ws.items:
        allowed = _KNOWN.get(item.kind)
        if allowed and item.status not in allowed:
            yield Hit(item, f"status {item.status!r} is not one of {', '.join(allowed)}", ("status",))


@rule(
    "status.upstream-broken",
    "error",
    "A validated or released model version rests on items that are missing or have errors.",
    "Fix the errors reported on the upstream items first, or move the model back to draft.",
    late=True,
)
def upstream_broken(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        if model.status not in ("validated", "released"):
            continue
        own = ctx.key(model)
        bad = sorted(n for n in upstream(ctx.graph, own) if n in ctx.error_items)
        if own in ctx.error_items:
            bad.insert(0, own)
        if bad:
            yield Hit(model, f"{model.status} model rests on items with errors: {', '.join(bad)}", ("status",))
