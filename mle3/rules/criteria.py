"""Family ``criteria``: requirement criteria evaluated against what traces to them.

Metric criteria are checked on every model version that traces to the requirement;
data criteria (class samples, split samples, split ratios) on every data set version
that claims to satisfy it. :func:`evaluate` is shared with the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from ..vocab import canonical_split
from ..workspace.schema import ClassSamplesCriterion, MetricCriterion, SamplesCriterion, SplitRatioCriterion
from .registry import Context, Hit, rule

_FAILING_IS_ERROR = {"validated", "released"}


@dataclass
class Verdict:
    """The outcome of one criterion on one item: passed, failed, or not evaluable."""

    criterion: Any
    passed: bool | None
    actual: Any
    text: str


def describe(c: Any) -> str:
    if isinstance(c, MetricCriterion):
        bounds = " and ".join(
            x for x in (f">= {c.min}" if c.min is not None else "", f"<= {c.max}" if c.max is not None else "") if x
        )
        return f"{c.metric} on {c.split} {bounds}".strip()
    if isinstance(c, ClassSamplesCriterion):
        return f"class {c.class_} has >= {c.min_samples} instances ({c.split})"
    if isinstance(c, SamplesCriterion):
        return f"{c.samples} split has >= {c.min} samples"
    if isinstance(c, SplitRatioCriterion):
        parts = ", ".join(f"{k} {lo:.0%}-{hi:.0%}" for k, (lo, hi) in c.split_ratio.items())
        return f"split ratios {parts}" + (", mutually exclusive" if c.exclusive else "")
    return str(c)


def _within(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo - 1e-12) and (hi is None or value <= hi + 1e-12)


def evaluate(c: Any, item: Any) -> Verdict:
    """Evaluate one criterion on a model version (metric) or a data set (data criteria)."""
    text = describe(c)
    if isinstance(c, MetricCriterion):
        metrics = item.metrics.for_split(c.split)
        value = metrics.get(c.metric) if metrics else None
        if value is None:
            return Verdict(c, None, None, text)
        return Verdict(c, _within(value, c.min, c.max), value, text)
    if isinstance(c, ClassSamplesCriterion):
        names = item.class_names() if item.classes else []
        if names and c.class_ not in names:  # a misspelled class is not "0 instances"
            return Verdict(c, False, f"unknown class {c.class_!r}; {item.key} has {', '.join(names)}", text)
        value = item.instances(c.class_, c.split)
        return Verdict(c, None if value is None else value >= c.min_samples, value, text)
    if isinstance(c, SamplesCriterion):
        value = item.samples(c.samples)
        return Verdict(c, None if value is None else value >= c.min, value, text)
    if isinstance(c, SplitRatioCriterion):
        ratios = item.ratios()
        if not ratios:
            return Verdict(c, None, None, text)
        ok = all(_within(ratios.get(canonical_split(k), 0.0), lo, hi) for k, (lo, hi) in c.split_ratio.items())
        if c.exclusive and item.shared_images:
            ok = False
        return Verdict(c, ok, {k: round(v, 4) for k, v in ratios.items()}, text)
    return Verdict(c, None, None, text)


def targets(ctx: Context, requirement: Any, criterion: Any) -> list[Any]:
    """The items a criterion of ``requirement`` is checked on."""
    if isinstance(criterion, MetricCriterion):
        return ctx.models_tracing_to.get(requirement.id, [])
    return ctx.satisfied_by.get(requirement.id, [])


@rule(
    "criteria.unmet",
    "error",
    "A requirement criterion is not met by a model version or data set that traces to it (warning for draft models).",
    "Improve the model or data, or correct the traceability; the finding names the value and the bound.",
)
def unmet(ctx: Context) -> Iterator[Hit]:
    for req in ctx.ws.of_kind("requirement"):
        for index, criterion in enumerate(req.criteria):
            for target in targets(ctx, req, criterion):
                verdict = evaluate(criterion, target)
                if verdict.passed is False:
                    severity = None
                    if target.kind == "model_version" and target.status not in _FAILING_IS_ERROR:
                        severity = "warning"
                    yield Hit(
                        target,
                        f"{req.id} criterion not met: {verdict.text} (actual {verdict.actual})",
                        _criterion_path(target, req),
                        severity,
                    )


@rule(
    "criteria.not-evaluable",
    "warning",
    "A requirement criterion cannot be evaluated because the item does not declare the value.",
    "Record the metric in the model version, or the sample/instance counts in the data set (`mle3 dataset register` does).",
)
def not_evaluable(ctx: Context) -> Iterator[Hit]:
    for req in ctx.ws.of_kind("requirement"):
        for criterion in req.criteria:
            for target in targets(ctx, req, criterion):
                if evaluate(criterion, target).passed is None:
                    yield Hit(
                        target,
                        f"{req.id} criterion cannot be evaluated: {describe(criterion)} (value not declared)",
                        _criterion_path(target, req),
                    )


def _criterion_path(target: Any, req: Any) -> tuple:
    """Point at the line where the target links to the requirement."""
    if target.kind == "model_version":
        reqs = target.traceability.requirements
        return ("traceability", "requirements", reqs.index(req.id)) if req.id in reqs else ("traceability",)
    reqs = target.requirements
    return ("requirements", reqs.index(req.id)) if req.id in reqs else ("requirements",)


@rule(
    "criteria.unreadable",
    "error",
    "A requirement criterion cannot be read (unknown kind, a missing or mistyped field); the requirement is kept, the criterion is not checked.",
    "Correct the criterion; `mle3 schema` writes the JSON Schema of requirements with every criterion's fields.",
)
def unreadable(ctx: Context) -> Iterator[Hit]:
    for req in ctx.ws.of_kind("requirement"):
        for index, problem in req.unreadable_criteria:
            yield Hit(
                req, f"{req.id} criterion {index + 1} cannot be read and is not checked: {problem}", ("criteria", index)
            )
