"""The search space: what a trial samples and how the values reach the configuration.

A space key is a configuration field path as in the mapping table (``optimizer.lr``,
``batch_size``) or an augmentation field (``augmentation.mosaic.probability``); the
schema (:class:`mle3.workspace.schema.Tuning`) refuses anything else at load time. A
trial's configuration is the configuration with the sampled values written in and
validated again, so it reaches ultralytics through the same mapping as ``mle3 train``.
"""

from __future__ import annotations

import copy
from typing import Any, get_args

from ..errors import Mle3Error
from ..workspace.schema import Augmentation, Training, TuningParameter, locate


def _is_int_field(path: str) -> bool:
    """Whether a training field holds whole numbers (sampled with ``suggest_int``)."""
    model: Any = Training
    annotation: Any = None
    for part in path.split("."):
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False
        annotation = fields[part].annotation
        model = next((a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and hasattr(a, "model_fields")), None)
    kinds = {a for a in (annotation, *get_args(annotation)) if isinstance(a, type)}
    return int in kinds and float not in kinds


def suggest(trial: Any, space: dict[str, TuningParameter]) -> dict[str, Any]:
    """Sample every parameter of the space for one Optuna trial."""
    values: dict[str, Any] = {}
    for path, spec in space.items():
        if spec.choices is not None:
            values[path] = trial.suggest_categorical(path, list(spec.choices))
        elif _is_int_field(path) and float(spec.low).is_integer() and float(spec.high).is_integer():
            values[path] = trial.suggest_int(path, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
        else:
            values[path] = trial.suggest_float(path, spec.low, spec.high, step=spec.step, log=spec.log)
    return values


def distributions(space: dict[str, TuningParameter]) -> dict[str, Any]:
    """Optuna distributions of the space (to enqueue or compare trials)."""
    import optuna.distributions as d

    out: dict[str, Any] = {}
    for path, spec in space.items():
        if spec.choices is not None:
            out[path] = d.CategoricalDistribution(list(spec.choices))
        elif _is_int_field(path) and float(spec.low).is_integer() and float(spec.high).is_integer():
            out[path] = d.IntDistribution(int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
        else:
            out[path] = d.FloatDistribution(spec.low, spec.high, step=spec.step, log=spec.log)
    return out


def _set(raw: dict[str, Any], path: list[str], value: Any) -> None:
    node = raw
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def apply_values(cfg: Any, aug: Any, values: dict[str, Any]) -> tuple[Any, Any]:
    """The configuration (and augmentation) with ``values`` written in, validated again;
    the originals are left untouched."""
    from pydantic import ValidationError

    cfg_raw = copy.deepcopy(cfg._raw)
    cfg_raw.pop("tuning", None)
    aug_raw = copy.deepcopy(aug._raw) if aug is not None else None
    for path, value in values.items():
        parts = path.split(".")
        if parts[0] == "augmentation":
            if aug_raw is None:
                raise Mle3Error(f"tuning space names {path}, but configuration {cfg.id} has no augmentation", file=cfg._file, field="tuning.space")
            _set(aug_raw, parts[1:], value)
        else:
            _set(cfg_raw, parts, value)
    try:
        new_cfg = locate(Training.model_validate(cfg_raw), cfg._file, cfg._where, cfg_raw)
        new_aug = locate(Augmentation.model_validate(aug_raw), aug._file, aug._where, aug_raw) if aug is not None else None
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Mle3Error(f"the trial's values make the configuration invalid: {'.'.join(map(str, err['loc']))}: {err['msg']}", file=cfg._file, field="tuning.space") from None
    return new_cfg, new_aug


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
        elif not isinstance(node, (int, float)) or not spec.low <= node <= spec.high:
            return None
        values[path] = node
    return values
