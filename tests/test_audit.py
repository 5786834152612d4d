"""The audit log: hash chain, tamper detection, concurrent appends from real processes."""

from __future__ import annotations

import json
import subprocess
import sys

from mle3 import audit


def test_chain_verifies_and_detects_edit_removal_reorder(tmp_path):
    for i in range(5):
        audit.append(tmp_path, "test.event", f"ITEM-{i}", {"n": i}, actor="tester")
    count, problems = audit.verify(tmp_path)
    assert (count, problems) == (5, [])
    path = audit.audit_path(tmp_path)
    lines = path.read_text().splitlines(keepends=True)

    edited = json.loads(lines[2])
    edited["details"]["n"] = 99
    path.write_text("".join(lines[:2] + [json.dumps(edited, sort_keys=True) + "\n"] + lines[3:]))
    assert any("edited" in p.message and p.line == 3 for p in audit.verify(tmp_path)[1])

    path.write_text("".join(lines[:2] + lines[3:]))
    assert any("removed or reordered" in p.message for p in audit.verify(tmp_path)[1])

    path.write_text("".join([lines[1], lines[0]] + lines[2:]))
    assert audit.verify(tmp_path)[1]

    path.write_text("".join(lines[:-1]))  # dropping the last entry cannot be seen from the chain alone...
    assert audit.verify(tmp_path)[1] == []  # ...which is why approvals also bind to fingerprints


def test_torn_last_line_is_repaired_before_the_next_append(tmp_path):
    audit.append(tmp_path, "a", None, actor="t")
    with open(audit.audit_path(tmp_path), "a") as fh:
        fh.write('{"seq": 2, "half')
    audit.append(tmp_path, "b", None, actor="t")
    count, problems = audit.verify(tmp_path)
    assert (count, problems) == (2, [])


def test_concurrent_appends_from_processes_lose_nothing(tmp_path):
    code = (
        "import sys; from pathlib import Path; from mle3 import audit\n"
        "for i in range(40): audit.append(Path(sys.argv[1]), 'proc.event', sys.argv[2] + '-' + str(i), actor='p')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"P{n}"]) for n in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    count, problems = audit.verify(tmp_path)
    assert count == 160 and problems == []
    items = {e["item"] for _, e, _ in audit.entries(tmp_path)}
    assert len(items) == 160
