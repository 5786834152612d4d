"""The search space: what a trial samples (the values are written into the configuration
by :mod:`mle3.runner.overrides`, so the runner never imports the tuning package).

A space key is a configuration field path as in the mapping table (``optimizer.lr``,
``batch_size``) or an augmentation field (``augmentation.mosaic.probability``); the
schema (:class:`mle3.workspace.schema.Tuning`) refuses anything else at load time.
"""

from __future__ import annotations

from typing import Any, get_args

from ..workspace.schema import Training, TuningParameter


def _is_int_field(path: str) -> bool:
    """Whether a training field holds whole numbers (sampled with ``suggest_int``)."""
    model: Any = Training
    annotation: Any = None
    for part in path.split("."):
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False
        annotation = fields[part].annotation
        model = next(
            (a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and hasattr(a, "model_fields")), None
        )
    kinds = {a for a in (annotation, *get_args(annotation)) if isinstance(a, type)}
    return int in kinds and float not in kinds


def _range(spec: TuningParameter) -> tuple[float, float]:
    """``low`` and ``high`` of a parameter without choices (the schema requires both there)."""
    assert spec.low is not None and spec.high is not None
    return spec.low, spec.high


def suggest(trial: Any, space: dict[str, TuningParameter]) -> dict[str, Any]:
    """Sample every parameter of the space for one Optuna trial."""
    values: dict[str, Any] = {}
    for path, spec in space.items():
        if spec.choices is not None:
            values[path] = trial.suggest_categorical(path, list(spec.choices))
            continue
        low, high = _range(spec)
        if _is_int_field(path) and float(low).is_integer() and float(high).is_integer():
            values[path] = trial.suggest_int(path, int(low), int(high), step=int(spec.step or 1), log=spec.log)
        else:
            values[path] = trial.suggest_float(path, low, high, step=spec.step, log=spec.log)
    return values


def distributions(space: dict[str, TuningParameter]) -> dict[str, Any]:
    """Optuna distributions of the space (to enqueue or compare trials)."""
    import optuna.distributions as d

    out: dict[str, Any] = {}
    for path, spec in space.items():
        if spec.choices is not None:
            out[path] = d.CategoricalDistribution(list(spec.choices))
            continue
        low, high = _range(spec)
        if _is_int_field(path) and float(low).is_integer() and float(high).is_integer():
            out[path] = d.IntDistribution(int(low), int(high), step=int(spec.step or 1), log=spec.log)
        else:
            out[path] = d.FloatDistribution(low, high, step=spec.step, log=spec.log)
    return out


def baseline_values(cfg: Any, aug: Any, space: dict[str, TuningParameter]) -> dict[str, Any] | None:
    """The configuration's own values of the space, when each lies in it: the study's first
    trial, so the best trial is never worse (on the objective) than what was configured."""
    values: dict[str, Any] = {}
    for path, spec in space.items():
        parts = path.split(".")
        node: Any = (aug._raw if aug is not None else None) if parts[0] == "augmentation" else cfg._raw
        for part in parts[1:] if parts[0] == "augmentation" else parts:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None or isinstance(node, bool) and spec.choices is None:
            return None
        if spec.choices is not None:
            if node not in spec.choices:
                return None
        elif not isinstance(node, (int, float)) or not _range(spec)[0] <= node <= _range(spec)[1]:
            return None
        values[path] = node
    return values
