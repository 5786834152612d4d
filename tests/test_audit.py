"""The audit log: a hash DAG; tamper detection, merges, migration of the linear format,
concurrent appends from real processes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from mle3 import audit
from mle3.errors import Mle3Error


def _lines(root):
    return audit.audit_path(root).read_text().splitlines(keepends=True)


def test_dag_verifies_and_finds_edits_and_removed_entries_by_line(tmp_path):
    for i in range(5):
        audit.append(tmp_path, "test.event", f"ITEM-{i}", {"n": i}, actor="tester")
    assert audit.verify(tmp_path) == (5, [])
    path = audit.audit_path(tmp_path)
    lines = _lines(tmp_path)
    assert [json.loads(line)["parents"] for line in lines][1] == [json.loads(lines[0])["hash"]]

    edited = json.loads(lines[2])
    edited["details"]["n"] = 99
    path.write_text("".join(lines[:2] + [json.dumps(edited) + "\n"] + lines[3:]))
    assert [(p.line, "edited" in p.message) for p in audit.verify(tmp_path)[1]] == [(3, True)]

    # an edit that also recomputes the hash breaks the child's parent link
    edited["hash"] = audit.entry_hash(edited)
    path.write_text("".join(lines[:2] + [json.dumps(edited) + "\n"] + lines[3:]))
    assert [(p.line, "not in the log" in p.message) for p in audit.verify(tmp_path)[1]] == [(4, True)]

    path.write_text("".join(lines[:2] + lines[3:]))  # a removed middle entry: its child names a missing parent
    problems = audit.verify(tmp_path)[1]
    assert [p.line for p in problems] == [3] and "removed entry" in problems[0].message

    path.write_text("".join(reversed(lines)))  # line order carries no meaning
    assert audit.verify(tmp_path) == (5, [])
    log = audit.read(tmp_path)
    assert [n.entry["item"] for n in log.nodes] == [f"ITEM-{i}" for i in range(5)]

    path.write_text("".join(lines[:-1]))  # dropping a head cannot be seen from the DAG alone...
    assert audit.verify(tmp_path)[1] == []  # ...which is why approvals also bind to fingerprints


def test_torn_last_line_is_repaired_before_the_next_append(tmp_path):
    audit.append(tmp_path, "a", None, actor="t")
    with open(audit.audit_path(tmp_path), "a") as fh:
        fh.write('{"parents": ["half')
    audit.append(tmp_path, "b", None, actor="t")
    assert audit.verify(tmp_path) == (2, [])


def _fork(root):
    """Simulate what git's union merge leaves: two branches' entries after a common base."""
    base = audit.append(root, "base", None, actor="t")
    ours = audit.append(root, "ours", None, actor="t")
    lines = _lines(root)
    theirs = {"time": ours["time"], "actor": "u", "host": "h", "action": "theirs", "item": None, "details": {}, "parents": [base["hash"]]}
    theirs["hash"] = audit.entry_hash(theirs)
    audit.audit_path(root).write_text("".join(lines) + json.dumps(theirs) + "\n")
    return base, ours, theirs


@pytest.mark.parametrize("cache", ["kept", "deleted", "stale"])
def test_first_entry_after_a_merge_names_every_head(tmp_path, cache):
    _, ours, theirs = _fork(tmp_path)
    cache_file = tmp_path / audit.HEADS_CACHE
    if cache == "deleted":
        cache_file.unlink()
    elif cache == "stale":  # the log was replaced (checkout): the cache's tail no longer matches
        state = json.loads(cache_file.read_text())
        state["tail"] = "0" * 64
        cache_file.write_text(json.dumps(state))
    assert sorted(audit.read(tmp_path).heads) == sorted([ours["hash"], theirs["hash"]])
    joined = audit.append(tmp_path, "after.merge", None, actor="t")
    assert joined["parents"] == sorted([ours["hash"], theirs["hash"]])
    log = audit.read(tmp_path)
    assert log.heads == [joined["hash"]] and log.problems == []
    assert log.concurrent(ours["hash"], theirs["hash"]) and log.follows(joined["hash"], theirs["hash"])


def _legacy_log(root, n=4):
    """A log as the linear-format release wrote it (seq, prev; hash over compact JSON)."""
    prev, lines = audit.GENESIS, []
    for seq in range(1, n + 1):
        entry = {"seq": seq, "time": f"2026-11-0{seq}T10:00:00+00:00", "actor": "old", "host": "h", "action": "approval" if seq == 2 else "run.start",
                 "item": "M-v1", "details": {"role": "ml_lead", "name": "Lea", "decision": "approved", "fingerprint": "sha256:x"} if seq == 2 else {}, "prev": prev}
        entry["hash"] = hashlib.sha256(json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
        lines.append(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        prev = entry["hash"]
    audit.audit_path(root).parent.mkdir(parents=True, exist_ok=True)
    audit.audit_path(root).write_text("".join(lines))
    return prev


def test_a_log_in_the_linear_format_verifies_and_migrates_on_the_first_append(tmp_path):
    last = _legacy_log(tmp_path)
    log = audit.read(tmp_path)
    assert (len(log), log.problems, log.legacy_only, log.heads) == (4, [], True, [last])
    entry = audit.append(tmp_path, "new.event", None, actor="t")
    nodes = audit.read(tmp_path).nodes
    migrate = [n for n in nodes if n.entry["action"] == audit.MIGRATE]
    assert len(migrate) == 1 and migrate[0].parents == (last,) and migrate[0].entry["details"]["entries"] == 4
    assert entry["parents"] == [migrate[0].hash]
    assert audit.verify(tmp_path) == (6, [])
    assert audit.migrate(tmp_path) is None  # already done


def test_a_broken_linear_log_is_not_migrated_and_nothing_is_written(tmp_path, cli):
    _legacy_log(tmp_path)
    lines = _lines(tmp_path)
    audit.audit_path(tmp_path).write_text("".join([lines[0], lines[2], lines[1], lines[3]]))  # reordered: the old chain is broken
    (tmp_path / "mle3.yaml").write_text("project: p\n")
    before = audit.audit_path(tmp_path).read_bytes()
    with pytest.raises(Mle3Error, match="linear format does not verify"):
        audit.append(tmp_path, "x", None, actor="t")
    code, _, err = cli("audit", "migrate", "-w", tmp_path)
    assert code == 2 and "does not verify" in err and audit.audit_path(tmp_path).read_bytes() == before


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
