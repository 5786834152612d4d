"""Pydantic models of every item kind a workspace holds.

The shapes of ``training``, ``augmentation`` and ``model_version`` follow the ASPICE MLE.3
seed text field for field, so its YAML loads as written. Every section allows extra keys
(users extend their files); :func:`misspelled_fields` reports extras that look like typos
of known fields instead of silently keeping them.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AliasChoices,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

# defined in the vocabulary; imported from here too
from ..vocab import MODEL_METRICS, MODEL_STATUSES, RETIRED_STATUSES, RUN_STATUSES, canonical_split  # noqa: F401
from .characteristics import DERIVED, CharacteristicsRecord, MetadataRecord, SliceRecord
from .records import ConversionRecord, LabelQuality, Leakage, QuantizationRecord, RegistrationRecord, StudyTrial
from .schema_base import (  # noqa: F401  (imported from here too)
    AutomotiveName,
    GeometricName,
    Number,
    PhotometricName,
    Scalar,
    Section,
    WeatherName,
)
from .approach_schema import (
    DataApproach,
    DataInterface,
    EntryCriteria,
    ExitCriteria,
    HardwareRequirement,  # noqa: F401
    Robustification,
    TrainingEnvironment,
    TuningApproach,
)
from .tuning_schema import AUGMENTATION_GROUPS, NOT_TUNABLE, Tuning, TuningObjective, TuningParameter  # noqa: F401
from .typos import misspelled_fields  # noqa: F401

DateLike = Union[dt.datetime, dt.date, str]


def _as_list(value: Any) -> Any:
    """Accept ``key: ID`` as shorthand for ``key: [ID]``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


# --------------------------------------------------------------------------- criteria
SplitName = Literal["train", "val", "validation", "test"]
#: a condition on data characteristics: ``{time_of_day: night}``, ``{weather: [rain, fog]}``
WhereClause = dict[str, Union[str, list[str]]]


def _text_of(value: Any) -> Any:
    """A characteristic value as the record holds it: YAML's ``yes``/``true`` is ``"true"``, ``1`` is ``"1"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _where_values_as_text(value: Any) -> Any:
    """``{objects: 1}`` means the value ``"1"``: characteristic values (and keys) are compared as text."""
    if not isinstance(value, dict):
        return value
    return {_text_of(k): [_text_of(x) for x in v] if isinstance(v, list) else _text_of(v) for k, v in value.items()}


class MetricCriterion(Section):
    """A model metric threshold on a split, e.g. ``metric: mAP_50, split: test, min: 0.85``;
    with ``where`` on the slice of that split meeting it (``where: {time_of_day: night}``)."""

    id: str | None = None
    metric: str
    split: SplitName = "test"
    where: WhereClause | None = None
    min: Number | None = None
    max: Number | None = None

    where_as_text = field_validator("where", mode="before")(_where_values_as_text)

    @model_validator(mode="after")
    def _bounded(self) -> MetricCriterion:
        """A metric criterion without min or max is met by any value: not a criterion."""
        if self.min is None and self.max is None:
            raise ValueError(f"criterion on {self.metric} states neither min nor max")
        return self


class ClassSamplesCriterion(Section):
    """A class that must be present with a minimum number of instances (per split or total);
    with ``where`` counted only in the images meeting it."""

    id: str | None = None
    class_: str = Field(alias="class")
    min_samples: int = Field(ge=0)
    split: Literal["train", "val", "validation", "test", "all"] = "all"
    where: WhereClause | None = None

    where_as_text = field_validator("where", mode="before")(_where_values_as_text)


class SamplesCriterion(Section):
    """A minimum number of samples (images) in a split; with ``where`` of those meeting it."""

    id: str | None = None
    samples: Literal["train", "val", "validation", "test", "all"]
    min: int = Field(ge=0)
    where: WhereClause | None = None

    where_as_text = field_validator("where", mode="before")(_where_values_as_text)


class ShareCriterion(Section):
    """The share of a split's images per value of a characteristic, e.g.
    ``characteristic: time_of_day, split: train, share: {night: [0.2, 0.4]}`` (of instances
    for ``object_size``)."""

    id: str | None = None
    characteristic: str
    split: Literal["train", "val", "validation", "test", "all"] = "train"
    share: dict[str, tuple[Number, Number]] = Field(min_length=1)

    @field_validator("share")
    @classmethod
    def _bounds_in_order(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (lo, hi) in value.items():
            if not 0 <= lo <= hi <= 1:
                raise ValueError(f"share of {name!r} must be [low, high] with 0 <= low <= high <= 1")
        return value

    share_keys_as_text = field_validator("share", mode="before")(_where_values_as_text)


def _every_split() -> list[SplitName]:
    return ["train", "val", "test"]


class CoverageCriterion(Section):
    """Every listed value (``all``: every value the ODD lists) present in every listed split
    with at least ``min_samples`` images."""

    id: str | None = None
    characteristic: str
    coverage: Union[Literal["all"], list[str]]
    splits: list[SplitName] = Field(default_factory=lambda: _every_split(), min_length=1)
    min_samples: int = Field(default=1, ge=1)

    @field_validator("coverage", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        return [_text_of(v) for v in value] if isinstance(value, list) else value


class SimilarityCriterion(Section):
    """Two splits' distributions of a characteristic at most ``max_tvd`` apart (total
    variation distance), so the test set represents what the model was trained for."""

    id: str | None = None
    characteristic: str
    similar: tuple[SplitName, SplitName]
    max_tvd: Number = Field(ge=0, le=1)

    @field_validator("similar")
    @classmethod
    def _two_splits(cls, value: tuple[str, str]) -> tuple[str, str]:
        if canonical_split(value[0]) == canonical_split(value[1]):
            raise ValueError("similar compares two different splits")
        return value


class SplitRatioCriterion(Section):
    """Allowed share of every split, e.g. ``train: [0.6, 0.8]``; splits must be exclusive."""

    id: str | None = None
    split_ratio: dict[Literal["train", "val", "validation", "test"], tuple[Number, Number]]
    exclusive: bool = True


def _criterion_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, tag in (
            ("metric", "metric"),
            ("class", "class"),
            ("samples", "samples"),
            ("split_ratio", "split_ratio"),
            ("share", "share"),
            ("coverage", "coverage"),
            ("similar", "similar"),
        ):
            if key in value:
                return tag
        return None
    return getattr(value, "criterion_kind", None)


Criterion = Annotated[
    Union[
        Annotated[MetricCriterion, Tag("metric")],
        Annotated[ClassSamplesCriterion, Tag("class")],
        Annotated[SamplesCriterion, Tag("samples")],
        Annotated[SplitRatioCriterion, Tag("split_ratio")],
        Annotated[ShareCriterion, Tag("share")],
        Annotated[CoverageCriterion, Tag("coverage")],
        Annotated[SimilarityCriterion, Tag("similar")],
    ],
    Discriminator(
        _criterion_kind,
        custom_error_type="criterion_kind",
        custom_error_message="a criterion needs one of the keys metric, class, samples, split_ratio, share, coverage, "
        "similar",
    ),
]
#: validates one criterion alone (a requirement sets aside those it cannot read)
_CRITERION: TypeAdapter[Any] = TypeAdapter(Criterion)


# --------------------------------------------------------------------------- items
class Located(Section):
    """An item read from a file. The loader attaches, outside the validated fields,
    ``_file`` (workspace-relative path), ``_where`` (document index, key path of the item
    in the document) and ``_raw`` (the mapping it was validated from); see
    :func:`locate`. They are plain instance attributes rather than pydantic private
    attributes, whose per-instance set-up cost a quarter of the load time."""

    if TYPE_CHECKING:  # for type checkers only: pydantic must not see them as private attributes
        _file: str
        _where: tuple
        _raw: Any


def locate(obj: Located, file: str, where: tuple, raw: Any) -> Located:
    """Attach the origin of an item (not part of its content or its serialisation)."""
    obj.__dict__.update(_file=file, _where=where, _raw=raw)
    return obj


class Item(Located):
    """Common part of every workspace item."""

    kind: ClassVar[str] = "item"
    id: str
    title: str | None = None

    @property
    def key(self) -> str:
        """The id other items use to refer to this one."""
        return self.id


class RequirementLink(Section):
    """A typed link to another requirement (``fulfills``, ``realizes``, ``deriveReq``: the
    relation types ALM tools export), kept with its type; ``check`` and ``trace`` show it."""

    type: str = Field(min_length=1, max_length=200)
    to: str = Field(min_length=1)


class Requirement(Item):
    kind: ClassVar[str] = "requirement"
    text: str | None = None
    type: Literal["ml_data", "ml_model", "performance", "robustness", "safety", "interface", "other"] = "other"
    derived_from: list[str] = Field(default_factory=list)
    #: typed links to other requirements besides derivation (from ReqIF: every relation type)
    links: list[RequirementLink] = Field(default_factory=list)
    status: str | None = None
    #: the ODD whose characteristics its criteria name (optional when the workspace has one)
    odd: str | None = None
    criteria: list[Criterion] = Field(default_factory=list)
    #: criteria that could not be read, as (index in ``criteria``, problem): the rule
    #: ``criteria.unreadable`` reports each at its line, the requirement itself is kept
    unreadable_criteria: list[tuple[int, str]] = Field(default_factory=list, exclude=True)

    coerce_lists = field_validator("derived_from", mode="before")(_as_list)

    @model_validator(mode="before")
    @classmethod
    def _set_aside_unreadable_criteria(cls, data: Any) -> Any:
        """One criterion the schema cannot read must not drop its requirement (which would
        then not even be reported as uncovered): it is set aside and reported alone."""
        if not isinstance(data, dict) or not isinstance(data.get("criteria"), list):
            return data
        good, bad = [], []
        for index, raw in enumerate(data["criteria"]):
            try:
                _CRITERION.validate_python(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first.get("loc", ())[1:])  # after the criterion's kind
                bad.append((index, str(first.get("msg", "invalid"))[:200] + (f" ({where})" if where else "")))
                continue
            good.append(raw)
        if not bad:
            return data
        return {**data, "criteria": good, "unreadable_criteria": bad}


class Architecture(Item):
    kind: ClassVar[str] = "architecture"
    text: str | None = None
    requirements: list[str] = Field(default_factory=list)

    coerce_lists = field_validator("requirements", mode="before")(_as_list)


class OddCharacteristic(Section):
    """One characteristic of an ODD: its values (categorical) or type, and its role.
    ``role: group`` marks a drive or sequence id: one value in two splits is leakage."""

    values: list[str] | None = None
    type: Literal["category", "string", "integer", "number", "boolean"] = "category"
    role: Literal["condition", "group"] = "condition"
    required: bool = True
    #: a characteristic mle3 derives itself (``luminance`` is measured only when asked for)
    derived: bool = False
    description: str | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        return [_text_of(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _values_or_type(self) -> OddCharacteristic:
        if self.type == "category" and not self.values and not self.derived and self.role != "group":
            raise ValueError("a categorical characteristic lists its values (or give a type: string, number...)")
        if self.values and (self.role == "group" or self.type != "category"):
            raise ValueError("only a categorical condition lists values (a group or a typed characteristic has none)")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("values are listed twice")
        return self


def _characteristic_shorthand(value: Any) -> Any:
    """``time_of_day: [day, night]`` is shorthand for ``{values: [day, night]}``."""
    if isinstance(value, dict):
        return {k: {"values": v} if isinstance(v, list) else v for k, v in value.items()}
    return value


class Odd(Item):
    """An operational design domain as a vocabulary of data characteristics (ASPICE 4.0
    MLE.1.BP1, ISO/PAS 8800 clause 11): what per-image metadata may say, what data
    requirements state distributions of."""

    kind: ClassVar[str] = "odd"
    text: str | None = None
    requirements: list[str] = Field(default_factory=list)
    characteristics: dict[str, OddCharacteristic] = Field(default_factory=dict)

    coerce_lists = field_validator("requirements", mode="before")(_as_list)
    shorthand = field_validator("characteristics", mode="before")(_characteristic_shorthand)

    @model_validator(mode="after")
    def _derived_names(self) -> Odd:
        for name, spec in self.characteristics.items():
            if spec.derived and name not in DERIVED:
                raise ValueError(f"{name!r} is not a characteristic mle3 derives ({', '.join(DERIVED)})")
            if name in DERIVED and not spec.derived:
                raise ValueError(
                    f"{name!r} is derived by mle3 from the data: write '{name}: {{derived: true}}' or name the "
                    "characteristic otherwise"
                )
        return self

    def groups(self) -> list[str]:
        return [n for n, c in self.characteristics.items() if c.role == "group"]


class SplitInfo(Section):
    """One split of a data set: where it is and what it holds."""

    path: str | None = None
    samples: int | None = Field(default=None, ge=0)
    instances: dict[str, int] = Field(default_factory=dict)
    #: image sizes measured at registration (``mle3 dataset register``)
    image_size: dict[str, Any] | None = None


class Dataset(Item):
    """A versioned training/validation data set; ``id`` + ``version`` form its key."""

    kind: ClassVar[str] = "dataset"
    version: str
    description: str | None = None
    source: str | None = None
    #: ``rejected`` or ``obsolete`` retires the version (``mle3 dataset retire``): a bare
    #: id no longer means it, and what still uses it is reported (``data.retired``)
    status: str | None = None
    status_reason: str | None = None
    requirements: list[str] = Field(default_factory=list)
    classes: list[str] | dict[int, str] = Field(default_factory=list)
    splits: dict[str, SplitInfo] = Field(default_factory=dict)
    #: the declared data root (mle3.yaml ``data_roots``) its paths are relative to;
    #: absent: relative to the workspace
    data_root: str | None = None
    data_yaml: str | None = None
    manifest: str | None = None
    fingerprint: str | None = None
    #: written by ``mle3 dataset register`` (absent from a data set written by hand)
    registered: RegistrationRecord | None = None
    label_quality: LabelQuality | None = None
    leakage: Leakage | None = None
    #: how a COCO (or other) source was converted to YOLO labels before registration
    conversion: ConversionRecord | None = None
    #: the per-image metadata table registered with it, and what was wrong in it
    metadata: MetadataRecord | None = None
    #: the joint distribution of its characteristics per split (``mle3 dataset register``)
    characteristics: CharacteristicsRecord | None = None

    coerce_lists = field_validator("requirements", mode="before")(_as_list)

    @model_validator(mode="after")
    def _characteristics_add_up(self) -> Dataset:
        """The joint distribution sums to the split's samples and instances: a record edited
        in one place and not the other is a finding, not a criterion quietly met."""
        chars = self.characteristics
        if chars is None:
            return self
        for split, cells in chars.splits.items():
            info = self.split(split)
            if info is None:
                continue
            images = sum(cell[1] for cell in cells)
            if info.samples is not None and images != info.samples:
                raise ValueError(f"characteristics.splits.{split} holds {images} images, splits.{split} {info.samples}")
            for name, count in info.instances.items():
                counted = sum(sum(cell[2].get(name, ())) for cell in cells)
                if counted != count:
                    raise ValueError(
                        f"characteristics.splits.{split} holds {counted} {name} instances, splits.{split} {count}"
                    )
        return self

    @property
    def key(self) -> str:
        return f"{self.id}-{self.version}"

    @property
    def registered_files(self) -> int:
        """Files registered (0 for a data set written by hand)."""
        return (self.registered.files or 0) if self.registered is not None else 0

    @property
    def shared_images(self) -> int:
        """Images found in more than one split at registration (0 when not measured)."""
        return (self.leakage.shared_images or 0) if self.leakage is not None else 0

    @property
    def retired(self) -> bool:
        return self.status in RETIRED_STATUSES

    def split(self, name: str) -> SplitInfo | None:
        """The split called ``name``, accepting ``val`` and ``validation`` for each other."""
        wanted = canonical_split(name)
        for key, info in self.splits.items():
            if canonical_split(key) == wanted:
                return info
        return None

    def samples(self, name: str) -> int | None:
        """Samples in one split, or in all (``all``) when every split declares them."""
        if canonical_split(name) == "all":
            counts = [s.samples for s in self.splits.values()]
            return sum(counts) if counts and None not in counts else None  # type: ignore[arg-type]
        info = self.split(name)
        return info.samples if info else None

    def ratios(self) -> dict[str, float]:
        """Share of every split in the total, when every split declares its samples."""
        total = self.samples("all")
        if not total:
            return {}
        return {canonical_split(k): (v.samples or 0) / total for k, v in self.splits.items()}

    def instances(self, class_name: str, split: str = "all") -> int | None:
        """Instances of a class in one split or summed over splits; None if undeclared."""
        infos = list(self.splits.values()) if canonical_split(split) == "all" else [self.split(split)]
        counts = [i.instances.get(class_name) for i in infos if i is not None and i.instances]
        if not counts:
            return None
        return sum(c or 0 for c in counts)

    def class_names(self) -> list[str]:
        if isinstance(self.classes, dict):
            return [self.classes[k] for k in sorted(self.classes)]
        return list(self.classes)


class ToggleSection(Section):
    """One augmentation: ``enabled``, an optional ``probability`` in [0, 1], and its own
    parameters; every ``*range`` parameter is ``[low, high]`` with low <= high."""

    enabled: bool = True
    probability: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _ranges_in_order(self) -> ToggleSection:
        for name, value in (self.model_extra or {}).items():
            if name == "range" or name.endswith("_range"):
                if not (
                    isinstance(value, list)
                    and len(value) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
                ):
                    raise ValueError(f"{name} must be [low, high] (got {value!r})")
                if value[0] > value[1]:
                    raise ValueError(f"{name} [{value[0]}, {value[1]}] has low > high")
        return self


class Augmentation(Located):
    """The seed's augmentation configuration. It has no id of its own in the seed: it is
    referred to by file name (``aug_config_v2.yaml``), or by an optional ``id``."""

    kind: ClassVar[str] = "augmentation"
    id: str | None = None
    geometric: dict[GeometricName, ToggleSection] = Field(default_factory=dict)
    photometric: dict[PhotometricName, ToggleSection] = Field(default_factory=dict)
    weather_simulation: dict[WeatherName, ToggleSection] = Field(default_factory=dict)
    automotive_specific: dict[AutomotiveName, ToggleSection] = Field(default_factory=dict)
    mosaic: ToggleSection | None = None
    mixup: ToggleSection | None = None


class Optimizer(Section):
    type: str = "SGD"
    lr: Number | None = None
    weight_decay: Number | None = None
    momentum: Number | None = None


class Scheduler(Section):
    type: Literal["cosine", "linear", "constant"] = "linear"
    warmup_epochs: Number | None = None
    warmup_bias_lr: Number | None = None
    warmup_momentum: Number | None = None
    min_lr: Number | None = None


class Transfer(Section):
    pretrained: str | bool | None = None
    freeze_backbone: bool = False
    freeze_epochs: int = Field(default=0, ge=0)


class Loss(Section):
    box_loss: Number | None = None
    cls_loss: Number | None = None
    dfl_loss: Number | None = None


class EarlyStopping(Section):
    patience: int | None = Field(default=None, ge=0)
    metric: str | None = None
    mode: Literal["max", "min"] = "max"


class Checkpointing(Section):
    save_period: int | None = None
    save_best: bool = True
    save_last: bool = True


class Hardware(Section):
    device: str | int | list[int] | None = None
    workers: int | None = Field(default=None, ge=0)
    pin_memory: bool | None = None
    amp: bool | None = None


class Reproducibility(Section):
    seed: int | None = None
    deterministic: bool | None = None


class QuantizationSettings(Section):
    qat_epochs: int = Field(default=1, ge=0)
    lr: Number | None = None
    calibration_images: int = Field(default=200, ge=1)
    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    backend: str = "onnxruntime"


class Approach(Item):
    """The training and validation approach (ASPICE 4.0 08-65, ``approach:``): the
    criteria and environment the configurations that name it are held to."""

    kind: ClassVar[str] = "approach"
    version: str | None = None
    description: str | None = None
    requirements: list[str] = Field(default_factory=list)
    entry_criteria: EntryCriteria = Field(default_factory=EntryCriteria)
    exit_criteria: ExitCriteria = Field(default_factory=ExitCriteria)
    tuning: TuningApproach | None = None
    data: DataApproach | None = None
    environment: TrainingEnvironment | None = None
    interface: DataInterface | None = None
    robustification: list[Robustification] = Field(default_factory=list)

    coerce_lists = field_validator("requirements", "robustification", mode="before")(_as_list)


class ChecklistEntry(Section):
    """One question of a review's checklist and its answer (every entry needs a result)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)
    question: str = Field(min_length=1, validation_alias=AliasChoices("question", "item"))
    result: Literal["pass", "fail", "n/a"]
    comment: str | None = None


class SampledLink(Section):
    """A link of the trace the reviewer followed and judged (``source -relation-> target``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)
    source: str = Field(min_length=1)
    #: the relation of the graph edge (``traces_to``, ``uses_dataset``, ...); omitted: any edge between the two
    relation: str | None = None
    target: str = Field(min_length=1)
    result: Literal["consistent", "inconsistent"]
    comment: str | None = None


class Review(Item):
    """A review record (``review:``): who reviewed which items against which checklist,
    which links of the trace they sampled, and the result; the semantic half of the 13-51
    consistency evidence. It links to what it reviewed (``reviews``), so its fingerprint,
    and every approval of it, covers the reviewed content. Its fields refuse unknown keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=False)
    kind: ClassVar[str] = "review"
    #: the items reviewed (ids as other items name them); at least one
    reviews: list[str] = Field(min_length=1)
    reviewer: str = Field(min_length=1)
    date: DateLike
    #: what the review is for, e.g. "semantic coherence of the trace of MODEL-v1"
    scope: str | None = Field(default=None, validation_alias=AliasChoices("scope", "purpose"))
    checklist: list[ChecklistEntry] = Field(default_factory=list)
    sampled_links: list[SampledLink] = Field(default_factory=list)
    result: Literal["passed", "failed", "passed_with_findings"]
    findings: list[str] = Field(default_factory=list)

    coerce_lists = field_validator("reviews", "findings", mode="before")(_as_list)

    @field_validator("reviews")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        if any(not isinstance(v, str) or not v.strip() for v in value):
            raise ValueError("every reviewed item is an id")
        return value


class Training(Item):
    """The seed's training configuration (``training:``)."""

    kind: ClassVar[str] = "training"
    model: str
    dataset: str | None = None
    augmentation: str | None = None
    requirements: list[str] = Field(default_factory=list)
    epochs: int = Field(ge=1)
    batch_size: int = Field(default=16, ge=1)
    image_size: int | tuple[int, int] = 640
    optimizer: Optimizer = Field(default_factory=Optimizer)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    transfer: Transfer = Field(default_factory=Transfer)
    loss: Loss = Field(default_factory=Loss)
    early_stopping: EarlyStopping = Field(default_factory=EarlyStopping)
    checkpointing: Checkpointing = Field(default_factory=Checkpointing)
    hardware: Hardware = Field(default_factory=Hardware)
    reproducibility: Reproducibility = Field(default_factory=Reproducibility)
    quantization: QuantizationSettings | None = None
    tuning: Tuning | None = None
    #: the study whose best trial gave this configuration's values (``mle3 tune accept``)
    optimized_by: str | None = None
    #: the configuration it was derived from
    derived_from: str | None = None
    #: the model line its model versions belong to (default: derived from the id)
    model_line: str | None = None
    #: the architecture its model versions trace to
    architecture: str | None = None
    #: the training and validation approach (08-65) it follows
    approach: str | None = None
    description: str | None = None

    coerce_lists = field_validator("requirements", mode="before")(_as_list)


class ModelArtifacts(Section):
    weights: str | None = None
    config: str | None = None
    onnx: str | None = None
    trt_int8: str | None = None


class MetricSet(Section):
    """Metrics of one split; any further metric name is kept as an extra number."""

    def get(self, name: str) -> float | None:
        value = getattr(self, name, None)
        if value is None and self.model_extra:
            value = self.model_extra.get(name)
        return (
            value if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None
        )

    mAP_50: Number | None = None
    mAP_50_95: Number | None = None
    precision: Number | None = None
    recall: Number | None = None
    f1: Number | None = None


class ModelMetrics(Section):
    validation: MetricSet | None = None
    test: MetricSet | None = None

    def for_split(self, split: str) -> MetricSet | None:
        return self.validation if canonical_split(split) == "val" else getattr(self, split, None)


class TrainingData(Section):
    dataset_version: str | None = None
    train_samples: int | None = Field(default=None, ge=0)
    val_samples: int | None = Field(default=None, ge=0)
    test_samples: int | None = Field(default=None, ge=0)
    augmentation: str | None = None


class TrainingParams(Section):
    epochs: int | None = None
    best_epoch: int | None = None
    training_time: str | None = None
    gpu: str | None = None


class Traceability(Section):
    requirements: list[str] = Field(default_factory=list)
    architecture: str | None = None
    previous_version: str | None = None

    coerce_lists = field_validator("requirements", mode="before")(_as_list)


class ModelVersion(Item):
    """The seed's model version specification (``model_version:``)."""

    kind: ClassVar[str] = "model_version"
    created: DateLike | None = None
    training_run: str | None = None
    training_config: str | None = None
    artifacts: ModelArtifacts = Field(default_factory=ModelArtifacts)
    metrics: ModelMetrics = Field(default_factory=ModelMetrics)
    training_data: TrainingData = Field(default_factory=TrainingData)
    training_params: TrainingParams = Field(default_factory=TrainingParams)
    dependencies: dict[str, Scalar] = Field(default_factory=dict)
    traceability: Traceability = Field(default_factory=Traceability)
    status: str = "draft"
    approver: str | None = None
    approval_date: DateLike | None = None
    #: the model line (``MLE-MODEL-001``) of a model named after its run
    model_line: str | None = None
    #: the semantic version given at promotion to validated (the model is then also ``<line>-<version>``)
    version: str | None = None
    #: sha256 of the weights (``mle3 train``) or of the INT8 ONNX file (``mle3 quantize``)
    weights_sha256: str | None = None
    onnx_sha256: str | None = None
    #: the block ``mle3 quantize`` writes into a quantized child model version
    quantization: QuantizationRecord | None = None
    #: metrics per slice of val and test (per condition: ``mle3 evaluate``)
    slices: SliceRecord | None = None

    @property
    def quantized(self) -> bool:
        return self.quantization is not None


class Run(Item):
    """A recorded training run (written by ``mle3 train`` under ``artifacts/runs/``)."""

    kind: ClassVar[str] = "run"
    config: str
    status: str = "pending"
    dataset_version: str | None = None
    dataset_fingerprint: str | None = None
    config_sha256: str | None = None
    model_version: str | None = None
    created: DateLike | None = None
    started: DateLike | None = None
    ended: DateLike | None = None
    heartbeat: DateLike | None = None
    pid: int | None = None
    host: str | None = None
    duration_s: Number | None = None
    epochs_completed: int | None = None
    best_epoch: int | None = None
    early_stop_epoch: int | None = None
    error: str | None = None
    #: ``training`` or ``quantization`` (``kind`` itself names the item kind)
    run_kind: str = Field(default="training", alias="kind")


class Study(Item):
    """A hyperparameter study (written by ``mle3 tune`` under ``artifacts/studies/``):
    every trial is a recorded run; Optuna's storage holds the study itself."""

    kind: ClassVar[str] = "study"
    config: str
    status: str = "running"
    objective: dict[str, Any] = Field(default_factory=dict)
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = None
    dataset_version: str | None = None
    dataset_fingerprint: str | None = None
    trials: list[StudyTrial] = Field(default_factory=list)
    best: StudyTrial | None = None
    importances: dict[str, Number] = Field(default_factory=dict)


#: the typed study record (a workspace item: ``artifacts/studies/<STUDY>.yaml``)
StudyRecord = Study


#: top-level key -> (model, is_plural)
KINDS: dict[str, tuple[type[Located], bool]] = {
    "requirement": (Requirement, False),
    "requirements": (Requirement, True),
    "architecture": (Architecture, False),
    "architectures": (Architecture, True),
    "odd": (Odd, False),
    "dataset": (Dataset, False),
    "datasets": (Dataset, True),
    "training": (Training, False),
    "trainings": (Training, True),
    "augmentation": (Augmentation, False),
    "approach": (Approach, False),
    "approaches": (Approach, True),
    "model_version": (ModelVersion, False),
    "model_versions": (ModelVersion, True),
    "run": (Run, False),
    "study": (Study, False),
    "review": (Review, False),
    "reviews": (Review, True),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every item file kind, keyed by top-level key (for YAML editors)."""
    schemas: dict[str, dict[str, Any]] = {}
    for key, (model, plural) in KINDS.items():
        item_schema = model.model_json_schema(by_alias=True)
        defs = item_schema.pop("$defs", {})
        body: dict[str, Any] = {"type": "array", "items": item_schema} if plural else item_schema
        schemas[key] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"mle3 {key} file",
            "type": "object",
            "properties": {key: body},
            "required": [key],
            "$defs": defs,
        }
    return schemas
