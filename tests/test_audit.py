"""The audit log: a hash DAG of entry files; tamper detection, forks and joins, the heads
index, migration of the linear format, crashes, concurrent appends from real processes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from mle3 import audit
from mle3.errors import Mle3Error


def _file(root, entry):
    return root / audit.entry_file(entry["hash"])


def test_dag_verifies_and_finds_edited_and_removed_entries_by_file(tmp_path):
    written = [audit.append(tmp_path, "test.event", f"ITEM-{i}", {"n": i}, actor="tester") for i in range(5)]
    assert audit.verify(tmp_path) == (5, [])
    assert [e["parents"] for e in written[1:]] == [[e["hash"]] for e in written[:-1]] and written[0]["parents"] == []
    assert [e["item"] for e in audit.history(tmp_path)] == [f"ITEM-{i}" for i in range(5)]

    path = _file(tmp_path, written[2])
    original = path.read_text()
    path.write_text(original.replace('"n":2', '"n":99'))
    (problem,) = audit.verify(tmp_path)[1]
    assert problem.file == audit.entry_file(written[2]["hash"]) and "edited" in problem.message

    # an edit that also recomputes the hash and renames the file breaks the child's parent link
    edited = json.loads(path.read_text())
    edited["hash"] = audit.entry_hash(edited)
    path.unlink()
    _file(tmp_path, edited).parent.mkdir(exist_ok=True)
    _file(tmp_path, edited).write_text(json.dumps(edited) + "\n")
    (problem,) = audit.verify(tmp_path)[1]
    assert problem.file == audit.entry_file(written[3]["hash"]) and "removed entry" in problem.message
    _file(tmp_path, edited).unlink()

    path.write_text(original)
    renamed = tmp_path / audit.AUDIT_DIR / written[2]["hash"][:2] / ("f" * 64 + ".json")
    path.rename(renamed)  # an entry under another name
    assert any("another entry's name" in p.message for p in audit.verify(tmp_path)[1])
    renamed.rename(path)

    path.unlink()  # a removed middle entry: its child names a missing parent
    problems = audit.verify(tmp_path)[1]
    assert [p.file for p in problems] == [audit.entry_file(written[3]["hash"])]
    path.write_text(original)

    _file(tmp_path, written[4]).unlink()  # dropping a head cannot be seen from the DAG alone...
    assert audit.verify(tmp_path) == (4, [])  # ...which is why approvals also bind to fingerprints


def test_an_interrupted_append_leaves_no_entry(tmp_path, monkeypatch):
    audit.append(tmp_path, "a", None, actor="t")

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(audit.os, "fsync", crash)
        with pytest.raises(OSError):
            audit.append(tmp_path, "b", None, actor="t")
    assert audit.verify(tmp_path) == (1, [])
    assert not [p for p in (tmp_path / audit.AUDIT_DIR).rglob("*") if p.is_file() and not p.name.endswith(".json")]
    audit.append(tmp_path, "c", None, actor="t")
    assert audit.verify(tmp_path) == (2, [])


def _branch_entry(root, parent, action):
    """An entry written on another branch (as a merge brings it in): a new file."""
    entry = {
        "time": parent["time"],
        "actor": "u",
        "host": "h",
        "action": action,
        "item": None,
        "details": {},
        "parents": [parent["hash"]],
    }
    entry["hash"] = audit.entry_hash(entry)
    _file(root, entry).parent.mkdir(parents=True, exist_ok=True)
    _file(root, entry).write_text(json.dumps(entry) + "\n")
    return entry


@pytest.mark.parametrize("index", ["kept", "deleted"])
def test_first_entry_after_a_merge_names_every_head(tmp_path, index):
    base = audit.append(tmp_path, "base", None, actor="t")
    ours = audit.append(tmp_path, "ours", None, actor="t")
    theirs = _branch_entry(tmp_path, base, "theirs")
    if index == "deleted":
        for f in (tmp_path / audit.INDEX_DIR).iterdir():
            f.unlink()
    assert audit.read(tmp_path).heads == sorted([ours["hash"], theirs["hash"]])
    joined = audit.append(tmp_path, "after.merge", None, actor="t")
    assert joined["parents"] == sorted([ours["hash"], theirs["hash"]])
    log = audit.read(tmp_path)
    assert log.heads == [joined["hash"]] and log.problems == []
    assert log.concurrent(ours["hash"], theirs["hash"]) and log.follows(joined["hash"], theirs["hash"])


def test_entries_removed_by_a_checkout_rebuild_the_heads(tmp_path):
    first = audit.append(tmp_path, "first", None, actor="t")
    second = audit.append(tmp_path, "second", None, actor="t")
    _file(tmp_path, second).unlink()  # e.g. git checkout of an older commit
    assert audit.append(tmp_path, "third", None, actor="t")["parents"] == [first["hash"]]
    assert audit.verify(tmp_path) == (2, [])


def _legacy_log(root, n=4):
    """A log as the linear-format release wrote it (seq, prev; hash over compact JSON)."""
    prev, lines = audit.GENESIS, []
    for seq in range(1, n + 1):
        entry = {
            "seq": seq,
            "time": f"2026-11-0{seq}T10:00:00+00:00",
            "actor": "old",
            "host": "h",
            "action": "approval" if seq == 2 else "run.start",
            "item": "M-v1",
            "details": {"role": "ml_lead", "name": "Lea", "decision": "approved", "fingerprint": "sha256:x"}
            if seq == 2
            else {},
            "prev": prev,
        }
        entry["hash"] = hashlib.sha256(
            json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
        lines.append(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        prev = entry["hash"]
    legacy = root / audit.LEGACY_FILE
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text("".join(lines))
    return prev


def test_a_log_in_the_linear_format_verifies_and_migrates_on_the_first_append(tmp_path):
    last = _legacy_log(tmp_path)
    before = (tmp_path / audit.LEGACY_FILE).read_bytes()
    log = audit.read(tmp_path)
    assert (len(log), log.problems, log.legacy_only, log.heads) == (4, [], True, [last])
    entry = audit.append(tmp_path, "new.event", None, actor="t")
    nodes = audit.read(tmp_path).nodes
    migrate = [n for n in nodes if n.entry["action"] == audit.MIGRATE]
    assert len(migrate) == 1 and migrate[0].parents == (last,) and migrate[0].entry["details"]["entries"] == 4
    assert entry["parents"] == [migrate[0].hash]
    assert audit.verify(tmp_path) == (6, []) and (tmp_path / audit.LEGACY_FILE).read_bytes() == before
    assert audit.migrate(tmp_path) is None  # already done
    lines = (tmp_path / audit.LEGACY_FILE).read_text().splitlines(keepends=True)
    (tmp_path / audit.LEGACY_FILE).write_text("".join(lines[:1] + lines[2:]))  # a removed legacy entry
    assert [(p.file, p.line) for p in audit.verify(tmp_path)[1]] == [(audit.LEGACY_FILE, 2)]


def test_a_broken_linear_log_is_not_migrated_and_nothing_is_written(tmp_path, cli):
    _legacy_log(tmp_path)
    legacy = tmp_path / audit.LEGACY_FILE
    lines = legacy.read_text().splitlines(keepends=True)
    legacy.write_text("".join([lines[0], lines[2], lines[1], lines[3]]))  # reordered: the old chain is broken
    (tmp_path / "mle3.yaml").write_text("project: p\n")
    with pytest.raises(Mle3Error, match="linear format does not verify"):
        audit.append(tmp_path, "x", None, actor="t")
    code, _, err = cli("audit", "migrate", "-w", tmp_path, expect=2)
    assert code == 2 and "does not verify" in err and not (tmp_path / audit.AUDIT_DIR).exists()


def test_audit_migrate_command_and_verify_json(tmp_path, cli):
    (tmp_path / "mle3.yaml").write_text("project: p\n")
    _legacy_log(tmp_path)
    code, out, _ = cli("audit", "verify", "-w", tmp_path, "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["legacy_format"] is True and report["entries"] == 4
    code, out, _ = cli("audit", "migrate", "-w", tmp_path)
    assert code == 0 and "migrated: 4 entries" in out
    code, out, _ = cli("audit", "verify", "-w", tmp_path)
    assert code == 0 and "OK: 5 entries" in out


def test_entry_files_honour_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        audit.append(tmp_path, "a", None, actor="t")
    finally:
        os.umask(old)
    modes = {
        p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*") if p.is_file()
    }
    assert modes and set(modes.values()) == {0o644}, modes


def test_concurrent_appends_from_processes_lose_nothing(tmp_path):
    code = (
        "import sys; from pathlib import Path; from mle3 import audit\n"
        "for i in range(40): audit.append(Path(sys.argv[1]), 'proc.event', sys.argv[2] + '-' + str(i), actor='p')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"P{n}"]) for n in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert audit.verify(tmp_path) == (160, [])
    log = audit.read(tmp_path)
    assert len({n.entry["item"] for n in log.nodes}) == 160 and len(log.heads) == 1


def test_the_log_the_previous_release_wrote_verifies_migrates_and_keeps_its_approval(tmp_path, cli):
    """The example workspace's log was written by the linear-format release (with a real
    approval of MLE-MODEL-001-v2.3.1): it verifies, migrates, and the approval stays fresh."""
    import shutil

    from conftest import REPO

    root = tmp_path / "ws"
    shutil.copytree(
        REPO, root, ignore=shutil.ignore_patterns(".git", ".mle3", "tests", "benchmarks", "*.egg-info", "mle3", ".whl*")
    )
    before = audit.read(root)
    assert before.legacy_only and before.problems == [] and len(before) >= 1
    code, out, _ = cli("audit", "migrate", "-w", root)
    assert code == 0 and "migrated" in out
    assert audit.verify(root) == (len(before) + 1, [])
    code, out, _ = cli("check", "-w", root, "--format", "json", "--no-cache", expect=None)
    report = json.loads(out)
    assert report["summary"]["errors"] == 0 and not [
        f for f in report["findings"] if f["rule"].startswith("approval.")
    ], report["findings"]
