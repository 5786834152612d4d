"""Data characteristics of a data set and per-condition (slice) metrics of a model version,
as the 11-07, 13-65, 11-06 and the site show them.

Everything is read from the records registration and evaluation wrote
(:class:`~mle3.workspace.characteristics.CharacteristicsRecord`, ``MetadataRecord``,
``Leakage.shared_groups``, :class:`~mle3.workspace.characteristics.SliceRecord`); the
templates only lay the facts out. Shares, not counts, are charted so that splits of
different sizes compare.
"""

from __future__ import annotations

from typing import Any

from ..rules.criteria import evaluate, odd_for
from ..vocab import canonical_split
from ..workspace import Workspace, item_key
from ..workspace.characteristics import (
    DERIVED,
    LUMINANCE,
    LUMINANCE_BINS,
    OBJECT_BINS,
    OBJECT_SIZE,
    OBJECTS,
    where_text,
)
from ..workspace.schema import ShareCriterion, SimilarityCriterion
from . import charts

#: a characteristic with more observed values than this shows the most frequent ones and
#: sums the rest as "other (N values)"
MAX_VALUES = 12
#: metadata findings listed in the document (the record holds up to 200)
FIRST_FINDINGS = 20
#: how to give a data set per-image metadata (the note of a data set without any)
METADATA_HINT = "mle3 dataset register --metadata FILE"


def _ordered_values(record: Any, name: str, odd: Any) -> list[str]:
    """The values of ``name`` in a reading order: the ODD's (unobserved ones included: a
    value the ODD names and no split holds is a zero a reader must see), the bins mle3
    derives in their natural order, then any other observed value."""
    observed = record.values(name)
    spec = odd.characteristics.get(name) if odd is not None else None
    if spec is not None and spec.values:
        first = list(spec.values)
        return first + [v for v in observed if v not in first]
    # bins mle3 derives: the observed ones, in the bins' order (an empty bin nobody asked
    # for is no gap)
    order = {OBJECTS: list(OBJECT_BINS), LUMINANCE: [b for b, _ in LUMINANCE_BINS]}.get(name, [])
    return [v for v in order if v in observed] + [v for v in observed if v not in order]


def _collapse(values: list[str], totals: dict[str, int], keep: set[str]) -> tuple[list[str], list[str]]:
    """(values shown, values summed as "other") for a characteristic with very many values
    (resolutions of a scraped data set): the most frequent ones stay, and every ODD value."""
    if len(values) <= MAX_VALUES:
        return values, []
    ranked = sorted(values, key=lambda v: (-totals.get(v, 0), v))
    shown = set(ranked[: MAX_VALUES - 1]) | keep
    return [v for v in values if v in shown], [v for v in values if v not in shown]


def _share(n: int, total: int) -> float | None:
    return n / total if total else None


def _criteria_on(criteria: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [c for c in criteria if name in c["names"]]


def data_criteria(ws: Workspace, ds: Any) -> list[dict[str, Any]]:
    """Each data criterion of each requirement the data set satisfies, evaluated on it:
    requirement, text, actual (as a reader writes it), passed (True/False/None), reason."""
    rows = []
    for req_id in ds.requirements:
        req = ws.resolve(req_id)
        if req is None or req.kind != "requirement":
            continue
        for c in req.criteria:
            if hasattr(c, "metric"):
                continue
            v = evaluate(c, ds, ws=ws, requirement=req)
            rows.append(
                {
                    "requirement": req.id,
                    "text": v.text,
                    "actual": actual_text(c, v.actual),
                    "passed": v.passed,
                    "reason": getattr(v, "reason", None),
                    "names": _names_of(c),
                }
            )
    return rows


def _names_of(c: Any) -> set[str]:
    names = set((getattr(c, "where", None) or {}).keys())
    if getattr(c, "characteristic", None):
        names.add(c.characteristic)
    return names


def actual_text(c: Any, actual: Any) -> Any:
    """A criterion's actual value as a reader writes it: shares as percentages."""
    if isinstance(c, ShareCriterion) and isinstance(actual, dict):
        return ", ".join(f"{k} {v * 100:.1f}%" for k, v in actual.items())
    if isinstance(c, SimilarityCriterion) and isinstance(actual, (int, float)):
        return f"TVD {actual:.3f}"
    if isinstance(actual, float):
        return f"{actual:.4g}"
    return actual


def data_characteristics(ws: Workspace, ds: Any, criteria: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the 11-07 section "Data characteristics" shows of a data set: per image-level
    characteristic the distribution per split (chart and table), the class x condition
    coverage (zeros flagged), object sizes per class, group characteristics with the values
    shared between splits, the metadata table's facts and the criteria on each
    characteristic. ``present`` is False when registration recorded none (then only the
    note is shown)."""
    record = ds.characteristics
    metadata = ds.metadata
    criteria = data_criteria(ws, ds) if criteria is None else criteria
    out: dict[str, Any] = {
        "present": record is not None and bool(record.splits),
        "metadata": _metadata_facts(metadata) if metadata is not None else None,
        "hint": METADATA_HINT,
        "characteristics": [],
        "object_size": None,
        "groups": [],
    }
    if not out["present"]:
        return out
    odd = odd_for(ws, None, ds)
    out["odd"] = odd.id if odd is not None else None
    splits = list(record.splits)
    classes = ds.class_names() or sorted({c for cells in record.splits.values() for cell in cells for c in cell[2]})
    table_names = set(metadata.columns) if metadata is not None else set()
    for name in record.names:
        out["characteristics"].append(_characteristic(record, name, odd, splits, classes, criteria, table_names))
    out["object_size"] = _object_size(record, splits, classes, criteria)
    shared = ds.leakage.shared_groups if ds.leakage is not None else {}
    for name in sorted(set(record.groups) | set(shared)):
        per_split = record.groups.get(name, {})
        found = shared.get(name) or {}
        out["groups"].append(
            {
                "name": name,
                "per_split": [(s, per_split.get(s)) for s in splits],
                "shared": int(found.get("count") or 0),
                "examples": [str(e) for e in (found.get("examples") or [])][:10],
                "measured": name in shared or ds.leakage is not None,
            }
        )
    out["splits"] = splits
    return out


def _metadata_facts(metadata: Any) -> dict[str, Any]:
    return {
        "file": metadata.file,
        "sha256": metadata.sha256,
        "format": metadata.format,
        "rows": metadata.rows,
        "key": metadata.key,
        "odd": metadata.odd,
        "columns": list(metadata.columns),
        "errors": metadata.errors,
        "warnings": metadata.warnings,
        "by_kind": {k: v for k, v in metadata.by_kind.items() if v},
        "findings": [f.model_dump() for f in metadata.findings[:FIRST_FINDINGS]],  # line/column may be None
        "more_findings": max(0, len(metadata.findings) - FIRST_FINDINGS),
    }


def _characteristic(
    record: Any,
    name: str,
    odd: Any,
    splits: list[str],
    classes: list[str],
    criteria: list[dict[str, Any]],
    table_names: set[str],
) -> dict[str, Any]:
    dists = {s: record.distribution(s, name) or {} for s in splits}
    totals = {s: sum(d.values()) for s, d in dists.items()}
    values = _ordered_values(record, name, odd)
    spec = odd.characteristics.get(name) if odd is not None else None
    keep = set(spec.values or []) if spec is not None else set()
    overall = {v: sum(d.get(v, 0) for d in dists.values()) for v in values}
    shown, other = _collapse(values, overall, keep)
    columns = shown + ([f"other ({len(other)} values)"] if other else [])

    def count(dist: dict[str, int], col: int) -> int:
        return dist.get(shown[col], 0) if col < len(shown) else sum(dist.get(v, 0) for v in other)

    rows: list[dict[str, Any]] = []
    for ci, value in enumerate(columns):
        cells: list[dict[str, Any]] = []
        for s in splits:
            n = count(dists[s], ci)
            cells.append({"split": s, "images": n, "share": _share(n, totals[s])})
        rows.append(
            {"value": value, "cells": cells, "declared": value in keep, "zero": any(c["images"] == 0 for c in cells)}
        )
    groups = {s: [c["share"] or 0.0 for c in (r["cells"][si] for r in rows)] for si, s in enumerate(splits)}
    chart = charts.bar_chart(
        f"{name}: share of images per split",
        columns,
        groups,
        fmt=charts.percent,
        y_max=1.0,
        height=230,
    )
    coverage = []
    per_split_classes = {s: record.class_distribution(s, name) or {} for s in splits}
    for cls in classes:
        for s in splits:
            dist = per_split_classes[s].get(cls, {})
            coverage.append({"class": cls, "split": s, "counts": [count(dist, ci) for ci in range(len(columns))]})
    source = "derived" if name in DERIVED else ("metadata table" if name in table_names or not table_names else "")
    return {
        "name": name,
        "source": source,
        "columns": columns,
        "rows": rows,
        "totals": [(s, totals[s]) for s in splits],
        "chart": chart,
        "coverage": coverage,
        "zero_cells": sum(1 for r in coverage for n in r["counts"] if n == 0),
        "criteria": _criteria_on(criteria, name),
    }


def _object_size(record: Any, splits: list[str], classes: list[str], criteria: list[dict[str, Any]]) -> dict[str, Any]:
    sizes = list(record.sizes)
    rows = []
    for cls in classes:
        for s in splits:
            dist = record.distribution(s, OBJECT_SIZE, cls) or {}
            total = sum(dist.get(z, 0) for z in sizes)
            rows.append(
                {
                    "class": cls,
                    "split": s,
                    "total": total,
                    "cells": [{"instances": dist.get(z, 0), "share": _share(dist.get(z, 0), total)} for z in sizes],
                }
            )
    overall = {s: record.distribution(s, OBJECT_SIZE) or {} for s in splits}
    groups = {}
    for s in splits:
        total = sum(overall[s].values())
        groups[s] = [(_share(overall[s].get(z, 0), total) or 0.0) for z in sizes]
    return {
        "sizes": sizes,
        "rows": rows,
        "chart": charts.bar_chart(
            "object_size: share of instances per split", sizes, groups, fmt=charts.percent, y_max=1.0, height=200
        ),
        "criteria": _criteria_on(criteria, OBJECT_SIZE),
    }


# ----------------------------------------------------------------------------- slices
def _slice_series(ctx: Any, model: Any) -> list[tuple[str, Any, Any]]:
    """(label, model version, its SliceRecord) to compare: the float model first, then its
    quantized children that hold slices; for a quantized child, its float parent and itself."""
    ws = ctx.ws
    key = item_key(model)
    own = model.slices
    q = model.quantization
    if q is not None and model.traceability.previous_version:
        parent = ws.resolve(model.traceability.previous_version)
        if parent is not None and parent.kind == "model_version" and parent.slices is not None:
            return [("float", parent, parent.slices), (f"INT8 {q.method}", model, own)]
        return [(f"INT8 {q.method}", model, own)]
    children = [c for c in ctx.quantized_children.get(key, []) if c.slices is not None and c.slices.results]
    if not children:
        return [("this model", model, own)]
    # short labels (legends and column heads stay readable); the note names each model version
    return [("float", model, own)] + [(f"INT8 {c.quantization.method}", c, c.slices) for c in children]


def _split_order(split: str) -> int:
    return {"train": 0, "val": 1, "test": 2}.get(canonical_split(split), 3)


def slice_section(ctx: Any, model: Any) -> dict[str, Any] | None:
    """The "Per-condition performance" section of a model version: None when it holds no
    slices. ``rows``: one per slice this model was evaluated on (the whole split first),
    with the compared models' mAP50 and the quantized minus float difference; ``charts``:
    mAP50 per slice, one chart per split, too-small slices hatched."""
    record = model.slices
    if record is None or not record.results:
        return None
    series = _slice_series(ctx, model)
    this = next(i for i, (_, m, _) in enumerate(series) if m is model)
    results = sorted(enumerate(record.results), key=lambda ir: (_split_order(ir[1].split), bool(ir[1].where), ir[0]))
    rows = []
    for _, r in results:
        others = []
        for label, _m, rec in series:
            found = rec.find(r.split, r.where) if rec is not None else None
            value = found.get("mAP_50") if found is not None else None
            others.append({"label": label, "mAP_50": value, "too_small": bool(found and found.too_small)})
        mine = r.get("mAP_50")
        for i, o in enumerate(others):
            # quantized minus float, whichever of the two this report is about
            pair = (o["mAP_50"], mine) if this == 0 else (mine, o["mAP_50"])
            o["delta"] = pair[0] - pair[1] if i != this and None not in pair else None  # type: ignore[operator]
        rows.append(
            {
                "split": r.split,
                "condition": where_text(r.where) or "all images",
                "images": r.images,
                "instances": r.instances,
                "mAP_50": r.get("mAP_50"),
                "mAP_50_95": r.get("mAP_50_95"),
                "precision": r.get("precision"),
                "recall": r.get("recall"),
                "too_small": r.too_small,
                "compared": [o for i, o in enumerate(others) if i != this] if len(series) > 1 else [],
                "series": others,
            }
        )
    charts_out = []
    for split in sorted({r["split"] for r in rows}, key=_split_order):
        mine = [r for r in rows if r["split"] == split]
        labels = [r["condition"] + (f" ({r['images']} img)") for r in mine]
        groups = {label: [r["series"][i]["mAP_50"] for r in mine] for i, (label, _, _) in enumerate(series)}
        faded = {label: [r["series"][i]["too_small"] for r in mine] for i, (label, _, _) in enumerate(series)}
        charts_out.append(
            charts.hbar_chart(
                f"mAP50 per condition, {split} split",
                labels,
                groups,
                faded=faded,
                faded_label=f"too small (< {record.min_images} images)" if record.min_images else "too small",
                x_max=1.0,
            )
        )
    compared = [label for i, (label, _, _) in enumerate(series) if i != this] if len(series) > 1 else []
    named = [f"{label} = {item_key(m)}" for label, m, _ in series] if len(series) > 1 else []
    return {
        "named": named,
        "dataset": record.dataset,
        "fingerprint": record.fingerprint,
        "at": record.at,
        "min_images": record.min_images,
        "rows": rows,
        "charts": charts_out,
        "compared": compared,
        "too_small": sum(1 for r in rows if r["too_small"]),
        "quantized_is_this": this > 0,
    }
