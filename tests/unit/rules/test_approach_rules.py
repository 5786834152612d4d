"""The approach rules (08-65): entry criteria against the audit log and the run record, exit
criteria, the early-stopping rule, the hardware a run used and accepted deviations."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from mle3 import audit, load_workspace, run_checks
from mle3.rules.approach import hardware_gaps, model_exit_verdict, used_hardware
from mle3.workspace.approach_schema import HardwareRequirement

RUN = "RUN-20260101-000000-abcd"
RUN_FILE = f"artifacts/runs/{RUN}/run.yaml"
FP = "sha256:" + "a" * 64


def run_text(*, started="2000-01-01T00:00:00+00:00", fingerprint=FP, status="success", extra="") -> str:
    return (
        f"run:\n  id: {RUN}\n  config: TRAIN\n  status: {status}\n  kind: training\n  dataset_version: DATA-v1\n"
        f"  dataset_fingerprint: '{fingerprint}'\n  started: '{started}'\n"
        "  data_check: {checked: true, matches: true}\n  parameters: {device: '0', amp: true}\n"
        "  environment: {gpus: [NVIDIA A100-SXM4-80GB]}\n  epochs_completed: 4\n" + extra
    )


APPROACH = """
approach:
  id: APPROACH
  entry_criteria: {dataset_verified: true, dataset_approved: true}
  exit_criteria:
    metric: {metric: mAP_50, min: 0.6}
  environment: {hardware: "1x A100, amp"}
"""
TRAIN = "training:\n  id: TRAIN\n  model: yolov8n.yaml\n  dataset: DATA\n  epochs: 10\n  approach: APPROACH\n"
DATA = """
dataset:
  id: DATA
  version: v1
  fingerprint: 'FINGERPRINT'
  requirements: [REQ-D]
  classes: [car]
  splits:
    train: {samples: 700, path: data/train, instances: {car: 900}}
    val: {samples: 150, path: data/val}
    test: {samples: 150, path: data/test}
""".replace("FINGERPRINT", FP)


def ws_with(make_ws, **overrides):
    files = {"artifacts/approach.yaml": APPROACH, "artifacts/train.yaml": TRAIN, "artifacts/data.yaml": DATA}
    files[RUN_FILE] = run_text()
    files.update({k.replace("__yaml", ".yaml").replace("__", "/"): v for k, v in overrides.items()})
    return make_ws(files)


def hits(root, rule):
    return [f for f in run_checks(load_workspace(root, use_cache=False)).findings if f.rule == rule]


def set_run(root, **kw):
    (root / RUN_FILE).write_text(run_text(**kw))


def test_an_approval_counts_for_entry_only_before_the_start_and_for_the_data_the_run_used(make_ws, cli):
    root = ws_with(make_ws)
    [hit] = hits(root, "approach.entry-unmet")
    assert "dataset_approved" in hit.message and "no approval recorded" in hit.message and hit.file == RUN_FILE
    cli("approve", "DATA-v1", "--role", "data_owner", "--name", "Dan Owner", "-w", root)
    [hit] = hits(root, "approach.entry-unmet")  # approved now, the run started in 2000
    assert "only after the start" in hit.message
    set_run(root, started="2999-01-01T00:00:00+00:00")
    assert hits(root, "approach.entry-unmet") == []  # approved before a run that starts later: met
    set_run(root, started="2999-01-01T00:00:00+00:00", fingerprint="sha256:" + "b" * 64)
    [hit] = hits(root, "approach.entry-unmet")  # the run used other data than the one approved
    assert "changed since the run used it" in hit.message
    set_run(root, started="2999-01-01T00:00:00+00:00")
    cli("approve", "DATA-v1", "--role", "data_owner", "--name", "Dan Owner", "--reject", "-w", root)
    [hit] = hits(root, "approach.entry-unmet")  # the same person's latest decision before the start: rejected
    assert "rejected before the start" in hit.message


def test_a_backdated_approval_does_not_count(make_ws, cli):
    root = ws_with(make_ws)
    cli("approve", "DATA-v1", "--role", "data_owner", "--name", "Dan Owner", "-w", root)
    entry = audit.history(root)[-1]
    path = root / audit.entry_file(entry["hash"])
    path.write_text(path.read_text().replace(entry["time"], "1999-01-01T00:00:00+00:00"))
    [hit] = hits(root, "approach.entry-unmet")  # the edited entry does not verify: no approval counts
    assert "dataset_approved" in hit.message and "no approval recorded" in hit.message


def test_entry_criteria_read_the_data_check_and_the_git_state(make_ws):
    root = ws_with(
        make_ws,
        artifacts__approach__yaml=APPROACH.replace("dataset_approved: true", "clean_worktree: true"),
    )
    set_run(root, extra="  code: {commit: abc, dirty: true, dirty_files: [train.py]}\n")
    [hit] = hits(root, "approach.entry-unmet")
    assert "clean_worktree" in hit.message and "train.py" in hit.message
    set_run(root, extra="  code: {commit: abc, dirty: false}\n")
    assert hits(root, "approach.entry-unmet") == []
    (root / RUN_FILE).write_text(run_text(extra="  code: {dirty: false}\n").replace("matches: true", "matches: false"))
    [hit] = hits(root, "approach.entry-unmet")
    assert "dataset_verified" in hit.message


def test_study_trials_and_runs_before_the_approach_are_not_judged(make_ws):
    root = ws_with(make_ws)
    set_run(root, extra="  study: {id: S, trial: 1}\n")
    assert hits(root, "approach.entry-unmet") == []
    set_run(root, extra="  configuration: {id: TRAIN, epochs: 10}\n")  # its configuration named no approach then
    assert hits(root, "approach.entry-unmet") == [] and hits(root, "approach.hardware-deviation") == []


def _hw(device, gpus, amp=False):
    return used_hardware(
        SimpleNamespace(_raw={"parameters": {"device": device, "amp": amp}, "environment": {"gpus": gpus}})
    )


@pytest.mark.parametrize(
    "required,device,gpus,amp,problem",
    [
        ("2x A100, amp", "0,1", ["NVIDIA A100-SXM4-80GB"] * 2, True, None),
        ("2x A100, amp", "0", ["NVIDIA A100-SXM4-80GB"] * 2, True, "1 GPU(s)"),
        ("A100", "0", ["NVIDIA H100 80GB HBM3"], False, "H100"),
        ("1x NVIDIA A100, amp", "0", ["NVIDIA A100-PCIE-40GB"], False, "precision fp32"),
        ("NVIDIA A100", "cpu", [], False, "trained on cpu"),
        ("cpu", "cpu", [], False, None),
        ("cpu", "0", ["NVIDIA A100"], True, "requires cpu"),
        ("A100", "cuda:7", ["NVIDIA A100"], False, "not A100"),  # a device the environment does not list
    ],
)
def test_hardware_gaps(required, device, gpus, amp, problem):
    gaps = hardware_gaps(HardwareRequirement.model_validate(required), _hw(device, gpus, amp))
    if problem is None:
        assert gaps == []
    else:
        assert gaps and problem in "; ".join(gaps)


def test_a_run_without_a_recorded_environment_deviates():
    gaps = hardware_gaps(HardwareRequirement.model_validate("cpu"), used_hardware(SimpleNamespace(_raw={})))
    assert gaps and "recorded no device" in gaps[0]


def test_a_hardware_deviation_is_accepted_per_run_with_its_reason(make_ws, cli):
    root = ws_with(make_ws)
    set_run(root, extra="")
    (root / RUN_FILE).write_text(run_text().replace("device: '0'", "device: cpu"))
    [hit] = hits(root, "approach.hardware-deviation")
    assert hit.severity == "warning" and "trained on cpu" in hit.message
    code, _, err = cli(
        "approve", RUN, "--role", "ml_lead", "--deviation", "approach.hardware-deviation", "-w", root, expect=2
    )
    assert "--comment" in err  # a deviation needs its reason
    cli(
        "approve",
        RUN,
        "--role",
        "ml_lead",
        "--name",
        "Lea Lead",
        "--deviation",
        "approach.hardware-deviation",
        "--comment",
        "A100 queue down for a week; retrained on the lab GPU later",
        "-w",
        root,
    )
    [hit] = hits(root, "approach.hardware-deviation")
    assert hit.severity == "info" and "Lea Lead" in hit.message and "A100 queue down" in hit.message
    # the acceptance is of this run's content: another record is a new deviation
    (root / RUN_FILE).write_text(
        run_text().replace("device: '0'", "device: cpu").replace("epochs_completed: 4", "epochs_completed: 5")
    )
    [hit] = hits(root, "approach.hardware-deviation")
    assert hit.severity == "warning"


def test_a_deviation_of_a_run_that_does_not_deviate_is_refused(make_ws, cli):
    root = ws_with(make_ws)
    code, _, err = cli(
        "approve",
        RUN,
        "--role",
        "ml_lead",
        "--deviation",
        "approach.hardware-deviation",
        "--comment",
        "x",
        "-w",
        root,
        expect=2,
    )
    assert "does not fire" in err


def _model(status="draft", val=None):
    metrics = f"  metrics: {{validation: {{mAP_50: {val}}}}}\n" if val is not None else ""
    return f"model_version:\n  id: MODEL-v1\n  training_run: {RUN}\n{metrics}  status: {status}\n"


def test_exit_criteria_need_success_and_one_of_metric_budget_early_stop(make_ws):
    root = ws_with(make_ws, artifacts__model__yaml=_model("validated"))
    [hit] = hits(root, "approach.exit-unmet")  # 4 of 10 epochs, no metric, no early stop
    assert "4 of 10 epochs" in hit.message and "early stopping did not fire" in hit.message
    (root / "artifacts/model.yaml").write_text(_model("validated", 0.61))
    assert hits(root, "approach.exit-unmet") == []  # val mAP50 0.61 >= 0.6
    (root / "artifacts/model.yaml").write_text(_model("validated", 0.59))
    assert hits(root, "approach.exit-unmet")
    set_run(root, extra="  early_stop_epoch: 4\n")
    assert hits(root, "approach.exit-unmet") == []
    (root / RUN_FILE).write_text(run_text().replace("epochs_completed: 4", "epochs_completed: 10"))
    assert hits(root, "approach.exit-unmet") == []  # the budget spent
    set_run(root, status="failed", extra="  early_stop_epoch: 4\n")
    [hit] = hits(root, "approach.exit-unmet")
    assert "'failed', not success" in hit.message
    (root / "artifacts/model.yaml").write_text(_model("draft", 0.59))
    assert hits(root, "approach.exit-unmet") == []  # a draft is not held to them (promote is)


def test_the_exit_metric_falls_back_to_the_best_epoch_and_ignores_nan(make_ws):
    root = ws_with(make_ws, artifacts__model__yaml=_model("validated"))
    set_run(root, extra="  best_epoch: 3\n")
    epochs = root / RUN_FILE.replace("run.yaml", "epochs.jsonl")
    epochs.write_text(
        "\n".join(json.dumps({"epoch": e, "mAP50": v}) for e, v in ((1, 0.2), (2, 0.3), (3, 0.65))) + "\n"
    )
    ws = load_workspace(root, use_cache=False)
    verdict = model_exit_verdict(ws, ws.get("MODEL-v1"))
    assert verdict is not None and verdict.met and "best epoch 3" in verdict.summary
    epochs.write_text('{"epoch": 3, "mAP50": NaN}\n')
    ws = load_workspace(root, use_cache=False)
    verdict = model_exit_verdict(ws, ws.get("MODEL-v1"))
    assert verdict is not None and not verdict.met


def test_promote_to_validated_refuses_a_model_whose_training_did_not_meet_the_exit_criteria(make_ws, cli):
    root = ws_with(make_ws, artifacts__model__yaml=_model("draft", 0.59))
    code, out, err = cli("promote", "MODEL-v1", "--to", "validated", "-w", root, expect=None)
    assert code != 0
    text = out + err
    assert "exit criteria of approach APPROACH" in text and "val mAP_50 0.59" in text, text


@pytest.mark.parametrize(
    "early_stopping,found",
    [
        ("{patience: 5, metric: 'mAP@0.5'}", None),
        ("{patience: 5, metric: map50}", None),  # another spelling of the same metric
        ("{patience: 8, metric: 'mAP@0.5'}", "above the 5"),
        ("{patience: 0}", "sets none"),
        ("{patience: 3, metric: recall}", "requires 'mAP@0.5'"),
    ],
)
def test_the_configuration_must_carry_the_early_stopping_rule(make_ws, early_stopping, found):
    approach = APPROACH.replace(
        "    metric: {metric: mAP_50, min: 0.6}", "    early_stopping: {metric: 'mAP@0.5', patience: 5}"
    )
    root = ws_with(
        make_ws,
        artifacts__approach__yaml=approach,
        artifacts__train__yaml=TRAIN + f"  early_stopping: {early_stopping}\n",
    )
    got = hits(root, "approach.early-stopping")
    if found is None:
        assert got == []
    else:
        assert got and found in got[0].message and got[0].file == "artifacts/train.yaml"


def test_a_configuration_without_approach_warns_only_where_approaches_exist(make_ws):
    root = make_ws()
    assert hits(root, "approach.missing") == []
    root = ws_with(make_ws, artifacts__train__yaml=TRAIN.replace("  approach: APPROACH\n", ""))
    [hit] = hits(root, "approach.missing")
    assert hit.severity == "warning" and hit.item == "TRAIN"


def test_report_of_a_broken_approach_is_one_line_with_file_and_line(make_ws, cli):
    root = ws_with(make_ws, artifacts__approach__yaml=APPROACH.replace('"1x A100, amp"', '"2x A100, turbo"'))
    code, out, err = cli("report", "08-65", "APPROACH", "-w", root, "--to", "html", "-o", root / "a.html", expect=2)
    assert err.strip().count("\n") == 0 and "artifacts/approach.yaml:6" in err and "Traceback" not in err


def test_report_shows_each_run_against_the_approach(make_ws, cli):
    root = ws_with(make_ws)
    (root / RUN_FILE).write_text(run_text().replace("device: '0'", "device: cpu"))
    cli("report", "08-65", "APPROACH", "-w", root, "--to", "html", "-o", root / "a.html")
    html = (root / "a.html").read_text()
    for text in ("Entry criteria", "Exit criteria", RUN, "NOT MET", "DEVIATION", "1x A100 (amp)", "DRAFT", "08-65"):
        assert text in html, text


def test_a_hand_edited_run_record_is_judged_not_crashed_on(make_ws):
    """Values of the wrong type in the fields the rules read: the criterion is unmet and says why."""
    root = ws_with(make_ws)
    (root / RUN_FILE).write_text(
        run_text()
        .replace("started: '2000-01-01T00:00:00+00:00'", "started: yesterday")
        .replace("data_check: {checked: true, matches: true}", "data_check: [1, 2]")
        .replace("parameters: {device: '0', amp: true}", "parameters: 'cpu please'")
        .replace("environment: {gpus: [NVIDIA A100-SXM4-80GB]}", "environment: {gpus: NVIDIA}")
    )
    found = run_checks(load_workspace(root, use_cache=False)).findings
    rules = {f.rule for f in found if f.item == RUN}
    assert {"approach.entry-unmet", "approach.hardware-deviation"} <= rules, [f.one_line() for f in found]
    entry = " ".join(f.message for f in found if f.rule == "approach.entry-unmet")
    assert "no data check recorded" in entry and "no start time" in entry
