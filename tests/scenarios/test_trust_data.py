"""A data set is exactly what ultralytics reads (issue 21, hole 4), and label values that
are not finite or out of range are label errors (issue 21, hole 9's data items).

The file set ultralytics' own loader would read (``BaseDataset.get_img_files`` on each
split folder, ``img2label_paths`` for the labels; CPU only, no training) must be the
fingerprinted set: links to files inside the data's place are followed (their target's
content is fingerprinted, so a replaced target is found), links out of it, dangling links
and links to folders are refused at registration and reported by verify.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from conftest import dataset_record, write_files

from mle3.datasets.manifest import read_manifest
from mle3.datasets.synthetic import generate

WS = {"mle3.yaml": "project: trust data\n", "requirements/R.yaml": "requirement:\n  id: REQ-DATA\n  type: ml_data\n"}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "ws", WS)
    generate(root / "data" / "shapes", counts={"train": 4, "val": 2}, image_size=32, seed=3)
    return root


def register(cli, root: Path, data_yaml: Path | None = None, version: str = "v1"):
    data_yaml = data_yaml or root / "data" / "shapes" / "data.yaml"
    return cli(
        "dataset",
        "register",
        data_yaml,
        "--id",
        "DATA-T",
        "--version",
        version,
        "-r",
        "REQ-DATA",
        "-w",
        root,
        "--format",
        "json",
        expect=None,
    )


def ultralytics_reads(data_yaml: Path) -> set[str]:
    """Every file ultralytics' loader reads for the splits of ``data_yaml`` (relative to
    the data set folder): the images ``get_img_files`` globs and their existing labels."""
    from ultralytics.data.base import BaseDataset
    from ultralytics.data.utils import img2label_paths

    doc = yaml.safe_load(data_yaml.read_text())
    root = (data_yaml.parent / str(doc.get("path") or ".")).resolve()
    found: set[str] = set()
    for split in ("train", "val", "test"):
        if not doc.get(split):
            continue
        images = BaseDataset.get_img_files(SimpleNamespace(prefix="", fraction=1.0), str(root / doc[split]))
        labels = [p for p in img2label_paths(images) if os.path.isfile(p)]
        found |= {os.path.relpath(p, root).replace(os.sep, "/") for p in images + labels}
    return found


def fingerprinted(root: Path, key: str = "DATA-T-v1") -> set[str]:
    """The manifest's images and labels, relative to the data set folder."""
    prefix = "data/shapes/"
    paths = {e.path for e in read_manifest(dataset_record(root, key, manifest=True))}
    return {p[len(prefix) :] for p in paths if p.startswith(prefix + "images/") or p.startswith(prefix + "labels/")}


def verify(cli, root: Path, *extra: str, key: str = "DATA-T-v1"):
    code, out, err = cli("dataset", "verify", key, "-w", root, "--format", "json", *extra, expect=None)
    return code, (json.loads(out) if out.strip().startswith(("{", "[")) else out), err


def test_links_inside_and_hard_links_are_what_ultralytics_reads_and_a_replaced_target_is_found(cli, ws, tmp_path):
    shapes = ws / "data" / "shapes"
    pool = ws / "data" / "pool"  # inside the workspace, outside the data set folder
    pool.mkdir()
    shutil.copy(shapes / "images" / "train" / "train_00000.jpg", pool / "extra.jpg")
    os.symlink(pool / "extra.jpg", shapes / "images" / "train" / "linked.jpg")  # a link inside the place
    os.symlink("../../labels/train/train_00001.txt", shapes / "labels" / "train" / "linked.txt")  # a relative one
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(shapes / "images" / "train" / "train_00002.jpg", outside / "hard.jpg")
    os.link(outside / "hard.jpg", shapes / "images" / "train" / "hard.jpg")  # a hard link: the file itself
    # the generator's metadata table names every image: the two new ones get rows too
    table = (shapes / "metadata.csv").read_text().splitlines()
    values = table[1].split(",", 1)[1]
    (shapes / "metadata.csv").write_text(
        "\n".join([*table, f"images/train/linked.jpg,{values}", f"images/train/hard.jpg,{values}"]) + "\n"
    )
    code, out, err = register(cli, ws)
    assert code == 0, err
    reads = ultralytics_reads(shapes / "data.yaml")
    assert {"images/train/linked.jpg", "labels/train/linked.txt", "images/train/hard.jpg"} <= reads
    assert fingerprinted(ws) == reads
    assert json.loads(out)["splits"]["train"]["samples"] == 6  # 4 + the link + the hard link
    assert verify(cli, ws)[0] == 0
    # the link's target replaced (same size, another picture): found by verify and --deep
    data = bytearray((pool / "extra.jpg").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (pool / "extra.jpg").write_bytes(bytes(data))
    for extra in ((), ("--deep",)):
        code, doc, _ = verify(cli, ws, *extra)
        assert code != 0 and "data/shapes/images/train/linked.jpg" in doc["changed"], doc


@pytest.mark.parametrize(
    "make_link, words",
    [
        (
            lambda shapes, out: os.symlink(out / "x.jpg", shapes / "images" / "train" / "out.jpg"),
            "outside the data's place",
        ),
        (
            lambda shapes, out: os.symlink(out / "gone.jpg", shapes / "images" / "train" / "out.jpg"),
            "target does not exist",
        ),
        (lambda shapes, out: os.symlink(out, shapes / "images" / "train" / "out.jpg"), "outside the data's place"),
        (
            lambda shapes, out: os.symlink(shapes / "images" / "val", shapes / "images" / "train" / "more"),
            "a link to a folder",
        ),
        (
            lambda shapes, out: os.symlink(out / "x.txt", shapes / "labels" / "train" / "train_00000.txt.new"),
            "outside the data's place",
        ),
        (lambda shapes, out: os.mkfifo(shapes / "images" / "train" / "pipe.jpg"), "not a regular file"),
    ],
)
def test_links_out_dangling_links_and_links_to_folders_are_refused_at_registration(cli, ws, tmp_path, make_link, words):
    shapes = ws / "data" / "shapes"
    out = tmp_path / "outside"
    out.mkdir()
    shutil.copy(shapes / "images" / "train" / "train_00000.jpg", out / "x.jpg")
    (out / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    make_link(shapes, out)
    code, _, err = register(cli, ws)
    assert code == 2 and words in err and "data/shapes/" in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (ws / "artifacts").exists() and not (shapes / ".mle3-manifests").exists()


def test_a_label_link_out_of_the_place_is_refused(cli, ws, tmp_path):
    shapes = ws / "data" / "shapes"
    label = shapes / "labels" / "train" / "train_00000.txt"
    (tmp_path / "label.txt").write_bytes(label.read_bytes())
    label.unlink()
    os.symlink(tmp_path / "label.txt", label)
    code, _, err = register(cli, ws)
    assert code == 2 and "labels/train/train_00000.txt" in err and "outside" in err, err


def test_links_added_after_registration_are_found_and_training_refuses(cli, ws, tmp_path):
    """A link out of the place added later is an added file; a recorded file replaced by a
    link out (same content) is changed; training's data check refuses both."""
    from mle3.runner.train import TrainOptions, prepare
    from mle3.workspace import load_workspace
    from mle3.errors import Mle3Error

    shapes = ws / "data" / "shapes"
    assert register(cli, ws)[0] == 0
    write_files(
        ws,
        {"artifacts/train.yaml": "training:\n  id: TRAIN\n  model: yolov8n.yaml\n  dataset: DATA-T-v1\n  epochs: 1\n"},
    )
    out = tmp_path / "outside"
    out.mkdir()
    image = shapes / "images" / "train" / "train_00001.jpg"
    shutil.copy(image, out / "same.jpg")
    os.symlink(out / "same.jpg", shapes / "images" / "train" / "new.jpg")
    code, doc, _ = verify(cli, ws)
    assert code != 0 and doc["added"] == ["data/shapes/images/train/new.jpg"], doc
    with pytest.raises(Mle3Error, match="new.jpg"):
        prepare(load_workspace(ws), "TRAIN", TrainOptions())
    (shapes / "images" / "train" / "new.jpg").unlink()
    image.unlink()
    os.symlink(out / "same.jpg", image)  # the same bytes, now from outside
    code, doc, _ = verify(cli, ws, "--deep")
    assert code != 0 and doc["changed"] == ["data/shapes/images/train/train_00001.jpg"], doc
    with pytest.raises(Mle3Error, match="train_00001.jpg"):
        prepare(load_workspace(ws), "TRAIN", TrainOptions())


def test_a_split_folder_outside_the_data_set_folder_or_through_a_link_is_refused(cli, ws):
    """ultralytics reads a split by the path written in the data.yaml; one outside the
    scanned folder was trained on with none of its images recorded."""
    shapes = ws / "data" / "shapes"
    generate(ws / "data" / "other", counts={"train": 2, "val": 1}, image_size=32, seed=4)
    (shapes / "outside.yaml").write_text("path: .\ntrain: ../other/images/train\nval: images/val\nnames: [a, b, c]\n")
    code, _, err = register(cli, ws, shapes / "outside.yaml")
    assert code == 2 and "outside the data set folder" in err and "[train]" in err and err.count("\n") == 1, err
    os.symlink(shapes / "images", shapes / "pictures")
    (shapes / "linked.yaml").write_text("path: .\ntrain: pictures/train\nval: images/val\nnames: [a, b, c]\n")
    code, _, err = register(cli, ws, shapes / "linked.yaml")
    assert code == 2 and "through a link" in err and err.count("\n") == 1, err
    assert not (ws / "artifacts").exists()


def test_an_image_with_a_suffix_ultralytics_reads_is_a_sample_whose_label_is_checked(cli, ws):
    shapes = ws / "data" / "shapes"
    shutil.copy(shapes / "images" / "train" / "train_00000.jpg", shapes / "images" / "train" / "photo.mpo")
    (shapes / "labels" / "train" / "photo.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    code, out, err = register(cli, ws)
    doc = json.loads(out)
    assert (
        "images/train/photo.mpo" in ultralytics_reads(shapes / "data.yaml") and doc["splits"]["train"]["samples"] == 5
    )
    found = [(f["kind"], f["file"], f["line"]) for f in doc["label_quality"]["findings"]]
    assert ("class-out-of-range", "data/shapes/labels/train/photo.txt", 1) in found


# --- hole 9: label values that are not finite or out of range


@pytest.mark.parametrize(
    "line, kind",
    [
        ("0 nan 0.5 0.2 0.2", "non-finite-value"),
        ("nan 0.5 0.5 0.2 0.2", "non-finite-value"),
        ("1e400 0.5 0.5 0.2 0.2", "non-finite-value"),
        ("0 0.5 0.5 inf 0.2", "non-finite-value"),
        ("1e300 0.5 0.5 0.2 0.2", "class-out-of-range"),
        ("0 0.5 0.5 1e308 0.2", "box-outside"),
    ],
)
def test_a_label_value_that_is_not_finite_or_out_of_range_is_an_error_naming_file_and_line(cli, ws, line, kind):
    label = ws / "data" / "shapes" / "labels" / "train" / "train_00002.txt"
    label.write_text(label.read_text() + line + "\n")
    number = len(label.read_text().splitlines())
    code, out, err = register(cli, ws)
    assert code == 1 and "Traceback" not in err, err
    quality = json.loads(out)["label_quality"]
    assert quality["errors"] == 1 and quality["by_kind"].get(kind) == 1, quality
    finding = next(f for f in quality["findings"] if f["severity"] == "error")
    assert (finding["file"], finding["line"]) == ("data/shapes/labels/train/train_00002.txt", number)


def coco(root: Path, split: str, doc: dict | str | bytes) -> str:
    """A COCO split (two 40x30 images) with ``doc`` as its annotation file."""
    from PIL import Image

    images = root / "coco" / split
    images.mkdir(parents=True, exist_ok=True)
    for i in (1, 2):
        Image.new("RGB", (40, 30), (i * 60, 90 if split == "train" else 200, 120)).save(images / f"{i}.jpg")
    path = root / "coco" / f"{split}.json"
    path.write_bytes(doc if isinstance(doc, bytes) else (doc if isinstance(doc, str) else json.dumps(doc)).encode())
    return f"{split}={path}:{images}"


def good(**changes) -> dict:
    doc = {
        "images": [
            {"id": 1, "file_name": "1.jpg", "width": 40, "height": 30},
            {"id": 2, "file_name": "2.jpg", "width": 40, "height": 30},
        ],
        "annotations": [{"id": 10, "image_id": 1, "category_id": 3, "bbox": [4, 3, 20, 15]}],
        "categories": [{"id": 3, "name": "car"}],
    }
    doc.update(changes)
    return doc


def register_coco(cli, root: Path, train: dict | str | bytes, val: dict | None = None):
    return cli(
        "dataset",
        "register",
        "--coco",
        coco(root, "train", train),
        "--coco",
        coco(root, "val", val or good()),
        "--id",
        "COCO-T",
        "--version",
        "v1",
        "-r",
        "REQ-DATA",
        "-w",
        root,
        "--format",
        "json",
        expect=None,
    )


def ann(bbox, **extra) -> dict:
    return {"id": 11, "image_id": 2, "category_id": 3, "bbox": bbox, **extra}


@pytest.mark.parametrize(
    "annotation, kind",
    [
        (ann([float("nan"), 3, 20, 15]), "coco-malformed-bbox"),
        (ann([4, 3, float("inf"), 15]), "coco-malformed-bbox"),
        (ann([4, 3, 10**400, 15]), "coco-malformed-bbox"),
        (ann(["4", 3, 20, 15]), "coco-malformed-bbox"),
        (ann({"x": 1, "y": 2, "w": 3, "h": 4}), "coco-malformed-bbox"),
        (ann([4, 3, 20, True]), "coco-malformed-bbox"),
        (ann([4, 3, 20, 15], category_id=99), "coco-unknown-category"),
        (ann([4, 3, 20, 15], image_id=7), "coco-unknown-image"),
        (ann([-1, 0, 20, 15]), "coco-box-outside"),
        (ann([4, 3, 20, 1e300]), "coco-box-outside"),
    ],
)
def test_a_coco_value_that_is_not_finite_or_out_of_range_is_an_error_naming_file_and_annotation(
    cli, ws, annotation, kind
):
    doc = good()
    doc["annotations"].append(annotation)
    code, out, err = register_coco(cli, ws, json.dumps(doc, allow_nan=True))
    assert code == 1 and "Traceback" not in err, err
    quality = json.loads(out)["label_quality"]
    assert {k: v for k, v in quality["by_kind"].items() if k.startswith("coco-")} == {kind: 1}, quality
    finding = quality["findings"][0]
    assert finding["file"] == "coco/train.json" and "annotation 11" in finding["message"]


HOSTILE = [
    "[" * 100_000,
    '{"images": ' * 100_000,
    '{"images": [], "annotations": [], "categories": [{"id": ' + "9" * 5000 + ', "name": "x"}]}',
    "[]",
    "null",
    '"text"',
    "1e400",
    '{"images": {}, "annotations": [], "categories": []}',
    '{"images": [], "annotations": "none", "categories": []}',
    json.dumps(good(images=[{"id": [1], "file_name": "1.jpg", "width": 40, "height": 30}])),
    json.dumps(good(images=[{"id": 1, "file_name": 1, "width": 40, "height": 30}])),
    json.dumps(good(images=[{"id": 1, "file_name": "1.jpg", "width": "40", "height": 30}])),
    json.dumps(good(images=[{"id": 1, "file_name": "1.jpg", "width": float("nan"), "height": 30}]), allow_nan=True),
    json.dumps(good(images=[{"id": 1, "file_name": "1.jpg", "width": 0, "height": 30}])),
    json.dumps(good(images=[{"id": 1, "file_name": "1.jpg", "width": 10**400, "height": 30}])),
    json.dumps(good(categories=[{"id": "3", "name": "car"}])),
    json.dumps(good(categories=[{"id": [3], "name": "car"}])),
    json.dumps(good(categories=[{"id": 3, "name": {"en": "car"}}])),
    json.dumps(good(annotations=[{"id": {"a": 1}, "image_id": 1, "category_id": 3, "bbox": [4, 3, 20, 15]}])),
    # ids of a wrong type are refused (a string id matches no integer one; ultralytics fails on it)
    json.dumps(good(annotations=[{"id": 10, "image_id": 1, "category_id": [3], "bbox": [4, 3, 20, 15]}])),
    json.dumps(good(annotations=[{"id": 10, "image_id": 1, "category_id": "3", "bbox": [4, 3, 20, 15]}])),
    json.dumps(good(annotations=[{"id": 10, "image_id": {"id": 2}, "category_id": 3, "bbox": [4, 3, 20, 15]}])),
    json.dumps(good(images=[{"id": "1", "file_name": "1.jpg", "width": 40, "height": 30}])),
    json.dumps(good(annotations=[[10, 1, 3, [4, 3, 20, 15]]])),
    json.dumps(good(annotations=[{"id": 10, "image_id": 1, "bbox": [4, 3, 20, 15]}])),
    b"\xff\xfe{}",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_coco_files_are_one_line_exit_2(cli, ws, text):
    code, _, err = register_coco(cli, ws, text)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "train.json" in err, err
    assert not (ws / "artifacts").exists() and not (ws / "yolo").exists()


@pytest.mark.parametrize(
    "file_name, kind",
    [
        ("1.jpg", "coco-duplicate-file-name"),
        ("sub/../1.jpg", "coco-duplicate-file-name"),
        ("1.png", "coco-duplicate-file-name"),  # its label would be 1.txt, the label of 1.jpg
        ("3.png", "coco-image-without-file"),
        (".hidden.jpg", "coco-not-an-image"),
        ("notes.txt", "coco-not-an-image"),
        ("images/1.jpg", "coco-not-an-image"),
        ("a\x00.jpg", "coco-image-without-file"),
        ("x" * 300 + ".jpg", "coco-image-without-file"),
    ],
)
def test_coco_image_entries_ultralytics_would_not_train_as_written_are_findings(cli, ws, file_name, kind):
    doc = good()
    doc["images"].append({"id": 3, "file_name": file_name, "width": 40, "height": 30})
    code, out, err = register_coco(cli, ws, doc)
    assert code == 1 and "Traceback" not in err, err
    assert json.loads(out)["label_quality"]["by_kind"].get(kind) == 1, out


def test_coco_images_reached_through_links_are_copied_into_the_converted_data_set(cli, ws, tmp_path):
    """``os.link`` on a link hard-links the link itself: the converted data set pointed
    outside and its image was left out of the fingerprint while ultralytics read it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    spec = coco(
        ws, "train", good(images=good()["images"] + [{"id": 3, "file_name": "3.jpg", "width": 40, "height": 30}])
    )
    shutil.copy(ws / "coco" / "train" / "1.jpg", outside / "3.jpg")
    os.symlink(outside / "3.jpg", ws / "coco" / "train" / "3.jpg")
    code, out, err = cli(
        "dataset",
        "register",
        "--coco",
        spec,
        "--coco",
        coco(ws, "val", good()),
        "--id",
        "COCO-T",
        "--version",
        "v1",
        "-r",
        "REQ-DATA",
        "-w",
        ws,
        "--format",
        "json",
    )
    assert code == 0, err
    converted = ws / "yolo" / "images" / "train" / "3.jpg"
    assert not converted.is_symlink() and converted.stat().st_ino != (outside / "3.jpg").stat().st_ino
    assert json.loads(out)["splits"]["train"]["samples"] == 3
    (outside / "3.jpg").write_bytes(b"replaced")  # the input changes: the converted data set does not
    assert converted.read_bytes() == (ws / "coco" / "train" / "1.jpg").read_bytes()
    assert verify(cli, ws, key="COCO-T-v1")[0] == 0


def test_training_reads_the_label_files_not_a_planted_ultralytics_cache(ws, monkeypatch):
    """ultralytics trusts ``labels/train.cache`` (a pickle outside the fingerprint) when its
    hash of paths, sizes and mtimes matches; a forged one replaced every label."""
    import numpy as np
    from ultralytics.data import dataset as ul_dataset
    from ultralytics.data.dataset import DATASET_CACHE_VERSION, YOLODataset
    from ultralytics.data.utils import img2label_paths, load_dataset_cache_file, save_dataset_cache_file

    from mle3.recipe.environment import label_caches_under

    # ultralytics as it comes (an earlier test of this process may have set mle3's caches up); undone after the test
    monkeypatch.setattr(ul_dataset, "load_dataset_cache_file", load_dataset_cache_file)
    monkeypatch.setattr(ul_dataset, "save_dataset_cache_file", save_dataset_cache_file)
    shapes = ws / "data" / "shapes"
    cache = shapes / "labels" / "train.cache"

    def classes() -> list[list[float]]:
        data = YOLODataset(
            img_path=str(shapes / "images" / "train"),
            imgsz=32,
            augment=False,
            cache=False,
            data={"names": {0: "a", 1: "b", 2: "c"}, "channels": 3},
        )
        return [sorted(lb["cls"].ravel().tolist()) for lb in data.labels]

    labels = img2label_paths(sorted(str(p) for p in (shapes / "images" / "train").iterdir()))
    from_files = [
        sorted(float(line.split()[0]) for line in Path(lb).read_text().splitlines() if line.strip()) for lb in labels
    ]
    assert classes() == from_files and cache.is_file()  # ultralytics wrote its cache
    forged = load_dataset_cache_file(cache)  # every label made class 2, the hash kept
    for lb in forged["labels"]:
        lb["cls"] = np.full_like(lb["cls"], 2.0)
    save_dataset_cache_file("", cache, forged, DATASET_CACHE_VERSION)
    assert classes() != from_files  # ultralytics alone trains on the forged cache
    save_dataset_cache_file("", cache, forged, DATASET_CACHE_VERSION)
    label_caches_under(ws / ".mle3" / "label-caches", ws)  # what every training process does
    assert classes() == from_files  # the planted cache is never read; mle3's own is sealed
    assert classes() == from_files  # and the sealed one it wrote is read back as the labels
