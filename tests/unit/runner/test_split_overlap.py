"""ultralytics' coco128.yaml validates on its training folder: registering such a data set
says so (exit 1), and training on it is refused until the deviation is approved, then
recorded in the run's data check."""

from __future__ import annotations

import json

from conftest import TINY_FILES, write_files


def test_one_folder_for_two_splits_is_announced_and_refused_until_accepted(tmp_path, cli):
    from mle3.datasets.synthetic import generate
    from mle3.runner.train import TrainOptions, prepare
    from mle3.workspace import load_workspace

    root = write_files(tmp_path / "ws", TINY_FILES)
    data_yaml = generate(root / "data" / "tiny", counts={"train": 8, "val": 2, "test": 2}, image_size=64, seed=3)
    data_yaml.write_text(data_yaml.read_text().replace("val: images/val", "val: images/train"))
    code, out, _ = cli(
        "dataset",
        "register",
        data_yaml,
        "--id",
        "TINY-DATA",
        "--version",
        "v1",
        "-r",
        "REQ-DATA",
        "-w",
        root,
        "--format",
        "json",
        expect=1,
    )
    assert json.loads(out)["leakage"]["shared_folders"] == [["train", "val", "data/tiny/images/train"]]
    _, out, _ = cli("dataset", "register", data_yaml, "--id", "TINY-DATA", "--version", "v2", "-w", root, expect=1)
    assert "splits train and val are the same folder 'data/tiny/images/train'" in out
    findings = json.loads(cli("check", "-w", root, "--format", "json", expect=1)[1])["findings"]
    assert any(f["rule"] == "consistency.split-overlap" and f["item"] == "TINY-DATA-v2" for f in findings)

    _, _, err = cli("train", "TINY-TRAIN-001", "-w", root, expect=2)
    assert "validated on its training images" in err and "--deviation consistency.split-overlap" in err
    cli(
        "approve",
        "TINY-DATA-v2",
        "--role",
        "data_owner",
        "--name",
        "Dan",
        "--deviation",
        "consistency.split-overlap",
        "--comment",
        "smoke test only",
        "-w",
        root,
    )
    prep = prepare(load_workspace(root, use_cache=False), "TINY-TRAIN-001", TrainOptions())
    assert prep.data_check["split_overlap_deviation"]  # the run records the accepted deviation
