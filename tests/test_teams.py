"""Team work on git branches, with real git and real mle3 processes: clones that approve,
register, train and quantize in parallel merge without conflicts (two-way and octopus),
and the merged audit log and policies still hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY_FILES, require_git, write_files

from mle3 import audit


@pytest.fixture(autouse=True)
def _git():
    require_git()


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc


def mle3(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false")
    return subprocess.run(
        [sys.executable, "-c", "from mle3.cli import run; run()", *args, "-w", str(cwd)],
        capture_output=True,
        text=True,
        env=env,
    )


def ok(cwd: Path, *args: str) -> str:
    proc = mle3(cwd, *args)
    assert proc.returncode == 0, f"mle3 {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def check(cwd: Path) -> dict:
    proc = mle3(cwd, "check", "--format", "json", "--no-cache")
    return json.loads(proc.stdout)


def errors(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["severity"] == "error"]


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """The team's repository: the tiny workspace with its data registered, committed."""
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate

    root = write_files(tmp_path_factory.mktemp("team") / "origin", {**TINY_FILES, ".gitignore": ".mle3/\n"})
    data_yaml = generate(root / "data" / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)
    register(root, data_yaml, "TINY-DATA", "v1", ["REQ-DATA"])
    git(root, "init", "-q", "-b", "main")
    identity(root, "Origin", "origin@example.com")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "workspace")
    return root


def identity(repo: Path, name: str, email: str) -> None:
    git(repo, "config", "user.name", name)
    git(repo, "config", "user.email", email)


def clone(origin: Path, target: Path, name: str) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(target))
    identity(target, name, f"{name.lower()}@example.com")
    return target


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def models(repo: Path) -> dict[str, Path]:
    out = {}
    for path in (repo / "artifacts/models").glob("*.yaml"):
        out[yaml.safe_load(path.read_text())["model_version"]["id"]] = path
    return out


def train_and_quantize(repo: Path) -> tuple[str, str]:
    trained = json.loads(ok(repo, "train", "TINY-TRAIN-001", "--epochs", "1", "--imgsz", "64", "--format", "json"))
    assert trained["status"] == "success"
    quantized = json.loads(
        ok(
            repo,
            "quantize",
            trained["model_version"],
            "--method",
            "ptq",
            "--calibration-images",
            "8",
            "--format",
            "json",
        )
    )
    assert quantized["status"] == "success"
    return trained["model_version"], quantized["model_version"]


@pytest.mark.slow
def test_parallel_clones_merge_both_ways_and_as_an_octopus(origin, tmp_path):
    work = tmp_path
    alice, bob, carol = (clone(origin, work / n.lower(), n) for n in ("Alice", "Bob", "Carol"))
    data_before = sorted(p.relative_to(origin).as_posix() for p in (origin / "data").rglob("*"))
    # Alice: data owner approval, a new data version, a training and a PTQ
    ok(alice, "approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Alice <alice@example.com>")
    ok(
        alice,
        "dataset",
        "register",
        str(alice / "data/tiny/data.yaml"),
        "--id",
        "TINY-DATA",
        "--version",
        "v2",
        "-r",
        "REQ-DATA",
    )
    alice_models = train_and_quantize(alice)
    commit(alice, "Alice: v2, training, PTQ")
    # Bob: the same kinds of work on his branch
    ok(bob, "approve", "TINY-DATA-v1", "--role", "ml_lead", "--name", "Bob <bob@example.com>")
    ok(
        bob,
        "dataset",
        "register",
        str(bob / "data/tiny/data.yaml"),
        "--id",
        "TINY-DATA",
        "--version",
        "v3",
        "-r",
        "REQ-DATA",
    )
    bob_models = train_and_quantize(bob)
    commit(bob, "Bob: v3, training, PTQ")
    # Carol: an approval only
    ok(carol, "approve", "TINY-DATA-v1", "--role", "ml_engineer", "--name", "Carol <carol@example.com>")
    commit(carol, "Carol: approval")
    for repo in (alice, bob):  # training wrote nothing into the registered data folder
        assert sorted(p.relative_to(repo).as_posix() for p in (repo / "data").rglob("*")) == data_before
    ids = set(alice_models) | set(bob_models)
    assert len(ids) == 4, ids  # no coordination, no collision
    integrator = clone(origin, work / "integrator", "Ivan")
    for name, repo in (("alice", alice), ("bob", bob), ("carol", carol)):  # the three branches, for the octopus below
        git(integrator, "fetch", "-q", str(repo), f"main:{name}")

    # two-way: Alice pulls Bob, Bob pulls Alice
    git(alice, "pull", "-q", "--no-rebase", str(bob), "main")
    git(bob, "pull", "-q", "--no-rebase", str(alice), "main")
    for repo in (alice, bob):
        assert not git(repo, "status", "--porcelain").stdout.strip()
        log = audit.read(repo)
        assert log.problems == [] and len(log.heads) == 2  # two branches, not joined yet
        assert set(models(repo)) == ids
        report = check(repo)
        assert not errors(report), errors(report)
    # the first entry after the merge joins the heads
    heads = audit.read(alice).heads
    ok(alice, "approve", "TINY-DATA-v2", "--role", "data_owner", "--name", "Alice <alice@example.com>")
    joined = audit.history(alice)[-1]
    assert joined["parents"] == sorted(heads) and audit.read(alice).heads == [joined["hash"]]
    assert "OK:" in ok(alice, "audit", "verify")

    # octopus: an integrator merges the three branches at once
    merged = git(integrator, "merge", "-q", "alice", "bob", "carol", "-m", "octopus", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert len(git(integrator, "log", "-1", "--format=%P").stdout.split()) == 3  # a real octopus of three branches
    log = audit.read(integrator)
    assert log.problems == [] and len(log.heads) == 3 and set(models(integrator)) == ids
    assert not errors(check(integrator)), errors(check(integrator))
    assert "OK:" in ok(integrator, "audit", "verify")


@pytest.fixture
def branches(origin, tmp_path):
    """Two clones of the origin, each with its own git identity."""
    return clone(origin, tmp_path / "one", "One"), clone(origin, tmp_path / "two", "Two")


def merge(into: Path, other: Path) -> None:
    git(into, "pull", "-q", "--no-rebase", str(other), "main")


def test_one_person_in_two_roles_on_two_branches_is_a_finding_after_the_merge(branches):
    one, two = branches
    ok(one, "approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Lea <lea@example.com>")
    ok(two, "approve", "TINY-DATA-v1", "--role", "ml_lead", "--name", "Lea <lea@example.com>")
    for repo in (one, two):
        assert not [f for f in check(repo)["findings"] if f["rule"] == "approval.duties"]
        commit(repo, "approval")
    merge(one, two)
    (duty,) = [f for f in check(one)["findings"] if f["rule"] == "approval.duties"]
    assert duty["severity"] == "error" and "data_owner and ml_lead" in duty["message"] and "--reject" in duty["message"]
    # on one branch, approve warns at once, with the way out
    proc = mle3(one, "approve", "TINY-DATA-v1", "--role", "ml_engineer", "--name", "Lea <lea@example.com>")
    assert proc.returncode == 0 and "warning: separation of duties" in proc.stderr and "--reject" in proc.stderr
    for role in ("ml_lead", "ml_engineer"):  # the way out: withdraw the other roles
        ok(one, "approve", "TINY-DATA-v1", "--role", role, "--name", "Lea <lea@example.com>", "--reject")
    assert not [f for f in check(one)["findings"] if f["rule"] == "approval.duties"]


def test_approve_and_reject_on_two_branches_conflict_until_decided_again(branches):
    one, two = branches
    ok(one, "approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dora <dora@example.com>")
    ok(
        two,
        "approve",
        "TINY-DATA-v1",
        "--role",
        "data_owner",
        "--name",
        "Dan <dan@example.com>",
        "--reject",
        "--comment",
        "labels look off",
    )
    commit(one, "approve")
    commit(two, "reject")
    merge(one, two)
    (conflict,) = [f for f in check(one)["findings"] if f["rule"] == "approval.conflict"]
    assert conflict["severity"] == "error" and "Dora" in conflict["message"] and "Dan" in conflict["message"]
    ok(
        one,
        "approve",
        "TINY-DATA-v1",
        "--role",
        "data_owner",
        "--name",
        "Dan <dan@example.com>",
        "--comment",
        "checked again",
    )
    assert not [f for f in check(one)["findings"] if f["rule"] == "approval.conflict"]


def test_the_same_data_version_registered_twice_with_different_data_is_a_conflict(branches):
    one, two = branches
    ok(
        one,
        "dataset",
        "register",
        str(one / "data/tiny/data.yaml"),
        "--id",
        "TINY-DATA",
        "--version",
        "v2",
        "-r",
        "REQ-DATA",
    )
    image = next((two / "data/tiny/images/train").iterdir())
    image.write_bytes(image.read_bytes() + b"\0")  # other data under the same version
    ok(
        two,
        "dataset",
        "register",
        str(two / "data/tiny/data.yaml"),
        "--id",
        "TINY-DATA",
        "--version",
        "v2",
        "-r",
        "REQ-DATA",
    )
    commit(one, "v2")
    commit(two, "v2, other data")
    merge(one, two)  # different record names: git merges without conflict...
    found = [f for f in check(one)["findings"] if f["rule"] == "dataset.version-conflict"]
    assert len(found) == 1 and found[0]["severity"] == "error"  # ...and check names both records
    records = sorted(p.relative_to(one).as_posix() for p in (one / "artifacts/datasets").glob("TINY-DATA-v2.*.yaml"))
    assert len(records) == 2 and all(r in found[0]["message"] or r == found[0]["file"] for r in records)


def test_tampering_after_a_merge_is_found(branches):
    one, two = branches
    ok(one, "approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dora <dora@example.com>")
    ok(one, "approve", "TINY-DATA-v1", "--role", "ml_lead", "--name", "Lea <lea@example.com>")
    ok(two, "approve", "TINY-DATA-v1", "--role", "ml_engineer", "--name", "Eve <eve@example.com>")
    commit(one, "two approvals")
    commit(two, "one approval")
    merge(one, two)
    ok(one, "approve", "TINY-DATA-v1", "--role", "safety_assessor", "--name", "Sam <sam@example.com>")
    history = audit.history(one)
    by_name = {e["details"].get("name"): e for e in history if e["action"] == "approval"}
    dora, lea = by_name["Dora <dora@example.com>"], by_name["Lea <lea@example.com>"]
    path = one / audit.entry_file(dora["hash"])
    original = path.read_text()
    path.write_text(original.replace('"decision":"approved"', '"decision":"rejected"'))  # an edited entry
    assert "edited" in mle3(one, "audit", "verify").stdout
    path.write_text(original)
    path.unlink()  # a removed middle entry
    out = mle3(one, "audit", "verify").stdout
    assert "removed entry" in out and audit.entry_file(lea["hash"]) in out
    path.write_text(original)
    lea_file = one / audit.entry_file(lea["hash"])
    lea_file.unlink()  # a removed parent of the entry that joined the merge
    proc = mle3(one, "audit", "verify")
    assert proc.returncode == 1 and "removed entry" in proc.stdout
    report = check(one)
    assert any(f["rule"] == "approval.audit-log" for f in report["findings"])


def test_lfs_pointer_weights_are_not_materialized_not_a_mismatch(trained_ws, cli):
    """A clone without `git lfs pull`: the weights file is a pointer whose oid is the real
    sha256, so approvals stay fresh and check names the command that fetches the file."""
    from mle3.hashing import sha256_file

    model_file = trained_ws / "artifacts/models/TINY-MODEL-v0.1.0.yaml"
    assert cli("approve", "TINY-MODEL-v0.1.0", "--role", "ml_lead", "--name", "Lea", "-w", trained_ws)[0] == 0
    weights = trained_ws / yaml.safe_load(model_file.read_text())["model_version"]["artifacts"]["weights"]
    digest, size = sha256_file(weights), weights.stat().st_size
    weights.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{digest}\nsize {size}\n")
    code, out, _ = cli("check", "-w", trained_ws, "--format", "json", "--no-cache", expect=None)
    findings = json.loads(out)["findings"]
    (hit,) = [f for f in findings if f["rule"] == "artifact.not-materialized"]
    assert "git lfs pull --include=" in hit["message"] and hit["field"] == "artifacts.weights"
    assert not [f for f in findings if f["rule"] in ("approval.stale", "consistency.artifact-missing")]
    code, _, err = cli("quantize", "TINY-MODEL-v0.1.0", "-w", trained_ws, expect=2)
    assert code == 2 and "git lfs pull" in err and "Traceback" not in err


def test_everything_mle3_writes_honours_the_umask(origin, tmp_path):
    import stat

    repo = clone(origin, tmp_path / "shared", "Shared")
    old = os.umask(0o022)
    try:
        ok(repo, "approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dora")
        ok(
            repo,
            "dataset",
            "register",
            str(repo / "data/tiny/data.yaml"),
            "--id",
            "TINY-DATA",
            "--version",
            "v9",
            "-r",
            "REQ-DATA",
        )
        ok(repo, "check")
    finally:
        os.umask(old)
    files = [
        p
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(repo).parts and "data" not in p.relative_to(repo).parts[:1]
    ]
    written = {p.relative_to(repo).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert any(k.startswith(".mle3/") for k in written) and any(k.startswith("artifacts/audit/") for k in written)
    assert set(written.values()) == {"0o644"}, {k: v for k, v in written.items() if v != "0o644"}
