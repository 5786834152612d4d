"""The training and validation approach (08-65) on the README's set-up: a git workspace whose
data lies below a data root outside it; real (tiny) trainings held to the approach."""

from __future__ import annotations

import json
import subprocess

from conftest import require_git

APPROACH = """\
approach:
  id: TINY-APPROACH
  version: "1.0"
  requirements: [REQ-PERF]
  entry_criteria: {dataset_verified: true, dataset_approved: true}
  exit_criteria:
    metric: {metric: mAP_50, split: val, min: 0.99}
    epoch_budget: 5
    early_stopping: {metric: "mAP@0.5", patience: 5}
  data:
    split_policy: generated apart
    datasets: [TINY-DATA]
  environment: {hardware: "1x NVIDIA A100, amp"}
"""


def test_runs_are_held_to_the_approach_their_configuration_follows(rooted_ws, cli, tmp_path):
    require_git()
    ws, nas = rooted_ws
    assert not str(nas).startswith(str(ws))  # the data lies outside the workspace

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=ws, check=True)

    def ok(*args: object) -> dict:
        code, out, err = cli(*args, "-w", ws, "--format", "json", expect=None)
        assert code == 0, (args, err[-1500:])
        return json.loads(out)

    def findings(rule: str) -> list[dict]:
        _, out, _ = cli("check", "-w", ws, "--format", "json", "--no-cache", expect=None)
        return [f for f in json.loads(out)["findings"] if f["rule"] == rule]

    (ws / ".gitignore").write_text(".mle3/\n")
    (ws / "artifacts/training/TINY-APPROACH.yaml").write_text(APPROACH)
    config = ws / "artifacts/training/TINY.yaml"
    config.write_text(config.read_text() + "  approach: TINY-APPROACH\n")
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "the approach")

    # the run before the data set was approved: flagged, with the criterion named
    first = ok("train", "TINY-TRAIN-001", "--epochs", "1")
    assert first["status"] == "success"
    entry = [f for f in findings("approach.entry-unmet") if f["item"] == first["run_id"]]
    assert entry and "dataset_approved" in entry[0]["message"] and entry[0]["file"].endswith("/run.yaml")
    assert entry[0]["severity"] == "error"
    hardware = [f for f in findings("approach.hardware-deviation") if f["item"] == first["run_id"]]
    assert hardware and hardware[0]["severity"] == "warning" and "trained on cpu" in hardware[0]["message"]

    # its model met no exit criterion (1 of 5 epochs, val mAP50 far below 0.99, no early stop)
    code, out, err = cli("promote", first["model_version"], "--to", "validated", "-w", ws, expect=None)
    assert code != 0 and "exit criteria of approach TINY-APPROACH" in out + err, out + err

    # the deviation accepted with its reason: then shown as info
    ok(
        "approve",
        first["run_id"],
        "--role",
        "ml_lead",
        "--name",
        "Lea Lead",
        "--deviation",
        "approach.hardware-deviation",
        "--comment",
        "no A100 in CI; a smoke test of the pipeline",
    )
    hardware = [f for f in findings("approach.hardware-deviation") if f["item"] == first["run_id"]]
    assert hardware and hardware[0]["severity"] == "info" and "no A100 in CI" in hardware[0]["message"]

    # the data set approved, then a run: its entry criteria hold (the approval precedes it)
    ok("approve", "TINY-DATA-v1", "--role", "data_owner", "--name", "Dan Owner")
    git("add", "-A")
    git("commit", "-qm", "approvals")
    second = ok("train", "TINY-TRAIN-001", "--epochs", "1")
    assert second["status"] == "success"
    unmet = {f["item"] for f in findings("approach.entry-unmet")}
    assert first["run_id"] in unmet and second["run_id"] not in unmet

    # the 08-65 shows both runs against the approach, DRAFT until approved
    target = tmp_path / "08-65.html"
    code, _, err = cli("report", "08-65", "TINY-APPROACH", "-w", ws, "--to", "html", "-o", target)
    assert code == 0, err
    html = target.read_text()
    for text in (first["run_id"], second["run_id"], "NOT MET", "deviation accepted", "no A100 in CI", "DRAFT"):
        assert text in html, text
