"""YOLO label files checked from their bytes: instances per class and problems.

The common case (every line five numbers, every box inside) is checked over whole columns;
any doubt falls back to a line-by-line pass that names the line."""

from __future__ import annotations

import math
from array import array
from collections import Counter

from ..workspace.characteristics import MEDIUM_AREA, SMALL_AREA
from .yolo import BOX_TOLERANCE

# (severity, kind, file, line, message)
Problem = tuple[str, str, str, "int | None", str]


def box_codes(cls: list[float], w: list[float], h: list[float]) -> list[int]:
    """``class * 3 + size class`` of each box (size: :func:`~mle3.workspace.characteristics.size_class`)."""
    small, medium = SMALL_AREA, MEDIUM_AREA
    return [
        int(c) * 3 + (0 if a < small else 1 if a < medium else 2) for c, a in zip(cls, (x * y for x, y in zip(w, h)))
    ]


def scan_label(
    data: bytes, n_classes: int, boxes: array | None = None
) -> tuple[dict[int, int], list[tuple[str, str, int | None, str]], bool]:
    """(instances per class id, problems (severity, kind, line, message), empty?); the
    :func:`box_codes` of its valid boxes are appended to ``boxes``.

    The common case (every line five numbers, every box inside) is checked over whole
    columns; any doubt falls back to :func:`_scan_label_lines`, which names the line."""
    rows = [line.split() for line in data.splitlines()]
    rows = [r for r in rows if r]
    if not rows:
        return {}, [("warning", "empty-label", None, "empty label file (background image)")], True
    try:
        if any(len(r) != 5 for r in rows) or _odd_breaks(data):
            raise ValueError
        cls = [float(r[0]) for r in rows]
        x = [float(r[1]) for r in rows]
        y = [float(r[2]) for r in rows]
        w = [float(r[3]) for r in rows]
        h = [float(r[4]) for r in rows]
    except ValueError:
        return _scan_label_lines(data, n_classes, boxes)
    if not _columns_valid(cls, x, y, w, h, n_classes):
        return _scan_label_lines(data, n_classes, boxes)
    counts: dict[int, int] = {}
    for c in cls:
        counts[int(c)] = counts.get(int(c), 0) + 1
    if boxes is not None:
        boxes.extend(box_codes(cls, w, h))
    return counts, [], False


def _columns_valid(
    cls: list[float], x: list[float], y: list[float], w: list[float], h: list[float], n_classes: int
) -> bool:
    """Every box of the columns finite, of a known integer class, with a positive size, inside
    the image (within the tolerance): the common case, checked without a line-by-line pass."""
    lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE
    return not (
        not math.isfinite(sum(cls) + sum(x) + sum(y) + sum(w) + sum(h))
        or min(cls) < 0
        or max(cls) >= n_classes
        or not all(map(float.is_integer, cls))
        or min(w) <= 0
        or min(h) <= 0
        or min(map(_low, x, w)) < lo
        or max(map(_high, x, w)) > hi
        or min(map(_low, y, h)) < lo
        or max(map(_high, y, h)) > hi
    )


def _odd_breaks(data: bytes) -> bool:
    """Vertical tab and form feed end a line for ultralytics (``str.splitlines``) but not
    for ``bytes.splitlines``: such files take the line-by-line path, which reads as it does."""
    return b"\x0b" in data or b"\x0c" in data


def _low(centre: float, extent: float) -> float:
    return centre - extent / 2


def _high(centre: float, extent: float) -> float:
    return centre + extent / 2


def _scan_label_lines(
    data: bytes, n_classes: int, boxes: array | None = None
) -> tuple[dict[int, int], list[tuple[str, str, int | None, str]], bool]:
    """Line by line, with a message per problem (the slow path of :func:`scan_label`)."""
    text = data.decode("utf-8-sig", errors="replace")  # ultralytics reads labels as utf-8-sig
    counts: dict[int, int] = {}
    problems: list[tuple[str, str, int | None, str]] = []
    lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        values: list[float] | None
        try:
            values = list(map(float, fields)) if len(fields) == 5 else None
        except ValueError:
            values = None
        if values is None:
            problems.append(("error", "malformed-line", number, f"expected 'class x y w h', got {line.strip()[:60]!r}"))
            continue
        cls, x, y, w, h = values
        if not all(map(math.isfinite, (cls, x, y, w, h))):
            problems.append(("error", "non-finite-value", number, f"not a finite number in {line.strip()[:60]!r}"))
        elif cls != int(cls) or not 0 <= int(cls) < n_classes:
            problems.append(("error", "class-out-of-range", number, f"class id {fields[0]} not in 0..{n_classes - 1}"))
        elif w <= 0 or h <= 0 or x - w / 2 < lo or x + w / 2 > hi or y - h / 2 < lo or y + h / 2 > hi:
            problems.append(("error", "box-outside", number, f"box {x:g} {y:g} {w:g} {h:g} lies outside the image"))
        else:
            counts[int(cls)] = counts.get(int(cls), 0) + 1
            if boxes is not None:
                boxes.extend(box_codes([cls], [w], [h]))
    return counts, problems, False


def check_labels(
    labels: list[tuple[str, bytes]], n_classes: int, boxes: array | None = None, per_file: array | None = None
) -> tuple[dict[int, int], list[Problem]]:
    """Instances per class and problems of many label files at once: the common case (every
    line five numbers, every box inside) is checked over whole columns of the batch; a batch
    with any doubt is checked file by file with :func:`scan_label`, which names the line.
    With ``boxes`` and ``per_file``, the :func:`box_codes` of every valid box and the number
    of valid boxes of each file are appended (the per-image data characteristics)."""
    tokens: list[bytes] = []
    sizes: list[int] = []
    for _, data in labels:
        words = data.split()
        if len(words) != 5 * (data.count(b"\n") + (not data.endswith(b"\n"))) or not words or _odd_breaks(data):
            return _labels_one_by_one(labels, n_classes, boxes, per_file)
        tokens += words
        sizes.append(len(words) // 5)
    try:
        values = list(map(float, tokens))
    except ValueError:
        return _labels_one_by_one(labels, n_classes, boxes, per_file)
    cls, x, y, w, h = (values[i::5] for i in range(5))
    if not cls:
        if per_file is not None:
            per_file.extend(sizes)
        return {}, []
    if not _columns_valid(cls, x, y, w, h, n_classes):
        return _labels_one_by_one(labels, n_classes, boxes, per_file)
    counts: dict[int, int] = {}
    for c, n in Counter(cls).items():
        counts[int(c)] = n
    if boxes is not None and per_file is not None:
        boxes.extend(box_codes(cls, w, h))
        per_file.extend(sizes)
    return counts, []


def _labels_one_by_one(
    labels: list[tuple[str, bytes]], n_classes: int, boxes: array | None = None, per_file: array | None = None
) -> tuple[dict[int, int], list[Problem]]:
    counts: dict[int, int] = {}
    problems: list[Problem] = []
    for path, data in labels:
        before = len(boxes) if boxes is not None else 0
        found, label_problems, _ = scan_label(data, n_classes, boxes)
        if boxes is not None and per_file is not None:
            per_file.append(len(boxes) - before)
        for k, v in found.items():
            counts[k] = counts.get(k, 0) + v
        problems.extend((sev, kind, path, line, msg) for sev, kind, line, msg in label_problems)
    return counts, problems
