"""Data characteristics end to end on the README's set-up (data below a data root outside
the workspace): a metadata table registered against an ODD, the joint distribution in the
record, each characteristic criterion met and broken on purpose, bad tables refused or
recorded with file, line and column, group leakage, and the values slices are cut from."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import dataset_record, write_files


ODD = """
odd:
  id: ODD-1
  title: Day and night, three weathers
  requirements: [REQ-SYS]
  characteristics:
    time_of_day: [day, dusk, night]
    weather: {values: [clear, rain, fog, snow]}
    sequence: {type: string, role: group}
    wet: {type: boolean, required: false}
"""

REQS = """
requirements:
  - id: REQ-SYS
    type: other
  - id: REQ-ODD
    type: ml_data
    odd: ODD-1
    criteria:
      - {characteristic: time_of_day, split: train, share: {night: [0.2, 0.4]}}
      - {characteristic: weather, coverage: [clear, rain], splits: [train, val, test], min_samples: 1}
      - {class: disc, where: {time_of_day: night}, split: train, min_samples: 1}
      - {samples: train, where: {weather: [rain, fog]}, min: 2}
      - {characteristic: time_of_day, similar: [train, test], max_tvd: 0.5}
"""


def _table(images: list[str], night_every: int = 4, cross_split: bool = False, night: set | None = None) -> str:
    """A CSV for these images: every ``night_every``-th one at night (or those in ``night``),
    weather cycling, one sequence per split and five images (or, with ``cross_split``, ids
    shared across splits)."""
    lines = ["image,time_of_day,weather,sequence,wet"]
    for i, rel in enumerate(images):
        split = rel.split("/")[1]
        seq = f"s{i // 5}" if cross_split else f"{split}-{i // 5}"
        weather = ("clear", "rain", "fog")[i % 3]
        dark = rel in night if night is not None else i % night_every == 0
        lines.append(f"{rel},{'night' if dark else 'day'},{weather},{seq},{'yes' if i % 2 else 'no'}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def rooted(tmp_path, monkeypatch):
    """A git-less workspace with the data set below the data root ``nas`` (outside it)."""
    from mle3.datasets.synthetic import generate

    root = write_files(
        tmp_path / "ws",
        {
            "mle3.yaml": "project: odd\ndata_roots:\n  nas: null\n",
            "requirements/odd.yaml": ODD,
            "requirements/r.yaml": REQS,
        },
    )
    nas = tmp_path / "nas"
    data_yaml = generate(nas / "d", counts={"train": 20, "val": 6, "test": 6}, image_size=64, seed=5)
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    images = sorted(p.relative_to(nas / "d").as_posix() for p in (nas / "d" / "images").rglob("*.jpg"))
    (nas / "d" / "meta.csv").write_text(_table(images))
    return root, nas, data_yaml, images


def _register(cli, root, data_yaml, *extra, expect=0):
    return cli(
        "dataset", "register", data_yaml, "--id", "D", "--version", "v1", "-r", "REQ-ODD", "-w", root, *extra,
        expect=expect,
    )  # fmt: skip


def _record(root) -> dict:
    return yaml.safe_load(dataset_record(root, "D-v1").read_text())["dataset"]


def _expected_night_share(images: list[str], split: str, night_every: int = 4) -> float:
    picked = [i for i, rel in enumerate(images) if rel.split("/")[1] == split]
    return sum(i % night_every == 0 for i in picked) / len(picked)


def test_registration_records_the_joint_distribution_and_check_evaluates_every_kind(cli, rooted):
    root, nas, data_yaml, images = rooted
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv")
    record = _record(root)
    assert record["metadata"]["file"] == "d/meta.csv" and record["metadata"]["rows"] == len(images)
    assert record["metadata"]["odd"] == "ODD-1" and record["metadata"]["errors"] == 0
    from mle3.workspace.characteristics import CharacteristicsRecord

    chars = CharacteristicsRecord.model_validate(record["characteristics"])
    assert chars.names == ["time_of_day", "weather", "wet", "resolution", "objects"]
    train = chars.distribution("train", "time_of_day")
    assert train["night"] / sum(train.values()) == pytest.approx(_expected_night_share(images, "train"))
    # the joint distribution's marginals are the registered counts
    assert chars.images("train") == record["splits"]["train"]["samples"]
    for cls, count in record["splits"]["test"]["instances"].items():
        assert chars.instances("test", cls) == count
    assert sum(chars.distribution("train", "object_size").values()) == sum(
        record["splits"]["train"]["instances"].values()
    )
    train_sequences = {i // 5 for i, rel in enumerate(images) if rel.split("/")[1] == "train"}
    assert chars.groups["sequence"]["train"] == len(train_sequences)
    assert record["leakage"]["shared_groups"] == {"sequence": {"count": 0, "examples": []}}
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=None)
    findings = [f for f in json.loads(out)["findings"] if f["rule"].startswith("criteria.")]
    assert findings == [], findings


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        ("{characteristic: time_of_day, split: train, share: {night: [0.5, 0.9]}}", "actual night 25.0%"),
        ("{characteristic: weather, coverage: all, splits: [train, test]}", "snow in train: 0"),
        ("{class: disc, where: {time_of_day: night, weather: fog}, split: val, min_samples: 1000}", "actual "),
        ("{samples: test, where: {weather: snow}, min: 1}", "actual 0"),
        ("{characteristic: weather, similar: [train, test], max_tvd: 0.0}", "TVD 0.0"),
        ("{characteristic: daytime, split: train, share: {night: [0.1, 0.9]}}", "ODD-1 defines no characteristic"),
        ("{characteristic: time_of_day, split: train, share: {nite: [0.0, 0.1]}}", "unknown value 'nite'"),
    ],
)
def test_each_characteristic_criterion_fails_when_broken(cli, rooted, criterion, message):
    root, nas, data_yaml, _ = rooted
    text = (root / "requirements/r.yaml").read_text()
    (root / "requirements/r.yaml").write_text(text + f"      - {criterion}\n")
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv")
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=1)
    unmet = [f["message"] for f in json.loads(out)["findings"] if f["rule"] == "criteria.unmet"]
    assert len(unmet) == 1 and message in unmet[0], unmet


def test_a_characteristic_no_table_gives_is_not_evaluable(cli, rooted):
    root, nas, data_yaml, _ = rooted
    text = data_yaml.read_text()
    data_yaml.write_text("".join(line for line in text.splitlines(True) if not line.startswith("metadata:")))
    _register(cli, root, data_yaml)  # no table: derived characteristics only
    record = _record(root)
    assert "metadata" not in record and record["characteristics"]["names"] == ["resolution", "objects"]
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=None)
    open_ = [f["message"] for f in json.loads(out)["findings"] if f["rule"] == "criteria.not-evaluable"]
    assert len(open_) == 5 and all("does not record" in m for m in open_), open_


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parquet_and_json_lines_give_the_record_csv_gives(cli, rooted, fmt):
    import pyarrow.csv as pcsv

    root, nas, data_yaml, _ = rooted
    table = pcsv.read_csv(nas / "d" / "meta.csv")
    target = nas / "d" / f"meta.{fmt}"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, target)
    else:
        target.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    _register(cli, root, data_yaml, "--metadata", target)
    from_other = _record(root)["characteristics"]
    dataset_record(root, "D-v1").unlink()
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv")
    assert from_other == _record(root)["characteristics"]


def test_data_yaml_names_the_table_and_a_changed_value_is_changed_data(cli, rooted):
    root, nas, data_yaml, _ = rooted
    data_yaml.write_text(data_yaml.read_text() + "metadata: meta.csv\n")
    _register(cli, root, data_yaml)
    assert _record(root)["metadata"]["file"] == "d/meta.csv"
    cli("dataset", "verify", "D", "-w", root)
    text = (nas / "d" / "meta.csv").read_text()
    (nas / "d" / "meta.csv").write_text(text.replace(",night,", ",day,", 1))
    code, out, _ = cli("dataset", "verify", "D", "--deep", "-w", root, "--format", "json", expect=1)
    assert "d/meta.csv" in json.loads(out)["changed"]
    from mle3.datasets.conditions import image_conditions
    from mle3.errors import Mle3Error
    from mle3.workspace import as_workspace

    ws = as_workspace(root)
    with pytest.raises(Mle3Error, match="differs from the one registered"):
        image_conditions(ws, ws.resolve("D"))


def test_wrong_rows_are_findings_with_line_and_column_and_the_record_is_complete(cli, rooted):
    root, nas, data_yaml, images = rooted
    lines = (nas / "d" / "meta.csv").read_text().splitlines()
    lines[3] = lines[3].replace(",day,", ",twilight,").replace(",night,", ",twilight,")  # line 4: outside the ODD
    lines[5] = lines[5].rsplit(",", 1)[0] + ",maybe"  # line 6: not a boolean
    del lines[7]  # an image without a row
    lines.append("images/train/ghost.jpg,day,clear,train-x,no")  # a row for no image
    lines.append(lines[1])  # the first image twice
    (nas / "d" / "bad.csv").write_text("\n".join(lines) + "\n")
    code, out, err = _register(cli, root, data_yaml, "--metadata", nas / "d" / "bad.csv", expect=1)
    table = _record(root)["metadata"]
    kinds = table["by_kind"]
    assert kinds == {"duplicate-row": 1, "missing-row": 1, "unknown-image": 1, "unknown-value": 1, "wrong-type": 1}
    where = {(f["kind"], f["line"], f["column"]) for f in table["findings"]}
    assert ("unknown-value", 4, "time_of_day") in where and ("wrong-type", 6, "wet") in where
    assert ("unknown-image", len(lines) - 1, "image") in where
    assert "bad.csv:4: error: 'twilight' is not one of day, dusk, night [time_of_day]" in out
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=1)
    assert any(f["rule"] == "data.metadata-quality" for f in json.loads(out)["findings"])
    # the findings (some without a line) are in the 11-07; the table's paths as it writes them
    cli("report", "11-07", "D-v1", "--to", "html", "-o", root / "11-07.html", "-w", root)
    page = (root / "11-07.html").read_text()
    assert "images/train/ghost.jpg is no image of the data set" in page and "d/images/train/ghost" not in page
    # a rejected version is out of use: its table's problems and unmet criteria no longer fail check
    cli("dataset", "retire", "D-v1", "--status", "rejected", "--reason", "bad metadata", "-w", root)
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=None)
    rules = {f["rule"] for f in json.loads(out)["findings"] if f["severity"] == "error"}
    assert not rules & {"data.metadata-quality", "criteria.unmet"}, rules


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("meta.txt", b"image\n", "CSV (.csv), Parquet (.parquet) or JSON Lines"),
        ("meta.csv", b"path,time_of_day\nimages/train/x.jpg,day\n", "no key column 'image'"),
        ("meta.csv", bytes(range(256)) * 4000, "cannot be read as csv"),
        ("meta.parquet", b"PAR1 not really parquet", "cannot be read as parquet"),
    ],
)
def test_a_table_that_cannot_be_read_is_one_line_and_nothing_is_written(cli, rooted, name, content, message):
    root, nas, data_yaml, _ = rooted
    (nas / "d" / name).write_bytes(content)
    code, out, err = _register(cli, root, data_yaml, "--metadata", nas / "d" / name, expect=2)
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not list((root / "artifacts").glob("datasets/D-v1.*.yaml"))


def test_a_table_outside_the_data_set_folder_is_refused(cli, rooted, tmp_path):
    root, nas, data_yaml, _ = rooted
    outside = tmp_path / "elsewhere.csv"
    outside.write_text((nas / "d" / "meta.csv").read_text())
    code, out, err = _register(cli, root, data_yaml, "--metadata", outside, expect=2)
    assert "must lie in the data set folder" in err


def test_a_table_over_the_size_limit_is_refused_before_it_is_read(cli, rooted, monkeypatch):
    from mle3.datasets import metadata

    root, nas, data_yaml, _ = rooted
    monkeypatch.setattr(metadata, "MAX_TABLE_BYTES", 1000)
    code, out, err = _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv", expect=2)
    assert "per-image metadata over" in err


def test_a_sequence_in_two_splits_is_leakage(cli, rooted):
    root, nas, data_yaml, images = rooted
    (nas / "d" / "meta.csv").write_text(_table(images, cross_split=True))
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv", expect=1)
    shared = _record(root)["leakage"]["shared_groups"]["sequence"]
    assert shared["count"] >= 1
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=1)
    leak = [f["message"] for f in json.loads(out)["findings"] if f["rule"] == "consistency.split-overlap"]
    assert leak and "'sequence'" in leak[0] and "not independent" in leak[0]


def test_slice_values_are_the_values_the_record_counted(cli, rooted):
    root, nas, data_yaml, _ = rooted
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv")
    from mle3.datasets.conditions import image_conditions
    from mle3.workspace import as_workspace

    ws = as_workspace(root)
    dataset = ws.resolve("D")
    values = image_conditions(ws, dataset)
    assert {p.split("/")[1] for p in values} == {"val", "test"}
    for split in ("val", "test"):
        for name in dataset.characteristics.names:
            counted: dict[str, int] = {}
            for path, row in values.items():
                if path.split("/")[1] == split:
                    counted[row[name]] = counted.get(row[name], 0) + 1
            assert counted == dataset.characteristics.distribution(split, name), (split, name)


def test_two_odds_need_one_named(cli, rooted):
    root, nas, data_yaml, _ = rooted
    (root / "requirements/odd2.yaml").write_text(ODD.replace("ODD-1", "ODD-2"))
    code, out, err = _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv", expect=2)
    assert "name one with --odd" in err
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv", "--odd", "ODD-2")
    assert _record(root)["metadata"]["odd"] == "ODD-2"


def test_luminance_is_measured_when_the_odd_asks_for_it(cli, rooted):
    root, nas, data_yaml, images = rooted
    listed = (nas / "d" / "night.txt").read_text().splitlines()
    night = {line.strip() for line in listed if line.strip() and not line.startswith("#")}
    assert night, "the generator made no night scene"
    (nas / "d" / "meta.csv").write_text(_table(images, night=night))
    text = (root / "requirements/odd.yaml").read_text()
    (root / "requirements/odd.yaml").write_text(text + "    luminance: {derived: true}\n")
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv")
    from mle3.workspace.characteristics import CharacteristicsRecord

    chars = CharacteristicsRecord.model_validate(_record(root)["characteristics"])
    assert "luminance" in chars.names
    # the generator's night scenes are dark: night images are never "bright"
    # the generator's night scenes are dark (a headlight may lift one to medium), its day scenes are not
    night_dark = chars.images("all", {"time_of_day": "night", "luminance": "dark"})
    day_dark = chars.images("all", {"time_of_day": "day", "luminance": "dark"})
    assert chars.images("all", {"time_of_day": "night", "luminance": "bright"}) == 0
    assert night_dark / len(night) > 0.5 > day_dark / chars.images("all", {"time_of_day": "day"})
    assert chars.images("all", {"luminance": ["dark", "medium", "bright"]}) == chars.images("all")


@pytest.mark.parametrize(
    "cell",
    ["[[day], 1, {}]", "[[day, clear, 'no', 64x64, '1'], -5, {}]", "[[day, clear, 'no', 64x64, '1'], 1, {disc: [1]}]"],
)
def test_a_record_edited_by_hand_is_a_load_finding_not_a_crash(cli, rooted, cell):
    root, nas, data_yaml, _ = rooted
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv")
    path = dataset_record(root, "D-v1")
    text = path.read_text()
    at = text.index("\n      - [[day, ") + 1
    path.write_text(text[:at] + f"      - {cell}\n" + text[at:])
    code, out, err = cli("check", "-w", root, "--format", "json", expect=1)
    assert "Traceback" not in err
    assert "load.schema" in {f["rule"] for f in json.loads(out)["findings"]}


def test_the_table_in_any_row_order_gives_the_same_record(cli, rooted):
    import random

    root, nas, data_yaml, _ = rooted
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "meta.csv")
    sorted_record = _record(root)["characteristics"]
    dataset_record(root, "D-v1").unlink()
    header, *rows = (nas / "d" / "meta.csv").read_text().splitlines()
    random.Random(4).shuffle(rows)
    (nas / "d" / "shuffled.csv").write_text("\n".join([header, *rows]) + "\n")
    _register(cli, root, data_yaml, "--metadata", nas / "d" / "shuffled.csv")
    assert _record(root)["characteristics"] == sorted_record
