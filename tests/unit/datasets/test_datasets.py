"""Data set registration, statistics, label quality, leakage, verification, check rules."""

from __future__ import annotations

import gzip
import json
import shutil
import os
from pathlib import Path

import pytest
import yaml

from conftest import check_json, dataset_record, write_files

from mle3 import audit
from mle3.datasets.manifest import read_manifest
from mle3.datasets.synthetic import generate

WS_FILES = {
    "mle3.yaml": "project: data test\n",
    "requirements/R.yaml": "requirement:\n  id: REQ-DATA\n  type: ml_data\n  criteria:\n    - samples: train\n      "
    "min: 10\n    - class: disc\n      split: train\n      min_samples: 1\n",
}


@pytest.fixture
def data_ws(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "ws", WS_FILES)
    generate(root / "data" / "shapes", counts={"train": 14, "val": 3, "test": 3}, image_size=64, seed=1)
    return root


def register(cli, root: Path, *extra: str):
    return cli(
        "dataset",
        "register",
        root / "data" / "shapes" / "data.yaml",
        "--id",
        "DATA-1",
        "--version",
        "v1",
        "-r",
        "REQ-DATA",
        "-w",
        root,
        "--format",
        "json",
        *extra,
        expect=None,
    )


def test_register_measures_and_writes_item_manifest_and_audit(cli, data_ws):
    code, out, err = register(cli, data_ws)
    doc = json.loads(out)
    assert code == 0 and doc["ok"], err
    item = yaml.safe_load(dataset_record(data_ws, "DATA-1-v1").read_text())["dataset"]
    assert item["requirements"] == ["REQ-DATA"] and item["classes"] == ["square", "disc", "triangle"]
    assert {s: item["splits"][s]["samples"] for s in ("train", "val", "test")} == {"train": 14, "val": 3, "test": 3}
    assert item["splits"]["train"]["ratio"] == pytest.approx(0.7)
    labels = [row for f in (data_ws / "data/shapes/labels/train").iterdir() for row in f.read_text().splitlines()]
    assert sum(item["splits"]["train"]["instances"].values()) == len(labels)
    assert item["splits"]["train"]["image_size"]["max"] == [64, 64]
    entries = read_manifest(data_ws / item["manifest"])
    assert (
        item["manifest"] == f"data/shapes/.mle3-manifests/{item['fingerprint'][7:]}.manifest.gz"
    )  # beside the data, named by its hash
    assert (
        len(entries) == 20 * 2 + 3 == item["registered"]["files"]
    )  # images, labels, data.yaml, night.txt (the night-image list), metadata.csv (the per-image table)
    assert item["fingerprint"].startswith("sha256:") and item["leakage"]["shared_images"] == 0
    assert [e["action"] for e in audit.history(data_ws)] == ["dataset.register"]
    code, doc = check_json(cli, data_ws)
    assert code == 0, doc


def test_register_refuses_an_existing_version_and_unknown_requirement(cli, data_ws):
    assert register(cli, data_ws)[0] == 0
    code, _, err = register(cli, data_ws)
    assert code == 2 and "already registered" in err and err.count("\n") == 1
    code, _, err = cli(
        "dataset",
        "register",
        data_ws / "data/shapes/data.yaml",
        "--id",
        "DATA-2",
        "--version",
        "v1",
        "-r",
        "REQ-NOPE",
        "-w",
        data_ws,
        expect=2,
    )
    assert code == 2 and "REQ-NOPE" in err
    assert not list((data_ws / "artifacts/datasets").glob("DATA-2-v1*"))


def test_register_bad_data_yaml_is_one_line_exit_2(cli, data_ws):
    bad = data_ws / "data/shapes/bad.yaml"
    bad.write_text("train: images/train\nval: images/nope\nnames: [a]\n")
    code, _, err = cli("dataset", "register", bad, "--id", "D", "--version", "v1", "-w", data_ws, expect=2)
    assert code == 2 and "bad.yaml" in err and "val" in err and "Traceback" not in err
    outside = data_ws.parent / "outside.yaml"
    outside.write_text("train: x\nval: y\nnames: [a]\n")
    code, _, err = cli("dataset", "register", outside, "--id", "D", "--version", "v1", "-w", data_ws, expect=2)
    assert code == 2 and "outside the workspace and every mapped data root" in err


def test_label_problems_are_found_with_file_and_line(cli, data_ws):
    labels = data_ws / "data/shapes/labels/train"
    files = sorted(labels.iterdir())
    files[0].write_text("0 0.5 0.5 0.2\n")  # malformed
    files[1].write_text("7 0.5 0.5 0.2 0.2\n")  # class out of range
    files[2].write_text("1 0.95 0.5 0.3 0.3\n")  # box outside
    files[3].write_text("")  # empty
    files[4].unlink()  # missing
    (data_ws / "data/shapes/images/train" / (files[5].stem + ".jpg")).write_bytes(b"not a jpeg")
    code, out, _ = register(cli, data_ws)
    doc = json.loads(out)
    assert code == 1 and not doc["ok"]
    kinds = doc["label_quality"]["by_kind"]
    assert kinds == {
        "malformed-line": 1,
        "class-out-of-range": 1,
        "box-outside": 1,
        "empty-label": 1,
        "missing-label": 1,
        "corrupt-image": 1,
    }
    malformed = next(f for f in doc["label_quality"]["findings"] if f["kind"] == "malformed-line")
    assert malformed["file"] == f"data/shapes/labels/train/{files[0].name}" and malformed["line"] == 1
    code, check = check_json(cli, data_ws)
    assert any(f["rule"] == "data.label-quality" and f["severity"] == "error" for f in check["findings"])


def test_leakage_between_splits_is_an_error(cli, data_ws):
    train_img = sorted((data_ws / "data/shapes/images/train").iterdir())[0]
    shutil.copy(train_img, data_ws / "data/shapes/images/val/leaked.jpg")
    shutil.copy(
        data_ws / "data/shapes/labels/train" / (train_img.stem + ".txt"), data_ws / "data/shapes/labels/val/leaked.txt"
    )
    code, out, _ = register(cli, data_ws)
    doc = json.loads(out)
    assert code == 1 and doc["leakage"]["shared_images"] == 1
    assert sorted(doc["leakage"]["examples"][0]) == sorted(
        [f"data/shapes/images/train/{train_img.name}", "data/shapes/images/val/leaked.jpg"]
    )
    code, check = check_json(cli, data_ws)
    assert code == 1 and any(f["rule"] == "consistency.split-overlap" for f in check["findings"])


def test_verify_and_check_detect_changed_added_removed_files(cli, data_ws):
    assert register(cli, data_ws)[0] == 0
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", data_ws, "--format", "json")
    assert code == 0 and json.loads(out)["ok"]
    image = sorted((data_ws / "data/shapes/images/train").iterdir())[0]
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 5_000_000_000))  # touched, same content
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", data_ws, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["hashed"] == 1 and doc["changed"] == []
    label = sorted((data_ws / "data/shapes/labels/train").iterdir())[0]
    label.write_text(label.read_text().replace("0.", "0.0", 1))
    (data_ws / "data/shapes/labels/val/extra.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    sorted((data_ws / "data/shapes/images/test").iterdir())[0].unlink()
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", data_ws, "--format", "json", expect=1)
    doc = json.loads(out)
    assert code == 1 and doc["changed"] == [label.relative_to(data_ws).as_posix()]
    assert doc["added"] == ["data/shapes/labels/val/extra.txt"] and len(doc["removed"]) == 1
    code, check = check_json(cli, data_ws)
    f = next(f for f in check["findings"] if f["rule"] == "data.changed")
    assert (
        "1 changed, 1 removed, 1 added" in f["message"]
        and f["file"] == dataset_record(data_ws, "DATA-1-v1").relative_to(data_ws).as_posix()
    )


def test_edited_manifest_breaks_the_fingerprint(cli, data_ws):
    """The manifest beside the data is trusted only as its fingerprint: an edited one (on a
    machine without a good local copy) is reported, with its file."""
    assert register(cli, data_ws)[0] == 0
    manifest = dataset_record(data_ws, "DATA-1-v1", manifest=True)
    lines = gzip.decompress(manifest.read_bytes()).decode().splitlines()
    manifest.write_bytes(gzip.compress(("\n".join(lines[:-1]) + "\n").encode()))
    shutil.rmtree(data_ws / ".mle3")
    code, check = check_json(cli, data_ws)
    assert code == 1 and any(
        f["rule"] == "data.manifest" and "fingerprint" in f["message"] and manifest.name in f["message"]
        for f in check["findings"]
    ), check


def test_synthetic_data_is_deterministic(tmp_path):
    a = generate(tmp_path / "a", counts={"train": 3}, image_size=64, seed=7).parent
    b = generate(tmp_path / "b", counts={"train": 3}, image_size=64, seed=7).parent
    for f in (a / "labels/train").iterdir():
        assert f.read_text() == (b / "labels/train" / f.name).read_text()
    for f in (a / "images/train").iterdir():
        assert f.read_bytes() == (b / "images/train" / f.name).read_bytes()


def test_a_data_set_registered_with_a_v1_manifest_keeps_verifying(cli, data_ws):
    """Records made before manifests v2 (a committed TSV with mtimes) are read, checked and
    verified as before."""
    import os

    assert register(cli, data_ws)[0] == 0
    record = dataset_record(data_ws, "DATA-1-v1")
    item = yaml.safe_load(record.read_text())
    v2 = data_ws / item["dataset"]["manifest"]
    lines = ["# mle3 manifest v1\tpath\tsize\tmtime_ns\tsha256"]
    for line in gzip.decompress(v2.read_bytes()).decode().splitlines():
        digest, size, path = line.split("  ", 2)
        lines.append(f"{path}\t{size}\t{os.stat(data_ws / path).st_mtime_ns}\t{digest}")
    tsv = record.with_name("DATA-1-v1.manifest.tsv")
    tsv.write_text("\n".join(lines) + "\n")
    item["dataset"]["manifest"] = tsv.relative_to(data_ws).as_posix()
    record.write_text(yaml.safe_dump(item, sort_keys=False))
    shutil.rmtree(v2.parent)
    shutil.rmtree(data_ws / ".mle3")
    assert check_json(cli, data_ws)[0] == 0
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", data_ws, "--format", "json")
    assert code == 0 and json.loads(out)["hashed"] == 0  # the TSV's mtimes are the fast path
    label = next((data_ws / "data/shapes/labels/train").iterdir())
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    code, check = check_json(cli, data_ws)
    assert code == 1 and any(f["rule"] == "data.changed" and "1 changed" in f["message"] for f in check["findings"])
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", data_ws, "--format", "json", expect=1)
    assert code == 1 and json.loads(out)["changed"] == [label.relative_to(data_ws).as_posix()]
    tsv.write_text("\n".join(lines[:-1]) + "\n")
    code, check = check_json(cli, data_ws)
    assert any(f["rule"] == "data.manifest" and "fingerprint" in f["message"] for f in check["findings"])
