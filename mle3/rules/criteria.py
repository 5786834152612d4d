"""Family ``criteria``: requirement criteria evaluated against what traces to them.

Metric criteria (overall or on a slice: ``where``) are checked on every model version that
traces to the requirement; data criteria (class samples, split samples, split ratios, and
on data characteristics: shares, coverage, counts ``where``, similarity between splits)
on every data set version that claims to satisfy it. Every data criterion is answered
from the record registration wrote, never from the data. :func:`evaluate` is shared with
the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from ..vocab import canonical_split
from ..workspace.characteristics import where_text
from ..workspace.schema import (
    ClassSamplesCriterion,
    CoverageCriterion,
    MetricCriterion,
    SamplesCriterion,
    ShareCriterion,
    SimilarityCriterion,
    SplitRatioCriterion,
)
from .registry import Context, Hit, rule

_FAILING_IS_ERROR = {"validated", "released"}


@dataclass
class Verdict:
    """The outcome of one criterion on one item: passed, failed, or not evaluable (then
    ``reason`` says what is missing)."""

    criterion: Any
    passed: bool | None
    actual: Any
    text: str
    reason: str | None = None


def _on(where: Any) -> str:
    return f" where {where_text(where)}" if where else ""


def describe(c: Any) -> str:
    if isinstance(c, MetricCriterion):
        bounds = " and ".join(
            x for x in (f">= {c.min}" if c.min is not None else "", f"<= {c.max}" if c.max is not None else "") if x
        )
        return f"{c.metric} on {c.split}{_on(c.where)} {bounds}".strip()
    if isinstance(c, ClassSamplesCriterion):
        return f"class {c.class_} has >= {c.min_samples} instances ({c.split}{_on(c.where)})"
    if isinstance(c, SamplesCriterion):
        return f"{c.samples} split has >= {c.min} samples{_on(c.where)}"
    if isinstance(c, SplitRatioCriterion):
        parts = ", ".join(f"{k} {lo:.0%}-{hi:.0%}" for k, (lo, hi) in c.split_ratio.items())
        return f"split ratios {parts}" + (", mutually exclusive" if c.exclusive else "")
    if isinstance(c, ShareCriterion):
        parts = ", ".join(f"{v} {lo:.0%}-{hi:.0%}" for v, (lo, hi) in c.share.items())
        return f"{c.characteristic} in {c.split}: {parts}"
    if isinstance(c, CoverageCriterion):
        values = "every ODD value" if c.coverage == "all" else ", ".join(c.coverage)
        unit = "instances" if c.characteristic == "object_size" else "images"
        return f"{c.characteristic} covers {values} in {', '.join(c.splits)} (>= {c.min_samples} {unit} each)"
    if isinstance(c, SimilarityCriterion):
        return f"{c.characteristic} distribution of {c.similar[0]} and {c.similar[1]} within TVD {c.max_tvd}"
    return str(c)


def _within(value: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or value >= lo - 1e-12) and (hi is None or value <= hi + 1e-12)


def evaluate(c: Any, item: Any, *, ws: Any = None, requirement: Any = None) -> Verdict:
    """Evaluate one criterion on a model version (metric) or a data set (data criteria).
    ``ws`` and ``requirement`` find the ODD that ``coverage: all`` means."""
    text = describe(c)
    if isinstance(c, MetricCriterion):
        if c.where:
            return _slice_metric(c, item, text)
        metrics = item.metrics.for_split(c.split)
        value = metrics.get(c.metric) if metrics else None
        if value is None:
            return Verdict(c, None, None, text)
        return Verdict(c, _within(value, c.min, c.max), value, text)
    if isinstance(c, ClassSamplesCriterion):
        names = item.class_names() if item.classes else []
        if names and c.class_ not in names:  # a misspelled class is not "0 instances"
            return Verdict(c, False, f"unknown class {c.class_!r}; {item.key} has {', '.join(names)}", text)
        if c.where:
            record, missing = _measured(item, list(c.where))
            if record is None:
                return Verdict(c, None, None, text, missing)
            if (problem := _where_problem(record, odd_for(ws, requirement, item), c.where)) is not None:
                return Verdict(c, False, problem, text)
            count = record.instances(c.split, c.class_, c.where)
            return Verdict(c, None if count is None else count >= c.min_samples, count, text)
        value = item.instances(c.class_, c.split)
        return Verdict(c, None if value is None else value >= c.min_samples, value, text)
    if isinstance(c, SamplesCriterion):
        if c.where:
            from ..workspace.characteristics import OBJECT_SIZE

            if OBJECT_SIZE in c.where:
                reason = "object_size is a property of boxes, not images: count instances with a class criterion"
                return Verdict(c, None, None, text, reason)
            record, missing = _measured(item, list(c.where))
            if record is None:
                return Verdict(c, None, None, text, missing)
            if (problem := _where_problem(record, odd_for(ws, requirement, item), c.where)) is not None:
                return Verdict(c, False, problem, text)
            count = record.images(c.samples, c.where)
            return Verdict(c, None if count is None else count >= c.min, count, text)
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
    if isinstance(c, (ShareCriterion, CoverageCriterion, SimilarityCriterion)) or (
        isinstance(c, (ClassSamplesCriterion, SamplesCriterion)) and c.where
    ):
        named = [c.characteristic] if hasattr(c, "characteristic") else list(c.where or {})
        if (problem := _undefined(odd_for(ws, requirement, item), named)) is not None:
            return Verdict(c, False, problem, text)
    if isinstance(c, ShareCriterion):
        return _share(c, item, text, odd_for(ws, requirement, item))
    if isinstance(c, CoverageCriterion):
        return _coverage(c, item, text, odd_for(ws, requirement, item))
    if isinstance(c, SimilarityCriterion):
        return _similarity(c, item, text, odd_for(ws, requirement, item))
    return Verdict(c, None, None, text)


def _measured(item: Any, names: list[str]) -> tuple[Any, str | None]:
    """(the data set's characteristics record, None) when it measured every name, else
    (None, what is missing)."""
    from ..workspace.characteristics import DERIVED, LUMINANCE

    record = getattr(item, "characteristics", None)
    if record is None:
        return None, (
            f"{item.key} records no data characteristics (registered before mle3 measured them, or by hand); "
            "register it as a new version"
        )
    unknown = [n for n in names if not record.knows(n)]
    if unknown:
        how = (
            "the ODD asks for luminance with 'luminance: {derived: true}'"
            if LUMINANCE in unknown
            else "a metadata table column gives it (`mle3 dataset register --metadata FILE`)"
            if any(n not in DERIVED for n in unknown)
            else "register it again"
        )
        return None, (
            f"{item.key} does not record {', '.join(repr(n) for n in unknown)} (it records "
            f"{', '.join(record.names) or 'none'}; {how})"
        )
    return record, None


def _undefined(odd: Any, names: Any) -> str | None:
    """A characteristic the requirement's ODD does not define (a typo such as 'daytime'
    must fail, not wait as "not evaluable")."""
    from ..workspace.characteristics import DERIVED

    if odd is None:
        return None
    missing = [n for n in names if n not in odd.characteristics and n not in DERIVED]
    if not missing:
        return None
    return (
        f"{odd.id} defines no characteristic {', '.join(repr(n) for n in missing)} "
        f"(it defines {', '.join(odd.characteristics) or 'none'})"
    )


def _unknown_values(record: Any, odd: Any, name: str, values: list[str]) -> str | None:
    """Values a criterion names that are neither in the ODD nor recorded anywhere: a typo
    ("nite") must fail, not count as a share of 0."""
    from ..workspace.characteristics import OBJECT_SIZE

    spec = odd.characteristics.get(name) if odd is not None else None
    known = set(spec.values) if spec is not None and spec.values else set(record.values(name))
    if name == OBJECT_SIZE:
        known = set(record.sizes)
    unknown = [v for v in values if v not in known]
    if not unknown:
        return None
    source = f"{odd.id} lists" if spec is not None and spec.values else "the data set records"
    return f"unknown value {', '.join(repr(v) for v in unknown)} of {name}; {source} {', '.join(sorted(known))}"


def _outside_odd(record: Any, odd: Any, name: str) -> str | None:
    """Values the data holds that the requirement's ODD does not list (data outside the ODD,
    or an ODD narrowed after registration)."""
    from ..workspace.characteristics import MISSING_VALUE

    spec = odd.characteristics.get(name) if odd is not None else None
    if spec is None or not spec.values:
        return None
    outside = [v for v in record.values(name) if v not in spec.values and v != MISSING_VALUE]
    return f"the data holds {name} values {odd.id} does not list: {', '.join(outside)}" if outside else None


def _where_problem(record: Any, odd: Any, where: Any) -> str | None:
    for name, value in (where or {}).items():
        problem = _unknown_values(record, odd, name, value if isinstance(value, list) else [value])
        if problem:
            return problem
    return None


def _split_missing(record: Any, split: str) -> str | None:
    if canonical_split(split) != "all" and canonical_split(split) not in record.split_names():
        return f"the data set has no {split} split"
    return None


def _share(c: ShareCriterion, item: Any, text: str, odd: Any) -> Verdict:
    record, missing = _measured(item, [c.characteristic])
    if record is None or (missing := _split_missing(record, c.split)):
        return Verdict(c, None, None, text, missing)
    problem = _unknown_values(record, odd, c.characteristic, list(c.share)) or _outside_odd(
        record, odd, c.characteristic
    )
    if problem is not None:
        return Verdict(c, False, problem, text)
    dist = record.distribution(c.split, c.characteristic) or {}
    total = sum(dist.values())
    if not total:
        return Verdict(c, None, None, text, f"the {c.split} split holds no images")
    shares = ", ".join(f"{v} {dist.get(v, 0) / total:.1%}" for v in c.share)
    ok = all(_within(dist.get(v, 0) / total, lo, hi) for v, (lo, hi) in c.share.items())
    return Verdict(c, ok, shares, text)


def _coverage(c: CoverageCriterion, item: Any, text: str, odd: Any) -> Verdict:
    record, missing = _measured(item, [c.characteristic])
    if record is None:
        return Verdict(c, None, None, text, missing)
    if c.coverage == "all":
        spec = odd.characteristics.get(c.characteristic) if odd is not None else None
        if spec is None or not spec.values:
            return Verdict(
                c, None, None, text, f"'coverage: all' needs an ODD that lists the values of {c.characteristic}"
            )
        values = list(spec.values)
    else:
        values = list(c.coverage)
        if (problem := _unknown_values(record, odd, c.characteristic, values)) is not None:
            return Verdict(c, False, problem, text)
    if (problem := _outside_odd(record, odd, c.characteristic)) is not None:
        return Verdict(c, False, problem, text)
    short: list[str] = []
    for split in c.splits:
        if (gone := _split_missing(record, split)) is not None:
            short.append(gone)
            continue
        dist = record.distribution(split, c.characteristic) or {}
        short += [f"{v} in {split}: {dist.get(v, 0)}" for v in values if dist.get(v, 0) < c.min_samples]
    return Verdict(c, not short, "; ".join(short) if short else "every value present", text)


def total_variation(p: dict[str, int], q: dict[str, int]) -> float | None:
    """Total variation distance of two count distributions (None when one is empty)."""
    sp, sq = sum(p.values()), sum(q.values())
    if not sp or not sq:
        return None
    return 0.5 * sum(abs(p.get(v, 0) / sp - q.get(v, 0) / sq) for v in set(p) | set(q))


def _similarity(c: SimilarityCriterion, item: Any, text: str, odd: Any) -> Verdict:
    record, missing = _measured(item, [c.characteristic])
    if record is None:
        return Verdict(c, None, None, text, missing)
    if (problem := _outside_odd(record, odd, c.characteristic)) is not None:
        return Verdict(c, False, problem, text)
    for split in c.similar:
        if (gone := _split_missing(record, split)) is not None:
            return Verdict(c, None, None, text, gone)
    a, b = (record.distribution(s, c.characteristic) or {} for s in c.similar)
    tvd = total_variation(a, b)
    if tvd is None:
        return Verdict(c, None, None, text, "a split holds no images")
    return Verdict(c, tvd <= c.max_tvd + 1e-12, round(tvd, 4), text)


def _slice_metric(c: MetricCriterion, item: Any, text: str) -> Verdict:
    slices = getattr(item, "slices", None)
    found = slices.find(c.split, c.where) if slices is not None else None
    if slices is None or found is None:
        return Verdict(
            c, None, None, text, f"no {c.split} slice{_on(c.where)} evaluated (run `mle3 evaluate {item.id}`)"
        )
    if found.too_small:
        return Verdict(
            c,
            None,
            found.get(c.metric),
            text,
            f"the slice holds {found.images} images, fewer than slices.min_images ({slices.min_images}): too few to "
            "count as a pass",
        )
    value = found.get(c.metric)
    if value is None:
        return Verdict(c, None, None, text, f"the slice records no {c.metric}")
    return Verdict(c, _within(value, c.min, c.max), value, text)


def odd_for(ws: Any, requirement: Any, item: Any) -> Any:
    """The ODD a requirement's criteria refer to: its own, the data set's, or the workspace's
    only one (the reports read the same)."""
    if ws is None:
        return None
    for ref in (getattr(requirement, "odd", None), getattr(getattr(item, "metadata", None), "odd", None)):
        if ref:
            found = ws.resolve(ref)
            if found is not None and found.kind == "odd":
                return found
    odds = list(ws.of_kind("odd"))
    return odds[0] if len(odds) == 1 else None


def targets(ctx: Context, requirement: Any, criterion: Any) -> list[Any]:
    """The items a criterion of ``requirement`` is checked on (a retired data set version is
    out of use: what it fails is why it was retired)."""
    if isinstance(criterion, MetricCriterion):
        return ctx.models_tracing_to.get(requirement.id, [])
    return [ds for ds in ctx.satisfied_by.get(requirement.id, []) if not getattr(ds, "retired", False)]


@rule(
    "criteria.unmet",
    "error",
    "A requirement criterion is not met by a model version or data set that traces to it (warning for draft models).",
    "Improve the model or data, or correct the traceability; the finding names the value and the bound.",
)
def unmet(ctx: Context) -> Iterator[Hit]:
    for req in ctx.ws.of_kind("requirement"):
        for criterion in req.criteria:
            for target in targets(ctx, req, criterion):
                verdict = evaluate(criterion, target, ws=ctx.ws, requirement=req)
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
    "Record the metric in the model version, or the sample/instance counts in the data set (`mle3 dataset register` "
    "does); a characteristic needs a metadata table (`mle3 dataset register --metadata FILE`), a slice "
    "`mle3 evaluate MODEL`, and a slice with fewer images than slices.min_images never passes.",
)
def not_evaluable(ctx: Context) -> Iterator[Hit]:
    for req in ctx.ws.of_kind("requirement"):
        for criterion in req.criteria:
            for target in targets(ctx, req, criterion):
                verdict = evaluate(criterion, target, ws=ctx.ws, requirement=req)
                if verdict.passed is None:
                    yield Hit(
                        target,
                        f"{req.id} criterion cannot be evaluated: {describe(criterion)} "
                        f"({verdict.reason or 'value not declared'})",
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
    "A requirement criterion cannot be read (unknown kind, a missing or mistyped field); the requirement is kept, "
    "the criterion is not checked.",
    "Correct the criterion; `mle3 schema` writes the JSON Schema of requirements with every criterion's fields.",
)
def unreadable(ctx: Context) -> Iterator[Hit]:
    for req in ctx.ws.of_kind("requirement"):
        for index, problem in req.unreadable_criteria:
            yield Hit(
                req, f"{req.id} criterion {index + 1} cannot be read and is not checked: {problem}", ("criteria", index)
            )
