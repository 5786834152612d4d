"""Signed approvals: throwaway ed25519 keys, allowed_signers with roles, tampering with
every signed field, validity windows, and promotion counting only verified approvals."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import check_json, require

from mle3 import audit

MODEL = "TINY-MODEL-v0.1.0"


def keypair(directory, name):
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, (directory / f"{name}.pub").read_text().split()[:2]


@pytest.fixture(autouse=True)
def _ssh_keygen():
    import shutil

    require("ssh-keygen", shutil.which("ssh-keygen") is not None, "openssh-client")


@pytest.fixture
def signed_ws(trained_ws, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    lea, lea_pub = keypair(keys, "lea")
    sam, sam_pub = keypair(keys, "sam")
    (trained_ws / "allowed_signers").write_text(
        f'lea@example.com namespaces="mle3-approval" {" ".join(lea_pub)} roles=ml_lead\n'
        f'sam@example.com namespaces="mle3-approval",valid-before="20200101" {" ".join(sam_pub)} roles=safety_assessor\n'
    )
    cfg = trained_ws / "mle3.yaml"
    cfg.write_text(cfg.read_text() + "policy:\n  require_signatures: true\n")
    return trained_ws, lea, sam


def signature_findings(cli, root):
    _, doc = check_json(cli, root, "--no-cache")
    return [f for f in doc["findings"] if f["rule"] == "approval.signature"]


def test_signed_approval_verifies_and_counts(signed_ws, cli):
    root, lea, _ = signed_ws
    code, out, err = cli(
        "approve", MODEL, "--role", "ml_lead", "--name", "Lea <lea@example.com>", "--key", lea, "-w", root
    )
    assert code == 0, err
    entry = audit.history(root)[-1]
    assert (
        entry["details"]["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
        and entry["details"]["principal"] == "lea@example.com"
    )
    assert signature_findings(cli, root) == []
    assert cli("audit", "verify", "-w", root)[0] == 0
    code, out, _ = cli("promote", MODEL, "--to", "validated", "-w", root)
    assert code == 0, out


@pytest.mark.parametrize("field", ["item", "fingerprint", "role", "decision", "time", "parents", "signature"])
def test_tampering_with_any_signed_field_is_detected(signed_ws, cli, field):
    root, lea, _ = signed_ws
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea <lea@example.com>", "--key", lea, "-w", root)
    history = audit.history(root)
    entry = dict(history[-1])
    original = root / audit.entry_file(entry["hash"])
    if field == "time":
        import datetime as dt

        entry["time"] = (dt.datetime.fromisoformat(entry["time"]) + dt.timedelta(seconds=1)).isoformat(
            timespec="seconds"
        )
    elif field == "item":
        entry[field] = entry[field][:-1] + ("X" if entry[field][-1] != "X" else "Y")
    elif field == "parents":  # moved to another place in the DAG (an existing, earlier entry)
        entry[field] = [history[0]["hash"]]
        assert entry[field] != history[-1]["parents"]
    elif field == "signature":
        sig = entry["details"]["signature"].splitlines()
        sig[2] = sig[2][:-4] + ("AAAA" if not sig[2].endswith("AAAA") else "BBBB")
        entry["details"]["signature"] = "\n".join(sig) + "\n"
    else:
        entry["details"][field] = {
            "fingerprint": "sha256:" + "0" * 64,
            "role": "safety_assessor",
            "decision": "rejected",
        }[field]
    from mle3.audit import entry_hash

    entry["hash"] = entry_hash(entry)  # even a tamperer who rehashes and renames the entry cannot forge the signature
    original.unlink()
    forged = root / audit.entry_file(entry["hash"])
    forged.parent.mkdir(parents=True, exist_ok=True)
    forged.write_text(json.dumps(entry, sort_keys=True) + "\n")
    found = signature_findings(cli, root)
    assert found and ("bad signature" in found[0]["message"] or "not allowed" in found[0]["message"]), found
    code, out, _ = cli("audit", "verify", "-w", root, expect=1)
    assert code == 1


def test_unsigned_wrong_role_and_expired_key_do_not_count(signed_ws, cli):
    root, lea, sam = signed_ws
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Nobody <nobody@example.com>", "--key", lea, "-w", root)
    assert any("bad signature" in f["message"] for f in signature_findings(cli, root))
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Lea <lea@example.com>", "--key", lea, "-w", root)
    assert any("not allowed to sign as safety_assessor" in f["message"] for f in signature_findings(cli, root))
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Sam <sam@example.com>", "--key", sam, "-w", root)
    assert any(
        "sam@example.com" in f["message"] and "bad signature" in f["message"] for f in signature_findings(cli, root)
    )  # key expired in 2020
    code, out, _ = cli("promote", MODEL, "--to", "validated", "-w", root, "--format", "json", expect=1)
    assert code == 1 and any("role ml_lead" in m for m in json.loads(out)["missing"])


def test_unsigned_approval_is_reported_when_signatures_are_required(signed_ws, cli, tmp_path):
    root, _, _ = signed_ws
    code, _, err = cli(
        "approve", MODEL, "--role", "ml_lead", "--name", "Lea", "--key", tmp_path / "missing-key", "-w", root, expect=2
    )
    assert code == 2 and "signing key" in err
    cfg = root / "mle3.yaml"
    cfg.write_text(cfg.read_text().replace("require_signatures: true", "require_signatures: false"))
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea", "-w", root)
    assert signature_findings(cli, root) == []
    cfg.write_text(cfg.read_text().replace("require_signatures: false", "require_signatures: true"))
    assert any("not signed" in f["message"] for f in signature_findings(cli, root))
