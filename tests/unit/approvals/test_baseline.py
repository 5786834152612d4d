"""`mle3 baseline NAME`: a clean commit, the fingerprints of the approved items and a git
tag, recorded in the audit log; `check` compares the workspace with the newest baseline."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from conftest import require_git
from mle3.cli.shapes import SHAPES


@pytest.fixture(autouse=True)
def _git():
    require_git()


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def commit_all(root: Path, message: str = "work") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(make_ws, cli) -> Path:
    """The base workspace in a git repository, REQ-P and ARCH-1 approved, all committed."""
    root = make_ws()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Lea Lead")
    git(root, "config", "user.email", "lea@example.com")
    for item in ("REQ-P", "ARCH-1"):
        cli("approve", item, "--role", "ml_lead", "-w", root)
    commit_all(root, "approved")
    return root


def age(root: Path) -> None:
    """Date every file of the workspace an hour back, so `check` may answer from its result cache."""
    import os
    import time

    past = time.time() - 3600
    for path in root.rglob("*"):
        if ".git" not in path.parts and path.is_file():
            os.utime(path, (past, past))


def check(cli, root: Path) -> list[dict]:
    _, out, _ = cli("check", "-w", root, "--format", "json", expect=None)
    return json.loads(out)["findings"]


def baseline_findings(cli, root: Path) -> list[dict]:
    return [f for f in check(cli, root) if f["rule"].startswith("baseline.")]


def test_a_baseline_records_the_commit_the_approved_fingerprints_and_a_tag(repo, cli):
    from mle3 import audit, load_workspace
    from mle3.graph import build_graph
    from mle3.ledger.fingerprint import Fingerprints

    head = git(repo, "rev-parse", "HEAD")
    req = repo / "requirements/REQ-D.yaml"  # REQ-D is not approved: never part of the baseline
    _, out, _ = cli("baseline", "B1", "-m", "after review", "-w", repo, "--format", "json")
    doc = json.loads(out)
    jsonschema.Draft202012Validator(SHAPES[doc["schema"]]).validate(doc)
    b = doc["baseline"]
    assert b["name"] == "B1" and b["commit"] == head and b["tag"] == "baseline/B1" and b["items"] == 2
    assert b["message"] == "after review" and b["ok"] and b["problem"] is None
    assert git(repo, "rev-parse", "baseline/B1^{commit}") == head
    entry = json.loads((repo / b["file"]).read_text())
    assert entry["action"] == "baseline" and entry["hash"] == b["entry"]
    ws = load_workspace(repo, use_cache=False)
    prints = Fingerprints(ws, build_graph(ws))
    assert entry["details"]["items"] == {k: prints.of(k) for k in ("ARCH-1", "REQ-P")}
    assert "REQ-D" not in entry["details"]["items"] and req.is_file()
    assert not audit.read(repo).problems
    _, out, _ = cli("baseline", "--list", "-w", repo, "--format", "json")
    listed = json.loads(out)
    jsonschema.Draft202012Validator(SHAPES[listed["schema"]]).validate(listed)
    assert listed["schema"] == "mle3.baselines/1" and [x["name"] for x in listed["baselines"]] == ["B1"]
    _, out, _ = cli("baseline", "--list", "-w", repo)
    assert out.startswith("B1  ") and head[:12] in out and "2 approved items" in out
    assert baseline_findings(cli, repo) == []


def test_a_stale_or_rejected_approval_is_not_part_of_the_baseline(repo, cli):
    arch = repo / "requirements/ARCH.yaml"
    arch.write_text(arch.read_text() + "  title: changed after approval\n")
    cli("approve", "REQ-P", "--role", "ml_lead", "--reject", "-w", repo)
    commit_all(repo)
    _, out, _ = cli("baseline", "B1", "-w", repo, "--format", "json")
    assert json.loads(out)["baseline"]["items"] == 0


@pytest.mark.parametrize("dirt", ["untracked", "modified", "staged"])
def test_a_dirty_working_tree_is_refused_with_one_line(repo, cli, dirt):
    if dirt == "untracked":
        (repo / "requirements/NEW.yaml").write_text("requirement:\n  id: REQ-NEW\n  type: ml_data\n")
    else:
        arch = repo / "requirements/ARCH.yaml"
        arch.write_text(arch.read_text() + "  title: t\n")
        if dirt == "staged":
            git(repo, "add", "-A")
    code, out, err = cli("baseline", "B1", "-w", repo, expect=1)
    assert "not clean" in err and "commit" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert git(repo, "tag", "-l") == "" and not out
    _, out, _ = cli("baseline", "--list", "-w", repo)
    assert "no baseline" in out


def test_outside_git_or_before_the_first_commit_is_refused(make_ws, cli):
    root = make_ws()
    code, _, err = cli("baseline", "B1", "-w", root, expect=1)
    assert "not in a git repository" in err and "git init" in err
    git(root, "init", "-q", "-b", "main")
    code, _, err = cli("baseline", "B1", "-w", root, expect=1)
    assert "no commit yet" in err


def test_a_name_in_use_or_not_an_id_is_refused(repo, cli):
    cli("baseline", "B1", "-w", repo)
    # the tree is dirty now (the new entry): the name is refused first, exit 2
    code, _, err = cli("baseline", "B1", "-w", repo, expect=2)
    assert "baseline 'B1' exists" in err and len(err.strip().splitlines()) == 1
    commit_all(repo)
    git(repo, "tag", "baseline/B2")  # a tag by hand (or an interrupted baseline): no entry, still taken
    code, _, err = cli("baseline", "B2", "-w", repo, expect=2)
    assert "git tag baseline/B2 exists" in err and "git tag -d baseline/B2" in err
    for bad in ("../up", "a b", "-x", ""):
        code, _, err = cli("baseline", bad, "-w", repo, expect=2)
        assert "Traceback" not in err
    _, out, _ = cli("baseline", "--list", "-w", repo, "--format", "json")
    assert [b["name"] for b in json.loads(out)["baselines"]] == ["B1"]


def test_check_finds_a_changed_and_a_removed_approved_item(repo, cli):
    cli("baseline", "B1", "-w", repo)
    commit_all(repo, "baseline B1")
    assert baseline_findings(cli, repo) == []
    arch = repo / "requirements/ARCH.yaml"
    arch.write_text(arch.read_text().replace("[REQ-P]", "[REQ-P, REQ-D]"))
    found = baseline_findings(cli, repo)  # answered by a full check, not the result cache
    assert [(f["rule"], f["item"], f["file"], f["severity"]) for f in found] == [
        ("baseline.changed", "ARCH-1", "requirements/ARCH.yaml", "warning")
    ]
    assert (
        "baseline B1" in found[0]["message"] and "git diff baseline/B1 -- requirements/ARCH.yaml" in found[0]["message"]
    )
    # upstream counts: REQ-P's content changes, so does what rests on it (ARCH-1 traces to it)
    arch.write_text(arch.read_text().replace("[REQ-P, REQ-D]", "[REQ-P]"))
    req = repo / "requirements/REQ-P.yaml"
    req.write_text(req.read_text().replace("title: perf", "title: perf (revised)"))
    assert {f["item"] for f in baseline_findings(cli, repo)} == {"REQ-P", "ARCH-1"}
    arch.unlink()
    found = [f for f in baseline_findings(cli, repo) if f["rule"] == "baseline.removed"]
    assert len(found) == 1 and "ARCH-1" in found[0]["message"] and found[0]["file"].startswith("artifacts/audit/")
    assert found[0]["severity"] == "warning"


def test_check_compares_with_the_newest_baseline(repo, cli):
    cli("baseline", "B1", "-w", repo)
    arch = repo / "requirements/ARCH.yaml"
    arch.write_text(arch.read_text() + "  title: second\n")
    cli("approve", "ARCH-1", "--role", "ml_lead", "-w", repo)
    commit_all(repo)
    assert [f["rule"] for f in baseline_findings(cli, repo)] == ["baseline.changed"]
    cli("baseline", "B2", "-w", repo)
    assert baseline_findings(cli, repo) == []


def test_a_moved_tag_is_an_error_and_a_deleted_one_a_warning(repo, cli):
    cli("baseline", "B1", "-w", repo)
    recorded = git(repo, "rev-parse", "HEAD")
    commit_all(repo, "baseline B1")
    age(repo)
    assert baseline_findings(cli, repo) == []
    assert baseline_findings(cli, repo) == []  # the second check answers from the result cache...
    git(repo, "tag", "-f", "baseline/B1", "HEAD")  # ...which must notice the tag moving
    found = baseline_findings(cli, repo)
    assert [(f["rule"], f["severity"]) for f in found] == [("baseline.tag-moved", "error")]
    assert recorded[:12] in found[0]["message"] and found[0]["file"].startswith("artifacts/audit/")
    code, _, _ = cli("check", "-w", repo, expect=1)
    # packed refs (git gc, a fresh clone) are read as well
    git(repo, "pack-refs", "--all")
    assert [f["rule"] for f in baseline_findings(cli, repo)] == ["baseline.tag-moved"]
    # an annotated tag on the recorded commit is that commit
    git(repo, "tag", "-f", "-a", "-m", "re-made", "baseline/B1", recorded)
    assert baseline_findings(cli, repo) == []
    git(repo, "tag", "-d", "baseline/B1")
    found = baseline_findings(cli, repo)
    assert [(f["rule"], f["severity"]) for f in found] == [("baseline.tag-missing", "warning")]
    assert f"git tag baseline/B1 {recorded}" in found[0]["message"]


def test_an_edited_baseline_entry_does_not_verify_and_is_not_used(repo, cli):
    _, out, _ = cli("baseline", "B1", "-w", repo, "--format", "json")
    path = repo / json.loads(out)["baseline"]["file"]
    entry = json.loads(path.read_text())
    entry["details"]["items"]["REQ-P"] = "sha256:" + "1" * 64  # "it was approved like this"
    path.write_text(json.dumps(entry))
    findings = check(cli, repo)
    assert any(f["rule"] == "approval.audit-log" and f["file"] == str(path.relative_to(repo)) for f in findings)
    assert not [f for f in findings if f["rule"] == "baseline.changed"]
    _, out, _ = cli("baseline", "--list", "-w", repo, "--format", "json")
    listed = json.loads(out)["baselines"][0]
    assert listed["ok"] is False and "does not verify" in listed["problem"]


def test_a_large_baseline_is_recorded_in_parts(repo, cli, monkeypatch):
    from mle3 import audit
    from mle3.ledger import baseline as baselines

    monkeypatch.setattr(baselines, "PART_SIZE", 1)
    _, out, _ = cli("baseline", "B1", "-w", repo, "--format", "json")
    b = json.loads(out)["baseline"]
    log = audit.read(repo)
    (found,) = baselines.recorded(log)
    assert found.usable and len(found.parts) == 2 and set(found.items) == {"ARCH-1", "REQ-P"} and b["items"] == 2
    assert all(log.by_hash[p].action == "baseline.items" for p in found.parts)
    commit_all(repo)
    arch = repo / "requirements/ARCH.yaml"
    arch.write_text(arch.read_text() + "  title: t\n")
    assert [f["item"] for f in baseline_findings(cli, repo)] == ["ARCH-1"]
    # a part removed: the log says so, and the baseline is not used
    (repo / audit.entry_file(found.parts[0], repo)).unlink()
    findings = check(cli, repo)
    assert any(f["rule"] == "approval.audit-log" for f in findings)
    assert not [f for f in findings if f["rule"] == "baseline.changed"]


def _package(folder: Path) -> Path:
    folder.mkdir()
    (folder / "13-65_M.pdf").write_bytes(b"%PDF-1.7 report")
    (folder / "index.html").write_text("<html></html>")
    (folder / "release.json").write_text(
        json.dumps({"model": "MODEL-v1", "documents": [{"wp": "13-65", "item": "MODEL-v1", "file": "13-65_M.pdf"}]})
    )
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(folder.iterdir())]
    (folder / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")
    return folder


def test_a_release_package_is_recorded_by_its_digests(repo, cli, tmp_path):
    package = _package(tmp_path / "release-MODEL-v1")
    _, out, _ = cli("baseline", "R1", "--release-dir", package, "-w", repo, "--format", "json")
    release = json.loads(out)["baseline"]["release"]
    digest = "sha256:" + hashlib.sha256(b"%PDF-1.7 report").hexdigest()
    assert release["files"]["13-65_M.pdf"] == digest and set(release["files"]) == {
        "13-65_M.pdf",
        "index.html",
        "release.json",
    }
    assert (
        release["manifest_sha256"] == "sha256:" + hashlib.sha256((package / "MANIFEST.sha256").read_bytes()).hexdigest()
    )
    assert release["model"] == "MODEL-v1" and release["dir"] == "release-MODEL-v1"  # outside: no machine's path
    assert release["documents"][0]["sha256"] == digest
    commit_all(repo)
    (package / "13-65_M.pdf").write_bytes(b"%PDF-1.7 edited")
    code, _, err = cli("baseline", "R2", "--release-dir", package, "-w", repo, expect=2)
    assert "13-65_M.pdf" in err and "differs from MANIFEST.sha256" in err
    (package / "13-65_M.pdf").unlink()
    (package / "13-65_M.pdf").symlink_to(package / "index.html")
    code, _, err = cli("baseline", "R2", "--release-dir", package, "-w", repo, expect=2)
    assert "13-65_M.pdf: a symbolic link" in err and "regular files only" in err
    (package / "13-65_M.pdf").unlink()
    (package / "13-65_M.pdf").write_bytes(b"%PDF-1.7 report")
    (package / "extra.txt").write_text("x")
    code, _, err = cli("baseline", "R2", "--release-dir", package, "-w", repo, expect=2)
    assert "extra.txt" in err and "not listed" in err
    (package / "extra.txt").unlink()
    (package / "MANIFEST.sha256").write_text("garbage\n")
    code, _, err = cli("baseline", "R2", "--release-dir", package, "-w", repo, expect=2)
    assert "MANIFEST.sha256:1" in err
    code, _, err = cli("baseline", "R2", "--release-dir", tmp_path / "nowhere", "-w", repo, expect=2)
    assert "Traceback" not in err
    assert git(repo, "tag", "-l") == "baseline/R1"  # nothing refused left a tag behind


def test_a_failure_after_the_tag_removes_it_again(repo, cli, monkeypatch):
    from mle3.ledger import baseline as baselines

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(baselines.audit, "append", broken)
    code, _, err = cli("baseline", "B1", "-w", repo, expect=None)
    assert code != 0 and git(repo, "tag", "-l") == ""
    monkeypatch.undo()
    cli("baseline", "B1", "-w", repo)  # nothing was taken: the name is free
    assert git(repo, "tag", "-l") == "baseline/B1"


def test_two_processes_recording_one_name_record_it_once(repo):
    import os
    import sys

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[3]), os.environ.get("PYTHONPATH")])
        ),
    }
    cmd = [sys.executable, "-c", "from mle3.cli import run; run()", "baseline", "B1", "-w", str(repo)]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = sorted((p.wait(timeout=120), p.stderr.read()) for p in procs)
    assert [code for code, _ in results] == [0, 2], results
    assert "exists" in results[1][1]
    from mle3 import audit
    from mle3.ledger import baseline as baselines

    assert [b.name for b in baselines.recorded(audit.read(repo))] == ["B1"]
