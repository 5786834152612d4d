"""Data layouts as ultralytics reads them: Roboflow's ``train: ../train/images`` beside
the data.yaml, and a ``path`` that names no folder told in one line with the path tried."""

from __future__ import annotations

import json
import shutil

from conftest import TINY_FILES, write_files


def roboflow(root):
    """A Roboflow YOLO export: data.yaml beside train/ valid/ test/, each with images/ and labels/."""
    from mle3.datasets.synthetic import generate

    data_yaml = generate(root / "data" / "rf", counts={"train": 8, "val": 2, "test": 2}, image_size=64, seed=5)
    base = data_yaml.parent
    for split, folder in (("train", "train"), ("val", "valid"), ("test", "test")):
        for kind in ("images", "labels"):
            (base / folder).mkdir(exist_ok=True)
            shutil.move(str(base / kind / split), str(base / folder / kind))
    names = data_yaml.read_text().split("names:", 1)[1].split("night_images")[0]
    data_yaml.write_text("train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: 3\nnames:" + names)
    return data_yaml


def test_a_roboflow_export_registers_as_ultralytics_reads_it(tmp_path, cli):
    root = write_files(tmp_path / "ws", TINY_FILES)
    data_yaml = roboflow(root)
    _, out, err = cli("dataset", "register", data_yaml, "--id", "RF", "--version", "v1", "-w", root, "--format", "json")
    reg = json.loads(out)
    assert reg["splits"]["train"]["samples"] == 8 and reg["splits"]["val"]["samples"] == 2, reg["splits"]
    assert reg["splits"]["val"]["path"] == "data/rf/valid/images"


def test_a_path_that_names_no_folder_says_which_path_was_tried(tmp_path, cli):
    root = write_files(tmp_path / "ws", TINY_FILES)
    data_yaml = roboflow(root)
    data_yaml.write_text("path: ../datasets/rf\n" + data_yaml.read_text())
    _, _, err = cli("dataset", "register", data_yaml, "--id", "RF", "--version", "v1", "-w", root, expect=2)
    assert "'path' '../datasets/rf' names no folder" in err and "relative to the data.yaml" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
