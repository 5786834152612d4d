"""Family ``tuning``: hyperparameter studies (``mle3 tune``)."""

from __future__ import annotations

from collections.abc import Iterator

from ..vocab import is_validation_split
from .registry import Context, Hit, rule


@rule(
    "tuning.test-split",
    "error",
    "A training configuration's tuning objective is measured on the test split: the test split must stay unseen until the final model.",
    "Set tuning.objective.split to val; evaluate on test only the model trained from the accepted configuration.",
)
def objective_on_test(ctx: Context) -> Iterator[Hit]:
    for cfg in ctx.ws.of_kind("training"):
        tuning = cfg.tuning
        if tuning is not None and not is_validation_split(tuning.objective.split):
            yield Hit(
                cfg,
                f"the tuning objective {tuning.objective.metric} is measured on the {tuning.objective.split!r} split",
                ("tuning", "objective", "split"),
            )


@rule(
    "tuning.unaccepted",
    "info",
    "A finished study's best values were never accepted into a training configuration.",
    "Run `mle3 tune accept STUDY` (or delete the study record if its result is not wanted).",
)
def unaccepted(ctx: Context) -> Iterator[Hit]:
    accepted = {cfg.optimized_by for cfg in ctx.ws.of_kind("training") if cfg.optimized_by}
    for study in ctx.ws.of_kind("study"):
        if study.status == "finished" and study.best and study.id not in accepted:
            found = f"{study.objective.get('metric')} {study.best.value} (trial {study.best.number})"
            yield Hit(study, f"study {study.id} found {found}, but no configuration is optimized_by it", ("best",))
