"""Run hooks: the MLflow mirror as a hook the trainer calls without knowing it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from mle3.errors import Mle3Error
from mle3.interop.mlflow import MlflowHook
from mle3.runs.hooks import RunEnd, RunHook, RunStart


class _Record:
    """What a hook uses of a run record: its data and ``update``."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {
            "id": "RUN-20260101-000000-abcd",
            "config": "TINY-TRAIN-001",
            "parameters": {"epochs": 2},
        }

    def update(self, **fields: Any) -> None:
        self.data.update(fields)


def test_the_mlflow_hook_mirrors_start_epochs_and_end(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    warnings: list[str] = []
    record = _Record()
    hook = MlflowHook()
    hook.on_run_start(RunStart(tmp_path, record, ["MLE-REQ-001"], warnings.append))  # type: ignore[arg-type]
    for epoch in (1, 2):
        hook.on_epoch_end({"epoch": epoch, "mAP50": 0.25 * epoch, "not_a_metric": "x"})
    hook.on_run_end(RunEnd("success", {"val": {"mAP50": 0.5}}, [tmp_path / "absent.pt"]))
    assert warnings == []
    mirrored = record.data["mlflow"]
    assert mirrored["uri"] == (tmp_path / ".mle3" / "mlflow").resolve().as_uri()  # the workspace's own store by default
    client = MlflowClient(tracking_uri=mirrored["uri"])
    run = client.get_run(mirrored["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mle3.requirements"] == "MLE-REQ-001"
    assert run.data.params == {"epochs": "2"}
    assert [m.value for m in client.get_metric_history(run.info.run_id, "mAP50")] == [0.25, 0.5]
    assert run.data.metrics["final_val_mAP50"] == 0.5


def test_an_unreachable_store_is_a_warning_and_the_hook_stays_quiet(tmp_path: Path) -> None:
    warnings: list[str] = []
    record = _Record()
    hook = MlflowHook("http://127.0.0.1:9")
    hook.on_run_start(RunStart(tmp_path, record, [], warnings.append))  # type: ignore[arg-type]
    hook.on_epoch_end({"epoch": 1, "mAP50": 0.1})
    hook.on_run_end(RunEnd("failed", {}, []))
    assert len(warnings) == 1 and "the mle3 record is unaffected" in warnings[0]
    assert record.data["mlflow"] == {"uri": "http://127.0.0.1:9", "run_id": None}


def test_a_hook_overrides_only_what_it_needs() -> None:
    calls: list[str] = []

    class Epochs(RunHook):
        def on_epoch_end(self, metrics: dict[str, Any]) -> None:
            calls.append(f"epoch {metrics['epoch']}")

    hook = Epochs()
    hook.on_run_start(None)  # type: ignore[arg-type]
    hook.on_epoch_end({"epoch": 3})
    hook.on_run_end(None)  # type: ignore[arg-type]
    assert calls == ["epoch 3"]


def test_train_with_mlflow_missing_fails_before_anything_is_recorded(make_ws, cli, monkeypatch) -> None:
    """The hook is built before the run: asked for explicitly, a missing extra is an error."""
    root = make_ws()
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(Mle3Error, match=r"mle3\[mlflow\]"):
        MlflowHook()
    code, _, err = cli("train", "TRAIN", "--mlflow", "-w", root, expect=2)
    assert code == 2 and "mle3[mlflow]" in err, err
    assert not (root / "artifacts" / "runs").exists()
