"""The assessment view on the set-up the README recommends: a git workspace whose data lies
below a data root outside it, a real training, approvals and a communication; and two
clones that merge their audit logs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import require_git

pytestmark = pytest.mark.slow
MODEL = "TINY-MODEL-v0.1.0"


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _repo(ws: Path) -> None:
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.name", "Tom Trainer")
    git(ws, "config", "user.email", "tom@example.com")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "trained")


def _practices(data: dict, process: str = "MLE.3") -> dict:
    return {p["id"]: p for p in next(x for x in data["processes"] if x["id"] == process)["practices"]}


def _view(cli, ws: Path, out: Path, *extra: str) -> dict:
    cli("report", "assessment", *extra, "-w", ws, "--to", "json", "-o", out)
    return json.loads(out.read_text())


def test_the_view_of_a_git_workspace_with_data_below_a_root(rooted_ws, cli, tmp_path):
    require_git()
    ws, nas = rooted_ws
    _repo(ws)
    data = _view(cli, ws, tmp_path / "a.json")
    bp2 = _practices(data)["MLE.3.BP2"]
    assert bp2["indicators"] == "present", bp2["reason"]  # manifest and metadata read below the root
    sup = _practices(data, "SUP.11")
    assert "data below the declared data root(s) nas" in sup["SUP.11.BP1"]["reason"]
    assert "under configuration management (git)" in sup["SUP.11.BP1"]["reason"]
    assert data["git"]["commit"]
    # no path of this machine leaks into the view: evidence names workspace-relative files
    text = json.dumps(data)
    assert str(nas) not in text and str(ws) not in text
    # the PDF renders and the 13-65 shows the same indicators
    from conftest import require_weasyprint

    require_weasyprint()
    code, out, err = cli("report", "assessment", MODEL, "-w", ws, "--to", "pdf", "-o", tmp_path / "a.pdf")
    assert "Traceback" not in err and (tmp_path / "a.pdf").stat().st_size > 5000
    model = _view(cli, ws, tmp_path / "m.json", MODEL)
    cli("report", "13-65", MODEL, "-w", ws, "--to", "html", "-o", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    for p in _practices(model).values():
        level = "indicators present" if p["indicators"] == "present" else p["indicators"]
        assert level in html
    assert "evidenced" not in html


def test_a_communication_recorded_in_one_clone_counts_after_the_merge(rooted_ws, cli, tmp_path):
    require_git()
    from mle3 import audit, build_graph, load_workspace
    from mle3.approvals import fingerprint_of
    from mle3.vocab import AuditAction

    ws, nas = rooted_ws
    _repo(ws)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(ws), str(other))
    git(other, "config", "user.name", "Sam Safety")
    git(other, "config", "user.email", "sam@example.com")
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", ws)
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "approved by the lead")
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Sam Safety", "-w", other)
    loaded = load_workspace(other)
    fp = fingerprint_of(loaded, build_graph(loaded), loaded.get(MODEL))
    audit.append(
        other,
        AuditAction.COMMUNICATION,
        MODEL,
        {
            "event": "approval.11-06",
            "message": "m-1",
            "channel": "webhook",
            "recipients": ["alm https://alm.example.com/hook"],
            "subject": f"{MODEL} approved",
            "message_sha256": "sha256:" + "a" * 64,
            "fingerprint": fp,
            "report": None,
            "delivered": True,
            "attempt": 1,
            "error": None,
        },
    )
    git(other, "add", "-A")
    git(other, "commit", "-qm", "approved by safety, communicated")
    before = _practices(_view(cli, ws, tmp_path / "b.json", MODEL))["MLE.3.BP5"]
    assert before["indicators"] == "partial" and "no communication evidence (13-52)" in before["reason"]
    git(ws, "pull", "-q", "--no-rebase", "--no-edit", str(other), "main")
    after = _practices(_view(cli, ws, tmp_path / "c.json", MODEL))["MLE.3.BP5"]
    assert after["indicators"] == "present", after["reason"]
    assert "communicated to alm https://alm.example.com/hook" in after["reason"]
    shutil.rmtree(other)
