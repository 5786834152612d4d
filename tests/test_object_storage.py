"""Data sets in an S3-compatible object store (moto's server, started by the test on
127.0.0.1; credentials from the standard environment variables): registration streams
and hashes objects, verification uses size + ETag, training data is materialized into a
checked local cache."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from conftest import check_json, dataset_record, write_files

from mle3.datasets.synthetic import generate


REQ = "requirement:\n  id: REQ-DATA\n  type: ml_data\n"


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def lake(s3_server, tmp_path, monkeypatch):
    """A bucket holding a small YOLO data set below ``prefix/signs`` and a workspace whose
    root ``lake`` is ``s3://<bucket>/prefix``."""
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    bucket = (
        f"lake-{os.getpid()}-{len(list(tmp_path.parent.iterdir()))}-{tmp_path.name[-12:].lower().replace('_', '-')}"
    )
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    local = tmp_path / "local"
    generate(local / "signs", counts={"train": 8, "val": 2}, image_size=48, seed=5)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"prefix/{path.relative_to(local).as_posix()}")
    ws = write_files(
        tmp_path / "ws",
        {"mle3.yaml": f"project: lake\ndata_roots:\n  lake: s3://{bucket}/prefix\n", "requirements/R.yaml": REQ},
    )
    return ws, bucket, client, local


def register(cli, ws, url, key="DATA-S3"):
    return cli(
        "dataset",
        "register",
        url,
        "--id",
        key,
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


def test_register_in_an_object_store_equals_the_same_files_on_disk(cli, lake, tmp_path):
    ws, bucket, client, local = lake
    code, out, err = register(cli, ws, f"s3://{bucket}/prefix/signs/data.yaml")
    assert code == 0, err
    remote = json.loads(out)
    item = yaml.safe_load(dataset_record(ws, "DATA-S3-v1").read_text())["dataset"]
    assert (
        item["data_root"] == "lake"
        and item["data_yaml"] == "signs/data.yaml"
        and bucket not in dataset_record(ws, "DATA-S3-v1").read_text().split("source")[0]
    )
    assert (
        client.head_object(Bucket=bucket, Key=f"prefix/{item['manifest']}")["ContentLength"]
        == item["registered"]["manifest_bytes"]
    )
    assert item["splits"]["train"]["samples"] == 8 and item["label_quality"]["errors"] == 0
    # the same files at the same place below a folder give the same fingerprint
    os.replace(local / "signs", ws / "signs")
    code, out, _ = cli(
        "dataset",
        "register",
        ws / "signs" / "data.yaml",
        "--id",
        "DATA-LOCAL",
        "--version",
        "v1",
        "-r",
        "REQ-DATA",
        "-w",
        ws,
        "--format",
        "json",
    )
    assert (
        code == 0
        and json.loads(out)["fingerprint"] == remote["fingerprint"]
        and json.loads(out)["files"] == remote["files"]
    )
    assert check_json(cli, ws)[0] == 0


def test_verify_uses_etags_and_rehashes_only_what_moved(cli, lake):
    ws, bucket, client, _ = lake
    assert register(cli, ws, f"s3://{bucket}/prefix/signs/data.yaml")[0] == 0
    code, out, _ = cli("dataset", "verify", "DATA-S3", "-w", ws, "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["hashed"] == 0 and doc["location"] == f"s3://{bucket}/prefix"
    key = "prefix/signs/labels/train/train_00000.txt"
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    client.put_object(Bucket=bucket, Key=key, Body=body.replace(b"0", b"1", 1))  # same size, new ETag
    client.put_object(Bucket=bucket, Key="prefix/signs/images/train/new.jpg", Body=b"x")
    code, out, _ = cli("dataset", "verify", "DATA-S3", "-w", ws, "--format", "json", expect=1)
    doc = json.loads(out)
    assert (
        code == 1
        and doc["changed"] == ["signs/labels/train/train_00000.txt"]
        and doc["added"] == ["signs/images/train/new.jpg"]
        and doc["hashed"] == 1
    )
    code, check = check_json(cli, ws)
    assert code == 1 and any(f["rule"] == "data.changed" and "1 changed" in f["message"] for f in check["findings"])


def test_training_data_is_materialized_checked_and_repaired(cli, lake, monkeypatch, tmp_path):
    from mle3.datasets.materialize import RECORD, local_data_yaml
    from mle3.datasets.yolo import read_data_yaml
    from mle3.errors import Mle3Error
    from mle3.workspace import load_workspace

    ws, bucket, client, local = lake
    monkeypatch.setenv("MLE3_DATA_CACHE", str(tmp_path / "cache"))
    assert register(cli, ws, f"s3://{bucket}/prefix/signs/data.yaml")[0] == 0
    workspace = load_workspace(ws)
    ds = workspace.get("DATA-S3")
    data_yaml = local_data_yaml(ws, workspace.config, ds)
    target = data_yaml.parent.parent
    assert data_yaml.is_file() and target.parent == tmp_path / "cache" and (target / RECORD).is_file()
    data = read_data_yaml(target, data_yaml)
    assert len(list(data.splits["train"].iterdir())) == 8
    # a truncated file, a stray image and a left-over .part file are repaired or removed
    victim = target / "signs/images/train/train_00001.jpg"
    good = victim.read_bytes()
    victim.write_bytes(good[:10])
    (target / "signs/images/train/stray.jpg").write_bytes(good)
    (target / "signs/images/train/train_00002.jpg.part").write_bytes(b"partial")
    local_data_yaml(ws, workspace.config, ds)
    assert (
        victim.read_bytes() == good
        and not (target / "signs/images/train/stray.jpg").exists()
        and not (target / "signs/images/train/train_00002.jpg.part").exists()
    )
    # an object that changed in the store since registration is never trained on
    victim.unlink()
    client.put_object(Bucket=bucket, Key="prefix/signs/images/train/train_00001.jpg", Body=good[:-1] + b"\x00")
    with pytest.raises(Mle3Error, match="changed since registration"):
        local_data_yaml(ws, workspace.config, ds)
    assert not victim.exists() and not victim.with_name(victim.name + ".part").exists()


def test_object_store_failures_are_one_line(cli, lake, monkeypatch):
    ws, bucket, _, _ = lake
    code, _, err = register(cli, ws, f"s3://{bucket}/prefix/nothing/data.yaml")
    assert code == 2 and "not found" in err and err.count("\n") == 1
    (ws / "mle3.yaml").write_text("project: lake\ndata_roots:\n  lake: s3://no-such-bucket-here/prefix\n")
    code, _, err = register(cli, ws, "s3://no-such-bucket-here/prefix/signs/data.yaml")
    assert code == 2 and "no-such-bucket-here" in err and err.count("\n") == 1
    (ws / "mle3.yaml").write_text(f"project: lake\ndata_roots:\n  lake: s3://{bucket}/prefix\n")
    code, _, err = register(cli, ws, f"s3://{bucket}/elsewhere/data.yaml")
    assert code == 2 and "no declared data root" in err
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = register(cli, ws, f"s3://{bucket}/prefix/signs/data.yaml")
    assert code == 2 and "credentials" in err.lower() and err.count("\n") == 1 and "Traceback" not in err
    assert not (ws / "artifacts").exists()


def test_a_missing_backend_names_the_extra(cli, lake, monkeypatch):
    import fsspec.core

    ws, bucket, _, _ = lake

    def no_s3fs(*_a, **_k):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec.core, "url_to_fs", no_s3fs)
    code, _, err = register(cli, ws, f"s3://{bucket}/prefix/signs/data.yaml")
    assert code == 2 and "pip install 'mle3[s3]'" in err and err.count("\n") == 1


@pytest.mark.slow
def test_a_model_trains_on_data_in_the_object_store(cli, s3_server, tmp_path, monkeypatch):
    """Training resolves the root like verify and check: the run records where the data
    was, and ultralytics read the materialized, checked copy."""
    import boto3

    from conftest import TINY_FILES

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLE3_DATA_CACHE", str(tmp_path / "cache"))
    client = boto3.client("s3")
    client.create_bucket(Bucket="train-lake")
    local = tmp_path / "local"
    generate(local / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), "train-lake", f"sets/{path.relative_to(local).as_posix()}")
    ws = write_files(
        tmp_path / "ws", {**TINY_FILES, "mle3.yaml": "project: tiny\ndata_roots:\n  lake: s3://train-lake/sets\n"}
    )
    code, _, err = cli(
        "dataset",
        "register",
        "s3://train-lake/sets/tiny/data.yaml",
        "--id",
        "TINY-DATA",
        "--version",
        "v1",
        "-r",
        "REQ-DATA",
        "-w",
        ws,
    )
    assert code == 0, err
    code, out, err = cli("train", "TINY-TRAIN-001", "--epochs", "1", "-w", ws, "--format", "json")
    assert code == 0 and json.loads(out)["status"] == "success", err
    (run_dir,) = list((ws / "artifacts" / "runs").iterdir())
    run = yaml.safe_load((run_dir / "run.yaml").read_text())["run"]
    assert run["data_check"]["matches"] is True and run["data_check"]["location"] == "s3://train-lake/sets"
    trained_on = yaml.safe_load((run_dir / "data.yaml").read_text())["path"]
    assert trained_on.startswith(str(tmp_path / "cache"))
