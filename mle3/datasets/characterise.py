"""Every image's characteristics (the metadata table's and the derived ones) and their
joint distribution per split: the ``characteristics:`` block of a data set record.

Works over whole columns (pyarrow): the table is matched to the images by a hash lookup
(``index_in``), boxes are expanded to their images by list offsets, and cells are one
group-by. No per-image Python runs here; the workers of the scan already measured what
the derived characteristics need (:class:`~.chunks.ImageRows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..vocab import SPLITS
from ..workspace.characteristics import (
    LUMINANCE,
    LUMINANCE_BINS,
    OBJECTS,
    RESOLUTION,
    SIZES,
)
from .chunks import ImageRows
from .metadata import MetadataTable

#: up to this many distinct image sizes ``resolution`` is the exact size, else binned by the long side
EXACT_RESOLUTIONS = 12
RESOLUTION_BINS = ((320, "<=320"), (640, "<=640"), (1280, "<=1280"), (1920, "<=1920"))
#: a value for an image the table gives none for
MISSING = "(none)"


@dataclass
class Images:
    """Every image of the data set, in scan order, with its characteristics as text columns."""

    split: Any  # pyarrow string array
    paths: Any
    values: dict[str, Any]  # characteristic -> string array (conditions first, then derived)
    groups: dict[str, Any]  # group characteristic -> string array
    boxes: Any  # per image: number of boxes (uint32)
    codes: Any  # per box: class * 3 + size (uint16)
    exact_resolution: bool = True
    #: with a table: images without a row, rows for no image (the first of each, as
    #: ``(severity, kind, file, line, column, message)``), and how many there are beyond those
    problems: list[tuple] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)


def _array(values: Any, kind: Any) -> Any:
    import pyarrow as pa

    if not len(values):
        return pa.array([], kind)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def images_of(
    rows: dict[str, ImageRows], metadata: MetadataTable | None, luminance: bool, exact_resolution: bool | None = None
) -> Images:
    """The characteristics of every image; with a table, images without a row and rows for
    no image are problems ``(severity, kind, file, line, column, message)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    splits = sorted(rows)
    split = pa.concat_arrays(
        [pa.array([s], pa.string()).take(pa.array([0] * len(rows[s].paths), pa.int32())) for s in splits]
        or [pa.array([], pa.string())]
    )
    paths = pa.array([p for s in splits for p in rows[s].paths], pa.string())
    width = pa.concat_arrays([_array(rows[s].width, pa.uint32()) for s in splits] or [pa.array([], pa.uint32())])
    height = pa.concat_arrays([_array(rows[s].height, pa.uint32()) for s in splits] or [pa.array([], pa.uint32())])
    boxes = pa.concat_arrays([_array(rows[s].boxes, pa.uint32()) for s in splits] or [pa.array([], pa.uint32())])
    codes = pa.concat_arrays([_array(rows[s].codes, pa.uint16()) for s in splits] or [pa.array([], pa.uint16())])
    values: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    problems: list[tuple] = []
    counts: dict[str, int] = {}
    if metadata is not None:
        index = pc.index_in(paths, value_set=metadata.keys)
        missing = pc.is_null(index)
        shown = pc.indices_nonzero(missing).slice(0, 200).to_pylist()
        for i in shown:
            problems.append(("error", "missing-row", metadata.spec.file, None, metadata.spec.key,
                             f"no row for image {paths[i].as_py()}"))  # fmt: skip
        counts["missing-row"] = (pc.sum(missing).as_py() or 0) - len(shown)
        unused = pc.invert(pc.fill_null(pc.is_in(metadata.keys, value_set=paths), False))
        shown = pc.indices_nonzero(unused).slice(0, 200).to_pylist()
        for i in shown:
            problems.append(("error", "unknown-image", metadata.spec.file, metadata.line(i), metadata.spec.key,
                             f"{metadata.keys[i].as_py()} is no image of the data set"))  # fmt: skip
        counts["unknown-image"] = (pc.sum(unused).as_py() or 0) - len(shown)
        for name in metadata.conditions:
            values[name] = pc.fill_null(pc.take(metadata.columns[name], index), MISSING)
        for name in metadata.groups:
            groups[name] = pc.take(metadata.columns[name], index)
    sizes = pa.table({"w": width, "h": height}).group_by(["w", "h"]).aggregate([])
    exact = exact_resolution if exact_resolution is not None else sizes.num_rows <= EXACT_RESOLUTIONS
    values[RESOLUTION] = _resolution(width, height, exact)
    values[OBJECTS] = _objects(boxes)
    if luminance:
        luma = pa.concat_arrays([_array(rows[s].luma, pa.uint8()) for s in splits] or [pa.array([], pa.uint8())])
        values[LUMINANCE] = _luminance(luma)
    return Images(split, paths, values, groups, boxes, codes, exact, problems, counts)


def _resolution(width: Any, height: Any, exact: bool) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    known = pc.and_(pc.greater(width, 0), pc.greater(height, 0))
    if exact:
        text = pc.binary_join_element_wise(pc.cast(width, pa.string()), pc.cast(height, pa.string()), "x")
    else:
        longer = pc.max_element_wise(width, height)
        text = pa.scalar(f">{RESOLUTION_BINS[-1][0]}")
        for limit, name in reversed(RESOLUTION_BINS):
            text = pc.if_else(pc.less_equal(longer, limit), name, text)
    return pc.if_else(known, text, "unknown")


def _objects(boxes: Any) -> Any:
    import pyarrow.compute as pc

    return pc.if_else(
        pc.equal(boxes, 0),
        "0",
        pc.if_else(
            pc.equal(boxes, 1),
            "1",
            pc.if_else(pc.less_equal(boxes, 5), "2-5", pc.if_else(pc.less_equal(boxes, 10), "6-10", "11+")),
        ),
    )


def _luminance(luma: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    scaled = pc.divide(pc.cast(luma, pa.float64()), 255.0)
    out = pa.scalar(LUMINANCE_BINS[-1][0])
    for name, upper in reversed(LUMINANCE_BINS[:-1]):
        out = pc.if_else(pc.less(scaled, upper), name, out)
    return out


def aggregate(images: Images, classes: list[str]) -> dict[str, Any]:
    """The ``characteristics:`` block: cells per split (images, instances per class and size)
    and distinct groups per split."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = list(images.values)
    table = pa.table({"__split": images.split, **{n: images.values[n] for n in names}})
    keys = ["__split", *names]
    counted = table.group_by(keys).aggregate([([], "count_all")]) if names else None
    cells: dict[tuple, list[Any]] = {}
    if counted is not None:
        for row in counted.to_pylist():
            cells[tuple(row[k] for k in keys)] = [row["count_all"], {}]
    if len(images.codes):
        offsets = pa.concat_arrays(
            [pa.array([0], pa.int64()), pc.cumulative_sum(pc.cast(images.boxes, pa.int64()))]
        ).cast(pa.int32())
        parent = pc.list_parent_indices(pa.ListArray.from_arrays(offsets, images.codes))
        per_box = pa.table({**{k: pc.take(table.column(k), parent) for k in keys}, "__code": images.codes})
        for row in per_box.group_by([*keys, "__code"]).aggregate([([], "count_all")]).to_pylist():
            cell = cells.setdefault(tuple(row[k] for k in keys), [0, {}])
            code = row["__code"]
            name = classes[code // 3] if code // 3 < len(classes) else str(code // 3)
            cell[1].setdefault(name, [0] * len(SIZES))[code % 3] += row["count_all"]
    splits: dict[str, list[Any]] = {}
    for key in sorted(cells):
        images_n, instances = cells[key]
        splits.setdefault(key[0], []).append(
            [list(key[1:]), images_n, {c: instances[c] for c in classes if c in instances}]
        )
    group_counts: dict[str, dict[str, int]] = {}
    for name, column in images.groups.items():
        distinct = (
            pa.table({"s": images.split, "g": column}).drop_null().group_by("s").aggregate([("g", "count_distinct")])
        )
        group_counts[name] = {r["s"]: r["g_count_distinct"] for r in distinct.to_pylist()}
    return {
        "names": names,
        "sizes": list(SIZES),
        "resolution": "exact" if images.exact_resolution else "binned",
        **({"groups": group_counts} if group_counts else {}),
        "splits": {s: splits.get(s, []) for s in _split_order(pc.unique(images.split).to_pylist())},
    }


def _split_order(names: list[str]) -> list[str]:
    """train, val, test first (as every record lists them), then any other split by name."""
    return sorted(names, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))


def shared_groups(images: Images) -> dict[str, dict[str, Any]]:
    """Group values (sequence, drive ids) found in more than one split: leakage between
    training and test data (ISO/PAS 8800 independence)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, dict[str, Any]] = {}
    for name, column in images.groups.items():
        per_value = (
            pa.table({"s": images.split, "g": column}).drop_null().group_by("g").aggregate([("s", "count_distinct")])
        )
        shared = per_value.filter(pc.greater(per_value.column("s_count_distinct"), 1)).column("g")
        out[name] = {"count": len(shared), "examples": sorted(shared.to_pylist())[:10]}
    return out
