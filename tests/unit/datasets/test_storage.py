"""The DataStore protocol: one suite run against every implementation (a local folder, fsspec's
``memory://`` and ``file://``, and S3 on moto's server), the resolution of data roots to a store, and the
seams: a data set below a data root outside the workspace, read through each kind of store by
register, verify, check, doctor, the augmentation preview and the 04-11."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import ROOTED_FILES, check_json, write_files

from mle3.datasets.storage import DataStore, FsspecStore, LocalStore, open_remote, store_for
from mle3.datasets.synthetic import generate
from mle3.errors import Mle3Error

from test_object_storage import s3_server  # noqa: F401  (moto's S3 server, started once for the module)

KINDS = ["local", "memory", "fsspec-file", "s3"]


def upload(folder: Path, store: FsspecStore, below: str = "") -> None:
    """Copy a local folder into an fsspec store (what `aws s3 sync` does for a bucket)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            store.write_bytes(f"{below}/{path.relative_to(folder).as_posix()}".lstrip("/"), path.read_bytes())


def memory_url() -> str:
    return f"memory://lake-{uuid.uuid4().hex[:8]}/prefix"  # fsspec's memory file system is one per process


def s3_bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on moto's server; its URL (credentials from the standard environment variables)."""
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    bucket = f"store-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/prefix"


@pytest.fixture(params=KINDS)
def store(request, tmp_path, monkeypatch) -> DataStore:
    """A store holding a small synthetic data set under ``signs/``."""
    source = tmp_path / "source"
    generate(source / "signs", counts={"train": 6, "val": 2}, image_size=48, seed=5)
    (source / "signs" / ".hidden").write_text("not part of the data set\n")
    if request.param == "local":
        return LocalStore(source, "local")
    if request.param in ("memory", "s3"):
        remote = open_remote(
            memory_url() if request.param == "memory" else s3_bucket(request.getfixturevalue("s3_server"), monkeypatch)
        )
        upload(source, remote)
        return remote
    return open_remote(source.as_uri())


@pytest.fixture
def reference(tmp_path) -> LocalStore:
    """The same data set in a local folder, read by the local store: what every store must equal."""
    folder = tmp_path / "reference"
    generate(folder / "signs", counts={"train": 6, "val": 2}, image_size=48, seed=5)
    return LocalStore(folder, "reference")


def test_every_store_is_a_data_store(store):
    assert isinstance(store, DataStore)
    assert store.label and store.url("signs/data.yaml").endswith("signs/data.yaml")
    assert isinstance(store.stats_are_cheap, bool)


def test_files_read_write_stat_open_and_hash_alike(store):
    data = b"hello\n" * 1000
    store.write_bytes("new/dir/file.bin", data)
    assert store.exists("new/dir/file.bin") and not store.exists("new/dir") and store.is_dir("new/dir")
    assert store.read_bytes("new/dir/file.bin") == data
    with store.open("new/dir/file.bin") as fh:
        assert fh.read() == data
    size, _stamp = store.stat("new/dir/file.bin")
    assert size == len(data)
    assert store.hash("new/dir/file.bin") == (len(data), hashlib.sha256(data).hexdigest())
    assert not store.exists("no/such/file")
    for missing in (store.read_bytes, store.stat, store.hash, store.open):
        with pytest.raises(Mle3Error):
            missing("no/such/file")


def test_listing_layout_and_scan_equal_the_local_reference(store, reference):
    """The same files give the same listing, layout and manifest (so the same fingerprint)
    whichever store read them."""
    listing = store.walk("signs")
    assert listing.paths() == reference.walk("signs").paths()
    assert not any("/." in p for p in listing.paths())
    layout = store.layout("signs/data.yaml")
    assert layout == reference.layout("signs/data.yaml")
    counted: list[int] = []
    result, scanned = store.scan(layout, len(layout.names), progress=counted.append)
    expected, _ = reference.scan(layout, len(layout.names))
    assert result.text == expected.text and result.files == expected.files
    assert "signs/data.yaml" in scanned.paths() and sum(counted) > 0


def test_a_data_yaml_that_leaves_its_place_is_refused(store):
    store.write_bytes("bad/data.yaml", b"path: ../..\ntrain: images\nnames: {0: a}\n")
    with pytest.raises(Mle3Error):
        store.layout("bad/data.yaml")


def test_stamps_and_hashes_say_what_changed(store):
    paths = store.walk("signs").paths()
    listing = store.walk("signs")
    before = store.stamps(paths, listing)
    assert [s[0] for s in before] == [store.stat(p)[0] for p in paths]
    hashed = store.hash_many(paths)
    assert [h[2] for h in hashed] == [hashlib.sha256(store.read_bytes(p)).hexdigest() for p in paths]
    assert store.hash_many([]) == []
    gone, grown = paths[0], paths[1]
    store.write_bytes(grown, store.read_bytes(grown) + b"more")
    if store.local_path() is not None:
        store.local_path(gone).unlink()
    else:
        store.fs.rm_file(store._path(gone))
    after = store.stamps(paths, store.walk("signs"))
    assert after[0] is None and after[1][0] == before[1][0] + 4
    assert after[2:] == before[2:]


def test_folder_mtimes_move_only_where_the_store_has_them(store):
    listing = store.walk("signs")
    assert store.folders_moved(listing.dir_mtimes) is False
    store.write_bytes("signs/images/train/added.jpg", b"x")
    assert store.folders_moved(listing.dir_mtimes) is (store.stats_are_cheap and bool(listing.dir_mtimes))


def test_local_path_only_where_the_store_is_a_disk_and_download_checks_what_lands(store, tmp_path):
    local = store.local_path("signs/data.yaml")
    assert local is None or local.read_bytes() == store.read_bytes("signs/data.yaml")
    target = tmp_path / "copy.yaml"
    size, digest = store.download("signs/data.yaml", target)
    assert target.read_bytes() == store.read_bytes("signs/data.yaml")
    assert (size, digest) == store.hash("signs/data.yaml")


# resolution: data roots and the per-machine mapping, in one place


def test_store_for_resolves_the_workspace_a_mapped_folder_and_an_fsspec_url(tmp_path, monkeypatch):
    from mle3.workspace.config import load_config

    ws = write_files(
        tmp_path / "ws", {"mle3.yaml": "project: p\ndata_roots:\n  nas: null\n  lake: null\n  disk: null\n"}
    )
    (tmp_path / "nas").mkdir()
    config = load_config(ws)
    assert isinstance(store_for(ws, config, None), LocalStore) and store_for(ws, config, None).local_path() == ws
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(tmp_path / "nas"))
    nas = store_for(ws, config, "nas")
    assert isinstance(nas, LocalStore) and nas.label == "nas:" and nas.local_path() == tmp_path / "nas"
    monkeypatch.setenv("MLE3_DATA_ROOT_LAKE", "memory://bucket/x")
    assert (
        isinstance(store_for(ws, config, "lake"), FsspecStore)
        and store_for(ws, config, "lake").label == "memory://bucket/x"
    )
    (ws / ".mle3").mkdir()
    (ws / ".mle3/local.yaml").write_text(f"data_roots:\n  disk: {(tmp_path / 'nas').as_uri()}\n")
    assert store_for(ws, config, "disk").local_path() == tmp_path / "nas"  # file:// is a local folder
    with pytest.raises(Mle3Error, match="not declared"):
        store_for(ws, config, "elsewhere")


# seams: a data set below a data root outside the workspace, through each kind of store


@pytest.fixture(params=["folder", "memory"])
def rooted_fast(request, tmp_path, monkeypatch, cli) -> tuple[Path, DataStore, str]:
    """The README's set-up, untrained: the workspace declares ``nas``; the data lies outside
    it, in a folder or an fsspec store, mapped by ``MLE3_DATA_ROOT_NAS``; registered by the CLI."""
    ws = write_files(tmp_path / "ws", ROOTED_FILES)
    source = tmp_path / "nas"
    generate(source / "tiny", counts={"train": 6, "val": 2}, image_size=48, seed=3)
    if request.param == "folder":
        location, given = str(source), source / "tiny" / "data.yaml"
    else:
        location = memory_url()
        upload(source, open_remote(location))
        given = f"{location}/tiny/data.yaml"
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", location)
    monkeypatch.setenv("MLE3_DATA_CACHE", str(tmp_path / "cache"))
    code, out, err = cli(
        "dataset",
        "register",
        given,
        "--id",
        "TINY-DATA",
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
    assert json.loads(out)["data_root"] == "nas"
    from mle3.workspace.config import load_config

    return ws, store_for(ws, load_config(ws), "nas"), location


def _data_findings(cli, ws: Path) -> list[str]:
    _, report = check_json(cli, ws)
    return sorted(f["rule"] for f in report["findings"] if f["rule"].startswith("data."))


def test_verify_and_check_follow_a_change_below_the_root(rooted_fast, cli):
    ws, store, _ = rooted_fast
    code, out, err = cli("dataset", "verify", "TINY-DATA-v1", "-w", ws, "--format", "json")
    assert code == 0, err
    assert _data_findings(cli, ws) == []
    label = "tiny/labels/train/train_00000.txt"
    store.write_bytes(label, store.read_bytes(label) + b"0 0.5 0.5 0.1 0.1\n")
    code, out, _ = cli("dataset", "verify", "TINY-DATA-v1", "-w", ws, "--format", "json", expect=None)
    assert code != 0 and label in out
    assert "data.changed" in _data_findings(cli, ws)


def test_doctor_and_the_night_list_rule_read_the_root_through_its_store(rooted_fast, cli):
    from mle3.doctor import check_workspace

    ws, store, location = rooted_fast
    assert [c.detail for c in check_workspace(ws) if c.name.startswith("data ")] == []
    store.write_bytes("tiny/night.txt", b"images/train/no-such-image.jpg\n")
    findings = _data_findings(cli, ws)
    # a folder's list is checked where it lies; a list in an object store is read at training
    assert ("data.night-list" in findings) is (store.local_path() is not None)


def test_augment_preview_and_the_04_11_read_data_below_the_root(rooted_fast, cli, tmp_path):
    ws, store, location = rooted_fast
    code, out, err = cli(
        "augment", "preview", "TINY-TRAIN-001", "-w", ws, "-o", tmp_path / "p.png", "--n", "4", "--format", "json"
    )
    assert code == 0, err
    tiles = json.loads(out)["tiles"]
    assert tiles and all(store.exists(t["image"]) and location not in t["image"] for t in tiles)
    code, _, err = cli("report", "04-11", "TINY-TRAIN-001", "-w", ws, "--format", "html", "-o", tmp_path / "r.html")
    assert code == 0 and "Traceback" not in err, err
    assert (tmp_path / "r.html").stat().st_size > 1000
    record = yaml.safe_load(next((ws / "artifacts/datasets").glob("TINY-DATA-v1.*.yaml")).read_text())["dataset"]
    assert record["data_root"] == "nas" and location not in json.dumps(record)


def test_the_11_07_hashes_the_manifest_beside_the_data_below_the_root(rooted_fast, cli, tmp_path):
    ws, store, _ = rooted_fast
    record = yaml.safe_load(next((ws / "artifacts/datasets").glob("TINY-DATA-v1.*.yaml")).read_text())["dataset"]
    digest = hashlib.sha256(store.read_bytes(record["manifest"])).hexdigest()
    code, _, err = cli("report", "11-07", "TINY-DATA-v1", "-w", ws, "--format", "html", "-o", tmp_path / "d.html")
    assert code == 0, err
    assert digest[:16] in (tmp_path / "d.html").read_text()


def test_a_root_that_cannot_be_opened_here_is_one_warning(rooted_fast, cli, monkeypatch):
    """A folder not mounted, or a URL whose fsspec backend is not installed: check warns
    once and reads nothing else of the data set."""
    import fsspec.core

    ws, store, location = rooted_fast
    if store.local_path() is not None:
        store.local_path().rename(store.local_path().with_name("unmounted"))
        expected = "not available on this machine"
    else:

        def no_backend(*_a, **_k):
            raise ImportError("no backend")

        monkeypatch.setattr(fsspec.core, "url_to_fs", no_backend)
        expected = "no file system for memory://"
    _, report = check_json(cli, ws)
    data = [f for f in report["findings"] if f["rule"].startswith("data.")]
    assert [f["rule"] for f in data] == ["data.root-unavailable"] and expected in data[0]["message"], data


def test_no_consumer_reaches_past_the_protocol():
    """Consumers use the protocol only: no branch on a store's kind, no reach into its
    folder or file system (a local file comes from local_path() or materialize())."""
    import re

    import mle3

    package = Path(mle3.__file__).parent
    own = {package / "datasets" / name for name in ("storage.py", "store_local.py", "store_fsspec.py")}
    leak = re.compile(r"\bstores?\w*\.(remote|path|fs|prefix|_path)\b")
    found = [
        f"{p.relative_to(package)}:{n}"
        for p in sorted(package.rglob("*.py"))
        if p not in own
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if leak.search(line)
    ]
    assert found == []
