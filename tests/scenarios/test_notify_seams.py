"""13-52 at the seams, on the README's set-up (a git workspace whose data lies below a data
root outside it): promote to released with inform rules, the messages received by a real
SMTP server and a real HTTP receiver; two clones that each record communications merge
with the audit log intact and the 13-52 listing both."""

from __future__ import annotations

import email
import json
import socket
import subprocess
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import require_git

from mle3 import audit

pytestmark = pytest.mark.slow
MODEL = "TINY-MODEL-v0.1.0"


def git(cwd, *args):
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def servers():
    from aiosmtpd.controller import Controller

    mails: list[tuple[list[str], bytes]] = []
    posts: list[tuple[dict, bytes]] = []

    class Box:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            mails.append((list(envelope.rcpt_tos), envelope.original_content))
            return "250 OK"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            posts.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(Box(), hostname="127.0.0.1", port=port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield port, http.server_address[1], mails, posts
    smtp.stop()
    http.shutdown()
    http.server_close()


def settings(smtp_port: int, hook_port: int) -> str:
    return (
        "project: tiny rooted\ndata_roots:\n  nas: null\n"
        "notifications:\n  deliver: queue\n  backoff: 0\n"
        f"  smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none, sender: mle3@example.com, timeout: 2}}\n"
        f"  webhooks:\n    alm: {{url: 'http://127.0.0.1:{hook_port}/mle3', token_env: MLE3_SEAM_TOKEN}}\n"
        "  inform:\n"
        "    - on: [promote.released, promote.validated]\n      email: [safety@example.com]\n      webhooks: [alm]\n"
        "    - on: [approval.dataset, rejection.dataset]\n      email: [data@example.com]\n"
    )


def test_a_release_informs_everyone_and_two_clones_merge_their_communications(
    rooted_ws, cli, servers, tmp_path, monkeypatch
):
    require_git()
    ws, nas = rooted_ws
    smtp_port, hook_port, mails, posts = servers
    monkeypatch.setenv("MLE3_SEAM_TOKEN", "seam-token")
    monkeypatch.delenv("MLE3_NOTIFY_DELIVER", raising=False)
    (ws / "mle3.yaml").write_text(settings(smtp_port, hook_port))
    (ws / ".gitignore").write_text(".mle3/\n/models/\n")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.name", "Tom Trainer")
    git(ws, "config", "user.email", "tom@example.com")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "workspace")
    w = ("-w", ws)
    cli("approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dora <dora@example.com>", *w)
    cli("approve", "TINY-TRAIN-001", "--role", "ml_engineer", "--name", "Erik <erik@example.com>", *w)
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea <lea@example.com>", *w)
    code, out, err = cli("promote", MODEL, "--to", "validated", *w, "--format", "json", expect=None)
    assert code == 0, out + err
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Sam <sam@example.com>", *w)
    code, out, err = cli("promote", MODEL, "--to", "released", *w, "--format", "json", expect=None)
    assert code == 0, out + err
    code, out, _ = cli("notify", *w, "--format", "json")
    doc = json.loads(out)
    assert doc["undelivered"] == 0 and doc["delivered"] == 5, doc  # data approval, 2 x (mail + webhook)
    released = [email.message_from_bytes(raw, policy=policy.default) for _, raw in mails]
    released = [m for m in released if m["X-Mle3-Event"] == "promote.released"]
    (mail,) = released
    assert mail["X-Mle3-Item"] == MODEL and mail["X-Mle3-Fingerprint"].startswith("sha256:")
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == f"11-06_{MODEL}.html" and MODEL.encode() in attachment.get_payload(decode=True)
    hooks = [json.loads(body) for headers, body in posts if headers["Authorization"] == "Bearer seam-token"]
    (hook,) = [h for h in hooks if h["event"] == "promote.released"]
    assert hook["item"] == MODEL and hook["status"] == "released" and hook["report"]["wp"] == "11-06"
    assert hook["fingerprint"] == mail["X-Mle3-Fingerprint"]
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "released")
    # two clones each record a communication, then merge
    one, two = tmp_path / "one", tmp_path / "two"
    for name, clone in (("One", one), ("Two", two)):
        git(tmp_path, "clone", "-q", str(ws), str(clone))
        git(clone, "config", "user.name", name)
        git(clone, "config", "user.email", f"{name.lower()}@example.com")
    cli("approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dora <dora@example.com>", "-w", one)
    cli("approve", "TINY-DATA-v1", "--role", "ml_lead", "--name", "Lea <lea@example.com>", "-w", two)
    for clone in (one, two):
        cli("notify", "-w", clone)
        git(clone, "add", "-A")
        git(clone, "commit", "-qm", "approved and informed")
    git(one, "pull", "-q", "--no-rebase", str(two), "main")
    assert audit.verify(one)[1] == []
    assert cli("audit", "verify", "-w", one)[0] == 0
    about_data = [e for e in audit.history(one) if e["action"] == "communication" and e["item"] == "TINY-DATA-v1"]
    assert len(about_data) == 3 and all(e["details"]["delivered"] for e in about_data)
    html = tmp_path / "13-52.html"
    cli("report", "13-52", "TINY-DATA-v1", "-w", one, "--to", "html", "-o", html)
    text = html.read_text()
    assert text.count("approval.dataset") >= 3 and "data@example.com" in text
    cli("report", "13-52", MODEL, "-w", one, "--to", "html", "-o", tmp_path / "model.html")
    assert "promote.released" in (tmp_path / "model.html").read_text()
