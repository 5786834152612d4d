"""Document id, revision and change history of a work product (mle3.reports.revision)."""

from __future__ import annotations

import subprocess

from conftest import require_git

from mle3 import build_graph, load_workspace
from mle3.reports.products import WORK_PRODUCTS, Context
from mle3.reports.revision import document_id, revision_of

TRAIN = "artifacts/train.yaml"


def git(root, *args):
    env = {
        "GIT_AUTHOR_NAME": "Ada Author",
        "GIT_AUTHOR_EMAIL": "ada@example.org",
        "GIT_COMMITTER_NAME": "Ada Author",
        "GIT_COMMITTER_EMAIL": "ada@example.org",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin:/usr/local/bin",
    }
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def committed_twice(make_ws):
    require_git()
    root = make_ws()
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first configuration")
    path = root / TRAIN
    path.write_text(path.read_text().replace("epochs: 10", "epochs: 12"))
    git(root, "commit", "-qam", "twelve epochs")
    return root


def document(root, wp_id="04-11", ref="TRAIN"):
    ws = load_workspace(root)
    ctx = Context(ws, build_graph(ws))
    return ctx.document(WORK_PRODUCTS[wp_id], ws.get(ref))


def test_two_commits_of_an_item_are_revision_2_with_both_history_rows(make_ws):
    root = committed_twice(make_ws)
    doc = document(root)
    short = doc["fingerprint"].rpartition(":")[2][:8]
    assert doc["revision"] == f"rev 2 ({short})"
    assert not doc["revision_uncommitted"]
    assert [(c["revision"], c["message"], c["author"]) for c in doc["commits"]] == [
        ("2", "twelve epochs", "Ada Author"),
        ("1", "first configuration", "Ada Author"),
    ]
    assert doc["doc_id"] == "TEST-04-11-TRAIN"  # stable: no date, the same every rendering
    assert document(root)["doc_id"] == doc["doc_id"]


def test_a_change_not_committed_reads_uncommitted(make_ws):
    root = committed_twice(make_ws)
    path = root / TRAIN
    path.write_text(path.read_text().replace("epochs: 12", "epochs: 14"))
    doc = document(root)
    assert doc["revision"] == "rev 2+ (uncommitted)"
    assert doc["revision_uncommitted"]


def test_a_renamed_file_keeps_its_history(make_ws):
    root = committed_twice(make_ws)
    git(root, "mv", TRAIN, "artifacts/training.yaml")
    git(root, "commit", "-qm", "rename")
    assert document(root)["revision_number"] == 3


def test_a_file_never_committed_is_revision_0(make_ws):
    root = committed_twice(make_ws)
    (root / "artifacts/train2.yaml").write_text(
        "training:\n  id: TRAIN2\n  model: yolov8n.yaml\n  dataset: DATA\n  epochs: 3\n"
    )
    doc = document(root, ref="TRAIN2")
    assert doc["revision"] == "rev 0 (never committed)" and doc["commits"] == []


def test_outside_git_the_document_says_so(make_ws, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = make_ws()
    rev = revision_of(root, TRAIN, "sha256:abcdef0123456789")
    assert rev.number is None and rev.reason == "not a git repository"
    assert rev.label == "unversioned (abcdef01)"
    doc = document(root)
    assert doc["revision_reason"] == "not a git repository" and doc["commits"] == []


def test_document_id_is_a_citable_slug():
    assert document_id("Pedestrian detection (demo)", "13-65", "PED-v3") == "PEDESTRIAN_DETECTION_DEMO-13-65-PED-v3"


def test_decisions_name_who_approved_which_content(make_ws, cli):
    root = committed_twice(make_ws)
    code, _, err = cli("approve", "TRAIN", "--role", "ml_engineer", "--name", "Eve", "-w", root)
    assert code == 0, err
    (decision,) = document(root)["decisions"]
    assert decision["who"] == "Eve" and decision["what"] == "approval"
    assert "approved as ml_engineer (this content)" in decision["text"]


def test_the_roles_say_whether_mle3_yaml_or_the_default_sets_them(make_ws):
    root = make_ws()
    assert document(root)["roles_source"] == "default"
    (root / "mle3.yaml").write_text("project: test\nexternal: ['SYS-*']\npolicy:\n  approvals:\n    04-11: [ml_lead]\n")
    assert document(root)["roles_source"] == "mle3.yaml"
    assert document(root, "11-07", "DATA")["roles_source"] == "default"
