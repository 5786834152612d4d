"""Approvals bound to fingerprints, staleness, promotion gates, separation of duties, audit."""

from __future__ import annotations

import json

import yaml

from conftest import check_json

from mle3 import audit

MODEL = "TINY-MODEL-v0.1.0"
MODEL_FILE = f"artifacts/models/{MODEL}.yaml"


def model_doc(root):
    return yaml.safe_load((root / MODEL_FILE).read_text())["model_version"]


def test_approval_is_bound_to_the_fingerprint_and_goes_stale(trained_ws, cli):
    code, out, _ = cli(
        "approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws, "--format", "json"
    )
    first = json.loads(out)
    assert code == 0 and first["decision"] == "approved" and first["fingerprint"].startswith("sha256:")
    code, doc = check_json(cli, trained_ws, "--no-cache")
    assert not [f for f in doc["findings"] if f["rule"] == "approval.stale"]
    weights = trained_ws / model_doc(trained_ws)["artifacts"]["weights"]
    weights.write_bytes(weights.read_bytes() + b"\0")  # the weights change after approval
    code, doc = check_json(cli, trained_ws, "--no-cache")
    stale = [f for f in doc["findings"] if f["rule"] == "approval.stale"]
    assert (
        stale and stale[0]["item"] == MODEL and "Lea Lead" in stale[0]["message"] and stale[0]["severity"] == "warning"
    )


def test_upstream_change_makes_approval_stale(trained_ws, cli):
    assert cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)[0] == 0
    req = trained_ws / "requirements/R.yaml"
    req.write_text(req.read_text().replace("Tiny detector quality", "Tiny detector quality (revised)"))
    code, doc = check_json(cli, trained_ws, "--no-cache")
    assert any(f["rule"] == "approval.stale" for f in doc["findings"])


def test_unknown_role_is_rejected(trained_ws, cli):
    code, _, err = cli("approve", MODEL, "--role", "janitor", "-w", trained_ws, expect=2)
    assert code == 2 and "janitor" in err and "ml_lead" in err


def test_promote_refuses_and_lists_what_is_missing(trained_ws, cli):
    code, out, _ = cli("promote", MODEL, "--to", "released", "-w", trained_ws, "--format", "json", expect=1)
    gate = json.loads(out)
    assert code == 1 and not gate["ok"] and "not allowed" in gate["missing"][0]
    code, out, _ = cli("promote", MODEL, "--to", "validated", "-w", trained_ws, "--format", "json", expect=1)
    gate = json.loads(out)
    assert code == 1 and any("role ml_lead" in m for m in gate["missing"])
    assert model_doc(trained_ws)["status"] == "draft"


def test_promote_with_fresh_approvals_fills_approver_and_logs(trained_ws, cli):
    assert cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead <lea@example.com>", "-w", trained_ws)[0] == 0
    before = (trained_ws / MODEL_FILE).read_text()
    code, out, _ = cli("promote", MODEL, "--to", "validated", "-w", trained_ws)
    assert code == 0, out
    after = (trained_ws / MODEL_FILE).read_text()
    doc = model_doc(trained_ws)
    assert (
        doc["status"] == "validated"
        and doc["approver"] == "Lea Lead <lea@example.com> (ml_lead)"
        and doc["approval_date"]
    )
    assert after.splitlines()[0] == before.splitlines()[0]  # the header comment is kept
    assert len(after.splitlines()) == len(before.splitlines())
    actions = [e["action"] for e in audit.history(trained_ws)]
    assert actions[-2:] == ["approval", "promote"]
    code, report = check_json(cli, trained_ws, "--no-cache")
    assert report["summary"]["errors"] == 0, report["findings"]
    # promotion changed status/approver only: the approval stays fresh
    assert not [f for f in report["findings"] if f["rule"].startswith("approval.")]


def test_validated_model_whose_approval_went_stale_is_an_error(trained_ws, cli):
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    assert cli("promote", MODEL, "--to", "validated", "-w", trained_ws)[0] == 0
    epochs = next(
        (trained_ws / "artifacts/runs").glob("*/epochs.jsonl")
    )  # the run's evidence, part of the model's content
    epochs.write_text(epochs.read_text().replace('"epoch": 2', '"epoch": 2, "edited": true'))
    code, doc = check_json(cli, trained_ws, "--no-cache")
    rules = {(f["rule"], f["severity"]) for f in doc["findings"]}
    assert code == 1 and ("approval.stale", "error") in rules and ("approval.missing", "error") in rules


def test_separation_of_duties(trained_ws, cli):
    trainer = next(e["actor"] for e in audit.history(trained_ws) if e["action"] == "run.start")
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    assert cli("promote", MODEL, "--to", "validated", "-w", trained_ws)[0] == 0
    # the trainer approves the release, and one person fills two roles: both refused
    cli("approve", MODEL, "--role", "safety_assessor", "--name", trainer, "-w", trained_ws)
    code, out, _ = cli("promote", MODEL, "--to", "released", "-w", trained_ws, "--format", "json", expect=1)
    missing = json.loads(out)["missing"]
    assert code == 1 and any("ran the training" in m for m in missing)
    # and says what helps: another person approves; the trainer withdraws
    assert any("by someone other than" in m and "--reject --comment WHY" in m for m in missing), missing
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Lea Lead", "-w", trained_ws)
    code, out, _ = cli("promote", MODEL, "--to", "released", "-w", trained_ws, "--format", "json", expect=1)
    missing = json.loads(out)["missing"]
    assert code == 1 and any("one person may fill only one role" in m for m in missing)
    # a rejection revokes the trainer's approval; an independent assessor approves
    cli("approve", MODEL, "--role", "safety_assessor", "--name", trainer, "--reject", "-w", trained_ws)
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Lea Lead", "--reject", "-w", trained_ws)
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Sam Safety", "-w", trained_ws)
    # the release rests on the configuration's 04-11 and the data set's 11-07: the policy asks approvals for both
    code, out, _ = cli("promote", MODEL, "--to", "released", "-w", trained_ws, "--format", "json", expect=1)
    missing = json.loads(out)["missing"]
    assert code == 1 and missing == [
        "the 04-11 of TINY-TRAIN-001 needs a fresh approval by role ml_engineer before the release: mle3 approve "
        "TINY-TRAIN-001 --role ml_engineer",
        "the 11-07 of TINY-DATA-v1 needs a fresh approval by role data_owner before the release: mle3 approve "
        "TINY-DATA-v1 --role data_owner",
    ], missing
    cli("approve", "TINY-TRAIN-001", "--role", "ml_engineer", "--name", "Eve Engineer", "-w", trained_ws)
    cli("approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dan Owner", "-w", trained_ws)
    code, out, _ = cli("promote", MODEL, "--to", "released", "-w", trained_ws)
    assert code == 0, out
    assert model_doc(trained_ws)["status"] == "released"


def test_a_policy_without_roles_for_the_upstream_work_products_says_so_at_release(trained_ws, cli):
    (trained_ws / "mle3.yaml").write_text(
        "project: tiny\npolicy:\n  approvals:\n    validated: [ml_lead]\n    released: [ml_lead, safety_assessor]\n  "
        "  '13-65': [ml_lead]\n    '04-11': []\n    '11-07': []\n"
    )
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    assert cli("promote", MODEL, "--to", "validated", "-w", trained_ws)[0] == 0
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Sam Safety", "-w", trained_ws)
    code, out, _ = cli("promote", MODEL, "--to", "released", "-w", trained_ws, "--format", "json")
    gate = json.loads(out)
    assert code == 0 and gate["ok"], gate
    assert gate["notes"] == [
        "the 04-11 of TINY-TRAIN-001 needs no approval: policy.approvals in mle3.yaml names no role for 04-11",
        "the 11-07 of TINY-DATA-v1 needs no approval: policy.approvals in mle3.yaml names no role for 11-07",
    ]


def test_an_entry_added_to_the_policy_keeps_the_default_gates(trained_ws, cli):
    # adding one entry (the approach reviewed by safety too) must not switch off the roles a release needs
    (trained_ws / "mle3.yaml").write_text(
        "project: tiny\npolicy:\n  approvals:\n    '08-65': [ml_lead, safety_assessor]\n"
    )
    from mle3 import load_workspace

    approvals = load_workspace(trained_ws).config.policy.approvals
    assert approvals["08-65"] == ["ml_lead", "safety_assessor"] and approvals["released"] == [
        "ml_lead",
        "safety_assessor",
    ]
    code, out, _ = cli("promote", MODEL, "--to", "validated", "-w", trained_ws, "--format", "json", expect=1)
    assert any("ml_lead" in m for m in json.loads(out)["missing"]), out


def test_unmet_criterion_blocks_promotion(trained_ws, cli):
    req = trained_ws / "requirements/R.yaml"
    req.write_text(req.read_text().replace("min: 0.0", "min: 1.01"))
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    code, out, _ = cli("promote", MODEL, "--to", "validated", "-w", trained_ws, "--format", "json", expect=1)
    assert code == 1 and any("criterion of REQ-PERF not met" in m for m in json.loads(out)["missing"])


def test_audit_tampering_is_detected(trained_ws, cli):
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    assert cli("audit", "verify", "-w", trained_ws)[0] == 0
    history = audit.history(trained_ws)
    approval = history[-1]
    path = trained_ws / audit.entry_file(approval["hash"])
    rel = audit.entry_file(approval["hash"])
    original = path.read_text()
    path.write_text(original.replace('"name":"Lea Lead"', '"name":"Somebody Else"'))
    code, out, _ = cli("audit", "verify", "-w", trained_ws, expect=1)
    assert code == 1 and f"{rel}:1" in out and "edited" in out
    code, doc = check_json(cli, trained_ws, "--no-cache")
    assert any(f["rule"] == "approval.audit-log" and f["file"] == rel for f in doc["findings"])
    path.write_text(original)
    middle = trained_ws / audit.entry_file(history[1]["hash"])
    middle.unlink()  # an entry that later entries follow, removed
    code, out, _ = cli("audit", "verify", "-w", trained_ws, expect=1)
    assert code == 1 and "removed entry" in out and audit.entry_file(history[2]["hash"]) in out


def test_audit_log_command_filters_by_item(trained_ws, cli):
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    code, out, _ = cli("audit", "log", "--item", MODEL, "-w", trained_ws, "--format", "json")
    entries = json.loads(out)["entries"]
    assert [e["action"] for e in entries] == ["approval"] and entries[0]["details"]["role"] == "ml_lead"


def test_audit_log_item_resolves_like_every_command_and_refuses_an_unknown_id(make_ws, cli):
    root = make_ws()
    assert cli("approve", "DATA-v1", "--role", "data_owner", "--name", "Dan", "-w", root)[0] == 0
    code, out, err = cli(
        "audit", "log", "--item", "DATA", "-w", root, "--format", "json"
    )  # a bare data set id: its latest version
    assert code == 0 and [e["item"] for e in json.loads(out)["entries"]] == ["DATA-v1"], (out, err)
    code, out, err = cli("audit", "log", "--item", "NO-SUCH-ITEM", "-w", root, expect=2)
    assert code == 2 and "no item with id 'NO-SUCH-ITEM'" in err and out == ""


def test_editing_the_configuration_after_training_leaves_the_model_bound_to_its_run(trained_ws, cli):
    """A tuning block or a new lr changes what the configuration says, not what the model
    was trained with: the model's approvals stay fresh, the configuration's go stale, and
    check names the changed fields."""
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    cli("approve", "TINY-TRAIN-001", "--role", "ml_engineer", "--name", "Eve Engineer", "-w", trained_ws)
    cfg = trained_ws / "artifacts/training/TINY.yaml"
    cfg.write_text(cfg.read_text().replace("lr: 0.002", "lr: 0.004"))
    code, doc = check_json(cli, trained_ws, "--no-cache")
    stale = {f["item"] for f in doc["findings"] if f["rule"] == "approval.stale"}
    assert stale == {"TINY-TRAIN-001"}, doc["findings"]
    drift = [f for f in doc["findings"] if f["rule"] == "consistency.config-drifted"]
    assert len(drift) == 1 and "optimizer.lr" in drift[0]["message"] and MODEL in drift[0]["message"], drift
    assert drift[0]["file"] == "artifacts/training/TINY.yaml" and drift[0]["line"]
    cfg.write_text(
        cfg.read_text()
        + "  tuning:\n    objective: {metric: mAP_50, split: val}\n    trials: 2\n    space:\n      optimizer.lr: "
        "{low: 0.001, high: 0.01, log: true}\n"
    )
    code, doc = check_json(cli, trained_ws, "--no-cache")
    drift = [f for f in doc["findings"] if f["rule"] == "consistency.config-drifted"]
    assert drift and "tuning" not in drift[0]["message"]  # a study is not part of what a training is
    assert MODEL not in {f["item"] for f in doc["findings"] if f["rule"] == "approval.stale"}


def test_a_cycle_gives_every_item_one_fingerprint_whatever_is_asked_first(make_ws):
    """An ODD traced to the requirement that uses it makes a cycle: each item's fingerprint
    (what an approval is bound to) must not depend on which item was fingerprinted first."""
    from mle3.graph import build_graph
    from mle3.ledger.fingerprint import Fingerprints
    from mle3.workspace import as_workspace

    root = make_ws(
        {
            "mle3.yaml": "project: cycle\n",
            "requirements/odd.yaml": "odd:\n  id: ODD-1\n  requirements: [REQ-D]\n  characteristics:\n"
            "    time_of_day: [day, night]\n",
            "requirements/d.yaml": "requirement:\n  id: REQ-D\n  type: ml_data\n  odd: ODD-1\n",
            "artifacts/training/t.yaml": "training:\n  id: T-1\n  model: yolov8n.yaml\n  epochs: 1\n"
            "  requirements: [REQ-D]\n",
        },
        base=False,
    )
    ws = as_workspace(root)
    graph = build_graph(ws)
    keys = ["T-1", "REQ-D", "ODD-1"]
    orders = [keys, list(reversed(keys)), ["ODD-1", "T-1", "REQ-D"]]
    seen = []
    for order in orders:
        prints = Fingerprints(ws, graph)
        seen.append({key: prints.of(key) for key in order})
    assert seen[0] == seen[1] == seen[2]
