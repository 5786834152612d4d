"""Hyperparameter studies on Optuna: the tuning block is checked at load, every trial is
a recorded run that never sees the test split, pruned and crashed trials are recorded,
two processes share one study, and the best values become a new configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY_FILES, check_json, write_files

pytestmark = pytest.mark.slow

TUNING = (
    "  tuning:\n    objective: {metric: mAP_50, split: val, direction: maximize}\n    trials: 2\n    epochs_per_trial: 1\n"
    "    sampler: {sampler}\n    pruner: none\n    seed: 0\n    space:\n{space}"
)
SPACE = "      optimizer.lr: {low: 1.0e-4, high: 1.0e-2, log: true}\n      batch_size: {choices: [4, 8]}\n"


def tuned_ws(root: Path, *, space: str = SPACE, sampler: str = "tpe") -> Path:
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate

    files = dict(TINY_FILES)
    files["artifacts/training/TINY.yaml"] += TUNING.replace("{sampler}", sampler).replace("{space}", space)
    write_files(root, files)
    data_yaml = generate(root / "data" / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)
    register(root, data_yaml, "TINY-DATA", "v1", ["REQ-DATA"])
    return root


def run_yaml(root: Path, run_id: str) -> dict:
    return yaml.safe_load((root / "artifacts" / "runs" / run_id / "run.yaml").read_text())["run"]


def test_a_study_records_every_trial_as_a_run_that_never_sees_the_test_split(tmp_path, cli):
    root = tuned_ws(tmp_path / "ws")
    code, out, err = cli("tune", "run", "TINY-TRAIN-001", "--study", "S-1", "-w", root, "--format", "json")
    doc = json.loads(out)
    assert code == 0, err
    assert doc["study"] == "S-1" and [t["number"] for t in doc["trials"]] == [0, 1]
    assert set(doc["best"]) == {"number", "run_id", "run", "value", "params"}
    for trial in doc["trials"]:
        assert (
            set(trial) == {"number", "run_id", "run", "status", "value", "params"}
            and trial["run_id"] == trial["run"]
            and trial["status"] == "complete"
        )
        run = run_yaml(root, trial["run"])
        assert (
            run["study"]["name"] == "S-1"
            and run["study"]["trial"] == trial["number"]
            and run["study"]["params"] == trial["params"]
        )
        assert run["study"]["value"] == trial["value"] and run["epochs_completed"] == 1
        assert set(run["final_metrics"]) == {"validation"}  # no test metrics
        assert "test" not in yaml.safe_load(
            (root / "artifacts" / "runs" / trial["run"] / "data.yaml").read_text()
        )  # ultralytics never saw it
        assert not (root / "artifacts" / "runs" / trial["run"] / "test").exists()
        assert run["parameters"]["batch"] == trial["params"]["batch_size"] and run["parameters"][
            "lr0"
        ] == pytest.approx(trial["params"]["optimizer.lr"])
    assert not (root / "artifacts" / "models").exists()  # trials make no model versions
    record = yaml.safe_load((root / "artifacts" / "studies" / "S-1.yaml").read_text())["study"]
    assert (
        record["config"] == "TINY-TRAIN-001" and record["status"] == "finished" and record["counts"] == {"complete": 2}
    )
    assert record["dataset_fingerprint"].startswith("sha256:") and record["sampler"] == "tpe" and record["seed"] == 0
    assert [t["run"] for t in record["trials"]] == [t["run"] for t in doc["trials"]]
    # trial 0 is the configuration as written: the best is never worse than it on the objective
    assert (
        doc["trials"][0]["params"] == {"optimizer.lr": 0.002, "batch_size": 8}
        and record["trials"][0]["baseline"] is True
    )
    code, check = check_json(cli, root)
    assert any(f["rule"] == "tuning.unaccepted" for f in check["findings"])
    # accept: a new configuration with the best values, traced to the study and its origin
    code, out, err = cli("tune", "accept", "S-1", "--id", "TINY-TRAIN-002", "-w", root, "--format", "json")
    assert code == 0, err
    new = yaml.safe_load((root / "artifacts" / "training" / "TINY-TRAIN-002.yaml").read_text())["training"]
    best = doc["best"]["params"]
    assert new["optimized_by"] == "S-1" and new["derived_from"] == "TINY-TRAIN-001" and "tuning" not in new
    assert new["batch_size"] == best["batch_size"] and new["optimizer"]["lr"] == best["optimizer.lr"]
    code, check = check_json(cli, root)
    assert not any(f["rule"].startswith("tuning.") for f in check["findings"])
    code, out, _ = cli("trace", "TINY-TRAIN-002", "-w", root, "--format", "json")
    assert "S-1" in out
    # the final model of the accepted configuration is the one that meets the test split
    code, out, err = cli("train", "TINY-TRAIN-002", "-w", root, "--format", "json")
    final = run_yaml(root, json.loads(out)["run_id"])
    assert code == 0 and "test" in final["final_metrics"]
    # its 13-65 summarizes the optimization; the site has a study page
    model = json.loads(out)["model_version"]
    code, _, err = cli("report", "13-65", model, "--to", "html", "-o", tmp_path / "r.html", "-w", root)
    html = (tmp_path / "r.html").read_text()
    assert (
        code == 0 and "Optimization (hyperparameter study)" in html and "S-1" in html and "Optimization history" in html
    ), err
    assert "2 complete" in html and "the test split was not used by any trial" in html
    assert cli("site", "-o", tmp_path / "site", "-w", root)[0] == 0
    page = (tmp_path / "site" / "items" / "S-1.html").read_text()
    assert "Optimization history" in page and doc["best"]["run"] in page


def test_crashed_trials_are_failed_and_the_study_goes_on(tmp_path, cli):
    space = "      optimizer.momentum: {choices: [0.9, -5.0]}\n"  # AdamW refuses a negative beta: that trial crashes
    root = tuned_ws(tmp_path / "ws", space=space, sampler="grid")
    code, out, err = cli("tune", "run", "TINY-TRAIN-001", "--study", "S-CRASH", "-w", root, "--format", "json")
    doc = json.loads(out)
    by_value = {t["params"]["optimizer.momentum"]: t for t in doc["trials"]}
    assert code == 0 and by_value[0.9]["status"] == "complete" and by_value[-5.0]["status"] == "failed", err
    crashed = run_yaml(root, by_value[-5.0]["run"])
    assert crashed["status"] == "failed" and crashed["error"]
    assert doc["best"]["params"] == {"optimizer.momentum": 0.9}


def test_a_pruned_trial_is_recorded_as_pruned(tmp_path):
    """The runner's side of pruning: the hook raises after an epoch, the run ends ``pruned``."""
    from mle3.runner.train import Pruned, TrainOptions, train

    root = tuned_ws(tmp_path / "ws")

    def prune(metrics):
        raise Pruned()

    result = train(
        root,
        "TINY-TRAIN-001",
        TrainOptions(overrides={"epochs": 3}, on_epoch=prune, write_model=False),
        echo=lambda line: None,
    )
    (run_id,) = os.listdir(root / "artifacts" / "runs")
    run = run_yaml(root, run_id)
    assert (
        result.status == "pruned"
        and run["status"] == "pruned"
        and run["epochs_completed"] == 1
        and not run.get("error")
    )


def test_two_processes_on_one_study_record_every_trial_exactly_once(tmp_path):
    root = tuned_ws(tmp_path / "ws")
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false")
    cmd = [
        sys.executable,
        "-c",
        "from mle3.cli import run; run()",
        "tune",
        "run",
        "TINY-TRAIN-001",
        "--study",
        "S-SHARED",
        "--trials",
        "4",
        "-w",
        str(root),
        "--format",
        "json",
    ]
    procs = [
        subprocess.Popen(
            cmd + ["--worker-index", str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in (1, 2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    record = yaml.safe_load((root / "artifacts" / "studies" / "S-SHARED.yaml").read_text())["study"]
    numbers = [t["number"] for t in record["trials"]]
    runs = [t["run"] for t in record["trials"]]
    assert sorted(numbers) == list(range(len(numbers))) and len(numbers) >= 4
    assert len(set(runs)) == len(runs) and all(runs)
    recorded = {r for r in os.listdir(root / "artifacts" / "runs")}
    assert recorded == set(runs)  # every run belongs to exactly one trial, every trial has its run
    for trial in record["trials"]:
        assert run_yaml(root, trial["run"])["study"]["trial"] == trial["number"]


def test_bad_tuning_blocks_are_file_line_errors(tmp_path, cli):
    bad = {
        "      optimizer.nope: {low: 0.1, high: 0.2}\n": "optimizer.nope",
        "      optimizer.lr: {low: 0.1, high: 0.1}\n": "empty range",
        '      batch_size: {choices: [16, "32"]}\n': "mix types",
        "      epochs: {low: 1, high: 5}\n": "epochs cannot be tuned",
    }
    for space, words in bad.items():
        root = write_files(
            tmp_path / words.replace(" ", "-"),
            {
                **TINY_FILES,
                "artifacts/training/TINY.yaml": TINY_FILES["artifacts/training/TINY.yaml"]
                + TUNING.replace("{sampler}", "tpe").replace("{space}", space),
            },
        )
        code, check = check_json(cli, root)
        hits = [f for f in check["findings"] if f["file"] == "artifacts/training/TINY.yaml" and words in f["message"]]
        assert code == 1 and hits and hits[0]["line"] and hits[0]["line"] > 1, (words, check["findings"])
    root = write_files(
        tmp_path / "extra-key",
        {
            **TINY_FILES,
            "artifacts/training/TINY.yaml": TINY_FILES["artifacts/training/TINY.yaml"]
            + TUNING.replace("{sampler}", "tpe").replace("{space}", SPACE)
            + "    trails: 3\n",
        },
    )
    code, check = check_json(cli, root)
    assert code == 1 and any("trails" in f["message"] or "trails" in (f.get("field") or "") for f in check["findings"])


def test_an_objective_on_the_test_split_is_refused(tmp_path, cli):
    root = tuned_ws(tmp_path / "ws")
    path = root / "artifacts" / "training" / "TINY.yaml"
    path.write_text(path.read_text().replace("split: val", "split: test"))
    code, _, err = cli("tune", "run", "TINY-TRAIN-001", "-w", root, expect=2)
    assert code == 2 and "test" in err and "TINY.yaml" in err and err.count("\n") == 1
    assert not (root / "artifacts" / "runs").exists()
    code, check = check_json(cli, root)
    assert code == 1 and any(f["rule"] == "tuning.test-split" and f["severity"] == "error" for f in check["findings"])


def test_an_unreachable_storage_is_one_line(tmp_path, cli):
    root = tuned_ws(tmp_path / "ws")
    for url in ("sqlite:////nonexistent-dir/x/study.db", "postgresql://mle3:secret@127.0.0.1:1/studies"):
        code, _, err = cli("tune", "run", "TINY-TRAIN-001", "--storage", url, "-w", root, expect=2)
        assert code == 2 and "cannot open the study storage" in err and err.count("\n") == 1 and "secret" not in err, (
            err
        )
    assert not (root / "artifacts" / "runs").exists()


def test_workers_option_starts_trial_processes_on_one_study(tmp_path, cli):
    root = tuned_ws(tmp_path / "ws")
    code, out, err = cli(
        "tune",
        "run",
        "TINY-TRAIN-001",
        "--study",
        "S-W",
        "--workers",
        "2",
        "--trials",
        "3",
        "-w",
        root,
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert code == 0, err
    assert len(doc["trials"]) >= 3 and len({t["run"] for t in doc["trials"]}) == len(doc["trials"])
    assert (
        "2 trial processes" in err and "[worker 1]" in err and "[worker 2]" in err
    )  # both ran and joined the one study
    assert all(run_yaml(root, t["run"])["study"]["name"] == "S-W" for t in doc["trials"])


def test_a_journal_file_on_shared_storage_holds_the_study(tmp_path, cli):
    """The storage for machines without a database: Optuna's journal file."""
    root = tuned_ws(tmp_path / "ws")
    journal = tmp_path / "shared" / "study.log"
    journal.parent.mkdir()
    code, out, err = cli(
        "tune",
        "run",
        "TINY-TRAIN-001",
        "--study",
        "S-J",
        "--trials",
        "1",
        "--storage",
        str(journal),
        "-w",
        root,
        "--format",
        "json",
    )
    assert code == 0 and journal.stat().st_size > 0, err
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(study_name="S-J", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert [t.user_attrs["run"] for t in study.trials] == [json.loads(out)["trials"][0]["run"]]
    assert yaml.safe_load((root / "artifacts" / "studies" / "S-J.yaml").read_text())["study"]["storage"] == str(journal)
