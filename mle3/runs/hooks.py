"""Run hooks: what a training run tells integrations, without knowing any of them.

The trainer calls every hook in ``TrainOptions.hooks`` at three points (like
ultralytics' callbacks): the run record exists, an epoch ended, the run ended. An
integration (the MLflow mirror in :mod:`mle3.interop.mlflow`) implements the hooks it
needs and is registered by whoever starts the run (the CLI), so the runner never imports
an integration and the layers stay one way. A hook must not fail a training: it turns its
own problems into warnings through :attr:`RunStart.warn`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from .records import RunRecord


@dataclass
class RunStart:
    """What a hook learns when the run record exists (before the first epoch)."""

    root: Path
    record: RunRecord
    #: the requirements the configuration and its data set trace to
    requirements: list[str]
    #: report a problem of the hook: recorded as a warning of the run and echoed
    warn: Callable[[str], None]


@dataclass
class RunEnd:
    """What a hook learns when the run ended (after the record's final state)."""

    status: str
    #: final metrics per split, as in ``TrainResult.metrics``
    metrics: dict[str, Any]
    #: the files the run produced that a tracking store may keep (weights, run.yaml)
    files: list[Path]


class RunHook:
    """Base class of a run hook; every method does nothing unless overridden."""

    def on_run_start(self, run: RunStart) -> None:
        """The run record exists; a hook may add its own fields with ``run.record.update``."""

    def on_epoch_end(self, metrics: dict[str, Any]) -> None:
        """An epoch ended with these metrics (the line appended to ``epochs.jsonl``)."""

    def on_run_end(self, end: RunEnd) -> None:
        """The run ended (success or not), whatever happened during it."""
