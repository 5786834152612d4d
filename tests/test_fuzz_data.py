"""Fuzz tests (hypothesis) over the YOLO label parser and the COCO converter (issue 21,
hole 9): whatever the bytes, a label file gives counts and problems that name their line,
exactly the lines ultralytics would accept are counted, and a COCO file is converted or
refused with one line (``Mle3Error``), never a traceback. Small examples, a few seconds."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mle3.datasets.coco import CocoSplit, convert
from mle3.datasets.scan import check_labels, scan_label
from mle3.datasets.yolo import BOX_TOLERANCE
from mle3.errors import Mle3Error

N_CLASSES = 3
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = st.sampled_from(
    [
        "0",
        "1",
        "2",
        "3",
        "-1",
        "1.5",
        "0.5",
        "0.25",
        "0.1",
        "0.9",
        "1.02",
        "0",
        "-0.005",
        "1e-3",
        "nan",
        "-nan",
        "inf",
        "-inf",
        "1e400",
        "1e308",
        "NaN",
        "Infinity",
        "x",
        "",
        "0x1",
        "1_0",
        "+0.5",
        ".5",
        "\ufeff0",
        "٠",
    ]
)
SEPARATORS = st.sampled_from([" ", "  ", "\t", " \x0c", "\x0b"])
LINE = st.lists(TOKENS, min_size=0, max_size=7).flatmap(lambda tokens: SEPARATORS.map(lambda sep: sep.join(tokens)))
ENDINGS = st.sampled_from(["\n", "\r\n", "\r", "\n\n"])
LABEL = st.tuples(st.lists(LINE, max_size=6), ENDINGS, st.booleans(), st.booleans()).map(
    lambda t: (
        (t[1].join(t[0]) + (t[1] if t[2] else "")).encode() if not t[3] else b"\xef\xbb\xbf" + t[1].join(t[0]).encode()
    )
)
RAW = st.binary(max_size=64)


def reference(data: bytes) -> tuple[Counter, int]:
    """What ultralytics' ``verify_image_label`` reads of a label file, line by line: the
    instances per class of valid lines, and how many non-empty lines are not valid."""
    text = data.decode("utf-8-sig", errors="replace")
    counts: Counter = Counter()
    bad = 0
    lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields] if len(fields) == 5 else None
        except ValueError:
            values = None
        if values is None or not all(map(math.isfinite, values)):
            bad += 1
            continue
        c, x, y, w, h = values
        if (
            c != int(c)
            or not 0 <= c < N_CLASSES
            or w <= 0
            or h <= 0
            or x - w / 2 < lo
            or x + w / 2 > hi
            or y - h / 2 < lo
            or y + h / 2 > hi
        ):
            bad += 1
        else:
            counts[int(c)] += 1
    return counts, bad


def _lines(data: bytes) -> int:
    return len(data.decode("utf-8-sig", errors="replace").splitlines())


@FUZZ
@given(st.one_of(LABEL, RAW))
def test_the_label_parser_counts_exactly_the_valid_lines_and_names_every_other(data):
    counts, problems, empty = scan_label(data, N_CLASSES)
    want, bad = reference(data)
    assert Counter(counts) == want
    errors = [p for p in problems if p[0] == "error"]
    assert len(errors) == bad
    assert all(isinstance(line, int) and 1 <= line <= _lines(data) for _, _, line, _ in errors)
    assert all("\n" not in message for _, _, _, message in problems)
    assert empty == (not data.split())


@FUZZ
@given(st.lists(st.one_of(LABEL, RAW), min_size=1, max_size=4))
def test_the_batch_label_check_agrees_with_the_file_by_file_one(files):
    labels = [(f"labels/train/{i}.txt", data) for i, data in enumerate(files)]
    counts, problems = check_labels(labels, N_CLASSES)
    want: Counter = Counter()
    bad = 0
    for _, data in labels:
        c, b = reference(data)
        want += c
        bad += b
    assert Counter(counts) == want
    assert sum(p[0] == "error" for p in problems) == bad
    assert all(p[2].startswith("labels/train/") for p in problems)


# --- COCO


def _json_values(children):
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["id", "name", "bbox", "x", "images"]), children, max_size=4),
    )


NUMBERS = st.one_of(
    st.integers(-5, 50),
    st.sampled_from([0, 40, 30, 10**30, -(10**30), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.sampled_from(["", "a.jpg", "1", "nan", "../x.jpg", "b.png", "images/c.jpg", ".h.jpg", "a\x00.jpg"]),
)
ANY = st.recursive(SCALARS, _json_values, max_leaves=8)
IDS = st.one_of(st.integers(0, 4), st.sampled_from(["1", 1.0, None, [1], True]), ANY)
BBOX = st.one_of(
    st.lists(NUMBERS, min_size=3, max_size=5),
    st.sampled_from([[4, 3, 20, 15], [0, 0, 40, 30], ["4", 3, 20, 15], [math.nan, 3, 20, 15], [4, 3, math.inf, 15]]),
    ANY,
)


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy, odds: int = 5) -> st.SearchStrategy:
    """``good`` ``odds`` times in ``odds + 1``: hostile values inside documents that are
    otherwise COCO, so the conversion itself is fuzzed, not only the refusal."""
    return st.sampled_from([True] * odds + [False]).flatmap(lambda ok: good if ok else bad)


def _entry(fields: dict) -> st.SearchStrategy:
    """A dict with every field (each mostly valid), sometimes one missing, sometimes not a dict."""
    return mostly(mostly(st.fixed_dictionaries(fields), st.fixed_dictionaries({}, optional=fields)), ANY, 8)


IMAGE = _entry(
    {
        "id": mostly(st.integers(1, 3), IDS, 15),
        "file_name": mostly(st.sampled_from(["a.jpg", "b.jpg", "sub/a.jpg", "missing.jpg"]), SCALARS, 15),
        "width": mostly(st.just(40), NUMBERS, 15),
        "height": mostly(st.just(30), NUMBERS, 15),
    }
)
ANNOTATION = _entry(
    {
        "id": mostly(st.integers(1, 6), IDS),
        "image_id": mostly(st.integers(1, 3), IDS),
        "category_id": mostly(st.sampled_from([3, 7]), IDS),
        "bbox": mostly(st.lists(st.integers(0, 40), min_size=4, max_size=4), BBOX, 2),
    }
)
CATEGORY = mostly(
    st.sampled_from([{"id": 3, "name": "car"}, {"id": 7, "name": "sign"}]),
    _entry({"id": mostly(st.sampled_from([3, 7]), IDS), "name": mostly(st.sampled_from(["car", "sign"]), SCALARS)}),
    10,
)
DOCUMENT = mostly(
    st.fixed_dictionaries(
        {
            "images": mostly(st.lists(IMAGE, max_size=3), ANY, 10),
            "annotations": mostly(st.lists(ANNOTATION, max_size=5), ANY, 10),
            "categories": mostly(st.lists(CATEGORY, min_size=1, max_size=3), ANY, 10),
        }
    ),
    ANY,
    10,
)
TEXTS = mostly(
    DOCUMENT.map(lambda doc: json.dumps(doc, allow_nan=True)),
    st.sampled_from(
        [
            "[" * 100_000,
            '{"images": ' * 50_000,
            "{",
            "",
            '{"images": [], "annotations": [], "categories": [{"id": ' + "9" * 5000 + ', "name": "x"}]}',
            "\xff\xfe",
        ]
    ),
    10,
)
VALID = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [4, 3, 20, 15]}],
    "categories": [{"id": 3, "name": "car"}],
}


def _images(folder: Path) -> None:
    from PIL import Image

    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(folder / "a.jpg")
    shutil.copy(folder / "a.jpg", folder / "b.jpg")
    shutil.copy(folder / "a.jpg", folder / "sub" / "a.jpg")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS, st.booleans())
def test_the_coco_converter_converts_or_refuses_in_one_line(text, as_val):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _images(root / "img")
        hostile, valid = root / "hostile.json", root / "valid.json"
        hostile.write_text(text, encoding="utf-8", errors="surrogateescape")
        valid.write_text(json.dumps(VALID))
        specs = (
            [CocoSplit("train", valid, root / "img"), CocoSplit("val", hostile, root / "img")]
            if as_val
            else [CocoSplit("train", hostile, root / "img"), CocoSplit("val", valid, root / "img")]
        )
        try:
            result = convert(specs, root / "out")
        except Mle3Error as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 400
            assert not (root / "out").exists()
            event("refused")
            return
        event("converted" + (" with findings" if result.problems else ""))
        assert (root / "out" / "data.yaml").is_file()
        for severity, kind, file, line, message in result.problems:
            assert (
                severity in ("error", "warning")
                and kind.startswith("coco-")
                and file in (str(hostile), str(valid))
                and "\n" not in message
            )
        for label in (root / "out" / "labels").rglob("*.txt"):  # every converted value finite and normalised
            for row in label.read_text().splitlines():
                c, *box = row.split()
                assert int(c) >= 0 and all(math.isfinite(float(v)) and -0.1 <= float(v) <= 1.1 for v in box), row
