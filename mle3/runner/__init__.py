"""Training runs: configuration mapping, run records, the ultralytics runner and the training
queue (``queue.py``: ``mle3 train --queue``, ``mle3 worker``).

Integrations (the MLflow mirror) are run hooks (``hooks.py``) that the caller registers in
``TrainOptions.hooks``; nothing here imports one (the import contract in pyproject.toml).

Nothing here imports torch or ultralytics at import time; :func:`train` does, lazily.
"""

from .mapping import Mapping, map_config
from .records import RunRecord, effective_status, list_runs
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
