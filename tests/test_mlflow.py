"""Mirroring runs to MLflow: live during a tiny training, afterwards by export, and an
unreachable server that must never fail a training."""

from __future__ import annotations

import json
import os

import pytest
import yaml

pytestmark = pytest.mark.slow


def client_for(root):
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.tracking import MlflowClient

    from mle3.interop.mlflow import default_uri

    client = MlflowClient(tracking_uri=default_uri(root))
    return client, client.get_experiment_by_name("mle3").experiment_id


def test_training_is_mirrored_while_it_runs(trained_ws, cli):
    code, out, err = cli("train", "TINY-TRAIN-001", "--mlflow", "-w", trained_ws, "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "success" and not result["warnings"], err
    record = yaml.safe_load((trained_ws / "artifacts/runs" / result["run_id"] / "run.yaml").read_text())["run"]
    client, experiment = client_for(trained_ws)
    run = client.get_run(record["mlflow"]["run_id"])
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["mle3.run_id"] == result["run_id"] and tags["mle3.config"] == "TINY-TRAIN-001"
    assert tags["mle3.dataset_fingerprint"] == record["dataset_fingerprint"] and "REQ-PERF" in tags["mle3.requirements"]
    assert run.data.params["epochs"] == "2" and run.data.params["optimizer"] == "AdamW"
    history = client.get_metric_history(run.info.run_id, "mAP50")
    assert [m.step for m in history] == [1, 2]
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "weights")]
    assert artifacts == [f"weights/{result['model_version']}.pt"]


def test_unreachable_server_is_a_warning_not_a_failure(trained_ws, cli):
    code, out, _ = cli(
        "train", "TINY-TRAIN-001", "--epochs", "1", "--mlflow=http://127.0.0.1:9", "-w", trained_ws, "--format", "json"
    )
    result = json.loads(out)
    assert code == 0 and result["status"] == "success"
    assert any("MLflow mirror" in w for w in result["warnings"])


def test_recorded_runs_are_exported_once(trained_ws, cli):
    code, out, _ = cli("runs", "export", "-w", trained_ws, "--format", "json")
    first = json.loads(out)
    assert code == 0 and len(first["exported"]) == 1
    client, experiment = client_for(trained_ws)
    run = client.get_run(first["exported"][0]["mlflow_run_id"])
    assert run.data.tags["mle3.run_id"] == first["exported"][0]["run_id"] and client.get_metric_history(
        run.info.run_id, "mAP50"
    )
    code, out, _ = cli("runs", "export", "-w", trained_ws, "--format", "json")
    assert json.loads(out)["exported"] == []
