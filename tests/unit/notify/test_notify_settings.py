"""Bad ``notifications:`` in mle3.yaml: one line naming mle3.yaml and the line, exit 2;
the outbox: complete files only, unique ids across processes, a hand-edited file named."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HOOK = "webhooks:\n    alm: {url: 'https://x/h'}\n  inform:\n"
BAD = [
    ("smtp:\n    host: mail\n    sender: mle3@example.com\n    password: hunter2\n", 7, "password_env: NAME"),
    ("webhooks:\n    alm: {url: 'https://x/h', token: abc}\n", 5, "token_env: NAME"),
    ("webhooks:\n    alm:\n      url: ftp://x/h\n", 6, "http:// or https://"),
    (HOOK + "    - on: [promote.released]\n      webhooks: [alm, chat]\n", 8, "webhook 'chat'"),
    (HOOK + "    - on:\n        - promote.releasd\n      webhooks: [alm]\n", 7, "unknown event 'promote.releasd'"),
    (
        "smtp: {host: mail, sender: mle3@example.com}\n  inform:\n    - on: [approval.dataset]\n      email:\n"
        "        - ok@example.com\n        - not an address\n",
        9,
        "not an e-mail address",
    ),  # fmt: skip
    ("inform:\n    - on: [approval.dataset]\n      email: [a@example.com]\n", 6, "names no mail server"),
]


@pytest.mark.parametrize(("block", "line", "says"), BAD)
def test_bad_notification_settings_are_one_line_with_file_and_line(make_ws, cli, block, line, says):
    root = make_ws({"mle3.yaml": "project: test\nexternal: ['SYS-*']\nnotifications:\n  " + block})
    code, out, err = cli("notify", "-w", root, expect=2)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"mle3.yaml:{line}:" in err and says in err, err
    cli("check", "-w", root, expect=2)  # every command reads the same settings


def test_unquoted_on_and_wildcards_are_accepted(make_ws, cli):
    root = make_ws({"mle3.yaml": "project: test\nexternal: ['SYS-*']\nnotifications:\n  deliver: queue\n"
                    "  webhooks: {alm: {url: 'http://127.0.0.1:9/h'}}\n  inform:\n"
                    "    - on: [approval.*, promote.*]\n      webhooks: [alm]\n"})  # fmt: skip
    cli("approve", "DATA-v1", "--role", "data_owner", "--name", "Ann", "-w", root)
    code, out, _ = cli("notify", "--list", "-w", root, "--format", "json", expect=1)
    (msg,) = json.loads(out)["messages"]
    assert msg["event"] == "approval.dataset" and msg["item"] == "DATA-v1"


def test_outbox_ids_are_unique_across_processes_and_files_are_complete(tmp_path):
    (tmp_path / "mle3.yaml").write_text("project: t\n")
    code = (
        "import sys; from pathlib import Path; from mle3.notify import outbox\n"
        "for i in range(50): outbox.write(Path(sys.argv[1]), {'event': 'promote.released', 'item': 'M', 'i': i})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)]) for _ in range(4)]
    assert all(p.wait(60) == 0 for p in procs)
    from mle3.notify import outbox

    entries = outbox.pending(tmp_path)
    assert len(entries) == 200 and len({e.id for e in entries}) == 200 and not any(e.problem for e in entries)
    folder = outbox.outbox_dir(tmp_path)
    (folder / f"{entries[0].id}.json").write_text('{"format": "mle3.outbox/1", "trunc')  # hand-edited / torn
    (folder / ".x.json.1234.tmp").write_text("{")  # a write killed halfway: a hidden temporary, never listed
    listed = outbox.pending(tmp_path)
    assert len(listed) == 200 and listed[0].problem and "json" in listed[0].problem.lower()
