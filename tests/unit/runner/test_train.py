"""Real (tiny) trainings on the CPU: the record, the model version, and every way a run
can end (success, crash with retries, SIGTERM, --timeout, Ctrl-C, SIGKILL -> stale)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY_FILES, check_json, dataset_record, write_files, wait_for

from mle3 import audit
from mle3.hashing import sha256_file
from mle3.datasets.synthetic import generate

pytestmark = pytest.mark.slow


def make_tiny_ws(root: Path, epochs: int = 1, train_images: int = 16) -> Path:
    from mle3.datasets import register

    files = dict(TINY_FILES)
    # patience 0 switches early stopping off: the signal and timeout tests need a training
    # that is still running when they stop it (a tiny model's mAP may rise, fall, and stop it)
    files["artifacts/training/TINY.yaml"] = (
        files["artifacts/training/TINY.yaml"]
        .replace("epochs: 2", f"epochs: {epochs}")
        .replace("patience: 5", "patience: 0")
    )
    write_files(root, files)
    data_yaml = generate(
        root / "data" / "tiny", counts={"train": train_images, "val": 4, "test": 4}, image_size=64, seed=3
    )
    register(root, data_yaml, "TINY-DATA", "v1", ["REQ-DATA"])
    return root


def mle3(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-c", "from mle3.cli import run; run()", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def run_dir(root: Path) -> Path:
    (d,) = list((root / "artifacts" / "runs").iterdir())
    return d


def run_record(root: Path) -> dict:
    return yaml.safe_load((run_dir(root) / "run.yaml").read_text())["run"]


def _data_state(folder):
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_tiny_training_records_everything_and_check_passes(tmp_path, cli):
    root = make_tiny_ws(tmp_path / "ws", epochs=2)
    data_before = _data_state(root / "data")
    code, out, err = cli("train", "TINY-TRAIN-001", "-w", root, "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "success", err
    run = run_record(root)
    assert (
        run["status"] == "success" and run["config"] == "TINY-TRAIN-001" and run["config_sha256"].startswith("sha256:")
    )
    dataset = yaml.safe_load(dataset_record(root, "TINY-DATA-v1").read_text())["dataset"]
    assert run["dataset_version"] == "TINY-DATA-v1" and run["dataset_fingerprint"] == dataset["fingerprint"]
    assert run["data_check"]["matches"] is True
    env = run["environment"]
    assert env["torch"] and env["ultralytics"] and env["python"] and env["host"] and env["cpu"]
    assert "commit" in run["code"] and run["seed"] == 1
    assert {d["field"] for d in run["deviations"]} >= {"hardware.device"} or run["parameters"]["device"] == "cpu"
    epochs = [json.loads(row) for row in (run_dir(root) / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for key in (
        "train_box_loss",
        "train_cls_loss",
        "train_dfl_loss",
        "val_box_loss",
        "precision",
        "recall",
        "mAP50",
        "mAP50_95",
        "lr",
    ):
        assert key in epochs[0], key
    assert run["epochs_completed"] == 2 and run["best_epoch"] in (1, 2)
    for ckpt in run["checkpoints"]:
        assert sha256_file(root / ckpt["path"]) == ckpt["sha256"]
    assert set(run["final_metrics"]) == {"validation", "test"}
    # training wrote nothing into the registered data set: ultralytics' label caches went under .mle3/
    assert _data_state(root / "data") == data_before
    assert list((root / ".mle3/cache/labels").glob("*.cache"))
    assert cli("dataset", "verify", "TINY-DATA-v1", "-w", root)[0] == 0
    model_id = result["model_version"]
    assert model_id == f"TINY-MODEL-{run['id']}"  # a draft is named after its run: no collision across branches
    model = yaml.safe_load((root / f"artifacts/models/{model_id}.yaml").read_text())["model_version"]
    assert model["training_run"] == run["id"] and model["status"] == "draft" and model["model_line"] == "TINY-MODEL"
    assert model["artifacts"]["weights"] == f"models/{model_id}.pt" and "previous_version" not in model["traceability"]
    assert sha256_file(root / model["artifacts"]["weights"]) == model["weights_sha256"]
    assert model["training_data"] == {
        "dataset_version": "TINY-DATA-v1",
        "train_samples": 16,
        "val_samples": 4,
        "test_samples": 4,
    }
    assert model["traceability"]["requirements"] == ["REQ-PERF", "REQ-DATA"]
    assert model["metrics"]["test"]["mAP_50"] == run["final_metrics"]["test"]["mAP_50"]
    assert model["training_params"]["epochs"] == 2 and model["dependencies"]["ultralytics"] == env["ultralytics"]
    code, doc = check_json(cli, root, "--no-cache")
    assert code == 0 and doc["summary"]["errors"] == 0, doc["findings"]
    assert [e["action"] for e in audit.history(root)] == ["dataset.register", "run.start", "run.end"]
    code, out, _ = cli("runs", "-w", root, "--format", "json")
    (listed,) = json.loads(out)["runs"]
    assert listed["id"] == run["id"] and listed["effective_status"] == "success" and listed["model_version"] == model_id
    code, out, _ = cli("runs", "show", run["id"], "-w", root, "--format", "json")
    assert len(json.loads(out)["run"]["epochs"]) == 2
    # a second training of the same line is another draft, with the newest model of the line as previous_version
    code, out, _ = cli("train", "TINY-TRAIN-001", "-w", root, "--format", "json", "--epochs", "1")
    second_id = json.loads(out)["model_version"]
    second = yaml.safe_load((root / f"artifacts/models/{second_id}.yaml").read_text())["model_version"]
    assert second_id != model_id and second["traceability"]["previous_version"] == model_id
    code, out, _ = cli("runs", "--search", second_id, "-w", root, "--format", "json")
    (found,) = json.loads(out)["runs"]
    assert any(
        d["field"] == "epochs"
        for d in yaml.safe_load((root / "artifacts/runs" / found["id"] / "run.yaml").read_text())["run"]["deviations"]
    )


def test_crash_is_recorded_as_failed_and_retried(tmp_path, cli):
    root = make_tiny_ws(tmp_path / "ws")
    broken = root / "data" / "tiny" / "broken.yaml"
    broken.write_text("path: .\ntrain: images/nothing-here\nval: images/val\nnames: {0: a}\n")
    code, out, err = cli(
        "train", "TINY-TRAIN-001", "-w", root, "--data", broken, "--max-attempts", "2", "--format", "json", expect=1
    )
    result = json.loads(out)
    assert code == 1 and result["status"] == "failed" and result["error"]
    run = run_record(root)
    assert run["status"] == "failed" and [a["status"] for a in run["attempts"]] == ["failed", "failed"]
    assert run["error"] and "traceback" in run
    assert not (root / "artifacts" / "models").exists()


def test_changed_data_refuses_to_start_unless_allowed(tmp_path, cli):
    root = make_tiny_ws(tmp_path / "ws")
    label = sorted((root / "data/tiny/labels/train").iterdir())[0]
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    code, _, err = cli("train", "TINY-TRAIN-001", "-w", root, expect=2)
    assert code == 2 and "changed since registration" in err and not (root / "artifacts" / "runs").exists()
    code, out, _ = cli("train", "TINY-TRAIN-001", "-w", root, "--allow-changed-data", "--format", "json")
    assert code == 0
    run = run_record(root)
    assert run["data_check"] == {
        "checked": True,
        "matches": False,
        "changed": 1,
        "added": 0,
        "removed": 0,
        "allow_changed_data": True,
        "location": "workspace",
    }


def test_missing_pretrained_file_writes_nothing(tmp_path, cli):
    root = make_tiny_ws(tmp_path / "ws")
    cfg = root / "artifacts/training/TINY.yaml"
    cfg.write_text(
        cfg.read_text().replace(
            "  model: yolov8n.yaml\n", "  model: yolov8n.yaml\n  transfer:\n    pretrained: weights/yolov8n.pt\n"
        )
    )
    code, _, err = cli("train", "TINY-TRAIN-001", "-w", root, expect=2)
    assert code == 2 and "TINY.yaml:6" in err and "transfer.pretrained" in err and "Traceback" not in err
    assert not (root / "artifacts" / "runs").exists()


def _start_long_training(root: Path, *extra: str) -> subprocess.Popen:
    proc = mle3("train", "TINY-TRAIN-001", "--epochs", "200", *extra, cwd=root)
    wait_for(
        lambda: (
            (root / "artifacts" / "runs").exists()
            and any((root / "artifacts/runs").iterdir())
            and (run_dir(root) / "epochs.jsonl").exists()
        )
    )
    return proc


def test_sigterm_ends_as_terminated(tmp_path):
    root = make_tiny_ws(tmp_path / "ws", train_images=8)
    proc = _start_long_training(root)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    run = run_record(root)
    assert run["status"] == "terminated" and run["error"] == "terminated by SIGTERM" and run["ended"]
    assert run["epochs_completed"] >= 1


def test_timeout_ends_as_terminated(tmp_path, cli):
    root = make_tiny_ws(tmp_path / "ws", train_images=8)
    code, out, _ = cli(
        "train", "TINY-TRAIN-001", "--epochs", "200", "--timeout", "15", "-w", root, "--format", "json", expect=1
    )
    assert code == 1 and json.loads(out)["status"] == "terminated"
    assert run_record(root)["error"] == "terminated by timeout"


def test_ctrl_c_ends_as_aborted(tmp_path):
    root = make_tiny_ws(tmp_path / "ws", train_images=8)
    proc = _start_long_training(root)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert run_record(root)["status"] == "aborted"


def test_sigkill_leaves_a_readable_record_shown_as_stale(tmp_path, cli):
    root = make_tiny_ws(tmp_path / "ws", train_images=8)
    proc = _start_long_training(root)
    proc.kill()
    proc.communicate(timeout=60)
    run = run_record(root)  # parses: the record was never half-written
    assert run["status"] == "in_progress"
    code, out, _ = cli("runs", "-w", root, "--format", "json")
    (listed,) = json.loads(out)["runs"]
    assert listed["effective_status"] == "stale"
    code, out, _ = cli("runs", "--status", "stale", "-w", root)
    assert "stale" in out and "failed" in out
    for line in (run_dir(root) / "epochs.jsonl").read_text().splitlines():
        json.loads(line)


def test_two_trainings_at_once_lose_nothing(tmp_path, cli):
    root = make_tiny_ws(tmp_path / "ws", train_images=8)
    procs = [mle3("train", "TINY-TRAIN-001", cwd=root) for _ in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    models = sorted(p.name for p in (root / "artifacts/models").glob("*.yaml"))
    runs = sorted(p.name for p in (root / "artifacts/runs").iterdir())
    assert models == [f"TINY-MODEL-{run}.yaml" for run in runs] and len(runs) == 2
    count, problems = audit.verify(root)
    assert count == 5 and problems == []
    code, doc = check_json(cli, root, "--no-cache")
    assert doc["summary"]["errors"] == 0, doc["findings"]


def test_training_time_is_recorded_to_the_second():
    from mle3.runner.model_version import _duration

    assert _duration(29) == "0h 00m 29s"  # was "0h 00m" for a 29 s run
    assert _duration(36 * 3600 + 42 * 60 + 5) == "36h 42m 05s"


def test_ultralytics_progress_bars_draw_only_on_a_terminal(tmp_path):
    import io

    from mle3.recipe.environment import offline_ultralytics

    offline_ultralytics(tmp_path)
    from ultralytics.utils.tqdm import TQDM

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    piped, terminal = io.StringIO(), Terminal()
    for stream in (piped, terminal):
        for _ in TQDM(range(3), desc="scan", file=stream, mininterval=0):
            pass
    assert piped.getvalue() == ""  # a log or CI job gets mle3's own lines, not redraws
    assert "scan" in terminal.getvalue()


def test_runs_show_says_no_cuda_and_no_early_stop_in_words(trained_ws, cli):
    run = next((trained_ws / "artifacts/runs").glob("*/run.yaml")).parent.name
    code, out, err = cli("runs", "show", run, "-w", trained_ws)
    assert code == 0, err
    assert "None" not in out and "no CUDA" in out and "no early stop" in out, out
