"""Family ``review``: review records (``review:``), the semantic half of the 13-51.

A review names what it reviewed (``reviews``, a graph edge, so its approvals bind to that
content), the checklist it answered and the links of the trace it sampled. These rules
say when a review's own result speaks against what it reviewed, and when a sampled link
is no link of the graph (the reviewer judged something the trace does not hold).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..graph import upstream
from ..workspace import item_key
from .registry import Context, Hit, rule

#: the model statuses a failed review of (a part of) its trace is an error for
RELEASED = ("validated", "released")


def review_failures(review: Any) -> list[tuple[str, tuple]]:
    """What of a review failed, as (text, field path): its result, a checklist answer, a sampled link."""
    out: list[tuple[str, tuple]] = []
    if review.result == "failed":
        out.append((f"review {review.id} by {review.reviewer} failed", ("result",)))
    for i, entry in enumerate(review.checklist):
        if entry.result == "fail":
            out.append((f"checklist item {entry.question!r} failed", ("checklist", i, "result")))
    for i, link in enumerate(review.sampled_links):
        if link.result == "inconsistent":
            rel = link.relation or "any relation"
            out.append(
                (
                    f"sampled link {link.source} -{rel}-> {link.target} judged inconsistent",
                    ("sampled_links", i, "result"),
                )
            )
    return out


def released_models_resting_on(ctx: Context, keys: set[str]) -> list[Any]:
    """The validated or released model versions that are, or rest on, one of ``keys``."""
    out = []
    for model in ctx.ws.of_kind("model_version"):
        if model.status not in RELEASED:
            continue
        mkey = item_key(model)
        if mkey in keys or (mkey in ctx.graph and keys & upstream(ctx.graph, mkey)):
            out.append(model)
    return out


def reviewed_keys(ctx: Context, review: Any) -> set[str]:
    """Keys of the items a review names that resolve."""
    out = set()
    for ref in review.reviews:
        target = ctx.ws.resolve(ref)
        if target is not None:
            out.add(item_key(target))
    return out


@rule(
    "review.failed",
    "warning",
    "A review record failed (its result, a checklist item or a sampled link): an error while a model it "
    "reviewed, or one resting on what it reviewed, is validated or released.",
    "Correct what the review found and record a new review (or set the model back); a failed review is "
    "kept as the record of what was found.",
)
def failed(ctx: Context) -> Iterator[Hit]:
    for review in ctx.ws.of_kind("review"):
        failures = review_failures(review)
        if not failures:
            continue
        models = released_models_resting_on(ctx, reviewed_keys(ctx, review))
        severity = "error" if models else "warning"
        why = (
            f" while {', '.join(f'{m.id} is {m.status}' for m in models[:3])}"
            + (f" and {len(models) - 3} more" if len(models) > 3 else "")
            if models
            else ""
        )
        if review.result == "passed":
            why += " (the review nevertheless says passed)"
        for text, path in failures:
            yield Hit(review, text + why, path, severity=severity)


@rule(
    "review.sampled-link-unknown",
    "warning",
    "A review sampled a link that is no edge of the traceability graph (a name misspelled, a relation the "
    "source does not have, or a link removed since).",
    "Name the link as `mle3 trace SOURCE` shows it (source, relation, target), or record a new review.",
)
def sampled_link_unknown(ctx: Context) -> Iterator[Hit]:
    graph = ctx.graph
    for review in ctx.ws.of_kind("review"):
        for i, link in enumerate(review.sampled_links):
            source, target = ctx.ws.resolve(link.source), ctx.ws.resolve(link.target)
            if source is None or target is None:
                missing = link.source if source is None else link.target
                yield Hit(review, f"sampled link names {missing!r}, which is no item", ("sampled_links", i))
                continue
            s, t = item_key(source), item_key(target)
            relations = {d["relation"] for d in graph.get_edge_data(s, t, default={}).values()}
            if not relations:
                yield Hit(review, f"{s} has no link to {t}", ("sampled_links", i))
            elif link.relation is not None and link.relation not in relations:
                yield Hit(
                    review,
                    f"{s} links to {t} by {', '.join(sorted(relations))}, not {link.relation}",
                    ("sampled_links", i, "relation"),
                )
