"""Family ``training``: caveats a finished training run's curves show (over- and
underfitting), with the thresholds of ``training_caveats:`` in ``mle3.yaml``."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from collections.abc import Iterator

from .. import caveats
from ..workspace.records import EPOCHS_FILE, read_epoch_log, read_epochs
from .registry import Context, Hit, rule


def _finished_trainings(ctx: Context) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    for run in ctx.ws.of_kind("run"):
        if run.status != "success" or run.run_kind == "quantization":
            continue
        rel = (PurePosixPath(run._file).parent / EPOCHS_FILE).as_posix()
        if ctx.exists(rel):
            yield run, read_epochs(ctx.ws.root / rel)


def _hits(ctx: Context, kind: str) -> Iterator[Hit]:
    for run, epochs in _finished_trainings(ctx):
        for found in caveats.findings(epochs, ctx.ws.config.training_caveats):
            if found.kind == kind:
                yield Hit(run, found.message)


@rule(
    "training.early-stopping-inert",
    "warning",
    "A configuration's early_stopping.patience is at least its epochs: early stopping cannot fire, so it is no "
    "exit criterion of that training.",
    "Set early_stopping.patience below epochs (typically a fraction of it), or drop early stopping and rely on the "
    "epoch budget.",
)
def early_stopping_inert(ctx: Context) -> Iterator[Hit]:
    for cfg in ctx.ws.of_kind("training"):
        if early_stopping_cannot_fire(cfg):
            yield Hit(
                cfg,
                f"early_stopping.patience {cfg.early_stopping.patience} >= epochs {cfg.epochs}: early stopping "
                "cannot fire in this training",
                ("early_stopping", "patience"),
            )


def early_stopping_cannot_fire(cfg: Any, epochs: Any = None) -> bool:
    """Patience at least the epochs (of the configuration, or the ``epochs`` a run recorded)."""
    es = getattr(cfg, "early_stopping", None)
    patience = getattr(es, "patience", None)
    epochs = epochs if type(epochs) is int else getattr(cfg, "epochs", None)
    return type(patience) is int and patience > 0 and type(epochs) is int and patience >= epochs


@rule(
    "training.overfit",
    "warning",
    "Validation loss rose for training_caveats.overfit_epochs epochs in a row while training loss fell: the model "
    "learns the training set, not the task.",
    "Look at the generalization gap in the run's 13-65; stop earlier (early_stopping), add data or augmentation, or "
    "regularize; the best epoch's weights are the ones kept.",
)
def overfit(ctx: Context) -> Iterator[Hit]:
    yield from _hits(ctx, "overfit")


@rule(
    "training.underfit",
    "warning",
    "Training loss stayed above training_caveats.underfit_loss_ratio of the first epoch's, or val mAP50 stayed flat "
    "below flat_map50_below: the model has not learned enough.",
    "Train longer or with a higher learning rate, check the labels (`mle3 dataset register` reports label problems), "
    "or use a larger model.",
)
def underfit(ctx: Context) -> Iterator[Hit]:
    yield from _hits(ctx, "underfit")


@rule(
    "training.model-run-unfinished",
    "error",
    "A model version names a training run whose record does not say success (the run crashed, was killed or is still "
    "running): its weights are not the result of a finished training.",
    "Train again (`mle3 runs rerun RUN`) and use the new run's model version; mark this one rejected or remove it.",
)
def model_run_unfinished(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        run = ctx.ws.resolve(model.training_run) if model.training_run else None
        if run is None or run.kind != "run" or run.status == "success":
            continue
        yield Hit(
            model,
            f"model version {model.id} comes from run {run.id}, which is {run.status!r}, not success: "
            "it is not promotable until a run that ended success produced it",
            ("training_run",),
        )


@rule(
    "training.epochs-unreadable",
    "error",
    "A line of a run's epochs.jsonl is not an epoch record mle3 wrote (not JSON, not an object, a bad epoch number): "
    "the recorded curves cannot be trusted.",
    "Restore epochs.jsonl from git (`git checkout -- FILE`), or train again; mle3 appends one JSON object per epoch "
    "and never edits the file.",
)
def epochs_unreadable(ctx: Context) -> Iterator[Hit]:
    for run in ctx.ws.of_kind("run"):
        rel = (PurePosixPath(run._file).parent / EPOCHS_FILE).as_posix()
        if not ctx.exists(rel):
            continue
        problems = read_epoch_log(ctx.ws.root / rel).problems
        if problems:
            line, why = problems[0]
            more = f" (and {len(problems) - 1} more line(s))" if len(problems) > 1 else ""
            yield Hit(run, f"{rel}:{line}: {why}{more}")
