"""COCO detection input: converted to YOLO labels, the conversion recorded, label checks in
COCO terms, and JSON that is not COCO refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import dataset_record, write_files

from mle3.hashing import sha256_file

REQ = "requirement:\n  id: REQ-DATA\n  type: ml_data\n"


def coco_split(root: Path, split: str, n: int, *, extra: dict | None = None) -> tuple[Path, Path]:
    """Images (40x30 px) and an annotation file with one box per image."""
    from PIL import Image

    images = root / "coco" / split
    images.mkdir(parents=True)
    doc = {"images": [], "annotations": [], "categories": [{"id": 3, "name": "car"}, {"id": 7, "name": "sign"}]}
    for i in range(n):
        name = f"{split}_{i}.jpg"
        Image.new("RGB", (40, 30), (i * 20 % 255, 80 if split == "train" else 160, 120)).save(images / name)
        doc["images"].append({"id": i + 1, "file_name": name, "width": 40, "height": 30})
        doc["annotations"].append(
            {"id": 100 + i, "image_id": i + 1, "category_id": 7 if i % 2 else 3, "bbox": [4, 3, 20, 15]}
        )
    for key, values in (extra or {}).items():
        doc[key] = doc[key] + values
    annotations = root / "coco" / "annotations" / f"{split}.json"
    annotations.parent.mkdir(parents=True, exist_ok=True)
    annotations.write_text(json.dumps(doc))
    return annotations, images


def register(cli, ws: Path, *specs: str):
    args = [a for spec in specs for a in ("--coco", spec)]
    return cli(
        "dataset",
        "register",
        *args,
        "--id",
        "COCO-DATA",
        "--version",
        "v1",
        "-r",
        "REQ-DATA",
        "-w",
        ws,
        "--format",
        "json",
        expect=None,
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_files(tmp_path / "ws", {"mle3.yaml": "project: coco\n", "requirements/R.yaml": REQ})


def test_coco_is_converted_to_yolo_and_the_conversion_is_recorded(cli, ws):
    train, train_images = coco_split(ws, "train", 6)
    val, val_images = coco_split(ws, "val", 2)
    code, out, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 0, err
    item = yaml.safe_load(dataset_record(ws, "COCO-DATA-v1").read_text())["dataset"]
    assert item["classes"] == ["car", "sign"]  # categories sorted by id
    assert item["splits"]["train"]["samples"] == 6 and item["splits"]["train"]["instances"] == {"car": 3, "sign": 3}
    conversion = item["conversion"]
    assert conversion["from"] == "coco" and conversion["tool"] == "mle3.datasets.coco" and conversion["version"]
    assert conversion["categories"] == {3: 0, 7: 1}
    assert {i["split"]: i["sha256"] for i in conversion["inputs"]} == {
        "train": sha256_file(train),
        "val": sha256_file(val),
    }
    # the inputs as the record names every path: relative to the workspace
    assert {i["split"]: (i["annotations"], i["image_folder"]) for i in conversion["inputs"]} == {
        "train": ("coco/annotations/train.json", "coco/train"),
        "val": ("coco/annotations/val.json", "coco/val"),
    }
    assert "dropped_categories" not in conversion and str(ws) not in dataset_record(ws, "COCO-DATA-v1").read_text()
    label = (ws / "coco" / "yolo" / "labels" / "train" / "train_0.txt").read_text().split()
    # bbox [4, 3, 20, 15] in a 40x30 image: centre (14, 10.5) -> 0.35 0.35, size 0.5 0.5
    assert label[0] == "0" and [float(v) for v in label[1:]] == pytest.approx([0.35, 0.35, 0.5, 0.5])
    assert item["data_yaml"] == "coco/yolo/data.yaml"
    # the images are the same bytes (linked, not copied where the file system allows)
    assert (ws / "coco/yolo/images/train/train_0.jpg").read_bytes() == (train_images / "train_0.jpg").read_bytes()


def test_coco_label_checks_name_the_json_and_the_id(cli, ws):
    bad = {
        "annotations": [
            {"id": 100, "image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2]},  # duplicate id
            {"id": 201, "image_id": 1, "category_id": 99, "bbox": [1, 1, 2, 2]},  # unknown category
            {"id": 202, "image_id": 2, "category_id": 3, "bbox": [1, 1, 0, 5]},  # zero area
            {"id": 203, "image_id": 2, "category_id": 3, "bbox": [30, 20, 20, 15]},  # outside 40x30
        ],
        "images": [{"id": 50, "file_name": "gone.jpg", "width": 40, "height": 30}],  # no file
    }
    train, train_images = coco_split(ws, "train", 4, extra=bad)
    (train_images / "unlisted.jpg").write_bytes((train_images / "train_0.jpg").read_bytes())  # file without entry
    val, val_images = coco_split(ws, "val", 2)
    code, out, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 1, err
    quality = json.loads(out)["label_quality"]
    assert quality["by_kind"] == {
        "coco-box-outside": 1,
        "coco-duplicate-annotation-id": 1,
        "coco-file-without-entry": 1,
        "coco-image-without-file": 1,
        "coco-unknown-category": 1,
        "coco-zero-area-box": 1,
    }
    found = {f["kind"]: f for f in quality["findings"]}
    assert found["coco-unknown-category"]["file"] == "coco/annotations/train.json"
    assert "201" in found["coco-unknown-category"]["message"]
    assert (
        found["coco-file-without-entry"]["severity"] == "warning"
        and "unlisted.jpg" in found["coco-file-without-entry"]["message"]
    )
    code, out, _ = cli("check", "-w", ws, "--format", "json", expect=1)
    assert code == 1 and any(f["rule"] == "data.label-quality" for f in json.loads(out)["findings"])


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "not JSON"),
        ('{"images": [], "annotations": []}', "not COCO"),
        ('{"images": [{"id": 1}], "annotations": [], "categories": []}', "images[0]"),
        # ids of the wrong type: refused naming the entry (a string id matches no integer one)
        (
            '{"images": [{"id": "1", "file_name": "val_0.jpg", "width": 40, "height": 30}], "annotations": [], '
            '"categories": [{"id": 3, "name": "car"}]}',
            "images[0].id is '1', not an integer id",
        ),
        (
            '{"images": [{"id": 1, "file_name": "val_0.jpg", "width": 40, "height": 30}], "annotations": [{"id": 5, '
            '"image_id": 1, "category_id": 3, "bbox": [4, 3, 20, 15]}, {"id": 6, "image_id": 1, "category_id": [3], '
            '"bbox": [4, 3, 20, 15]}], "categories": [{"id": 3, "name": "car"}]}',
            "annotations[1].category_id is [3], not an integer id",
        ),
        (
            '{"images": [], "annotations": [{"id": 5, "image_id": "1", "category_id": 3, "bbox": [4, 3, 20, 15]}], '
            '"categories": [{"id": 3, "name": "car"}]}',
            "annotations[0].image_id",
        ),
    ],
)
def test_json_that_is_not_coco_is_one_line_and_nothing_is_written(cli, ws, content, words):
    train, train_images = coco_split(ws, "train", 2)
    val, val_images = coco_split(ws, "val", 2)
    val.write_text(content)
    code, _, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 2 and words in err and str(val) in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (ws / "coco" / "yolo").exists() and not (ws / "artifacts").exists()


def test_coco_arguments_are_checked(cli, ws):
    train, train_images = coco_split(ws, "train", 2)
    code, _, err = register(cli, ws, f"train={train}")
    assert code == 2 and "SPLIT=ANNOTATIONS.json:IMAGE_FOLDER" in err
    code, _, err = register(cli, ws, f"train={train}:{train_images}")
    assert code == 2 and "train and val" in err


def test_an_existing_version_is_refused_before_anything_is_converted(cli, ws):
    train, train_images = coco_split(ws, "train", 2)
    val, val_images = coco_split(ws, "val", 2)
    assert register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")[0] == 0
    import shutil

    shutil.rmtree(ws / "coco" / "yolo")
    code, _, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 2 and "already registered" in err and not (ws / "coco" / "yolo").exists()


def test_a_category_no_annotation_names_is_dropped_and_the_drop_recorded(cli, ws):
    """Roboflow's exports hold a placeholder category 0 named like the superclass (or like a
    real class): kept, it gave ``classes: [car, car]``."""
    placeholders = {"categories": [{"id": 0, "name": "car"}, {"id": 5, "name": "vehicles"}]}
    train, train_images = coco_split(ws, "train", 4, extra=placeholders)
    val, val_images = coco_split(ws, "val", 2, extra=placeholders)
    code, out, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 0, err
    item = yaml.safe_load(dataset_record(ws, "COCO-DATA-v1").read_text())["dataset"]
    assert item["classes"] == ["car", "sign"]
    assert item["conversion"]["categories"] == {3: 0, 7: 1}  # re-numbered densely, in id order
    assert item["conversion"]["dropped_categories"] == [
        {"id": 0, "name": "car", "reason": "no annotations"},
        {"id": 5, "name": "vehicles", "reason": "no annotations"},
    ]
    assert (ws / "coco/yolo/labels/train/train_1.txt").read_text().startswith("1 ")  # sign, category 7
    assert yaml.safe_load((ws / "coco/yolo/data.yaml").read_text())["names"] == {0: "car", 1: "sign"}


def test_a_category_used_only_in_one_split_is_kept(cli, ws):
    train, train_images = coco_split(ws, "train", 4, extra={"categories": [{"id": 9, "name": "bus"}]})
    doc = json.loads(train.read_text())
    doc["annotations"][0]["category_id"] = 9
    train.write_text(json.dumps(doc))
    val, val_images = coco_split(ws, "val", 2, extra={"categories": [{"id": 9, "name": "bus"}]})
    code, out, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 0, err
    item = yaml.safe_load(dataset_record(ws, "COCO-DATA-v1").read_text())["dataset"]
    assert item["classes"] == ["car", "sign", "bus"] and "dropped_categories" not in item["conversion"]


def test_two_used_categories_of_one_name_are_refused_and_nothing_is_written(cli, ws):
    train, train_images = coco_split(ws, "train", 4, extra={"categories": [{"id": 9, "name": "car"}]})
    doc = json.loads(train.read_text())
    doc["annotations"][0]["category_id"] = 9
    train.write_text(json.dumps(doc))
    val, val_images = coco_split(ws, "val", 2)
    code, _, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(train) in err and "categories 3 and 9" in err and "'car'" in err
    assert not (ws / "coco" / "yolo").exists() and not (ws / "artifacts").exists()


def test_the_conversion_is_a_known_field_of_the_record(cli, ws):
    train, train_images = coco_split(ws, "train", 4, extra={"categories": [{"id": 0, "name": "cars"}]})
    val, val_images = coco_split(ws, "val", 2)
    assert register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")[0] == 0
    code, out, err = cli("check", "-w", ws, "--format", "json", expect=None)
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert code == 0 and not {r for r in rules if r.startswith("load.")}, (rules, err)
    from mle3.workspace import as_workspace

    conversion = as_workspace(ws).resolve("COCO-DATA-v1").conversion
    assert conversion.from_ == "coco" and conversion.dropped_categories[0].name == "cars"
    assert conversion.inputs[0].annotations == "coco/annotations/train.json"


def test_coco_below_a_data_root_is_recorded_relative_to_the_root(cli, tmp_path, monkeypatch):
    """No machine path in the record: another machine maps the root elsewhere."""
    ws = write_files(
        tmp_path / "ws", {"mle3.yaml": "project: coco\ndata_roots:\n  nas: null\n", "requirements/R.yaml": REQ}
    )
    nas = tmp_path / "nas"
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    train, train_images = coco_split(nas, "train", 4)
    val, val_images = coco_split(
        nas, "val", 2, extra={"images": [{"id": 9, "file_name": "gone.jpg", "width": 40, "height": 30}]}
    )
    code, out, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 1, err  # the image entry without a file
    text = dataset_record(ws, "COCO-DATA-v1").read_text()
    assert str(tmp_path) not in text
    item = yaml.safe_load(text)["dataset"]
    assert item["data_root"] == "nas" and item["data_yaml"] == "coco/yolo/data.yaml"
    assert [(i["annotations"], i["image_folder"]) for i in item["conversion"]["inputs"]] == [
        ("nas:coco/annotations/train.json", "nas:coco/train"),
        ("nas:coco/annotations/val.json", "nas:coco/val"),
    ]
    finding = item["label_quality"]["findings"][0]
    assert finding["file"] == "nas:coco/annotations/val.json" and "nas:coco/val" in finding["message"]


def test_coco_without_any_annotation_is_refused(cli, ws):
    train, train_images = coco_split(ws, "train", 2)
    val, val_images = coco_split(ws, "val", 2)
    for path in (train, val):
        path.write_text(json.dumps({**json.loads(path.read_text()), "annotations": []}))
    code, _, err = register(cli, ws, f"train={train}:{train_images}", f"val={val}:{val_images}")
    assert code == 2 and "no annotation names a listed category" in err and err.count("\n") == 1, err
    assert not (ws / "coco" / "yolo").exists() and not (ws / "artifacts").exists()
