"""The training session: train, quantize and QAT, the training queue and the model versions they write.

``queue.py`` is ``mle3 train --queue`` and ``mle3 worker``.

Use cases with side effects, above the consumers: what a configuration means to
ultralytics is :mod:`mle3.recipe`, the run records and their status are :mod:`mle3.runs`
(both below the consumers, which read them). Integrations (the MLflow mirror) are run
hooks (:mod:`mle3.runs.hooks`) that the caller registers in ``TrainOptions.hooks``; nothing
here imports one (the import contract in pyproject.toml).

Nothing here imports torch or ultralytics at import time; :func:`train` does, lazily.
"""

from ..recipe.mapping import Mapping, map_config
from ..runs.records import RunRecord, effective_status, list_runs
from .train import TrainOptions, TrainResult, train

__all__ = [
    "Mapping",
    "RunRecord",
    "TrainOptions",
    "TrainResult",
    "effective_status",
    "list_runs",
    "map_config",
    "train",
]
