"""Review records on the set-up the README recommends: a git workspace whose data lies
below a data root outside it; a review written in one clone and approved in another, the
clones merge, then a reviewed item changes: the approval is stale and the 13-51 says so."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import require_git

pytestmark = pytest.mark.slow
MODEL = "TINY-MODEL-v0.1.0"
REVIEW_FILE = "requirements/reviews/REV-TINY.yaml"
REVIEW = f"""review:
  id: REV-TINY
  reviews: [{MODEL}, TINY-DATA-v1]
  reviewer: Rita Reviewer
  date: 2026-01-05
  scope: semantic coherence of the trace of {MODEL}
  checklist:
    - {{question: the data set fits the data requirement, result: pass}}
  sampled_links:
    - {{source: TINY-DATA-v1, relation: satisfies, target: REQ-DATA, result: consistent}}
  result: passed
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _review(cli, ws: Path, out: Path) -> dict:
    cli("report", "13-51", MODEL, "-w", ws, "--to", "json", "-o", out)
    (review,) = json.loads(out.read_text())["reviews"]
    return review


def test_a_review_approved_in_a_clone_goes_stale_after_the_merge_when_a_reviewed_item_changes(rooted_ws, cli, tmp_path):
    require_git()
    ws, nas = rooted_ws
    (ws / REVIEW_FILE).parent.mkdir(parents=True, exist_ok=True)
    (ws / REVIEW_FILE).write_text(REVIEW)
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.name", "Tom Trainer")
    git(ws, "config", "user.email", "tom@example.com")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "trained and reviewed")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(ws), str(other))
    git(other, "config", "user.name", "Sam Safety")
    git(other, "config", "user.email", "sam@example.com")
    # the review is approved in the clone (the data below the root resolves there too)
    cli("approve", "REV-TINY", "--role", "safety_assessor", "--name", "Sam Safety", "-w", other)
    git(other, "add", "-A")
    git(other, "commit", "-qm", "review approved")
    assert _review(cli, ws, tmp_path / "a.json")["approvals"]["state"] == "unapproved"
    git(ws, "pull", "-q", "--no-rebase", "--no-edit", str(other), "main")
    fresh = _review(cli, ws, tmp_path / "b.json")
    assert fresh["approvals"]["state"] == "fresh", fresh["approvals"]
    assert fresh["sampled_links"][0]["in_graph"] is True and not fresh["findings"], fresh["findings"]
    # the data requirement the reviewed data set satisfies changes: the review's approval binds other content
    req = next(p for p in (ws / "requirements").glob("*.yaml") if "Tiny shapes data" in p.read_text())
    req.write_text(req.read_text().replace("title: Tiny shapes data", "title: Tiny shapes data, re-stated"))
    git(ws, "commit", "-qam", "data requirement edited")
    stale = _review(cli, ws, tmp_path / "c.json")
    assert stale["approvals"]["state"] == "stale" and "Sam Safety" in stale["approvals"]["rows"][0]["stale"][0]
    code, out, _ = cli("check", "-w", ws, "--format", "json", expect=None)
    assert any(f["rule"] == "approval.stale" and f["item"] == "REV-TINY" for f in json.loads(out)["findings"]), out
    cli("report", "13-51", MODEL, "-w", ws, "--to", "html", "-o", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "Reviews (semantic consistency)" in html and 'approvals <span class="warn">stale</span>' in html
    assert str(nas) not in html
    shutil.rmtree(other)
