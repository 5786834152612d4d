"""The training queue with real processes: priorities, an atomic claim no two workers
share, abort and rerun, a dead worker's run shown as stale, the scheduler's job id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import queue_ws, wait_for

pytestmark = pytest.mark.slow

ENV = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", PYTHONUNBUFFERED="1")
MLE3 = [sys.executable, "-c", "from mle3.cli import run; run()"]


def run_data(root: Path, run_id: str) -> dict:
    return yaml.safe_load((root / "artifacts" / "runs" / run_id / "run.yaml").read_text())["run"]


def test_queued_runs_are_trained_by_priority_then_age_and_record_the_worker(tmp_path, cli):
    root = queue_ws(tmp_path / "ws")
    code, out, _ = cli("train", "TINY-TRAIN-001", "--queue", "--epochs", "1", "-w", root, "--format", "json")
    low = json.loads(out)
    assert (
        code == 0
        and low["status"] == "pending"
        and set(low) == {"schema", "run_id", "run", "status"}
        and low["run_id"] == low["run"]
    )
    code, out, _ = cli(
        "train", "TINY-TRAIN-001", "--queue", "--epochs", "1", "--priority", "5", "-w", root, "--format", "json"
    )
    high = json.loads(out)["run"]
    pending = run_data(root, low["run"])
    assert (
        pending["status"] == "pending"
        and pending["queue"]["priority"] == 0
        and pending["options"] == {"epochs": 1}
        and pending["data_check"]["matches"]
    )
    code, out, _ = cli("runs", "-w", root, "--format", "json")
    assert {r["effective_status"] for r in json.loads(out)["runs"]} == {"pending"}  # not stale: waiting
    proc = subprocess.run(
        MLE3 + ["worker", "--once", "-w", str(root)],
        env=dict(ENV, SLURM_JOB_ID="4242", SLURM_ARRAY_TASK_ID="3"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, second = run_data(root, high), run_data(root, low["run"])
    assert first["status"] == second["status"] == "success"
    assert first["started"] <= second["started"]  # priority 5 first
    assert first["worker"]["node"] and first["scheduler"]["slurm"] == {
        "slurm_job_id": "4242",
        "slurm_array_task_id": "3",
    }
    assert first["model_version"] and second["epochs_completed"] == 1
    assert not list((root / ".mle3" / "queue").glob("*.json"))


def test_several_workers_never_take_the_same_run(tmp_path):
    """The claim is a rename: with 4 processes racing over 40 entries, each is taken once."""
    from mle3.runs.records import QUEUE_DIR

    queue = tmp_path / QUEUE_DIR
    queue.mkdir(parents=True)
    for i in range(200):
        (queue / f"RUN-{i:03d}.json").write_text(
            json.dumps(
                {"run": f"RUN-{i:03d}", "priority": i % 3, "queued_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}"}
            )
        )
    go = tmp_path / "go"
    script = (
        "import sys, json, os, time; from pathlib import Path; from mle3.runner.queue import claim_next\n"
        "root, name = Path(sys.argv[1]), sys.argv[2]\ntaken = []\n"
        "while not os.path.exists(root / 'go'): time.sleep(0.001)\n"  # all start together
        "while (r := claim_next(root, name)) is not None: taken.append(r)\nprint(json.dumps(taken))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"w{i}"], stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    time.sleep(1.5)  # interpreters up and waiting
    go.write_text("")
    taken = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    every = [r for t in taken for r in t]
    assert sorted(every) == [f"RUN-{i:03d}" for i in range(200)]  # all taken, none twice
    assert sum(1 for t in taken if t) >= 2  # the race was real


def test_abort_pending_and_running_runs_and_rerun_them(tmp_path, cli):
    root = queue_ws(tmp_path / "ws")
    code, out, _ = cli("train", "TINY-TRAIN-001", "--queue", "-w", root, "--format", "json")
    pending = json.loads(out)["run"]
    code, out, err = cli("runs", "abort", pending, "-w", root)
    assert code == 0 and run_data(root, pending)["status"] == "terminated"
    code, out, _ = cli("train", "TINY-TRAIN-001", "--queue", "--epochs", "300", "-w", root, "--format", "json")
    long = json.loads(out)["run"]
    worker = subprocess.Popen(
        MLE3 + ["worker", "--once", "-w", str(root)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: (run_data(root, long).get("epochs_completed") or 0) >= 1)
        assert cli("runs", "abort", long, "-w", root)[0] == 0
        wait_for(lambda: run_data(root, long)["status"] != "in_progress", timeout=60)
        worker.wait(timeout=60)
    finally:
        worker.kill()
    ended = run_data(root, long)
    assert ended["status"] == "terminated" and "abort" in ended["error"] and ended["epochs_completed"] < 300
    code, _, err = cli("runs", "abort", long, "-w", root, expect=2)
    assert code == 2 and "only pending or running" in err
    code, out, _ = cli("runs", "rerun", long, "-w", root, "--format", "json")
    again = json.loads(out)
    assert code == 0 and again["rerun_of"] == long
    new = run_data(root, again["run"])
    assert new["status"] == "pending" and new["rerun_of"] == long and new["options"] == {"epochs": 300}


def test_a_dead_workers_run_is_stale(tmp_path, cli):
    root = queue_ws(tmp_path / "ws")
    code, out, _ = cli("train", "TINY-TRAIN-001", "--queue", "--epochs", "300", "-w", root, "--format", "json")
    run_id = json.loads(out)["run"]
    worker = subprocess.Popen(
        MLE3 + ["worker", "--once", "-w", str(root)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: (run_data(root, run_id).get("epochs_completed") or 0) >= 1)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its training die without a word
        worker.wait()
    time.sleep(0.5)
    code, out, _ = cli("runs", "-w", root, "--format", "json")
    (run,) = json.loads(out)["runs"]
    assert run["status"] == "in_progress" and run["effective_status"] == "stale"
    code, out, _ = cli("runs", "rerun", run_id, "-w", root, "--format", "json")
    assert code == 0


def test_runs_watch_prints_progress_and_a_sparkline(tmp_path, cli):
    root = queue_ws(tmp_path / "ws")
    assert cli("train", "TINY-TRAIN-001", "--epochs", "3", "-w", root)[0] == 0
    (run_id,) = os.listdir(root / "artifacts" / "runs")
    code, out, err = cli("runs", "watch", run_id, "--once", "-w", root)
    assert code == 0 and run_id in out and "epoch 3/3" in out and "mAP50" in out and "best epoch" in out, out + err
    code, _, err = cli("runs", "watch", "-w", root, expect=2)
    assert code == 2 and "no running or pending run" in err
