"""Issue 21, holes 2, 3, 7, 9 and 11 (audit and approval parts): every gate counts only
approvals that verify, signatures cover every field, approvals bind run evidence, and the
audit reader refuses what it cannot trust, with one line naming the file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import check_json, require

from mle3 import audit
from mle3.audit import entry_hash

MODEL = "TINY-MODEL-v0.1.0"
MODEL_FILE = f"artifacts/models/{MODEL}.yaml"


# --------------------------------------------------------------------------- helpers
def write_entry(root, entry, remove=None):
    """Write ``entry`` (rehashed: a tamperer needs no key for that) as its own file; with
    ``remove`` the original entry's file is deleted (edited in place and renamed)."""
    entry = {k: v for k, v in entry.items() if k != "hash"}
    entry["hash"] = entry_hash(entry)
    if remove is not None:
        (root / audit.entry_file(remove)).unlink()
    path = root / audit.entry_file(entry["hash"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, sort_keys=True) + "\n")
    return entry


def last_entry(root):
    return audit.history(root)[-1]


def gate(cli, root, target="validated"):
    code, out, _ = cli("promote", MODEL, "--to", target, "-w", root, "--format", "json", expect=None)
    return code, json.loads(out)


def release_13_65(cli, root, item=MODEL, wp="13-65"):
    return cli("report", wp, item, "-o", root / f"{wp}.html", "--to", "html", "--release", "-w", root, expect=None)


def rules(cli, root):
    _, doc = check_json(cli, root, "--no-cache")
    return doc["findings"]


def run_dir(root):
    run_id = yaml.safe_load((root / MODEL_FILE).read_text())["model_version"]["training_run"]
    return root / "artifacts" / "runs" / run_id


def keypair(directory, name):
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, (directory / f"{name}.pub").read_text().split()[:2]


@pytest.fixture
def signed(trained_ws, tmp_path):
    """require_signatures, and Lea's key allowed for both roles (one key, two roles)."""
    require("ssh-keygen", shutil.which("ssh-keygen") is not None, "openssh-client")
    keys = tmp_path / "keys"
    keys.mkdir()
    lea, pub = keypair(keys, "lea")
    (trained_ws / "allowed_signers").write_text(
        f'lea@example.com namespaces="mle3-approval" {" ".join(pub)} roles=ml_lead,safety_assessor\n'
    )
    cfg = trained_ws / "mle3.yaml"
    cfg.write_text(cfg.read_text() + "policy:\n  require_signatures: true\n")
    return trained_ws, lea


def v1_fingerprint(root):
    from mle3.ledger.fingerprint import Fingerprints
    from mle3.graph import build_graph
    from mle3.workspace import load_workspace

    ws = load_workspace(root)
    return Fingerprints(ws, build_graph(ws), evidence=False).of(MODEL)


def approve_v1(root, role, name, key, deviation=None):
    """An approval signed the way mle3 signed before format 2 (item, fingerprint, role,
    decision, time, parents) and bound to the fingerprint as defined then (version 1)."""
    from mle3.ledger import signing

    fingerprint = v1_fingerprint(root)
    details = {
        "kind": "model_version",
        "role": role,
        "name": name,
        "decision": "approved",
        "fingerprint": fingerprint,
        "comment": "ok",
    }
    if deviation:
        details["deviation"] = deviation

    def finalize(entry):
        payload = signing.message(entry["item"], fingerprint, role, "approved", entry["time"], signing.chain_of(entry))
        entry["details"].update(principal=signing.principal_of(name), signature=signing.sign(key, payload))

    return audit.append(root, "approval", MODEL, details, actor=name, finalize=finalize)


# --------------------------------------------------------------------------- hole 2
def test_an_edited_rejection_counts_nowhere(trained_ws, cli):
    root = trained_ws
    assert cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "--reject", "-w", root)[0] == 0
    rejection = last_entry(root)
    path = root / audit.entry_file(rejection["hash"])
    path.write_text(path.read_text().replace('"decision":"rejected"', '"decision":"approved"'))
    assert cli("audit", "verify", "-w", root, expect=1)[0] == 1
    code, g = gate(cli, root)
    assert code == 1, g
    dropped = [m for m in g["missing"] if m.startswith("not counted")]
    assert dropped and audit.entry_file(rejection["hash"]) in dropped[0] and "does not verify" in dropped[0]
    code, out, err = release_13_65(cli, root)
    assert code == 1 and "APPROVED" not in out and "not approved" in err and "approval.audit-log" in err


def test_an_edited_later_decision_does_not_bring_an_earlier_approval_back(trained_ws, cli):
    root = trained_ws
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", root)
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "--reject", "-w", root)
    rejection = last_entry(root)
    path = root / audit.entry_file(rejection["hash"])
    path.write_text(path.read_text().replace('"comment":null', '"comment":"x"'))
    code, g = gate(cli, root)
    assert code == 1 and any("later decision of the same person" in m for m in g["missing"]), g


def test_an_approval_with_a_made_up_parent_does_not_count(trained_ws, cli):
    root = trained_ws
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", root)
    approval = last_entry(root)
    forged = write_entry(root, {**approval, "parents": ["ab" * 32]}, remove=approval["hash"])
    assert any(f["rule"] == "approval.audit-log" and "not in the log" in f["message"] for f in rules(cli, root))
    code, g = gate(cli, root)
    assert code == 1 and any(audit.entry_file(forged["hash"]) in m and "not in the log" in m for m in g["missing"]), g


# --------------------------------------------------------------------------- hole 3
def test_a_deviation_added_to_an_old_signature_is_not_carried(signed, cli):
    root, lea = signed
    model = root / MODEL_FILE
    model.write_text(
        model.read_text() + "  quantization:\n    passed: false\n    drop: {mAP50: 0.05}\n    threshold: 0.01\n"
    )
    original = approve_v1(root, "ml_lead", "Lea <lea@example.com>", lea)
    write_entry(
        root, {**original, "details": {**original["details"], "deviation": "quantization.drop", "comment": "fine"}}
    )
    assert cli("audit", "verify", "-w", root)[0] == 0  # the copy verifies: for what format 1 covered
    code, g = gate(cli, root)
    assert code == 1 and any("no approved deviation" in m for m in g["missing"]), g
    assert not any("role ml_lead" in m for m in g["missing"])  # the old approval itself still counts


def test_a_new_signature_covers_deviation_comment_and_name(signed, cli):
    root, lea = signed
    model = root / MODEL_FILE
    model.write_text(
        model.read_text() + "  quantization:\n    passed: false\n    drop: {mAP50: 0.05}\n    threshold: 0.01\n"
    )
    assert (
        cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea <lea@example.com>", "--key", lea, "-w", root)[0] == 0
    )
    signed_entry = last_entry(root)
    assert signed_entry["details"]["signature_format"] == 2 and signed_entry["details"]["fingerprint_version"] == 2
    for change in ({"deviation": "quantization.drop", "comment": "fine"}, {"name": "Sam <sam@example.com>"}):
        copy = write_entry(root, {**signed_entry, "details": {**signed_entry["details"], **change}})
        code, g = gate(cli, root)
        assert code == 1 and any(
            audit.entry_file(copy["hash"]) in m and "signature does not verify" in m for m in g["missing"]
        ), g
        (root / audit.entry_file(copy["hash"])).unlink()


def renamed(root, entry, name="Sam <sam@example.com>"):
    """The entry with another name (a field format 1 did not sign), rehashed, renamed."""
    return write_entry(
        root, {**entry, "actor": name, "details": {**entry["details"], "name": name}}, remove=entry["hash"]
    )


def test_duties_compare_verified_signers_not_names(signed, cli):
    root, lea = signed
    approve_v1(root, "ml_lead", "Lea <lea@example.com>", lea)
    renamed(root, approve_v1(root, "safety_assessor", "Lea <lea@example.com>", lea))
    duties = [f for f in rules(cli, root) if f["rule"] == "approval.duties"]
    assert duties and "lea@example.com" in duties[0]["message"] and "Sam" not in duties[0]["message"], duties
    code, g = gate(cli, root)
    assert code == 1 and any("one person may fill only one role" in m for m in g["missing"]), g


def test_the_release_names_the_verified_signer(signed, cli):
    root, lea = signed
    renamed(root, approve_v1(root, "ml_lead", "Lea <lea@example.com>", lea))
    code, g = gate(cli, root)
    assert code == 0 and g["approvals"][0]["signer"] == "lea@example.com" and "Sam" not in g["approvals"][0]["name"], g
    approver = yaml.safe_load((root / MODEL_FILE).read_text())["model_version"]["approver"]
    assert "lea@example.com" in approver and "Sam" not in approver


# --------------------------------------------------------------------------- hole 7
def test_run_evidence_edited_after_approval_makes_it_stale_and_release_refuses(trained_ws, cli):
    root = trained_ws
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", root)
    code, out, err = release_13_65(cli, root)
    assert code == 0 and "APPROVED" in out, err
    epochs = run_dir(root) / "epochs.jsonl"
    lines = epochs.read_text().splitlines()
    row = json.loads(lines[-1])
    row["mAP50"] = 0.99
    epochs.write_text("\n".join(lines[:-1] + [json.dumps(row)]) + "\n")
    assert any(f["rule"] == "approval.stale" and f["item"] == MODEL for f in rules(cli, root))
    code, out, err = release_13_65(cli, root)
    assert code == 1 and "approval.stale" in err and "not approved" in err


@pytest.mark.parametrize("evidence", ["config.yaml", "ultralytics/args.yaml"])
def test_config_snapshot_and_recorded_arguments_are_in_the_fingerprint(trained_ws, evidence):
    from mle3.ledger.fingerprint import Fingerprints
    from mle3.graph import build_graph
    from mle3.workspace import load_workspace

    def fingerprint():
        ws = load_workspace(trained_ws)
        return Fingerprints(ws, build_graph(ws)).of(MODEL)

    before = fingerprint()
    path = run_dir(trained_ws) / evidence
    assert path.is_file()
    path.write_text(path.read_text() + "# edited\n")
    assert fingerprint() != before


def test_approvals_recorded_before_run_evidence_keep_counting(trained_ws, cli):
    root = trained_ws
    v1 = v1_fingerprint(root)
    audit.append(
        root,
        "approval",
        MODEL,
        {
            "kind": "model_version",
            "role": "ml_lead",
            "name": "Old Lead",
            "decision": "approved",
            "fingerprint": v1,
            "comment": None,
        },
        actor="Old Lead",
    )
    assert not [f for f in rules(cli, root) if f["rule"].startswith("approval.")]
    code, g = gate(cli, root)
    assert code == 0, g


def test_release_refuses_a_data_set_whose_data_changed(trained_ws, cli):
    root = trained_ws
    cli("approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dana Data", "-w", root)
    code, out, err = release_13_65(cli, root, "TINY-DATA-v1", "11-07")
    assert code == 0 and "APPROVED" in out, err
    image = sorted((root / "data" / "tiny" / "images").rglob("*.jpg"))[0]
    image.write_bytes(image.read_bytes() + b"\0")
    code, out, err = release_13_65(cli, root, "TINY-DATA-v1", "11-07")
    assert code == 1 and "data.changed" in err, (out, err)
    target = root / "release"
    code, _, err = cli("report", "release", MODEL, "-o", target, "--release", "-w", root, expect=1)
    assert code == 1 and "data.changed" in err and not target.exists()


# --------------------------------------------------------------------------- hole 11
def test_a_crashed_append_leaves_nothing_git_would_pick_up(tmp_path, monkeypatch):
    audit.append(tmp_path, "a", None, actor="t")

    real = os.replace

    def crash(source, target):
        if str(target).endswith(".json") and audit.AUDIT_DIR in str(target):
            raise OSError(
                5, "I/O error"
            )  # after the entry's temporary file was written, before its rename: what a SIGKILL leaves
        real(source, target)

    with monkeypatch.context() as m:
        m.setattr(audit.os, "replace", crash)
        with pytest.raises(OSError):
            audit.append(tmp_path, "b", None, actor="t")
    assert [
        p.name for p in (tmp_path / audit.AUDIT_DIR).rglob("*") if p.is_file() and not p.name.endswith(".json")
    ] == []
    assert list((tmp_path / audit.TMP_DIR).iterdir())  # left where git does not look
    assert (tmp_path / ".mle3" / ".gitignore").read_text().strip() == "*"
    audit.append(tmp_path, "c", None, actor="t")
    assert [p for p in (tmp_path / audit.TMP_DIR).iterdir()] == []  # stale ones cleaned under the lock
    old = tmp_path / audit.AUDIT_DIR / "00" / ".x.json.1234abcd.tmp"  # left beside the entries by an earlier version
    old.parent.mkdir(exist_ok=True)
    old.write_text("{")
    shutil.rmtree(tmp_path / audit.INDEX_DIR)
    audit.append(tmp_path, "d", None, actor="t")
    assert not old.exists() and audit.verify(tmp_path) == (3, [])


def test_an_entry_read_through_a_symbolic_link_is_refused(tmp_path, cli, make_ws):
    root = make_ws()
    audit.append(root, "a", None, actor="t")
    outside = tmp_path / "outside.json"
    entry = {
        "time": "2030-01-01T00:00:00+00:00",
        "actor": "x",
        "host": "h",
        "action": "approval",
        "item": "MODEL-v1",
        "details": {},
        "parents": [],
    }
    entry["hash"] = entry_hash(entry)
    outside.write_text(json.dumps(entry) + "\n")
    link = root / audit.entry_file(entry["hash"])
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, link)
    count, problems = audit.verify(root)
    assert (
        count == 1
        and len(problems) == 1
        and "symbolic link" in problems[0].message
        and problems[0].file == audit.entry_file(entry["hash"])
    )
    code, out, _ = cli("audit", "verify", "-w", root, expect=1)
    assert code == 1 and "symbolic link" in out
    assert audit.append(root, "b", None, actor="t")["parents"] != [entry["hash"]]  # never a parent either


def test_a_child_dated_before_its_parent_is_an_audit_problem(tmp_path):
    parent = audit.append(tmp_path, "a", None, actor="t")
    child = {
        "time": "2020-01-01T00:00:00+00:00",
        "actor": "t",
        "host": "h",
        "action": "approval",
        "item": "X",
        "details": {},
        "parents": [parent["hash"]],
    }
    child = write_entry(tmp_path, child)
    _, problems = audit.verify(tmp_path)
    assert (
        len(problems) == 1
        and problems[0].file == audit.entry_file(child["hash"])
        and "before its parent" in problems[0].message
    )
    within_skew = write_entry(tmp_path, {**child, "time": parent["time"], "actor": "u"})
    assert [p.file for p in audit.verify(tmp_path)[1]] == [audit.entry_file(child["hash"])]
    assert within_skew


# --------------------------------------------------------------------------- hole 9
def test_a_deeply_nested_entry_is_one_line_not_a_recursion_error(trained_ws, cli):
    root = trained_ws
    name = audit.entry_file("cd" * 32)
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text("{" * 100_000)
    code, out, err = cli("audit", "verify", "-w", root, expect=1)
    assert code == 1 and f"{name}:1: entry is nested more than" in out and "Traceback" not in out + err
    assert any(f["rule"] == "approval.audit-log" and f["file"] == name for f in rules(cli, root))
    code, out, err = cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", root)
    assert code == 0, err
    code, g = gate(cli, root)
    assert code == 0, g  # an unreadable entry about nothing in particular blocks no promotion
    code, _, err = release_13_65(cli, root)
    assert code == 1 and name in err  # but no release is made from a log with unreadable entries


@pytest.mark.parametrize(
    "field,value",
    [("role", ["ml_lead"]), ("name", {"n": 1}), ("decision", 1), ("fingerprint", None), ("details", [1, 2])],
)
def test_approval_fields_of_the_wrong_type_are_findings(trained_ws, cli, field, value):
    root = trained_ws
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", root)
    approval = last_entry(root)
    changed = (
        {**approval, "details": value}
        if field == "details"
        else {**approval, "details": {**approval["details"], field: value}}
    )
    write_entry(root, changed, remove=approval["hash"])
    code, out, err = cli("audit", "verify", "-w", root, expect=1)
    where = "details" if field == "details" else f"details.{field}"
    assert code == 1 and where in out and "Traceback" not in out + err, out
    found = [f for f in rules(cli, root) if f["rule"] == "approval.audit-log"]
    assert found and where in found[0]["message"]
    code, g = gate(cli, root)
    assert code == 1 and any("malformed approval entry" in m for m in g["missing"]), g
    assert cli("audit", "log", "-w", root)[0] == 0


def test_a_binary_allowed_signers_file_is_one_finding(signed, cli):
    root, lea = signed
    assert (
        cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea <lea@example.com>", "--key", lea, "-w", root)[0] == 0
    )
    (root / "allowed_signers").write_bytes(b"\x7fELF\x00\xff\xfe" * 50)
    code, out, err = cli("audit", "verify", "-w", root, expect=1)
    assert code == 1 and "allowed_signers is a binary file" in out and "Traceback" not in out + err
    found = [f for f in rules(cli, root) if f["rule"] == "approval.signature"]
    assert found and "allowed_signers" in found[0]["message"]
    code, g = gate(cli, root)
    assert code == 1 and any("allowed_signers" in m for m in g["missing"])
