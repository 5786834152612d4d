"""Per-slice evaluation: one ultralytics validation per split, split into slices scored by
ultralytics' own ap_per_class; ``mle3 evaluate``; slices after training and quantization."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mle3.workspace.characteristics import SliceRecord


# ----------------------------------------------------------------------------- scoring alone
def _random_images(n: int, seed: int = 0) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        preds, targets = int(rng.integers(0, 6)), int(rng.integers(0, 5))
        images.append(
            {
                "tp": rng.random((preds, 10)) < np.linspace(0.8, 0.2, 10),
                "conf": rng.random(preds),
                "pred_cls": rng.integers(0, 3, preds).astype(float),
                "target_cls": rng.integers(0, 3, targets).astype(float),
            }
        )
    return images


def _ultralytics(images: list[dict]) -> tuple[float, float, float, float]:
    """What ultralytics' validator reports for these per-image statistics."""
    import numpy as np
    from ultralytics.utils.metrics import DetMetrics

    metrics = DetMetrics(names={0: "a", 1: "b", 2: "c"})
    for i, stat in enumerate(images):
        metrics.update_stats({**stat, "target_img": np.unique(stat["target_cls"]), "im_name": f"{i}.jpg"})
    metrics.process()
    box = metrics.box
    return float(box.map50), float(box.map), float(box.mp), float(box.mr)


def test_a_slice_is_scored_exactly_as_ultralytics_scores_those_images():
    from mle3.runner.slices import score

    images = _random_images(60)
    names = {0: "a", 1: "b", 2: "c"}
    for subset in (images, images[::3], images[10:25]):
        got = score(subset, names)
        want = _ultralytics(subset)
        assert got is not None
        assert (got["mAP_50"], got["mAP_50_95"], got["precision"], got["recall"]) == pytest.approx(want, abs=1e-6)
    assert score([], names) is None


def test_slices_are_the_split_every_value_and_every_where_and_small_ones_are_marked():
    from mle3.runner.slices import SplitStats, split_slices

    images = _random_images(12, seed=1)
    files = [f"images/test/{i:02d}.jpg" for i in range(12)]
    conditions = {
        f: {"time_of_day": "night" if i < 3 else "day", "weather": "rain" if i % 2 else "clear"}
        for i, f in enumerate(files)
    }
    stats = SplitStats("test", {}, list(zip(files, images)), {0: "a", 1: "b", 2: "c"})
    wheres = [{"time_of_day": "night", "weather": "rain"}, {"weather": ["rain", "clear"]}, {"time_of_day": "night"}]
    results = split_slices(stats, conditions, wheres, min_images=4)
    got = {json.dumps(r.where, sort_keys=True): r for r in results}
    assert list(got) == [
        "{}",
        '{"time_of_day": "day"}',
        '{"time_of_day": "night"}',  # asked for again by a where: listed once
        '{"weather": "clear"}',
        '{"weather": "rain"}',
        '{"time_of_day": "night", "weather": "rain"}',
        '{"weather": ["clear", "rain"]}',
    ]
    night = got['{"time_of_day": "night"}']
    assert night.images == 3 and night.too_small
    assert night.instances == sum(len(s["target_cls"]) for s in images[:3])
    assert got['{"time_of_day": "night", "weather": "rain"}'].images == 1  # image 1 only
    assert got['{"weather": ["clear", "rain"]}'].images == 12 and not got["{}"].too_small
    assert got['{"weather": ["clear", "rain"]}'].mAP_50 == got["{}"].mAP_50


# ----------------------------------------------------------------------------- the workspace side
def _night_conditions(root: Path):
    """time_of_day per val/test image of the tiny data set, from the generator's night list."""
    data = root / "data" / "tiny"
    night = {line.strip() for line in (data / "night.txt").read_text().splitlines() if not line.startswith("#")}
    conditions = {}
    for split in ("val", "test"):
        for i, image in enumerate(sorted((data / "images" / split).iterdir())):
            rel = f"images/{split}/{image.name}"
            conditions[rel] = {
                "time_of_day": "night" if rel in night else "day",
                "weather": "rain" if i % 2 else "clear",
            }
    return conditions


@pytest.fixture
def with_conditions(trained_ws, monkeypatch):
    """The tiny trained workspace whose data set has per-image conditions, and a slice criterion."""
    import mle3.datasets.conditions as conditions_module

    conditions = _night_conditions(trained_ws)
    monkeypatch.setattr(conditions_module, "image_conditions", lambda ws, dataset, *a, **k: conditions)
    (trained_ws / "requirements" / "R.yaml").write_text(
        (trained_ws / "requirements" / "R.yaml").read_text()
        + "      - metric: mAP_50\n        split: test\n        where: {time_of_day: [day, night], weather: rain}\n"
        "        min: 0.0\n"
        "      - metric: mAP_50\n        split: test\n        where: {object_size: medium}\n        min: 0.0\n"
        "      - metric: recall\n        split: test\n        where: {object_size: [small, medium, large]}\n"
        "        min: 0.0\n"
    )
    return trained_ws, conditions


def _model(root: Path, model_id: str = "TINY-MODEL-v0.1.0") -> dict:
    return yaml.safe_load((root / "artifacts" / "models" / f"{model_id}.yaml").read_text())["model_version"]


def test_evaluate_records_every_slice_from_one_validation_per_split(with_conditions, cli, monkeypatch):
    from ultralytics import YOLO

    import mle3.runner.slices as slices

    root, conditions = with_conditions
    calls = []
    real = slices.validate_split
    monkeypatch.setattr(slices, "validate_split", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    _, out, _ = cli("evaluate", "TINY-MODEL-v0.1.0", "-w", root, "--format", "json")
    doc = json.loads(out)
    assert doc["schema"] == "mle3.evaluate/1" and calls == ["val", "test"]  # predictions computed once per split
    from mle3.cli.shapes import find
    import jsonschema

    jsonschema.validate(doc, find("evaluate"))
    record = SliceRecord.model_validate(_model(root)["slices"])
    assert record.dataset == "TINY-DATA-v1" and record.min_images == 30
    for split in ("val", "test"):
        whole = record.find(split, {})
        n = sum(1 for image in conditions if image.startswith(f"images/{split}/"))
        assert whole is not None and whole.images == n and whole.too_small  # 4 images < min_images 30
        day, night = record.find(split, {"time_of_day": "day"}), record.find(split, {"time_of_day": "night"})
        assert (day.images if day else 0) + (night.images if night else 0) == n
        asked = record.find(split, {"weather": "rain", "time_of_day": ["night", "day"]})  # the requirement's slice
        assert asked is not None and asked.images == record.find(split, {"weather": "rain"}).images
    # a size filters boxes: every size is the whole split again, one size counts its own boxes
    from mle3.workspace.characteristics import size_class

    for split in ("val", "test"):
        every = record.find(split, {"object_size": ["small", "medium", "large"]})
        whole = record.find(split, {})
        assert (every.images, every.instances, every.mAP_50, every.recall) == (
            whole.images,
            whole.instances,
            whole.mAP_50,
            whole.recall,
        )
        labels = sorted((root / "data" / "tiny" / "labels" / split).glob("*.txt"))
        boxes = [line.split() for label in labels for line in label.read_text().splitlines() if line.strip()]
        medium = sum(1 for b in boxes if size_class(float(b[3]) * float(b[4])) == 1)
        assert medium and record.find(split, {"object_size": "medium"}).instances == medium
        assert record.find(split, {"object_size": "medium"}).images == whole.images
    # the whole split is ultralytics' own validation of it, to the digit
    run_yaml = next((root / "artifacts" / "runs").glob("*/data.yaml"))
    m = YOLO(str(root / "models" / "TINY-MODEL-v0.1.0.pt")).val(
        data=str(run_yaml), split="test", imgsz=64, batch=16, device="cpu", plots=False, verbose=False
    )
    whole = record.find("test", {})
    assert (whole.mAP_50, whole.mAP_50_95, whole.precision, whole.recall) == pytest.approx(
        (float(m.box.map50), float(m.box.map), float(m.box.mp), float(m.box.mr)), abs=1e-6
    )
    assert whole.instances == int(m.nt_per_class.sum())
    audit = [json.loads(p.read_text()) for p in (root / "artifacts" / "audit").rglob("*.json")]
    assert any(e.get("action") == "model.evaluate" and e.get("item") == "TINY-MODEL-v0.1.0" for e in audit)
    _, text, _ = cli("evaluate", "TINY-MODEL-v0.1.0", "-w", root)
    assert "time_of_day=night" in text or "time_of_day=day" in text
    assert "too small" in text


def test_evaluate_of_a_validated_model_is_refused_and_changes_nothing(trained_ws, cli):
    path = trained_ws / "artifacts" / "models" / "TINY-MODEL-v0.1.0.yaml"
    path.write_text(path.read_text().replace("status: draft", "status: validated"))
    before = path.read_text()
    code, out, err = cli("evaluate", "TINY-MODEL-v0.1.0", "-w", trained_ws, expect=None)
    assert code != 0 and "validated" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert path.read_text() == before


def test_evaluate_of_an_unknown_model_is_one_line(trained_ws, cli):
    code, _, err = cli("evaluate", "NO-SUCH-MODEL", "-w", trained_ws, expect=None)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_training_on_a_data_set_with_metadata_records_its_slices(trained_template):
    """The tiny data set carries the generator's metadata table: its training evaluated the
    slices, each counting exactly what the data set record counts."""
    from mle3.workspace import load_workspace

    ws = load_workspace(trained_template)
    dataset, model = ws.resolve("TINY-DATA-v1"), ws.resolve("TINY-MODEL-v0.1.0")
    assert dataset.metadata is not None and model.slices is not None
    assert model.slices.dataset == "TINY-DATA-v1" and model.slices.fingerprint == dataset.fingerprint
    wheres = {json.dumps(r.where, sort_keys=True) for r in model.slices.results}
    for name in ("time_of_day", "weather", "objects", "resolution"):
        assert any(name in w for w in wheres), (name, wheres)
    for result in model.slices.results:
        assert result.images == dataset.characteristics.images(result.split, result.where), result


def test_training_on_a_data_set_without_metadata_evaluates_no_slices(tmp_path, monkeypatch):
    """No metadata table: not one validation more than the training's own."""
    from conftest import TINY_FILES, write_files

    import mle3.runner.slices as slices
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate
    from mle3.runner import TrainOptions, train

    root = write_files(tmp_path / "ws", TINY_FILES)
    data_yaml = generate(root / "data" / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)
    data_yaml.write_text("".join(line for line in data_yaml.read_text().splitlines(True) if "metadata" not in line))
    register(root, data_yaml, "TINY-DATA", "v1", ["REQ-DATA"])

    def no(*args, **kwargs):
        raise AssertionError("slices evaluated for a data set without metadata")

    monkeypatch.setattr(slices, "evaluate_slices", no)
    monkeypatch.setattr(slices, "validate_split", no)
    result = train(root, "TINY-TRAIN-001", TrainOptions(model_id="TINY-MODEL-v0.1.0"), echo=lambda line: None)
    assert result.status == "success" and not result.warnings, (result.error, result.warnings)
    assert "slices" not in _model(root)


def test_a_group_characteristic_of_the_odd_is_no_slice_by_itself():
    from types import SimpleNamespace

    from mle3.runner.slices import SplitStats, not_sliced, split_slices
    from mle3.workspace.schema import Odd

    odd = Odd.model_validate(
        {"id": "ODD-1", "characteristics": {"time_of_day": ["day", "night"], "sequence": {"role": "group"}}}
    )
    ws = SimpleNamespace(resolve=lambda ref: odd if ref == "ODD-1" else None)
    dataset = SimpleNamespace(metadata=SimpleNamespace(odd="ODD-1"), characteristics=None)
    skip = not_sliced(ws, dataset)
    assert skip == ["sequence"]
    images = _random_images(4, seed=2)
    files = [f"images/val/{i}.jpg" for i in range(4)]
    conditions = {f: {"time_of_day": "day", "sequence": f"seq{i}"} for i, f in enumerate(files)}
    stats = SplitStats("val", {}, list(zip(files, images)), {0: "a", 1: "b", 2: "c"})
    wheres = [r.where for r in split_slices(stats, conditions, [{"sequence": "seq1"}], 1, skip)]
    assert wheres == [{}, {"time_of_day": "day"}, {"sequence": "seq1"}]  # named by a requirement: kept


def test_a_quantized_child_gets_the_parents_slices_from_its_own_int8_evaluation(with_conditions, cli, monkeypatch):
    import mle3.runner.slices as slices

    root, _ = with_conditions
    cli("evaluate", "TINY-MODEL-v0.1.0", "-w", root, "--format", "json")
    parent = SliceRecord.model_validate(_model(root)["slices"])
    calls = []
    real = slices.validate_split
    monkeypatch.setattr(slices, "validate_split", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    _, out, _ = cli("quantize", "TINY-MODEL-v0.1.0", "-w", root, "--format", "json", expect=None)
    result = json.loads(out)
    assert result["status"] == "success", result
    assert calls == ["val", "test", "val", "test"]  # float and INT8 once per split: no validation more for slices
    child = _model(root, result["model_version"])
    record = SliceRecord.model_validate(child["slices"])
    assert sorted((r.split, json.dumps(r.where, sort_keys=True)) for r in record.results) == sorted(
        (r.split, json.dumps(r.where, sort_keys=True)) for r in parent.results
    )
    whole = record.find("test", {})
    assert whole.mAP_50 == child["quantization"]["metrics"]["test"]["mAP_50"]  # the INT8 evaluation itself
    reference = child["quantization"]["float_reference"]["slices"]
    assert len(reference) == len(record.results)

    # the child evaluated on demand goes through the same validator (its ONNX file), and its
    # parent evaluated again to the same numbers changes nothing (the child stays fresh)
    _, out, _ = cli("evaluate", result["model_version"], "-w", root, "--format", "json")
    again = SliceRecord.model_validate(json.loads(out))
    assert again.find("test", {}).mAP_50 == pytest.approx(whole.mAP_50, abs=1e-6)
    assert again.find("test", {}).images == whole.images
    before = _model(root)
    _, out, _ = cli("evaluate", "TINY-MODEL-v0.1.0", "-w", root, "--format", "json")
    assert json.loads(out)["warnings"] == [] and _model(root) == before
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=None)
    assert not [f for f in json.loads(out)["findings"] if f["rule"] == "quantization.stale-parent"]


def test_slices_from_the_registered_characteristics_count_what_registration_counted(trained_ws, cli):
    """No stand-in: image_conditions reads the data set's own characteristics (derived ones
    here), and every slice holds exactly the images the data set record counts for it."""
    from mle3.workspace import load_workspace

    _, out, _ = cli("evaluate", "TINY-MODEL-v0.1.0", "-w", trained_ws, "--format", "json")
    record = SliceRecord.model_validate(json.loads(out))
    dataset = load_workspace(trained_ws).resolve("TINY-DATA-v1")
    characteristics = dataset.characteristics
    assert characteristics is not None and characteristics.names
    named = [r for r in record.results if r.where]
    assert named, "the derived characteristics (resolution, objects) give slices"
    for result in record.results:
        assert result.images == characteristics.images(result.split, result.where), result
        assert result.instances == characteristics.instances(result.split, None, result.where), result
