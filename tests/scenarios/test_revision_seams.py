"""Document ids, revisions and histories on the README's set-up: a git workspace whose data
lies below a data root outside it, cloned twice, the clones' commits merged."""

from __future__ import annotations

import subprocess

from conftest import require_git

from mle3 import build_graph, load_workspace
from mle3.reports import revision as revision_module
from mle3.reports.products import Context
from mle3.reports.render import render_html

MODEL, TRAIN = "TINY-MODEL-v0.1.0", "TINY-TRAIN-001"


def git(root, *args, who="Ada Author"):
    env = {
        "GIT_AUTHOR_NAME": who,
        "GIT_AUTHOR_EMAIL": "a@example.org",
        "GIT_COMMITTER_NAME": who,
        "GIT_COMMITTER_EMAIL": "a@example.org",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True, env=env)


def test_merged_clones_count_both_commits_and_a_context_runs_one_git_log_per_item(rooted_ws, tmp_path, monkeypatch):
    require_git()
    root, _ = rooted_ws
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "tiny workspace")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(root), str(other))
    ws = load_workspace(root)
    rel = ws.get(TRAIN)._file
    path = other / rel
    path.write_text(path.read_text() + "# reviewed: learning rate kept\n")
    git(other, "commit", "-qam", "lower learning rate", who="Bob Builder")
    git(root, "pull", "-q", "--no-rebase", str(other), "main")

    calls: list[tuple[str, ...]] = []
    real = revision_module._git

    def counting(where, *args):
        calls.append(args)
        return real(where, *args)

    monkeypatch.setattr(revision_module, "_git", counting)
    ws = load_workspace(root)
    ctx = Context(ws, build_graph(ws))
    html, doc = render_html(ctx, "04-11", TRAIN)
    assert doc["doc_id"] == f"TINY_ROOTED-04-11-{TRAIN}"
    assert doc["revision"].startswith("rev 2 (") and not doc["revision_uncommitted"]
    assert [c["author"] for c in doc["commits"]] == ["Bob Builder", "Ada Author"]
    assert "lower learning rate" in html and doc["doc_id"] in html

    # the release package renders the model three times: one git log for it
    for wp in ("13-65", "11-06", "13-51"):
        render_html(ctx, wp, MODEL)
    logs = [a for a in calls if a[0] == "log"]
    assert len(logs) == 2, logs
