"""Mirror mle3 runs to an MLflow tracking store (optional extra ``mlflow``).

The mle3 run record stays the source of truth: the mirror only copies parameters,
per-epoch metrics, tags (configuration, data set, requirements, fingerprints) and the
weights. Any MLflow problem (not installed, server unreachable, store error) becomes a
warning and mirroring stops; it never fails a training. The default store is a local
file store in the workspace's ``.mle3/mlflow``.

Live mirroring is a run hook (:class:`MlflowHook`, see :mod:`mle3.runs.hooks`) that the
CLI registers for ``mle3 train --mlflow``: the trainer calls it and does not know MLflow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from collections.abc import Callable

from ..runs.hooks import RunEnd, RunHook, RunStart

EXPERIMENT = "mle3"


def default_uri(root: Path) -> str:
    from ..workspace.layout import layout_at

    return (root / layout_at(root).mlflow_dir).resolve().as_uri()


def _client(uri: str):
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # an unreachable server is a warning, fast
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # the local default store
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    return client, experiment_id


def _tags(run: dict[str, Any], requirements: list[str]) -> dict[str, str]:
    tags = {
        "mle3.run_id": run.get("id"),
        "mle3.config": run.get("config"),
        "mle3.config_sha256": run.get("config_sha256"),
        "mle3.dataset_version": run.get("dataset_version"),
        "mle3.dataset_fingerprint": run.get("dataset_fingerprint"),
        "mle3.requirements": ",".join(requirements),
        "mle3.code_commit": (run.get("code") or {}).get("commit"),
        "mle3.kind": run.get("kind", "training"),
        "mlflow.runName": run.get("id"),
    }
    return {k: str(v) for k, v in tags.items() if v not in (None, "")}


def _params(run: dict[str, Any]) -> dict[str, str]:
    return {k: str(v)[:500] for k, v in sorted((run.get("parameters") or {}).items())}


_METRICS = (
    "train_box_loss",
    "train_cls_loss",
    "train_dfl_loss",
    "val_box_loss",
    "val_cls_loss",
    "val_dfl_loss",
    "precision",
    "recall",
    "mAP50",
    "mAP50_95",
    "lr",
    "fitness",
)


class Mirror:
    """A live mirror of one run; every method is safe to call after a failure."""

    def __init__(self, uri: str, warn: Callable[[str], None]) -> None:
        self.uri, self.warn = uri, warn
        self.client: Any = None  # an mlflow MlflowClient once start() connected; None: not mirroring
        self.run_id: str | None = None

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        if self.client is None and what != "start":
            return None
        try:
            return fn()
        except Exception as exc:  # any MLflow failure: warn once, stop mirroring
            self.warn(
                f"MLflow mirror to {self.uri} stopped ({what}: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:160]}); the mle3 record is unaffected"
            )
            self.client = None
            return None

    def start(self, run: dict[str, Any], requirements: list[str]) -> None:
        def go() -> None:
            client, experiment_id = _client(self.uri)
            created = client.create_run(experiment_id, tags=_tags(run, requirements))
            for key, value in _params(run).items():
                client.log_param(created.info.run_id, key, value)
            self.client, self.run_id = client, created.info.run_id

        self._guard("start", go)

    def epoch(self, metrics: dict[str, Any]) -> None:
        def go() -> None:
            step = int(metrics.get("epoch", 0))
            for key in _METRICS:
                value = metrics.get(key)
                if isinstance(value, (int, float)):
                    self.client.log_metric(self.run_id, key, float(value), step=step)

        self._guard("epoch", go)

    def finish(self, status: str, final: dict[str, Any], files: list[Path]) -> None:
        def go() -> None:
            for split, values in (final or {}).items():
                for key, value in values.items():
                    if isinstance(value, (int, float)):
                        self.client.log_metric(self.run_id, f"final_{split}_{key}", float(value))
            for path in files:
                if path.is_file():
                    self.client.log_artifact(
                        self.run_id, str(path), "weights" if path.suffix in (".pt", ".onnx") else "record"
                    )
            self.client.set_terminated(
                self.run_id,
                "FINISHED" if status == "success" else ("KILLED" if status in ("aborted", "terminated") else "FAILED"),
            )

        self._guard("finish", go)


class MlflowHook(RunHook):
    """Mirror a training run live while it runs: ``uri`` None for the workspace's store.

    Constructed before the run starts, so a missing ``mlflow`` extra is an error before
    anything is recorded (the user asked for the mirror explicitly)."""

    def __init__(self, uri: str | None = None) -> None:
        from ..optional import require

        require("mlflow")
        self.uri = uri
        self.mirror: Mirror | None = None

    def on_run_start(self, run: RunStart) -> None:
        self.mirror = Mirror(self.uri or default_uri(run.root), run.warn)
        self.mirror.start(run.record.data, run.requirements)
        run.record.update(mlflow={"uri": self.mirror.uri, "run_id": self.mirror.run_id})

    def on_epoch_end(self, metrics: dict[str, Any]) -> None:
        if self.mirror is not None:
            self.mirror.epoch(metrics)

    def on_run_end(self, end: RunEnd) -> None:
        if self.mirror is not None:
            self.mirror.finish(end.status, end.metrics, end.files)


def export_runs(root: Path, uri: str, warn: Callable[[str], None]) -> list[tuple[str, str]]:
    """Mirror every recorded run not mirrored yet (matched by the ``mle3.run_id`` tag)."""
    from ..optional import require
    from ..workspace.records import iter_runs, run_epochs

    require("mlflow")
    try:
        client, experiment_id = _client(uri)
    except Exception as exc:
        warn(f"MLflow store {uri} not reachable: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        return []
    done = []
    found = [r for _, _, r in iter_runs(root) if not isinstance(r, Exception)]
    for run in sorted(found, key=lambda r: str(r.data.get("created", "")), reverse=True):
        if not run.config:
            continue
        existing = client.search_runs([experiment_id], filter_string=f"tags.`mle3.run_id` = '{run.id}'", max_results=1)
        if existing:
            continue
        mirror = Mirror(uri, warn)
        mirror.start({**run.data, "kind": run.kind}, [])
        for metrics in run_epochs(root, run.id):
            mirror.epoch(metrics)
        mirror.finish(run.status, run.final_metrics or {}, [root / (run.file or run.folder)])
        if mirror.run_id:
            done.append((run.id, mirror.run_id))
    return done
