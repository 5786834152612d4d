"""The training and validation approach (ASPICE 4.0 information item 08-65, MLE.3.BP1).

An ``approach:`` item says how a model line is to be trained and validated: the entry
criteria a run must meet before it starts, the exit criteria its training must meet
before its model may be called validated, the hyperparameter tuning approach, the
approach for creating and changing data sets, the training environment with the
hardware it requires, the interface of the input and output data, and the
robustification methods. Training configurations name it (``approach:``). The item itself
(:class:`~mle3.workspace.schema.Approach`) is built from these sections.

Its sections refuse unknown keys: a misspelled criterion that was silently kept would be
a criterion nobody checks.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .schema_base import Number, Section

#: the precisions a hardware requirement may name (``amp``: automatic mixed precision)
PRECISIONS = ("fp32", "amp", "fp16", "bf16")
_HARDWARE = re.compile(
    r"^\s*(?:(?P<count>\d+)\s*[x×*]\s*)?(?P<accelerator>[A-Za-z][\w .\-/]*?)\s*(?:,\s*(?P<precision>\w+))?\s*$"
)


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


class _Strict(Section):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)


class HardwareRequirement(_Strict):
    """The hardware a run of this approach must use. Written as a mapping or as one line:
    ``"2x NVIDIA A100, amp"``, ``"A100"``, ``"cpu"``. ``accelerator`` is ``cpu`` or a GPU
    model matched case-insensitively as a substring of the device name the run recorded
    (``A100`` matches ``NVIDIA A100-SXM4-80GB``)."""

    accelerator: str = Field(min_length=1)
    #: GPUs the run must use (at least); ignored for ``cpu``
    count: int = Field(default=1, ge=1)
    precision: Literal["fp32", "amp", "fp16", "bf16"] | None = None
    #: minimum memory per GPU in GiB
    memory_gib: Number | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_line(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _HARDWARE.match(data)
        if match is None or (match["precision"] is not None and match["precision"].lower() not in PRECISIONS):
            raise ValueError(
                f"cannot read the hardware requirement {data!r}: write '<count>x <GPU model>[, <precision>]' "
                f"(precision one of {', '.join(PRECISIONS)}), e.g. '2x NVIDIA A100, amp', or 'cpu'"
            )
        out: dict[str, Any] = {"accelerator": match["accelerator"].strip()}
        if match["count"] is not None:
            out["count"] = int(match["count"])
        if match["precision"] is not None:
            out["precision"] = match["precision"].lower()
        return out

    @property
    def is_cpu(self) -> bool:
        return self.accelerator.strip().lower() == "cpu"

    def text(self) -> str:
        if self.is_cpu:
            return "cpu"
        head = f"{self.count}x {self.accelerator}"
        extra: list[str] = [self.precision] if self.precision else []
        if self.memory_gib is not None:
            extra.append(f"≥ {self.memory_gib:g} GiB each")
        return head + (f" ({', '.join(extra)})" if extra else "")


class EntryCriteria(_Strict):
    """What must hold when a run starts (checked against the run record and the audit
    log: the times of approvals, the fingerprint the run recorded)."""

    #: the data set's files hashed to its registered fingerprint when the run started
    dataset_verified: bool = True
    #: the 11-07 of that data set version was approved (verified, fresh) before the start
    dataset_approved: bool = False
    #: the 04-11 of the configuration was approved (verified, fresh) before the start
    configuration_approved: bool = False
    #: the working tree was clean (every input committed) when the run started
    clean_worktree: bool = False


class ExitMetric(_Strict):
    """A metric the training must reach on the validation split."""

    metric: str = Field(min_length=1)
    split: Literal["val", "validation"] = "val"
    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> ExitMetric:
        if self.min is None and self.max is None:
            raise ValueError("an exit metric needs min or max")
        return self


class ExitEarlyStopping(_Strict):
    """The early-stopping rule every configuration of the approach must carry."""

    metric: str | None = None
    #: the configuration's patience must be at most this many epochs
    patience: int = Field(ge=1)


class ExitCriteria(_Strict):
    """When training and validation may end. The training met them when its run ended
    successfully and one of these holds: the metric was reached on val, the epoch budget
    was spent, or the early-stopping rule stopped it."""

    metric: ExitMetric | None = None
    #: the most epochs a run may take (default: the configuration's ``epochs``)
    epoch_budget: int | None = Field(default=None, ge=1)
    early_stopping: ExitEarlyStopping | None = None


class TuningApproach(_Strict):
    description: str | None = None
    #: studies (``mle3 tune``) and configurations with tuning blocks that carry it out
    studies: list[str] = Field(default_factory=list)
    configurations: list[str] = Field(default_factory=list)
    #: the most trials a study of this approach may run
    max_trials: int | None = Field(default=None, ge=1)

    coerce_lists = field_validator("studies", "configurations", mode="before")(_as_list)


class DataApproach(_Strict):
    """How data sets are created and modified."""

    description: str | None = None
    split_policy: str | None = None
    #: where the data comes from (free text per source)
    sources: list[str] = Field(default_factory=list)
    #: how a data set changes: a new version registered, never an edit in place
    modification: str | None = None
    datasets: list[str] = Field(default_factory=list)
    augmentation: list[str] = Field(default_factory=list)

    coerce_lists = field_validator("sources", "datasets", "augmentation", mode="before")(_as_list)


class TrainingEnvironment(_Strict):
    description: str | None = None
    hardware: HardwareRequirement | None = None
    framework: str | None = None
    #: package -> version specifier (``torch: ">=2.2"``)
    software: dict[str, str] = Field(default_factory=dict)


class DataInterface(_Strict):
    """The interface of the model's input and output data."""

    input: str | None = None
    output: str | None = None


class Robustification(_Strict):
    method: str = Field(min_length=1)
    description: str | None = None
    #: the augmentation item or configuration that carries it out, if any
    by: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return {"method": data} if isinstance(data, str) else data
