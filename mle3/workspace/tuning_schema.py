"""The ``tuning:`` block of a training configuration: the study ``mle3 tune`` runs.

Strict (unknown keys are errors) and checked against the training fields a study may vary.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .schema_base import AutomotiveName, GeometricName, Number, PhotometricName, Scalar, Section, WeatherName

AUGMENTATION_GROUPS = {
    "geometric": get_args(GeometricName),
    "photometric": get_args(PhotometricName),
    "weather_simulation": get_args(WeatherName),
    "automotive_specific": get_args(AutomotiveName),
}
#: training fields a study may not vary: references, the study itself, and the epochs
#: (a trial trains ``epochs_per_trial``)
NOT_TUNABLE = {
    "dataset",
    "augmentation",
    "requirements",
    "tuning",
    "quantization",
    "epochs",
    "optimized_by",
    "derived_from",
    "id",
    "title",
    "model_line",
    "architecture",
    "approach",
    "description",
}


class _Strict(Section):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)


class TuningObjective(_Strict):
    metric: Literal["mAP_50", "mAP_50_95", "precision", "recall", "f1"]
    #: the split the metric is read on; ``test`` is refused (rule tuning.test-split)
    split: str = "val"
    direction: Literal["maximize", "minimize"] = "maximize"


class TuningParameter(_Strict):
    """One dimension of the search space: a range (``low``, ``high``, ``log``, ``step``)
    or ``choices``."""

    low: Number | None = None
    high: Number | None = None
    log: bool = False
    step: Number | None = Field(None, gt=0)
    choices: list[Scalar] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> TuningParameter:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
            if not self.choices:
                raise ValueError("choices is empty")
            kinds = {_value_kind(v) for v in self.choices}
            if len(kinds) > 1:
                raise ValueError(f"choices mix types ({', '.join(sorted(kinds))}): give values of one type")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a range needs low and high (or give choices)")
        if not self.low < self.high:
            raise ValueError(f"empty range: low {self.low:g} is not below high {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "string"


def _check_tunable(path: str) -> str | None:
    """Why ``path`` is not a field a study can vary, or None."""
    parts = path.split(".")
    if parts[0] == "augmentation":
        rest = parts[1:]
        if rest[:1] in (["mosaic"], ["mixup"]) and rest[1:] == ["probability"]:
            return None
        if len(rest) == 3 and rest[0] in AUGMENTATION_GROUPS and rest[1] in AUGMENTATION_GROUPS[rest[0]]:
            return None
        return "augmentation fields are augmentation.<group>.<transform>.<parameter> or augmentation.mosaic.probability"
    if parts[0] in NOT_TUNABLE:
        return f"{parts[0]} cannot be tuned"
    from .schema import Training  # the training model holds a Tuning: import at call time

    model: Any = Training
    for i, part in enumerate(parts):
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return f"{'.'.join(parts[: i + 1])} is not a training configuration field"
        annotation = fields[part].annotation
        nested = next(
            (a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if i < len(parts) - 1:
            if nested is None:
                return f"{'.'.join(parts[: i + 1])} has no fields"
            model = nested
        elif nested is not None:
            return f"{path} is a section; name one of its fields"
    return None


class Tuning(_Strict):
    """A training configuration's hyperparameter study (``mle3 tune``)."""

    objective: TuningObjective
    trials: int = Field(20, ge=1)
    epochs_per_trial: int | None = Field(None, ge=1)
    sampler: Literal["tpe", "random", "cmaes", "grid"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    seed: int | None = 0
    space: dict[str, TuningParameter] = Field(min_length=1)

    @field_validator("space")
    @classmethod
    def _known_fields(cls, value: dict[str, TuningParameter]) -> dict[str, TuningParameter]:
        for path in value:
            problem = _check_tunable(path)
            if problem:
                raise ValueError(f"space: {path!r}: {problem}")
        return value

    @model_validator(mode="after")
    def _grid_needs_choices(self) -> Tuning:
        if self.sampler == "grid":
            ranged = [p for p, d in self.space.items() if d.choices is None]
            if ranged:
                raise ValueError(f"the grid sampler needs choices for every parameter ({', '.join(ranged)} is a range)")
        return self
