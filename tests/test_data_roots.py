"""Data where it lives: data roots outside the workspace, mapped per machine; manifests
beside the data; check's fast path for big data sets."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import check_json, dataset_record, write_files

from mle3.datasets.synthetic import generate

REQ = "requirement:\n  id: REQ-DATA\n  type: ml_data\n"


@pytest.fixture
def rooted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A workspace declaring the root ``nas`` (mapped by no one) and data on a 'NAS' folder."""
    monkeypatch.delenv("MLE3_DATA_ROOT_NAS", raising=False)
    ws = write_files(
        tmp_path / "ws", {"mle3.yaml": "project: roots\ndata_roots:\n  nas: null\n", "requirements/R.yaml": REQ}
    )
    nas = tmp_path / "nas"
    generate(nas / "signs", counts={"train": 8, "val": 2}, image_size=48, seed=3)
    return ws, nas


def register(cli, ws: Path, data_yaml: Path | str, *extra: str):
    return cli(
        "dataset",
        "register",
        data_yaml,
        "--id",
        "DATA-N",
        "--version",
        "v1",
        "-r",
        "REQ-DATA",
        "-w",
        ws,
        "--format",
        "json",
        *extra,
        expect=None,
    )


def test_register_below_a_root_records_the_root_never_the_machine_path(cli, rooted, monkeypatch):
    ws, nas = rooted
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    code, out, err = register(cli, ws, nas / "signs" / "data.yaml")
    assert code == 0, err
    text = dataset_record(ws, "DATA-N-v1").read_text()
    item = yaml.safe_load(text)["dataset"]
    assert (
        item["data_root"] == "nas"
        and item["data_yaml"] == "signs/data.yaml"
        and item["splits"]["train"]["path"] == "signs/images/train"
    )
    assert str(nas) not in text and str(ws) not in text
    assert (nas / item["manifest"]).is_file()  # the manifest travels with the data
    assert check_json(cli, ws)[0] == 0
    code, out, _ = cli("dataset", "verify", "DATA-N", "-w", ws, "--format", "json")
    assert code == 0 and json.loads(out)["location"] == "nas:"


def test_another_machine_maps_the_root_elsewhere_and_verifies_from_the_manifest_beside_the_data(
    cli, rooted, monkeypatch, tmp_path
):
    ws, nas = rooted
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    assert register(cli, ws, nas / "signs" / "data.yaml")[0] == 0
    # machine B: a copy of the repository (nothing untracked) and the NAS mounted elsewhere
    clone = tmp_path / "clone"
    shutil.copytree(ws, clone, ignore=shutil.ignore_patterns(".mle3"))
    mount = tmp_path / "mnt" / "datasets"
    shutil.copytree(nas, mount)
    monkeypatch.delenv("MLE3_DATA_ROOT_NAS")
    write_files(clone, {".mle3/local.yaml": f"data_roots:\n  nas: {mount}\n"})
    code, out, err = cli("dataset", "verify", "DATA-N", "-w", clone, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["manifest_found"] and doc["hashed"] == doc["files"], (
        out,
        err,
    )  # new machine: every file hashed once
    code, out, _ = cli("dataset", "verify", "DATA-N", "-w", clone, "--format", "json", expect=None)
    assert json.loads(out)["hashed"] == 0  # then size + mtime
    # the environment variable wins over .mle3/local.yaml
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(tmp_path / "not-mounted"))
    code, _, err = cli("dataset", "verify", "DATA-N", "-w", clone, expect=2)
    assert code == 2 and "'nas'" in err and "not available" in err and err.count("\n") == 1
    # a changed file on B's mount is found there
    monkeypatch.delenv("MLE3_DATA_ROOT_NAS")
    victim = next((mount / "signs" / "labels" / "train").iterdir())
    victim.write_text(victim.read_text() + "0 0.5 0.5 0.1 0.1\n")
    code, check = check_json(cli, clone)
    assert code == 1 and any(f["rule"] == "data.changed" and "1 changed" in f["message"] for f in check["findings"])


def test_unmapped_root_is_one_line_for_commands_and_a_warning_for_check(cli, rooted, monkeypatch):
    ws, nas = rooted
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    assert register(cli, ws, nas / "signs" / "data.yaml")[0] == 0
    monkeypatch.delenv("MLE3_DATA_ROOT_NAS")
    code, _, err = cli("dataset", "verify", "DATA-N", "-w", ws, expect=2)
    assert (
        code == 2
        and "not mapped" in err
        and "MLE3_DATA_ROOT_NAS" in err
        and ".mle3/local.yaml" in err
        and err.count("\n") == 1
    )
    code, check = check_json(cli, ws)
    hits = [f for f in check["findings"] if f["rule"].startswith("data.")]
    assert code == 0 and [(f["rule"], f["severity"]) for f in hits] == [("data.root-unavailable", "warning")]
    # a root that is a file
    (ws / "afile").write_text("x")
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(ws / "afile"))
    code, _, err = cli("dataset", "verify", "DATA-N", "-w", ws, expect=2)
    assert code == 2 and "is a file" in err


def test_paths_outside_every_root_and_links_out_are_refused_before_anything_is_read(cli, rooted, tmp_path, monkeypatch):
    ws, nas = rooted
    elsewhere = tmp_path / "elsewhere"
    generate(elsewhere, counts={"train": 2, "val": 1}, image_size=32, seed=1)
    (ws / "data").mkdir()
    os.symlink(elsewhere, ws / "data" / "link")
    code, _, err = register(cli, ws, ws / "data" / "link" / "data.yaml")
    assert code == 2 and "outside the workspace and every mapped data root" in err and err.count("\n") == 1
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    code, _, err = register(cli, ws, elsewhere / "data.yaml")
    assert code == 2 and "outside the workspace" in err
    assert not (ws / "artifacts").exists() and not (elsewhere / ".mle3-manifests").exists()
    # a link inside the workspace to data below a mapped root is the root's data
    os.symlink(nas / "signs", ws / "data" / "nas-link")
    code, _, err = register(cli, ws, ws / "data" / "nas-link" / "data.yaml")
    assert code == 0, err
    assert yaml.safe_load(dataset_record(ws, "DATA-N-v1").read_text())["dataset"]["data_root"] == "nas"


def test_a_big_data_set_is_checked_by_folder_mtimes_and_verify_finds_in_place_edits(cli, rooted, monkeypatch, tmp_path):
    """Above ``check_stat_limit`` files, check trusts the last verification while no data
    folder's mtime moved (added, removed or renamed files move it); edits in place are
    found by verify (size, mtime, ctime, inode) and verify --deep (every file re-hashed)."""
    ws, nas = rooted
    (ws / "mle3.yaml").write_text("project: roots\ndata_roots:\n  nas: null\ndatasets:\n  check_stat_limit: 5\n")
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    assert register(cli, ws, nas / "signs" / "data.yaml")[0] == 0
    assert check_json(cli, ws, "--no-cache")[0] == 0
    image = next((nas / "signs" / "images" / "train").iterdir())
    stat = image.stat()
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0xFF
    image.write_bytes(bytes(data))
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime: only a re-hash sees it
    assert check_json(cli, ws, "--no-cache")[0] == 0
    code, out, _ = cli(
        "dataset", "verify", "DATA-N", "-w", ws, "--format", "json", expect=1
    )  # the write moved its ctime: re-hashed
    assert (
        code == 1
        and json.loads(out)["hashed"] == 1
        and json.loads(out)["changed"] == [f"signs/images/train/{image.name}"]
    )
    code, out, _ = cli("dataset", "verify", "DATA-N", "--deep", "-w", ws, "--format", "json", expect=1)
    assert code == 1 and json.loads(out)["changed"] == [f"signs/images/train/{image.name}"]
    # a file added to a data folder moves its mtime: check re-verifies and finds it
    shutil.copy(image, image.with_name("extra.jpg"))
    code, check = check_json(cli, ws, "--no-cache")
    assert code == 1 and any(f["rule"] == "data.changed" and "1 added" in f["message"] for f in check["findings"])
    # a fresh machine has no verification to compare with: info, until verify runs once
    shutil.rmtree(ws / ".mle3")
    code, check = check_json(cli, ws, "--no-cache")
    assert any(f["rule"] == "data.unverified" and f["severity"] == "info" for f in check["findings"])
    cli("dataset", "verify", "DATA-N", "-w", ws, expect=None)
    code, check = check_json(cli, ws, "--no-cache")
    assert not any(f["rule"] == "data.unverified" for f in check["findings"]) and any(
        f["rule"] == "data.changed" for f in check["findings"]
    )


def test_local_settings_and_root_names_are_validated(cli, rooted):
    ws, _ = rooted
    write_files(ws, {".mle3/local.yaml": "data_roots: [nas]\n"})
    code, _, err = cli("dataset", "verify", "X", "-w", ws, expect=2)
    assert code == 2
    (ws / "mle3.yaml").write_text("project: roots\ndata_roots:\n  NAS-1: /x\n")
    code, _, err = cli("check", "-w", ws, expect=2)
    assert code == 2 and "mle3.yaml:2" in err and "data_roots" in err


def test_a_record_edited_to_leave_its_root_is_reported(cli, rooted, monkeypatch):
    ws, nas = rooted
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    assert register(cli, ws, nas / "signs" / "data.yaml")[0] == 0
    record = dataset_record(ws, "DATA-N-v1")
    record.write_text(record.read_text().replace("data_yaml: signs/data.yaml", "data_yaml: ../../etc/data.yaml"))
    code, check = check_json(cli, ws)
    assert code == 1 and any(
        f["rule"] == "consistency.path-outside" and "leaves data root 'nas'" in f["message"] for f in check["findings"]
    )


def test_without_any_manifest_verify_compares_the_fingerprint_as_a_whole(cli, rooted, monkeypatch):
    """A read-only root could not hold the manifest and this machine has no copy: every
    file is hashed, a match rebuilds the manifest locally, a change is still found."""
    ws, nas = rooted
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    assert register(cli, ws, nas / "signs" / "data.yaml")[0] == 0
    shutil.rmtree(nas / "signs" / ".mle3-manifests")
    shutil.rmtree(ws / ".mle3")
    code, out, _ = cli("dataset", "verify", "DATA-N", "-w", ws, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["manifest_found"] and doc["hashed"] == doc["files"] > 0
    assert list((ws / ".mle3" / "manifests").glob("*.manifest.gz"))
    shutil.rmtree(ws / ".mle3")
    victim = next((nas / "signs" / "labels" / "train").iterdir())
    victim.write_text(victim.read_text() + "0 0.5 0.5 0.1 0.1\n")
    code, out, _ = cli("dataset", "verify", "DATA-N", "-w", ws, "--format", "json", expect=1)
    doc = json.loads(out)
    assert code == 1 and not doc["manifest_found"] and not doc["fingerprint_ok"]
