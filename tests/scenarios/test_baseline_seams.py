"""Baselines at the seams, on the README's set-up (a git workspace whose data lies below a
data root outside it): the approved trace of a real training and its rendered release
package recorded in a baseline; two clones that each record a baseline merge with the
audit log intact, both baselines listed, the tags fetched, and `check` comparing with the
newest."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import require_git

from mle3 import audit

pytestmark = pytest.mark.slow
MODEL = "TINY-MODEL-v0.1.0"


def git(cwd, *args):
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def commit(repo, message):
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def baseline_rules(cli, ws):
    _, out, _ = cli("check", "-w", ws, "--format", "json", expect=None)
    return sorted((f["rule"], f["item"]) for f in json.loads(out)["findings"] if f["rule"].startswith("baseline."))


def test_a_release_is_baselined_and_two_clones_that_baseline_merge(rooted_ws, cli, tmp_path):
    require_git()
    from conftest import require_weasyprint

    ws, nas = rooted_ws
    (ws / ".gitignore").write_text(".mle3/\n/models/\n")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "config", "user.name", "Tom Trainer")
    git(ws, "config", "user.email", "tom@example.com")
    commit(ws, "workspace")
    w = ("-w", ws)
    cli("approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dora <dora@example.com>", *w)
    cli("approve", "TINY-TRAIN-001", "--role", "ml_engineer", "--name", "Erik <erik@example.com>", *w)
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea <lea@example.com>", *w)
    commit(ws, "approved")
    release_args: tuple = ()
    try:
        require_weasyprint()
        package = tmp_path / "release"  # outside the workspace: recorded by its digests, not committed
        cli("report", "release", MODEL, *w, "-o", package)
        release_args = ("--release-dir", package)
    except pytest.skip.Exception:
        package = None
    _, out, err = cli("baseline", "R1", "-m", "model trained and approved", *release_args, *w, "--format", "json")
    b = json.loads(out)["baseline"]
    assert b["items"] == 3 and b["commit"] == git(ws, "rev-parse", "HEAD") and "Traceback" not in err
    if package is not None:
        assert b["release"]["dir"] == "release" and any(f.endswith(".pdf") for f in b["release"]["files"])
        assert b["release"]["model"] == MODEL and str(tmp_path) not in json.dumps(b)
    commit(ws, "baseline R1")
    assert baseline_rules(cli, ws) == []
    # the data below the root is no part of git: the baseline still names what was approved
    assert str(nas) not in (ws / b["file"]).read_text()

    one, two = tmp_path / "one", tmp_path / "two"
    for name, clone in (("One", one), ("Two", two)):
        git(tmp_path, "clone", "-q", str(ws), str(clone))
        git(clone, "config", "user.name", name)
        git(clone, "config", "user.email", f"{name.lower()}@example.com")
        assert git(clone, "tag", "-l") == "baseline/R1"  # a clone brings the tags
    # each clone changes its own requirement text, approves it again and records a baseline
    for clone, title, name in ((one, "Tiny shapes data (one)", "B-ONE"), (two, "Tiny detector quality (two)", "B-TWO")):
        req = clone / "requirements/R.yaml"
        old = "Tiny shapes data" if clone == one else "Tiny detector quality"
        req.write_text(req.read_text().replace(old, title))
        assert ("baseline.changed", MODEL) in baseline_rules(cli, clone)  # the model rests on the requirements
        commit(clone, "requirement revised")
        cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea <lea@example.com>", "-w", clone)
        commit(clone, "approved again")
        cli("baseline", name, "-w", clone)
        commit(clone, f"baseline {name}")
        assert baseline_rules(cli, clone) == []
    git(one, "pull", "-q", "--no-rebase", "--no-edit", str(two), "main")
    assert audit.verify(one)[1] == []
    assert cli("audit", "verify", "-w", one)[0] == 0
    _, out, _ = cli("baseline", "--list", "-w", one, "--format", "json")
    listed = json.loads(out)["baselines"]
    assert sorted(x["name"] for x in listed) == ["B-ONE", "B-TWO", "R1"] and all(x["ok"] for x in listed)
    assert listed[0]["name"] == "R1"  # the DAG's order: R1 before both branches
    # `git pull PATH main` follows no tags: the other clone's tag is missing until fetched
    assert ("baseline.tag-missing", None) in baseline_rules(cli, one)
    git(one, "fetch", "-q", "--tags", str(two))
    found = baseline_rules(cli, one)
    # the merged requirements differ from both baselines: the newest in the DAG's order is the reference
    assert {rule for rule, _ in found} == {"baseline.changed"} and ("baseline.changed", MODEL) in found
    # a name recorded on the other branch is taken here too
    code, _, err = cli("baseline", listed[-1]["name"], "-w", one, expect=2)
    assert "exists" in err
    # an agreed merge is a new baseline: approve the merged content, record it, and check is quiet
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea <lea@example.com>", "-w", one)
    commit(one, "merged and approved")
    cli("baseline", "B-MERGED", "-w", one)
    assert baseline_rules(cli, one) == []
    _, out, _ = cli("baseline", "--list", "-w", one)
    assert out.splitlines()[-1].startswith("B-MERGED  ")
