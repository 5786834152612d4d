"""Trust holes of the run side (issue 21): a queued run lost by a worker killed after its
claim, a model version left by a training killed before its success was recorded, killed
trials that stay running in a study, every tuning process sampling alike, and bad queue
entries, run records and epoch lines. The kills are real SIGKILLs of real processes,
made deterministic by test seams that park the process at the point under test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from conftest import TINY_FILES, write_files

ENV = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", PYTHONUNBUFFERED="1")
MLE3 = [sys.executable, "-c", "from mle3.cli import run; run()"]


def wait_for(predicate, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"process ended early (exit {proc.returncode}): {proc.stdout.read() if proc.stdout else ''}"
            )
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def tiny_ws(root: Path, extra: str = "") -> Path:
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate

    files = dict(TINY_FILES)
    files["artifacts/training/TINY.yaml"] += extra
    write_files(root, files)
    register(
        root,
        generate(root / "data" / "tiny", counts={"train": 8, "val": 4, "test": 4}, image_size=32, seed=3),
        "TINY-DATA",
        "v1",
        ["REQ-DATA"],
    )
    return root


def run_data(root: Path, run_id: str) -> dict:
    return yaml.safe_load((root / "artifacts" / "runs" / run_id / "run.yaml").read_text())["run"]


def queue(cli, root: Path, *extra: str) -> str:
    code, out, err = cli("train", "TINY-TRAIN-001", "--queue", "-w", root, "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)["run"]


def kill_at(root: Path, point: str, tmp: Path) -> None:
    """Start a real worker, let it (or the run's process it starts) reach ``point``, and
    SIGKILL the worker and its run's process together."""
    marker = tmp / f"paused-{point}-{time.time_ns()}"
    env = dict(ENV, MLE3_TEST_PAUSE_AT=point, MLE3_TEST_PAUSE_FILE=str(marker))
    worker = subprocess.Popen(
        MLE3 + ["worker", "--once", "-w", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(marker.exists, proc=worker)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    time.sleep(0.1)  # the parked run process (a child of the killed worker) is reaped by init


def statuses(cli, root: Path) -> dict[str, str]:
    code, out, _ = cli("runs", "-w", root, "--format", "json")
    assert code == 0
    return {r["id"]: r["effective_status"] for r in json.loads(out)["runs"]}


# ---------------------------------------------------------------- hole 5: queued runs lost
def test_a_run_whose_worker_was_killed_after_the_claim_is_stale_requeued_rerunnable_and_abortable(tmp_path, cli):
    from mle3.runner.queue import recover, waiting
    from mle3.runs.claims import claims

    root = tiny_ws(tmp_path / "ws")
    first = queue(cli, root, "--priority", "5")
    other = queue(cli, root)
    kill_at(root, "claim", tmp_path)  # the worker took `first` and died before starting its process
    assert run_data(root, first)["status"] == "pending" and "worker" not in run_data(root, first)
    (held,) = claims(root, first)
    assert held.pid is not None and held.host and not held.alive()
    assert statuses(cli, root) == {first: "stale", other: "pending"}

    # a worker that starts later queues it again (and then takes it first: priority 5)
    kill_at(root, "claim", tmp_path)
    assert [c.run for c in claims(root)] == [first]  # taken again by the second (now dead) worker
    assert recover(root) == [first] and [e["run"] for e in waiting(root)] == [first, other]
    assert statuses(cli, root)[first] == "pending"

    # lost again; `runs rerun` queues a new run and ends the lost one
    kill_at(root, "claim", tmp_path)
    code, out, err = cli("runs", "rerun", first, "-w", root, "--format", "json")
    assert code == 0, err
    new = json.loads(out)["run"]
    old = run_data(root, first)
    assert old["status"] == "failed" and new in old["error"] and not claims(root, first)
    assert run_data(root, new)["rerun_of"] == first and recover(root) == []

    # and `runs abort` ends a lost run as terminated
    kill_at(root, "claim", tmp_path)  # takes `new` (priority 5)
    assert statuses(cli, root)[new] == "stale"
    code, out, err = cli("runs", "abort", new, "-w", root)
    assert code == 0, err
    assert run_data(root, new)["status"] == "terminated" and not claims(root, new) and recover(root) == []
    assert statuses(cli, root) == {first: "failed", new: "terminated", other: "pending"}


def test_a_run_process_killed_before_its_first_write_leaves_a_run_that_is_queued_again(tmp_path, cli):
    from mle3.runner.queue import recover, waiting
    from mle3.runs.claims import claims

    root = tiny_ws(tmp_path / "ws")
    run_id = queue(cli, root)
    kill_at(root, "handover", tmp_path)  # the run's process took the claim from its worker, then died with it
    data = run_data(root, run_id)
    assert data["status"] == "pending" and "worker" not in data
    (held,) = claims(root, run_id)
    assert not held.alive()
    assert statuses(cli, root) == {run_id: "stale"}
    assert recover(root) == [run_id] and [e["run"] for e in waiting(root)] == [run_id]
    code, _, err = cli("runs", "abort", run_id, "-w", root)
    assert code == 0, err
    assert run_data(root, run_id)["status"] == "terminated" and not waiting(root)


def test_abort_never_signals_the_process_that_queued_a_run(tmp_path, cli):
    """A queued run's pid is that of `train --queue`, long gone (and maybe reused): abort of
    a run claimed by a live worker writes the flag and signals nobody."""
    from mle3.runner.queue import claim
    from mle3.runs.claims import me

    root = tiny_ws(tmp_path / "ws")
    run_id = queue(cli, root)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = root / "artifacts" / "runs" / run_id / "run.yaml"
        path.write_text(path.read_text().replace(f"pid: {run_data(root, run_id)['pid']}", f"pid: {sleeper.pid}"))
        assert claim(root, run_id, me())  # held by this (live) process
        code, _, err = cli("runs", "abort", run_id, "-w", root)
        assert code == 0, err
        time.sleep(0.2)
        assert sleeper.poll() is None  # not signalled
    finally:
        sleeper.kill()
        sleeper.wait()
    assert (root / ".mle3" / "queue" / "abort" / run_id).exists()


# ---------------------------------------------------------------- hole 6: promotable model of a crashed run
KILL_SCRIPT = """
import sys, time
from pathlib import Path
from mle3.runs.records import RunRecord
from mle3.runner.train import TrainOptions, TrainResult, finish_success, prepare
from mle3.workspace import load_workspace

root = Path(sys.argv[1])
ws = load_workspace(root)
prep = prepare(ws, "TINY-TRAIN-001", TrainOptions())
record = RunRecord.create(root, "TINY-TRAIN-001", environment={"python": "3"}, attempts=[])
record.update(status="in_progress", started=record.data["created"])
weights = record.directory / "ultralytics" / "weights" / "best.pt"
weights.parent.mkdir(parents=True)
weights.write_bytes(b"weights")
outcome = {
    "final": {"validation": {"mAP_50": 0.9}, "test": {"mAP_50": 0.9}},
    "best_weights": weights, "epochs_run": 1, "best_epoch": 1, "checkpoints": [],
}
print(record.id, flush=True)
result = TrainResult(record.id, "pending", record.rel_dir)
finish_success(ws, record, prep, outcome, TrainOptions(), time.time(), 1, result)
"""


def test_a_training_killed_between_its_success_and_its_model_version_leaves_no_promotable_model(tmp_path, cli):
    root = tiny_ws(tmp_path / "ws")
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(root)],
        env=dict(ENV, MLE3_TEST_KILL_AT="model-version"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id = proc.stdout.split()[0]
    models = sorted((root / "artifacts" / "models").glob("*.yaml"))
    for path in models:  # whatever the kill left behind must not pass the gate
        model = yaml.safe_load(path.read_text())["model_version"]["id"]
        code, out, err = cli("promote", model, "--to", "validated", "-w", root, expect=None)
        assert code != 0 and "training.model-run-unfinished" in out + err
    assert run_data(root, run_id)["status"] == "success" and not models
    # without the kill the same seam writes the model version after the success
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(root)], env=ENV, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    second = proc.stdout.split()[0]
    data = run_data(root, second)
    assert (
        data["status"] == "success"
        and data["model_version"]
        and (root / "artifacts" / "models" / f"{data['model_version']}.yaml").is_file()
    )


RUN_YAML = """run:
  id: {run}
  config: TINY-TRAIN-001
  status: {status}
  created: '2026-01-01T00:00:00+00:00'
  pid: 999999
  host: elsewhere
  heartbeat: '2026-01-01T00:00:00+00:00'
"""
MODEL_YAML = """model_version:
  id: TINY-MODEL-CRASHED
  training_run: {run}
  metrics: {{test: {{mAP_50: 0.9}}, validation: {{mAP_50: 0.9}}}}
  traceability: {{requirements: [REQ-PERF]}}
  status: draft
"""


def test_a_model_of_a_run_that_did_not_end_success_is_not_promotable(tmp_path, cli):
    """A model version written before its run recorded success (what a kill left under the
    old write order): an error of `check`, and `promote --to validated` refuses it."""
    root = write_files(
        tmp_path / "ws",
        dict(
            TINY_FILES,
            **{
                "artifacts/runs/RUN-20260101-000000-dead/run.yaml": RUN_YAML.format(
                    run="RUN-20260101-000000-dead", status="in_progress"
                ),
                "artifacts/models/TINY-MODEL-CRASHED.yaml": MODEL_YAML.format(run="RUN-20260101-000000-dead"),
            },
        ),
    )
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=1)
    hits = [f for f in json.loads(out)["findings"] if f["rule"] == "training.model-run-unfinished"]
    assert (
        code == 1
        and len(hits) == 1
        and hits[0]["severity"] == "error"
        and hits[0]["file"] == "artifacts/models/TINY-MODEL-CRASHED.yaml"
    )
    code, out, err = cli("promote", "TINY-MODEL-CRASHED", "--to", "validated", "-w", root, expect=None)
    assert code != 0 and "training.model-run-unfinished" in out + err
    # the same model of a run that ended success has no such finding
    (root / "artifacts/runs/RUN-20260101-000000-dead/run.yaml").write_text(
        RUN_YAML.format(run="RUN-20260101-000000-dead", status="success")
    )
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=None)
    assert not [f for f in json.loads(out)["findings"] if f["rule"] == "training.model-run-unfinished"]


# ---------------------------------------------------------------- point 9: bad run input
def test_a_garbage_epochs_line_is_one_finding_with_file_and_line(tmp_path, cli):
    run = "RUN-20260101-000000-abcd"
    root = write_files(
        tmp_path / "ws",
        dict(TINY_FILES, **{f"artifacts/runs/{run}/run.yaml": RUN_YAML.format(run=run, status="success")}),
    )
    epochs = root / "artifacts" / "runs" / run / "epochs.jsonl"
    epochs.write_bytes(
        b'{"epoch": 1, "mAP50": 0.1}\n'
        + b"garbage ]]\n"
        + b"\xff\xfe\x00binary\n"
        + b"[" * 100000
        + b"\n"
        + b"[1, 2]\n"
        + b'{"epoch": "x"}\n'
        + b"1" * 5000
        + b"\n"
        + b'{"epoch": 2, "mAP50": 0.2}\n'
        + b'{"epoch": 3, "mA'
    )
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=1)
    (hit,) = [f for f in json.loads(out)["findings"] if f["rule"] == "training.epochs-unreadable"]
    assert (
        code == 1
        and hit["severity"] == "error"
        and f"artifacts/runs/{run}/epochs.jsonl:2: not JSON" in hit["message"]
        and "(and 5 more line(s))" in hit["message"]
    )
    code, out, err = cli("runs", "show", run, "-w", root)
    assert code == 0 and "epochs.jsonl:2: not JSON" in err and "Traceback" not in err
    assert [line.split()[1] for line in out.splitlines() if line.strip().startswith("epoch ")] == [
        "1",
        "2",
    ]  # torn last line skipped


def test_a_run_record_that_is_not_a_mapping_is_one_line_everywhere(tmp_path, cli):
    run = "RUN-20260101-000000-abcd"
    root = write_files(tmp_path / "ws", dict(TINY_FILES, **{f"artifacts/runs/{run}/run.yaml": "run: [1, 2]\n"}))
    for command in (("runs", "show", run), ("runs", "rerun", run), ("runs", "abort", run)):
        code, out, err = cli(*command, "-w", root, expect=2)
        assert code == 2 and err.count("\n") == 1 and f"artifacts/runs/{run}/run.yaml:1:" in err and "[run]" in err, (
            command,
            err,
        )
    code, out, _ = cli("runs", "-w", root, "--format", "json")
    (listed,) = json.loads(out)["runs"]
    assert code == 0 and listed["status"] == "unreadable" and "run.yaml" in listed["error"]
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=1)
    assert code == 1 and any(f["file"] == f"artifacts/runs/{run}/run.yaml" for f in json.loads(out)["findings"])
    # a run id that differs from its folder, and a pid that is no integer, are named by field
    (root / "artifacts" / "runs" / run / "run.yaml").write_text(RUN_YAML.format(run="RUN-OTHER", status="failed"))
    code, _, err = cli("runs", "rerun", run, "-w", root, expect=2)
    assert code == 2 and "[run.id]" in err and ":2:" in err
    (root / "artifacts" / "runs" / run / "run.yaml").write_text(
        RUN_YAML.format(run=run, status="failed").replace("999999", "[1]")
    )
    code, _, err = cli("runs", "show", run, "-w", root, expect=2)
    assert code == 2 and "[run.pid]" in err and ":6:" in err


def test_bad_queue_entries_are_refused_with_one_line_and_worker_once_exits(tmp_path):
    root = write_files(tmp_path / "ws", {"mle3.yaml": "project: q\n"})
    folder = root / ".mle3" / "queue"
    folder.mkdir(parents=True)
    (folder / "RUN-A.json").write_text(
        json.dumps({"run": "RUN-B", "priority": 0, "queued_at": "2026-01-01T00:00:00+00:00"})
    )
    (folder / "RUN-C.json").write_text(
        json.dumps({"run": "RUN-C", "priority": "high", "queued_at": "2026-01-01T00:00:00+00:00"})
    )
    (folder / "RUN-D.json").write_bytes(b"\x00garbage{")
    proc = subprocess.run(
        MLE3 + ["worker", "--once", "-w", str(root)], env=ENV, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    refused = [line for line in proc.stdout.splitlines() if line.startswith("refused queue entry")]
    assert len(refused) == 3, proc.stdout
    assert any(
        ".mle3/queue/RUN-A.json: run 'RUN-B' differs from the entry's file name" in line and "[run]" in line
        for line in refused
    )
    assert any(
        ".mle3/queue/RUN-C.json: priority 'high' is not an integer" in line and "[priority]" in line for line in refused
    )
    assert sorted(p.name for p in (folder / "refused").iterdir()) == ["RUN-A.json", "RUN-C.json", "RUN-D.json"]
    assert not list(folder.glob("*.json"))


# ---------------------------------------------------------------- point 11: killed trials, seeds per process
TUNING = (
    "  tuning:\n    objective: {metric: mAP_50, split: val, direction: maximize}\n    trials: 2\n    "
    "epochs_per_trial: 1\n"
    "    sampler: tpe\n    pruner: none\n    seed: 0\n    space:\n      optimizer.momentum: {low: 0.5, high: 0.99}\n"
)


def test_killed_trials_are_failed_not_counted_and_every_process_samples_its_own_values(tmp_path):
    import optuna

    from mle3.tuning.lost import counted, fail_lost_trials
    from mle3.tuning.record import write_record
    from mle3.workspace import load_workspace

    root = tiny_ws(tmp_path / "ws", TUNING)
    for attempt in range(2):  # two tuning processes join the study; each is killed in its first trial
        marker = tmp_path / f"trial-{attempt}"
        proc = subprocess.Popen(
            MLE3 + ["tune", "run", "TINY-TRAIN-001", "--study", "S1", "-w", str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(ENV, MLE3_TEST_PAUSE_AT="trial", MLE3_TEST_PAUSE_FILE=str(marker)),
            start_new_session=True,
        )
        try:
            wait_for(marker.exists, timeout=120, proc=proc)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    url = f"sqlite:///{root / '.mle3' / 'optuna.sqlite3'}"
    study = optuna.load_study(study_name="S1", storage=url)
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 2
    # different first values: each process had its own seed (0, then 1)
    assert trials[0].params["optimizer.momentum"] != trials[1].params["optimizer.momentum"]
    assert [s["seed"] for s in study.user_attrs["seeds"]] == [0, 1]
    # the second process, at its start, failed the trial the first one left running
    assert trials[0].state == optuna.trial.TrialState.FAIL and "is gone" in trials[0].user_attrs["lost"]
    assert trials[1].state == optuna.trial.TrialState.RUNNING
    # the study record rewrite fails the other one too; neither uses up the budget
    ws = load_workspace(root)
    result = write_record(root, ws, ws.get("TINY-TRAIN-001"), study, "S1", url)
    assert [t["status"] for t in result.trials] == ["failed", "failed"] and all(t.get("lost") for t in result.trials)
    assert counted(study) == 0 and fail_lost_trials(root, study) == []
    record = yaml.safe_load((root / result.record).read_text())["study"]
    assert record["process_seeds"] == [0, 1] and record["counts"] == {"failed": 2}
