"""Data characteristics in the 11-07 and per-condition metrics in the 13-65 / 11-06 and the
site, from data set and model version records written by hand (the SPEC blocks)."""

from __future__ import annotations

import re

import pytest

DATASET = """
    dataset:
      id: DATA
      version: v1
      requirements: [REQ-D, REQ-C]
      classes: [car, pedestrian]
      splits:
        train: {samples: 100, path: data/train, instances: {car: 900, pedestrian: 40}}
        val: {samples: 20, path: data/val}
        test: {samples: 20, path: data/test}
      metadata:
        file: data/metadata.csv
        sha256: 4b1f0c9e2d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c
        format: csv
        rows: 140
        key: image
        odd: ODD-001
        columns: [time_of_day, weather, sequence]
        errors: 1
        warnings: 0
        by_kind: {value-not-in-odd: 1, missing-row: 0}
        findings:
          - severity: error
            kind: value-not-in-odd
            file: data/metadata.csv
            line: 17
            column: weather
            message: "'hail' is not a value of weather (clear, rain, fog, snow)"
      characteristics:
        names: [time_of_day, weather, resolution, objects]
        sizes: [small, medium, large]
        groups: {sequence: {train: 12, val: 3, test: 3}}
        splits:
          train:
            - [[day, clear, 640x480, 2-5], 70, {car: [100, 500, 100], pedestrian: [10, 20, 10]}]
            - [[night, rain, 640x480, 2-5], 30, {car: [50, 100, 50], pedestrian: [0, 0, 0]}]
          val:
            - [[day, clear, 640x480, "1"], 15, {car: [5, 5, 5], pedestrian: [1, 1, 1]}]
            - [[night, fog, 640x480, "1"], 5, {car: [1, 1, 1], pedestrian: [0, 1, 0]}]
          test:
            - [[day, clear, 640x480, "1"], 14, {car: [5, 5, 4], pedestrian: [1, 1, 1]}]
            - [[night, rain, 640x480, "1"], 6, {car: [2, 2, 2], pedestrian: [0, 1, 0]}]
      leakage:
        shared_images: 0
        examples: []
        shared_groups: {sequence: {count: 2, examples: [seq0012, seq0040]}}
"""

ODD = """
    odd:
      id: ODD-001
      title: test domain
      characteristics:
        time_of_day: [day, dusk, night]
        weather: [clear, rain, fog, snow]
        sequence: {type: string, role: group}
"""

REQ_C = """
    requirement:
      id: REQ-C
      title: data characteristics
      type: ml_data
      derived_from: [SYS-1]
      criteria:
        - characteristic: time_of_day
          split: train
          share: {night: [0.2, 0.4]}
        - characteristic: weather
          coverage: [rain, fog]
          splits: [train, val, test]
          min_samples: 1
        - class: pedestrian
          where: {time_of_day: night}
          split: train
          min_samples: 1
        - characteristic: time_of_day
          similar: [train, test]
          max_tvd: 0.1
"""

SLICES = """
      slices:
        dataset: DATA-v1
        fingerprint: sha256:00aa11bb22cc33dd44ee55ff66778899aabbccddeeff00112233445566778899
        at: 2026-12-02T10:00:00+00:00
        min_images: 10
        results:
          - {split: test, where: {}, images: 20, instances: 40, mAP_50: 0.812, mAP_50_95: 0.5,
             precision: 0.8, recall: 0.7}
          - {split: test, where: {time_of_day: day}, images: 14, instances: 30, mAP_50: 0.853,
             mAP_50_95: 0.55, precision: 0.82, recall: 0.75}
          - {split: test, where: {time_of_day: night}, images: 6, instances: 10, mAP_50: 0.604,
             mAP_50_95: 0.31, precision: 0.6, recall: 0.5, too_small: true}
          - {split: val, where: {}, images: 20, instances: 25, mAP_50: 0.79, mAP_50_95: 0.49,
             precision: 0.8, recall: 0.7}
"""

MODEL = (
    """
    model_version:
      id: MODEL-v1
      training_run: TRAIN
      metrics:
        test: {mAP_50: 0.812}
      training_data:
        dataset_version: DATA-v1
      traceability:
        requirements: [REQ-P]
      status: draft
"""
    + SLICES
)

CHILD = """
    model_version:
      id: MODEL-v1-int8
      training_run: TRAIN
      metrics:
        test: {mAP_50: 0.80}
      training_data:
        dataset_version: DATA-v1
      traceability:
        requirements: [REQ-P]
        previous_version: MODEL-v1
      quantization:
        method: ptq
        passed: true
      status: draft
      slices:
        dataset: DATA-v1
        min_images: 10
        results:
          - {split: test, where: {}, images: 20, instances: 40, mAP_50: 0.80}
          - {split: test, where: {time_of_day: day}, images: 14, instances: 30, mAP_50: 0.85}
          - {split: test, where: {time_of_day: night}, images: 6, instances: 10, mAP_50: 0.41, too_small: true}
"""


@pytest.fixture
def ws(make_ws):
    return make_ws(
        {
            "artifacts/data.yaml": DATASET,
            "requirements/odd.yaml": ODD,
            "requirements/REQ-C.yaml": REQ_C,
            "artifacts/model.yaml": MODEL,
            "artifacts/model-int8.yaml": CHILD,
        }
    )


def render(root, wp: str, ref: str) -> str:
    from mle3 import build_graph, load_workspace
    from mle3.reports.products import Context
    from mle3.reports.render import render_html

    ws = load_workspace(root)
    html, _ = render_html(Context(ws, build_graph(ws)), wp, ref)
    return html


def section(html: str, heading: str) -> str:
    """The HTML from the h2 whose text holds ``heading`` to the next h2."""
    start = html.index(heading)
    end = html.find("<h2>", start)
    return html[start : end if end > 0 else len(html)]


def test_11_07_shows_distribution_shares_per_split_and_the_criteria(ws):
    html = render(ws, "11-07", "DATA-v1")
    data = section(html, "Data characteristics")
    # night is 30 of 100 train images, 5 of 20 val, 6 of 20 test: shares, not counts
    assert "30.0%" in data and "25.0%" in data
    assert "time_of_day: share of images per split" in data and "<svg" in data
    # the chart labels its bars with shares
    assert ">30%</text>" in data
    # dusk is an ODD value no split holds: a zero row, shown
    dist = data[data.index('id="characteristic-time_of_day"') : data.index('id="characteristic-weather"')]
    assert re.search(r"<td>dusk</td>(<td class=\"num zero\">0(\.0%)?</td>){6}", dist)
    crit = section(html, "Requirement criteria")
    assert "night 30.0%" in crit  # the share criterion's actual, as a percentage
    assert "fog in train: 0" in crit  # coverage names what is short
    assert crit.count('class="fail"') >= 1 and 'class="pass"' in crit


def test_11_07_flags_zero_coverage_cells_groups_and_metadata_findings(ws):
    html = render(ws, "11-07", "DATA-v1")
    data = section(html, "Data characteristics")
    weather = data[data.index('id="characteristic-weather"') :]
    weather = weather[: weather.index('id="characteristic-resolution"')]
    # pedestrians at night in rain in train: 0, highlighted in the coverage table
    coverage = weather[weather.index('class="small coverage"') :]
    row = re.search(r"<tr><td>pedestrian</td><td>train</td>(.*?)</tr>", coverage).group(1)
    cells = re.findall(r'<td class="num( zero)?">(\d+)</td>', row)
    assert [(bool(z), int(n)) for z, n in cells] == [(False, 40), (True, 0), (True, 0), (True, 0)]
    assert "empty cell(s) highlighted" in weather
    # object size per class
    assert "object_size" in data and re.search(r"<td>car</td><td>train</td><td class=\"num\">900</td>", data)
    # group characteristic: distinct per split and the shared values flagged
    groups = data[data.index("Group characteristics") :]
    assert "seq0012" in groups and re.search(r'class="num fail">2 \(leakage\)', groups)
    # metadata facts and its first finding
    assert "data/metadata.csv" in data and "4b1f0c9e2d7a6b5c" in data and ">140" in data
    assert "data/metadata.csv:17 (weather)" in data and "hail" in data
    assert "no-metadata" not in data


def test_11_07_without_characteristics_says_how_to_give_metadata(make_ws):
    root = make_ws()
    html = render(root, "11-07", "DATA-v1")
    data = section(html, "Data characteristics")
    assert "No per-image metadata was registered" in data and "mle3 dataset register --metadata FILE" in data
    assert "<svg" not in data and "<table" not in data


def test_13_65_shows_slices_float_and_quantized_with_too_small_marked(ws):
    html = render(ws, "13-65", "MODEL-v1")
    part = section(html, "Per-condition performance")
    assert "mAP50 per condition, test split" in part and "mAP50 per condition, val split" in part
    night = re.search(r'<tr class="too-small"><td>test</td><td>time_of_day=night</td>(.*?)</tr>', part).group(1)
    assert ">6<" in night and "0.604" in night and "0.410*" in night and "-0.194" in night and "too small" in night
    day = re.search(r'<tr class=""><td>test</td><td>time_of_day=day</td>(.*?)</tr>', part).group(1)
    assert "0.853" in day and "0.850" in day
    # both models in the chart; the small slice hatched and labelled
    assert "float = MODEL-v1" in part and "INT8 ptq = MODEL-v1-int8" in part and ">INT8 ptq<" in part
    assert "too small (&lt; 10 images)" in part
    # whole split first, val before test
    assert part.index("<td>val</td><td>all images</td>") < part.index("<td>test</td><td>all images</td>")


def test_child_report_compares_with_its_float_parent_and_no_slices_no_section(ws, make_ws):
    html = render(ws, "11-06", "MODEL-v1-int8")
    part = section(html, "Per-condition performance")
    assert "float</th>" in part and "-0.194" in part
    plain = render(make_ws(), "13-65", "MODEL-v1")
    assert "Per-condition performance" not in plain and "Per-condition performance" not in render(
        make_ws(), "11-06", "MODEL-v1"
    )


def test_site_shows_the_same_sections(ws, tmp_path):
    from mle3 import build_graph, load_workspace
    from mle3.site import build_site, page_name

    w = load_workspace(ws)
    build_site(w, build_graph(w), tmp_path / "site")
    data = (tmp_path / "site" / page_name("DATA-v1")).read_text()
    assert "Data characteristics" in data and "time_of_day: share of images per split" in data and "30.0%" in data
    assert "Data characteristics" not in (tmp_path / "site" / page_name("ODD-001")).read_text()
    model = (tmp_path / "site" / page_name("MODEL-v1")).read_text()
    assert "Per-condition performance" in model and "0.604" in model and "too-small" in model


def test_site_has_no_characteristics_box_for_a_data_set_without_them(make_ws, tmp_path):
    from mle3 import build_graph, load_workspace
    from mle3.site import build_site, page_name

    w = load_workspace(make_ws())
    build_site(w, build_graph(w), tmp_path / "site")
    page = (tmp_path / "site" / page_name("DATA-v1")).read_text()
    assert "Data characteristics" not in page and "Per-condition performance" not in page


def test_charts_escape_workspace_text_and_mark_small_slices():
    from mle3.reports import charts

    bars = charts.bar_chart("<b>t", ["<script>x</script>"], {"train": [0.3]}, fmt=charts.percent, y_max=1.0)
    assert "<script>" not in bars and "&lt;script&gt;" in bars and ">30%</text>" in bars
    h = charts.hbar_chart(
        "mAP50",
        ["all images", "time_of_day=<night>"],
        {"float": [0.8, 0.6], "int8": [0.79, None]},
        faded={"float": [False, True], "int8": [False, False]},
        faded_label="too small",
        x_max=1.0,
    )
    assert "<night>" not in h and "0.600 too small" in h and "int8: not evaluated" in h
    assert h.count('fill="#d5d9de"') == 2  # the small bar and its legend swatch
