"""SSH signatures on approvals, guard by guard: what the signed message covers, who may
sign in which role, and each reason a signature does not count (found by
benchmarks/mutation.py). Signs with throwaway ed25519 keys through ssh-keygen."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import require

from mle3.ledger import signing
from mle3.errors import Mle3Error

TIME = "2026-03-01T12:00:00+00:00"


@pytest.fixture(autouse=True)
def _ssh_keygen():
    require("ssh-keygen", shutil.which("ssh-keygen") is not None, "openssh-client")


@pytest.fixture
def keys(tmp_path):
    out = {}
    for name in ("lea", "sam"):
        key = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
        out[name] = (key, " ".join((tmp_path / f"{name}.pub").read_text().split()[:2]))
    return out


@pytest.fixture
def root(tmp_path, keys):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / signing.ALLOWED_SIGNERS).write_text(
        "# who may sign\n\n"
        f'lea@example.com,lea@old.example.com namespaces="mle3-approval" {keys["lea"][1]} roles=ml_lead,safety_assessor\n'
        f'sam@example.com namespaces="mle3-approval",valid-before="20200101" {keys["sam"][1]} roles=safety_assessor\n'
    )
    return ws


def entry(
    key,
    *,
    name="Lea <lea@example.com>",
    role="ml_lead",
    item="M-1",
    fingerprint="f" * 64,
    decision="approved",
    time=TIME,
    parents=("b" * 64, "a" * 64),
    sign=True,
    **details,
):
    e = {
        "action": "approval",
        "item": item,
        "time": time,
        "parents": list(parents),
        "details": {"name": name, "role": role, "decision": decision, "fingerprint": fingerprint, **details},
    }
    if sign:
        payload = signing.message(item, fingerprint, role, decision, time, signing.chain_of(e))
        e["details"]["signature"] = signing.sign(key, payload)
    return e


def test_chain_is_the_sorted_parents_or_the_legacy_prev():
    assert signing.chain_of({"parents": ["b", "a"]}) == {"parents": ["a", "b"]}
    assert signing.chain_of({"parents": None}) == {"parents": []}
    assert signing.chain_of({"prev": "p"}) == {"prev": "p"}
    assert signing.chain_of({}) == {"prev": ""}


def test_the_message_is_canonical_json_of_every_signed_field():
    body = json.loads(signing.message("M", "fp", "ml_lead", "approved", TIME, {"parents": ["a"]}))
    assert body == {
        "namespace": "mle3-approval",
        "item": "M",
        "fingerprint": "fp",
        "role": "ml_lead",
        "decision": "approved",
        "time": TIME,
        "parents": ["a"],
    }
    raw = signing.message("M", "fp", "r", "d", "t", {"prev": ""})
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()


def test_principal_is_the_email_or_the_bare_name():
    assert signing.principal_of("Lea Meyer < lea@example.com >") == "lea@example.com"
    assert signing.principal_of("  lea  ") == "lea"


def test_signers_reads_principals_roles_and_line_numbers_skipping_comments(root, keys):
    lines = signing.signers(root)
    assert [(s.principals, s.roles, s.line) for s in lines] == [
        (["lea@example.com", "lea@old.example.com"], ["ml_lead", "safety_assessor"], 3),
        (["sam@example.com"], ["safety_assessor"], 4),
    ]
    (root / signing.ALLOWED_SIGNERS).write_text(f"kim@example.com {keys['lea'][1]}\n")
    assert [(s.principals, s.roles) for s in signing.signers(root)] == [(["kim@example.com"], [])]
    (root / signing.ALLOWED_SIGNERS).unlink()
    assert signing.signers(root) == []


def test_a_good_signature_verifies(root, keys):
    assert signing.verify(root, entry(keys["lea"][0])).ok
    assert signing.verify(root, entry(keys["lea"][0], role="safety_assessor")).ok


def test_every_signed_field_is_covered(root, keys):
    good = entry(keys["lea"][0])
    for path, value in [
        (("item",), "M-2"),
        (("time",), "2026-03-01T12:00:01+00:00"),
        (("parents",), ["c" * 64]),
        (("details", "fingerprint"), "e" * 64),
        (("details", "decision"), "rejected"),
        (("details", "role"), "safety_assessor"),
    ]:
        forged = json.loads(json.dumps(good))
        target = forged
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        check = signing.verify(root, forged)
        assert not check.ok and check.problem.startswith("bad signature for lea@example.com"), path


def test_parent_order_is_not_part_of_the_signature(root, keys):
    e = entry(keys["lea"][0])
    e["parents"].reverse()
    assert signing.verify(root, e).ok


def test_unsigned_entries_do_not_count(root, keys):
    check = signing.verify(root, entry(keys["lea"][0], sign=False))
    assert not check.ok and check.problem == "unsigned"
    assert signing.verify(root, {"item": "M", "time": TIME}).problem == "unsigned"


def test_no_allowed_signers_file_nothing_verifies(root, keys):
    e = entry(keys["lea"][0])
    (root / signing.ALLOWED_SIGNERS).unlink()
    check = signing.verify(root, e)
    assert not check.ok and "allowed_signers" in check.problem


def test_a_key_not_listed_for_the_principal_does_not_verify(root, keys):
    check = signing.verify(root, entry(keys["sam"][0]))  # Sam's key, Lea's name
    assert not check.ok and check.problem.startswith("bad signature for lea@example.com")


def test_an_expired_key_does_not_verify(root, keys):
    check = signing.verify(root, entry(keys["sam"][0], name="Sam <sam@example.com>", role="safety_assessor"))
    assert not check.ok and check.problem.startswith("bad signature for sam@example.com")


def test_a_signer_may_sign_only_in_the_roles_listed(root, keys):
    check = signing.verify(root, entry(keys["lea"][0], role="data_steward"))
    assert (
        not check.ok
        and "not allowed to sign as data_steward" in check.problem
        and "ml_lead, safety_assessor" in check.problem
    )


def test_roles_of_another_principal_do_not_count(root, keys):
    (root / signing.ALLOWED_SIGNERS).write_text(
        f"lea@example.com {keys['lea'][1]}\nsam@example.com {keys['sam'][1]} roles=ml_lead\n"
    )
    check = signing.verify(root, entry(keys["lea"][0]))
    assert not check.ok and "not allowed to sign as ml_lead" in check.problem and "none" in check.problem


def test_the_principal_field_names_who_signed(root, keys):
    e = entry(keys["lea"][0], name="Someone Else", principal="lea@old.example.com")
    assert signing.verify(root, e).ok
    e["details"]["principal"] = "sam@example.com"
    assert not signing.verify(root, e).ok


def test_an_unreadable_time_does_not_verify(root, keys):
    e = entry(keys["lea"][0], time="yesterday")
    check = signing.verify(root, e)
    assert not check.ok and check.problem == "approval time unreadable"


def test_signing_with_a_missing_or_broken_key_is_a_user_error(tmp_path):
    with pytest.raises(Mle3Error, match="not found"):
        signing.sign(tmp_path / "nope", b"x")
    broken = tmp_path / "broken"
    broken.write_text("not a key\n")
    broken.chmod(0o600)
    with pytest.raises(Mle3Error, match="could not sign"):
        signing.sign(broken, b"x")


def test_the_default_key_is_gits_signing_key_when_it_is_a_file(tmp_path, monkeypatch):
    import git

    repo = git.Repo.init(tmp_path / "repo")
    key = tmp_path / "mykey"
    key.write_text("k")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "signingkey", str(key))
    assert signing.default_key(tmp_path / "repo") == key
    monkeypatch.setenv("HOME", str(tmp_path))
    with repo.config_writer() as cfg:
        cfg.set_value("user", "signingkey", str(tmp_path / "missing"))
    assert signing.default_key(tmp_path / "repo") == tmp_path / ".ssh" / "id_ed25519"


def test_the_default_key_is_found_from_a_subfolder_and_outside_git_is_the_ssh_default(tmp_path, monkeypatch):
    import git

    repo = git.Repo.init(tmp_path / "repo")
    key = tmp_path / "mykey"
    key.write_text("k")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "signingkey", str(key))
    sub = tmp_path / "repo" / "a" / "b"
    sub.mkdir(parents=True)
    assert signing.default_key(sub) == key
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    outside = tmp_path / "plain"
    outside.mkdir()
    assert signing.default_key(outside) == tmp_path / ".ssh" / "id_ed25519"


def _fake_ssh_keygen(tmp_path, monkeypatch, script):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    exe = bin_dir / "ssh-keygen"
    exe.write_text("#!/bin/sh\n" + script + "\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


@pytest.mark.parametrize("script", ["kill -KILL $$", "exit 1", "echo oops >&2; exit 255"])
def test_a_verifier_that_dies_or_fails_silently_does_not_verify(root, keys, tmp_path, monkeypatch, script):
    e = entry(keys["lea"][0])
    _fake_ssh_keygen(tmp_path, monkeypatch, script)
    check = signing.verify(root, e)
    assert not check.ok and check.problem.startswith("bad signature for lea@example.com")
