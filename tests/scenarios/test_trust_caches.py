"""Issue 21, holes 1, 8 and 11 (ctime): nothing read from ``.mle3/`` runs code or changes a
verdict; files under ``.mle3/`` that git tracks are ignored and reported; files swapped
with their sizes and mtimes restored are found by a plain ``verify``."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import check_json, dataset_record, require_git, write_files

from mle3 import sealed
from mle3.datasets.synthetic import generate

WS_FILES = {
    "mle3.yaml": "project: caches\n",
    "requirements/R.yaml": "requirement:\n  id: REQ-DATA\n  type: ml_data\n",
}
MODEL = "artifacts/model.yaml"


class _RunsCode:
    """A pickle whose load runs a shell command (what a committed cache could carry)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _age(root: Path, seconds: int = 10) -> None:
    """Make every file look older than the caches (no racily recent mtimes)."""
    past = os.path.getmtime(root / "mle3.yaml") - seconds
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (past, past))


def _register(cli, root: Path) -> str:
    code, out, err = cli(
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
    )
    assert code == 0, err
    return yaml.safe_load(dataset_record(root, "DATA-1-v1").read_text())["dataset"]["fingerprint"]


@pytest.fixture
def data_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(sealed.KEY_ENV, "this machine")
    root = write_files(tmp_path / "ws", WS_FILES)
    generate(root / "data" / "shapes", counts={"train": 6, "val": 2, "test": 2}, image_size=48, seed=1)
    return root


def _verdict(doc: dict) -> tuple:
    return doc["ok"], sorted((f["rule"], f["severity"], f.get("file")) for f in doc["findings"])


# ---------------------------------------------------------------------- hole 1: no code
def test_a_pickle_at_every_cache_path_never_runs_and_the_verdict_stands(cli, data_ws, tmp_path):
    from mle3.datasets.materialize import RECORD, _read_record
    from mle3.datasets.state import STATE_DIR
    from mle3.monitor.index import CACHE as RUN_INDEX, RunIndex
    from mle3.rules.result_cache import RESULT_FILE
    from mle3.workspace.cache import CACHE_FILE

    root = data_ws
    fp = _register(cli, root)
    _age(root)
    before = check_json(cli, root)
    assert before[0] == 0
    marker = tmp_path / "ran"
    evil = pickle.dumps(_RunsCode(marker))
    hexfp = fp.split(":", 1)[-1]
    paths = [
        f".mle3/{CACHE_FILE}",
        f".mle3/{RESULT_FILE}",
        ".mle3/parse-cache.pickle",
        ".mle3/check-cache.pickle",
        f"{STATE_DIR}/{hexfp}.state",
        RUN_INDEX,
        ".mle3/cache/run-index.pickle",
        f".mle3/data/{hexfp}/{RECORD}",
    ]
    for rel in paths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(evil)
    after = check_json(cli, root)
    assert not marker.exists(), "check ran code from a cache file"
    assert (after[0], _verdict(after[1])) == (before[0], _verdict(before[1]))
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", root, "--format", "json")
    assert code == 0 and json.loads(out)["ok"]
    RunIndex(root)
    assert _read_record(root, root / ".mle3" / "data" / hexfp, fp) == {}
    assert not marker.exists(), "a cache file ran code"


def test_a_hand_edited_check_result_is_discarded(cli, data_ws):
    root = write_files(data_ws, {MODEL: "model_version:\n  id: MODEL-v1\n  training_run: MISSING\n  status: draft\n"})
    _age(root)
    code, doc = check_json(cli, root)
    assert code == 1 and any(f["rule"] == "trace.dangling-ref" for f in doc["findings"])
    path = root / ".mle3" / "check-cache.json"
    data = path.read_bytes()
    head, _, payload = data.partition(b"\n")
    cached = json.loads(payload)
    cached.update(findings=[], counts={})
    path.write_bytes(head + b"\n" + json.dumps(cached).encode())  # the old MAC, a clean verdict
    code, doc = check_json(cli, root)
    assert code == 1 and any(f["rule"] == "trace.dangling-ref" for f in doc["findings"])


def test_a_hand_edited_parse_cache_entry_is_discarded(cli, data_ws):
    root = write_files(data_ws, {MODEL: "model_version:\n  id: MODEL-v1\n  training_run: MISSING\n  status: draft\n"})
    _age(root)
    assert check_json(cli, root)[0] == 1
    (root / ".mle3" / "check-cache.json").unlink()
    path = root / ".mle3" / "parse-cache.json"
    text = path.read_bytes()
    assert b'"training_run":"MISSING"' in text
    path.write_bytes(
        text.replace(b'"training_run":"MISSING"', b'"status":"draft"')
    )  # would drop the dangling reference
    code, doc = check_json(cli, root)
    assert code == 1 and any(f["rule"] == "trace.dangling-ref" for f in doc["findings"])


def test_a_data_set_state_edited_to_clean_is_discarded(cli, data_ws):
    """A large data set's verdict comes from this machine's last verification: an edited
    state (``ok: true``) does not hide a change."""
    root = data_ws
    (root / "mle3.yaml").write_text("project: caches\ndatasets:\n  check_stat_limit: 1\n")
    fp = _register(cli, root)
    (root / "data/shapes/labels/val").joinpath("extra.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", root, "--format", "json", expect=1)
    assert code == 1
    from mle3.datasets.state import STATE_DIR

    path = root / STATE_DIR / (fp.split(":", 1)[-1] + ".state")
    head, _, payload = path.read_bytes().partition(b"\n")
    state = json.loads(payload)
    state.update(ok=True, summary={})
    path.write_bytes(head + b"\n" + json.dumps(state).encode())
    code, doc = check_json(cli, root, "--no-cache")  # trusted, the edit would leave no data finding at all
    assert any(f["rule"] in ("data.changed", "data.unverified") for f in doc["findings"])
    assert not any(
        f["rule"] == "data.changed" and "0 changed, 0 removed, 0 added" in f["message"] for f in doc["findings"]
    )


def test_a_cache_written_with_another_key_is_a_miss(data_ws, monkeypatch):
    from mle3.workspace import cache
    from mle3.workspace.load import load_workspace

    root = data_ws
    _age(root)
    load_workspace(root)
    assert cache._read(root / ".mle3" / cache.CACHE_FILE, root)[0] > 0
    monkeypatch.setenv(sealed.KEY_ENV, "another machine")
    assert cache._read(root / ".mle3" / cache.CACHE_FILE, root) == (0, {})


def test_the_key_lives_outside_the_workspace_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv(sealed.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    sealed._file_key.cache_clear()
    try:
        sealed_bytes = sealed.seal("kind", b"payload")
        key = tmp_path / "home-cache" / "mle3" / "cache-key"
        assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
        assert sealed.unseal("kind", sealed_bytes) == b"payload"
        assert sealed.unseal("other kind", sealed_bytes) is None
        assert sealed.unseal("kind", sealed_bytes[:-1] + b"X") is None
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
        assert sealed.unseal("kind", sealed_bytes) is None
    finally:
        sealed._file_key.cache_clear()


def test_parse_cache_keeps_dates_and_reparses_what_json_cannot_hold(data_ws):
    """Values JSON cannot hold exactly are tagged or parsed again, never changed."""
    from mle3.workspace import cache
    from mle3.workspace.load import parse_many

    root = write_files(
        data_ws,
        {
            "artifacts/dates.yaml": "notes:\n  when: 2024-05-01\n  at: 2024-05-01T10:00:00+02:00\n  raw: !!binary "
            "aGVsbG8=\n",
            "artifacts/keys.yaml": "notes:\n  1: one\n  true: yes\n  nan: .nan\n",
        },
    )
    _age(root)
    listing = [
        (p, os.stat(root / p).st_size, os.stat(root / p).st_mtime_ns)
        for p in ("artifacts/dates.yaml", "artifacts/keys.yaml")
    ]
    parse = lambda paths: iter(parse_many(root, paths, jobs=1))  # noqa: E731
    first = {p.path: p.docs for p in cache.parse_with_cache(root, listing, parse)}
    _, entries = cache._read(root / ".mle3" / cache.CACHE_FILE, root)
    assert entries["artifacts/dates.yaml"][2].docs == first["artifacts/dates.yaml"]
    assert entries["artifacts/keys.yaml"][2] is None  # to be parsed again
    again = {p.path: p.docs for p in cache.parse_with_cache(root, listing, parse)}
    assert again["artifacts/dates.yaml"] == first["artifacts/dates.yaml"] and str(again["artifacts/keys.yaml"]) == str(
        first["artifacts/keys.yaml"]
    )


# ---------------------------------------------------------------------- hole 8: tracked state
def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root, check=True, capture_output=True
    )


def test_a_tracked_local_yaml_does_not_remap_roots_and_check_warns(cli, tmp_path, monkeypatch):
    require_git()
    from mle3.datasets.roots import RootUnavailable, data_root
    from mle3.workspace.config import load_config

    monkeypatch.delenv("MLE3_DATA_ROOT_NAS", raising=False)
    monkeypatch.setenv(sealed.KEY_ENV, "this machine")
    root = write_files(
        tmp_path / "ws",
        {
            "mle3.yaml": "project: roots\ndata_roots:\n  nas: null\n",
            "requirements/R.yaml": WS_FILES["requirements/R.yaml"],
        },
    )
    (tmp_path / "elsewhere").mkdir()
    write_files(root, {".mle3/local.yaml": f"data_roots:\n  nas: {tmp_path / 'elsewhere'}\n"})
    _git(root, "init", "-q")
    _git(root, "add", "mle3.yaml", "requirements")
    _git(root, "commit", "-qm", "init")
    assert data_root(root, load_config(root), "nas").location == str(
        tmp_path / "elsewhere"
    )  # untracked: this machine's mapping
    code, doc = check_json(cli, root)
    assert not any(f["rule"] == "workspace.tracked-state" for f in doc["findings"])
    _git(root, "add", "-f", ".mle3/local.yaml")
    _git(root, "commit", "-qm", "a branch commits its mapping")
    with pytest.raises(RootUnavailable):
        data_root(root, load_config(root), "nas")
    code, out, err = cli("check", "-w", root, "--format", "json", expect=None)
    found = [f for f in json.loads(out)["findings"] if f["rule"] == "workspace.tracked-state"]
    assert [(f["severity"], f["file"]) for f in found] == [("warning", ".mle3/local.yaml")]


def test_tracked_caches_are_not_read(cli, data_ws):
    require_git()
    from mle3.workspace import cache

    root = data_ws
    _age(root)
    before = check_json(cli, root)
    assert cache._read(root / ".mle3" / cache.CACHE_FILE, root)[0] > 0
    _git(root, "init", "-q")
    _git(root, "add", "-f", ".mle3/parse-cache.json", ".mle3/check-cache.json")
    _git(root, "commit", "-qm", "caches committed")
    assert cache._read(root / ".mle3" / cache.CACHE_FILE, root) == (0, {})
    code, doc = check_json(cli, root)
    found = sorted(f["file"] for f in doc["findings"] if f["rule"] == "workspace.tracked-state")
    assert found == [".mle3/check-cache.json", ".mle3/parse-cache.json"]
    assert (code, _verdict(doc)[1]) == (
        before[0],
        sorted(_verdict(before[1])[1] + [("workspace.tracked-state", "warning", f) for f in found]),
    )


def test_outside_a_git_repository_nothing_is_tracked(tmp_path):
    from mle3.tracked import tracked_state_files

    assert tracked_state_files(tmp_path) == frozenset()


# ---------------------------------------------------------------------- hole 11: ctime
def test_same_size_files_swapped_with_their_mtimes_restored_are_found_by_plain_verify(cli, data_ws):
    root = data_ws
    labels = sorted((root / "data/shapes/labels/train").iterdir())[:2]
    labels[0].write_text("0 0.5 0.5 0.2 0.2\n")
    labels[1].write_text("0 0.4 0.4 0.2 0.2\n")
    _register(cli, root)
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", root, "--format", "json")
    assert code == 0 and json.loads(out)["hashed"] == 0  # registration's stamps serve verify
    _age(root, 100)
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", root, "--format", "json")
    assert code == 0
    assert check_json(cli, root)[0] == 0  # the result cache now holds a clean verdict
    stamps = [p.stat() for p in labels]
    texts = [p.read_bytes() for p in labels]
    for path, text, st in zip(labels, reversed(texts), stamps):  # what a tar extraction can leave
        path.write_bytes(text)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert [(p.stat().st_size, p.stat().st_mtime_ns) for p in labels] == [(s.st_size, s.st_mtime_ns) for s in stamps]
    code, doc = check_json(cli, root)  # check's stat path (and its result cache) sees it
    assert code == 1 and any(f["rule"] == "data.changed" and "2 changed" in f["message"] for f in doc["findings"])
    code, out, _ = cli("dataset", "verify", "DATA-1", "-w", root, "--format", "json", expect=1)
    assert code == 1 and json.loads(out)["changed"] == sorted(p.relative_to(root).as_posix() for p in labels)


def test_ultralytics_label_caches_are_sealed_and_a_foreign_one_never_unpickled(tmp_path, monkeypatch):
    """ultralytics' label cache is a pickle (``np.load(allow_pickle=True)``): under
    ``.mle3/cache/labels`` only a cache this machine wrote is loaded."""
    import ultralytics  # noqa: F401  (the train extra the README installs: missing is a failure, never a skip)
    import hashlib

    import numpy as np
    from ultralytics.data import dataset

    from mle3.recipe.environment import label_caches_under

    monkeypatch.setenv(sealed.KEY_ENV, "this machine")
    monkeypatch.setattr(dataset, "load_dataset_cache_file", dataset.load_dataset_cache_file)
    monkeypatch.setattr(dataset, "save_dataset_cache_file", dataset.save_dataset_cache_file)
    root = tmp_path / "ws"
    cache_dir = root / ".mle3" / "cache" / "labels"
    label_caches_under(cache_dir, root)
    source = tmp_path / "data" / "labels" / "train.cache"
    source.parent.mkdir(parents=True)
    dataset.save_dataset_cache_file("", source, {"labels": [1, 2]}, "1.0.3")
    assert dataset.load_dataset_cache_file(source) == {"labels": [1, 2], "version": "1.0.3"}
    assert not source.exists()
    marker = tmp_path / "ran"
    target = cache_dir / f"{hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]}-{source.name}"
    with open(target, "wb") as fh:
        np.save(fh, np.array(_RunsCode(marker), dtype=object), allow_pickle=True)
    with pytest.raises(FileNotFoundError):  # ultralytics then scans the labels again
        dataset.load_dataset_cache_file(source)
    assert not marker.exists()
