"""``mle3.yaml``: the project settings and policy of a workspace.

Every change to a rule's severity, and every ignored rule, needs a ``reason`` so that an
assessor reading the file sees why a check was relaxed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import Mle3Error, WorkspaceNotFound
from ..findings import format_path
from ..paths import CONFIG_NAME  # re-exported: defined once, below the workspace
from .layout import artifacts_dir_problem
from .yamlpos import YamlProblem, line_of, parse_documents

#: thresholds are finite: ``drop > nan`` is false for every drop, so a NaN would pass all
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleOverride(_Strict):
    severity: Literal["error", "warning", "info", "off"]
    reason: str = Field(min_length=3)

    @field_validator("severity", mode="before")
    @classmethod
    def _unquoted_off(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted ``off`` as false; it means the severity ``off``."""
        return "off" if value is False else value


class Policy(_Strict):
    split_ratios: dict[str, tuple[Finite, Finite]] = Field(
        default_factory=lambda: {"train": (0.6, 0.8), "val": (0.1, 0.2), "test": (0.1, 0.2)}
    )
    #: work product id (e.g. "13-65") or "validated"/"released" -> required roles
    approvals: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "08-65": ["ml_lead"],
            "04-11": ["ml_engineer"],
            "11-07": ["data_owner"],
            "13-65": ["ml_lead"],
            "11-06": ["ml_lead", "safety_assessor"],
            "validated": ["ml_lead"],
            "released": ["ml_lead", "safety_assessor"],
        }
    )
    trainer_may_approve_release: bool = False
    one_role_per_person: bool = True
    require_signatures: bool = False


class QuantizationPolicy(_Strict):
    max_map50_drop: Finite = 0.01


class TrainingCaveats(_Strict):
    """Thresholds of the ``training`` rules (``training.overfit``, ``training.underfit``)."""

    #: validation loss rising this many epochs in a row while training loss falls: overfitting
    overfit_epochs: int = Field(default=3, ge=1)
    #: final training loss above this share of the first epoch's: underfitting
    underfit_loss_ratio: Finite = Field(default=0.7, gt=0, le=1)
    #: val mAP50 moving less than ``flat_map50_delta`` over this many last epochs...
    flat_epochs: int = Field(default=5, ge=2)
    flat_map50_delta: Finite = Field(default=0.01, ge=0)
    #: ...while below this value: underfitting
    flat_map50_below: Finite = Field(default=0.5, ge=0, le=1)


class DatasetSettings(_Strict):
    """How ``check`` watches registered data (``datasets:`` in mle3.yaml)."""

    #: up to this many files ``check`` stats every file of a data set (finds in-place
    #: edits); above it ``check`` compares the data folders' mtimes with the last
    #: ``mle3 dataset verify`` (added, removed, renamed files) and leaves in-place edits to
    #: ``verify`` (size + mtime) and ``verify --deep`` (every file re-hashed)
    check_stat_limit: int = Field(default=50_000, ge=0)


ROOT_NAME = r"^[a-z][a-z0-9_]{0,31}$"


class SliceSettings(_Strict):
    """Per-condition evaluation (``mle3 evaluate``)."""

    #: a slice with fewer images is marked ``too_small``: shown, never counted as a pass
    min_images: int = Field(default=30, ge=1)


class ProjectConfig(_Strict):
    project: str = "unnamed project"
    external: list[str] = Field(default_factory=list, description="glob patterns of ids owned by other tools")
    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    policy: Policy = Field(default_factory=Policy)
    quantization: QuantizationPolicy = Field(default_factory=QuantizationPolicy)
    training_caveats: TrainingCaveats = Field(default_factory=TrainingCaveats)
    #: named places where data lives outside the workspace: name -> local path or fsspec
    #: URL (``s3://bucket/prefix``), or null when every machine maps it itself
    #: (``MLE3_DATA_ROOT_<NAME>`` or ``.mle3/local.yaml``)
    data_roots: dict[str, str | None] = Field(default_factory=dict)
    datasets: DatasetSettings = Field(default_factory=DatasetSettings)
    slices: SliceSettings = Field(default_factory=SliceSettings)
    #: 01-54: descriptions of hyperparameters (dotted configuration field -> text), over mle3's own
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    #: folders (relative to the root) items are read from
    item_dirs: list[str] = Field(default_factory=lambda: ["requirements", "artifacts"])
    #: the folder mle3 writes its records to (runs, models, datasets, studies, audit); it
    #: is read like an item folder even when ``item_dirs`` does not name it
    artifacts_dir: str = Field("artifacts", min_length=1)

    @field_validator("data_roots")
    @classmethod
    def _root_names(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        import re

        for name in value:
            if not re.match(ROOT_NAME, name):
                raise ValueError(
                    f"data root name {name!r} must be lower-case letters, digits and _ (it becomes "
                    f"MLE3_DATA_ROOT_{name.upper()})"
                )
        return value

    @model_validator(mode="after")
    def _item_dirs_inside(self) -> ProjectConfig:
        for d in self.item_dirs:
            if Path(d).is_absolute() or ".." in Path(d).parts:
                raise ValueError(f"item_dirs entry {d!r} must stay inside the workspace")
        problem = artifacts_dir_problem(self.artifacts_dir)
        if problem:
            raise ValueError(problem)
        return self


def find_root(start: Path | None = None) -> Path:
    """The workspace root: ``start`` or its nearest parent holding ``mle3.yaml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise WorkspaceNotFound(f"no {CONFIG_NAME} in {here} or any parent directory (use --workspace DIR or `mle3 init`)")


def load_config(root: Path) -> ProjectConfig:
    """Read and validate ``mle3.yaml``; raise a one-line :class:`Mle3Error` naming file:line."""
    path = root / CONFIG_NAME
    try:
        docs, _ = parse_documents(path.read_bytes())
    except YamlProblem as exc:
        raise Mle3Error(exc.message, file=CONFIG_NAME, line=exc.line) from None
    except OSError as exc:
        raise Mle3Error(f"cannot read: {exc.strerror}", file=CONFIG_NAME) from None
    data = docs[0] if docs else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Mle3Error("must be a mapping of settings", file=CONFIG_NAME, line=1)
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise Mle3Error(err["msg"], file=CONFIG_NAME, line=line_of(data, loc, 1), field=format_path(loc)) from None
