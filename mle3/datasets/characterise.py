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
    MISSING_VALUE,
    OBJECT_BINS,
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
MISSING = MISSING_VALUE


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
    rows: dict[str, ImageRows],
    metadata: MetadataTable | None,
    luminance: bool,
    exact_resolution: bool | None = None,
    keep_paths: bool = True,
) -> Images:
    """The characteristics of every image; with a table, images without a row and rows for
    no image are problems ``(severity, kind, file, line, column, message)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    splits = _split_order(list(rows))
    split = pa.DictionaryArray.from_arrays(
        pa.concat_arrays(
            [pc.fill_null(pa.nulls(len(rows[s].paths), pa.int8()), i) for i, s in enumerate(splits)]
            or [pa.array([], pa.int8())]
        ),
        pa.array(splits, pa.string()),
    )
    # the paths are needed to match a table (and by slices); 850,000 of them cost 0.15 s to convert
    wanted = keep_paths or metadata is not None
    paths = pa.array([p for s in splits for p in rows[s].paths] if wanted else [], pa.string())
    width = pa.concat_arrays([_array(rows[s].width, pa.uint32()) for s in splits] or [pa.array([], pa.uint32())])
    height = pa.concat_arrays([_array(rows[s].height, pa.uint32()) for s in splits] or [pa.array([], pa.uint32())])
    boxes = pa.concat_arrays([_array(rows[s].boxes, pa.uint32()) for s in splits] or [pa.array([], pa.uint32())])
    codes = pa.concat_arrays([_array(rows[s].codes, pa.uint16()) for s in splits] or [pa.array([], pa.uint16())])
    values: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    problems: list[tuple] = []
    counts: dict[str, int] = {}
    if metadata is not None:
        index = match_rows(paths, metadata, problems, counts)
        for name in metadata.conditions:
            values[name] = pc.fill_null(pc.take(metadata.columns[name], index), MISSING)
        for name in metadata.groups:
            groups[name] = pc.take(metadata.columns[name], index)
    sizes = pc.add(pc.multiply(pc.cast(width, pa.int64()), 1 << 32), pc.cast(height, pa.int64()))
    exact = exact_resolution if exact_resolution is not None else pc.count_distinct(sizes).as_py() <= EXACT_RESOLUTIONS
    values[RESOLUTION] = _resolution(width, height, exact)
    values[OBJECTS] = _objects(boxes)
    if luminance:
        luma = pa.concat_arrays([_array(rows[s].luma, pa.uint8()) for s in splits] or [pa.array([], pa.uint8())])
        values[LUMINANCE] = _luminance(luma)
    return Images(split, paths, values, groups, boxes, codes, exact, problems, counts)


def _sorted(array: Any) -> tuple[Any, Any]:
    """(the array sorted, the order that sorts it or None when it already was strictly increasing)."""
    import pyarrow.compute as pc

    if len(array) < 2 or pc.all(pc.less(array.slice(0, len(array) - 1), array.slice(1))).as_py():
        return array, None
    order = pc.sort_indices(array)
    return array.take(order), order


def match_rows(paths: Any, metadata: MetadataTable, problems: list[tuple], counts: dict[str, int]) -> Any:
    """The table's row of each image (null where it has none). Tables list every image
    once, usually sorted: then both sorted lists are equal and the match is an order, with
    no hashing of 850,000 strings; otherwise a hash lookup, and each missing, extra or
    doubled row becomes a problem."""
    import pyarrow as pa
    import pyarrow.compute as pc

    complete = metadata.keys.null_count == 0  # a row without a key matches no image
    if complete and len(metadata.keys) == len(paths) and pc.all(pc.equal(metadata.keys, paths)).as_py():
        return pa.array(range(len(paths)), pa.int64())  # the table lists the images in scan order
    keys, key_order = _sorted(metadata.keys)
    images, image_order = _sorted(paths)
    if complete and len(keys) == len(images) and pc.all(pc.equal(keys, images)).as_py():
        rows = key_order if key_order is not None else pa.array(range(len(keys)), pa.int64())
        if image_order is None:
            return rows
        # the row of the image at scan position image_order[i] is rows[i]
        return pc.take(rows, pc.sort_indices(image_order))
    _report_mismatch(paths, metadata, keys, key_order, problems, counts)
    return pc.index_in(paths, value_set=metadata.keys)


def _report_mismatch(
    paths: Any, metadata: MetadataTable, keys: Any, key_order: Any, problems: list[tuple], counts: dict[str, int]
) -> None:
    """Images without a row, rows for no image, images with several rows (the first 200 of each named)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    file, key = metadata.spec.file, metadata.spec.key

    def record(kind: str, mask: Any, finding: Any) -> None:
        shown = pc.indices_nonzero(mask).slice(0, 200).to_pylist()
        problems.extend(finding(i) for i in shown)
        counts[kind] = (pc.sum(mask).as_py() or 0) - len(shown)

    missing = pc.is_null(pc.index_in(paths, value_set=pc.drop_null(metadata.keys)))
    record(
        "missing-row",
        missing,
        lambda i: ("error", "missing-row", file, None, key, f"no row for image {metadata.as_written(paths[i])}"),
    )
    unused = pc.and_(
        pc.invert(pc.fill_null(pc.is_in(metadata.keys, value_set=paths), False)), pc.is_valid(metadata.keys)
    )
    record(
        "unknown-image",
        unused,
        lambda i: (
            "error",
            "unknown-image",
            file,
            metadata.line(i),
            key,
            f"{metadata.as_written(metadata.keys[i])} is no image of the data set",
        ),
    )
    valid = pc.drop_null(metadata.keys)
    if len(valid) > 1:
        in_order = valid.take(pc.sort_indices(valid))
        again = pc.equal(in_order.slice(1), in_order.slice(0, len(in_order) - 1))
        if pc.any(again).as_py():
            doubled = pc.unique(pc.filter(in_order.slice(1), again))
            # every row of a doubled key after its first
            seen = pc.is_in(metadata.keys, value_set=doubled)
            rows = pc.indices_nonzero(pc.fill_null(seen, False)).to_pylist()
            first: set[str] = set()
            later = []
            for row in rows:
                value = metadata.keys[row].as_py()
                if value in first:
                    later.append(row)
                first.add(value)
            mask = pc.is_in(pa.array(range(len(metadata.keys)), pa.int64()), value_set=pa.array(later, pa.int64()))
            record(
                "duplicate-row",
                mask,
                lambda i: (
                    "error",
                    "duplicate-row",
                    file,
                    metadata.line(i),
                    key,
                    f"{metadata.as_written(metadata.keys[i])} has another row",
                ),
            )


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
    """The ``objects`` bin of each image, dictionary-encoded (bins computed on integers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    counts = pc.cast(boxes, pa.int64())
    index = pc.add(
        pc.add(pc.cast(pc.greater(counts, 0), pa.int8()), pc.cast(pc.greater(counts, 1), pa.int8())),
        pc.add(pc.cast(pc.greater(counts, 5), pa.int8()), pc.cast(pc.greater(counts, 10), pa.int8())),
    )
    return pa.DictionaryArray.from_arrays(index, pa.array(OBJECT_BINS, pa.string()))


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
    and distinct groups per split. Every image's combination of values is one integer (its
    values' dictionary codes, mixed radix), so a cell is one integer count."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = list(images.values)
    columns = [images.split, *(images.values[n] for n in names)]
    encoded = [c if isinstance(c, pa.DictionaryArray) else c.dictionary_encode() for c in columns]
    cell = pa.array([0] * len(images.split), pa.int64()) if len(images.split) else pa.array([], pa.int64())
    steps: list[tuple[int, Any]] = []  # per column: (its size, the combined codes its dense ids stand for)
    for column in encoded:
        size = max(1, len(column.dictionary))
        combined = pc.add_checked(pc.multiply_checked(cell, size), pc.cast(column.indices, pa.int64()))
        # renumbered densely after each column: a code never exceeds images x values, however many columns
        dense = combined.dictionary_encode()
        steps.append((size, dense.dictionary))
        cell = pc.cast(dense.indices, pa.int64())

    def decode(code: int) -> tuple:
        out = []
        for (size, combined), column in zip(reversed(steps), reversed(encoded)):
            code, at = divmod(combined[code].as_py(), size)
            out.append(column.dictionary[at].as_py())
        return tuple(reversed(out))

    cells: dict[tuple, list[Any]] = {}
    for row in pc.value_counts(cell).to_pylist():
        cells[decode(row["values"])] = [row["counts"], {}]
    if len(images.codes):
        offsets = pa.concat_arrays(
            [pa.array([0], pa.int64()), pc.cumulative_sum(pc.cast(images.boxes, pa.int64()))]
        ).cast(pa.int32())
        parent = pc.list_parent_indices(pa.ListArray.from_arrays(offsets, images.codes))
        span = 3 * max(1, len(classes), (pc.max(images.codes).as_py() or 0) // 3 + 1)
        per_box = pc.add_checked(pc.multiply_checked(pc.take(cell, parent), span), pc.cast(images.codes, pa.int64()))
        for row in pc.value_counts(per_box).to_pylist():
            key, code = divmod(row["values"], span)
            target = cells.setdefault(decode(key), [0, {}])
            name = classes[code // 3] if code // 3 < len(classes) else str(code // 3)
            target[1].setdefault(name, [0] * len(SIZES))[code % 3] += row["counts"]
    splits: dict[str, list[Any]] = {}
    for key in sorted(cells, key=lambda k: tuple(str(v) for v in k)):
        images_n, instances = cells[key]
        ordered = {c: instances[c] for c in classes if c in instances}
        ordered.update({c: n for c, n in instances.items() if c not in ordered})
        splits.setdefault(key[0], []).append([list(key[1:]), images_n, ordered])
    group_counts: dict[str, dict[str, int]] = {}
    for name, column in images.groups.items():
        codes = column.dictionary_encode().indices
        pairs = pc.add(
            pc.multiply(pc.cast(images.split.indices, pa.int64()), len(codes) + 1), pc.cast(codes, pa.int64())
        )
        distinct = pc.unique(pairs.drop_null())
        per_split = pc.value_counts(pc.divide(distinct, len(codes) + 1)).to_pylist()
        group_counts[name] = {images.split.dictionary[r["values"]].as_py(): r["counts"] for r in per_split}
    present = [images.split.dictionary[i].as_py() for i in pc.unique(images.split.indices).to_pylist()]
    return {
        "names": names,
        "sizes": list(SIZES),
        "resolution": "exact" if images.exact_resolution else "binned",
        **({"groups": group_counts} if group_counts else {}),
        "splits": {s: splits.get(s, []) for s in _split_order(present)},
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
        encoded = column.dictionary_encode()
        width = len(images.split.dictionary) + 1
        pairs = pc.unique(
            pc.add(pc.multiply(pc.cast(encoded.indices, pa.int64()), width), pc.cast(images.split.indices, pa.int64()))
        ).drop_null()
        per_value = pc.value_counts(pc.divide(pairs, width))
        shared = pc.filter(per_value.field("values"), pc.greater(per_value.field("counts"), 1))
        values = sorted(encoded.dictionary.take(shared).to_pylist())
        out[name] = {"count": len(values), "examples": values[:10]}
    return out
