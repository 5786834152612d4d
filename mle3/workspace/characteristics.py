"""Data characteristics: the ODD vocabulary's names, the blocks registration and evaluation
write, and the queries criteria and reports ask of them.

ASPICE 4.0 MLE.1.BP1 asks data requirements to state "data characteristics ... and their
expected distributions"; MLE.3.BP4 asks the training data to be consistent with them.
Registration measures, per split, the joint distribution of every image-level
characteristic (the metadata table's and those mle3 derives itself) as *cells*: one per
observed combination of values, with its images and its instances per class and object
size. Every share, coverage, combination count or distance a requirement states is a sum
over cells, so a criterion written after registration is still evaluable from the record
alone (``check`` never reads the data for it).

Model versions hold per-slice metrics (:class:`SliceRecord`), so a criterion on "mAP50 at
night" reads like one on the whole test split.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Union
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..vocab import canonical_split
from .schema_base import Number

When = Union[dt.datetime, dt.date, str]

#: characteristics mle3 derives from the data itself (reserved names)
RESOLUTION = "resolution"
OBJECTS = "objects"
LUMINANCE = "luminance"
OBJECT_SIZE = "object_size"
#: image-level ones, always measured
ALWAYS_DERIVED = (RESOLUTION, OBJECTS)
DERIVED = (RESOLUTION, OBJECTS, LUMINANCE, OBJECT_SIZE)
#: per box: COCO's area thresholds (32² and 96² px) relative to a 640x480 image
SIZES = ("small", "medium", "large")
SMALL_AREA = 32 * 32 / (640 * 480)
MEDIUM_AREA = 96 * 96 / (640 * 480)
#: the value of an image its metadata table gives none for
MISSING_VALUE = "(none)"
#: objects per image, binned
OBJECT_BINS = ("0", "1", "2-5", "6-10", "11+")
#: mean luma / 255, binned
LUMINANCE_BINS = (("dark", 0.25), ("medium", 0.6), ("bright", 1.01))

#: a condition: characteristic -> one value or any of several
Where = Mapping[str, Union[str, list[str]]]


def objects_bin(count: int) -> str:
    """The ``objects`` value of an image with ``count`` boxes."""
    if count <= 1:
        return OBJECT_BINS[count] if count >= 0 else OBJECT_BINS[0]
    return "2-5" if count <= 5 else "6-10" if count <= 10 else "11+"


def size_class(area: float) -> int:
    """Index in :data:`SIZES` of a box of normalised area ``w * h``."""
    return 0 if area < SMALL_AREA else 1 if area < MEDIUM_AREA else 2


def luminance_bin(mean: float) -> str:
    """The ``luminance`` value of an image whose mean luma (0..1) is ``mean``."""
    for name, upper in LUMINANCE_BINS:
        if mean < upper:
            return name
    return LUMINANCE_BINS[-1][0]


def where_text(where: Where | None) -> str:
    """``time_of_day=night, weather=rain|fog`` (empty for the whole split)."""
    if not where:
        return ""
    return ", ".join(f"{k}={'|'.join(v) if isinstance(v, list) else v}" for k, v in sorted(where.items()))


def _wanted(where: Where | None) -> dict[str, set[str]]:
    return {k: set(v) if isinstance(v, list) else {str(v)} for k, v in (where or {}).items()}


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_default=False)


class MetadataFinding(_Block):
    severity: str
    kind: str
    file: str | None = None
    line: int | None = None
    column: str | None = None
    message: str


class MetadataRecord(_Block):
    """``metadata:`` of a data set: the per-image table given with it, and what
    registration found wrong in it (like ``label_quality``)."""

    file: str
    sha256: str | None = None
    format: str | None = None
    rows: int | None = Field(default=None, ge=0)
    key: str | None = None
    odd: str | None = None
    columns: list[str] = Field(default_factory=list)
    errors: int = Field(default=0, ge=0)
    warnings: int = Field(default=0, ge=0)
    by_kind: dict[str, int] = Field(default_factory=dict)
    findings: list[MetadataFinding] = Field(default_factory=list)


#: one observed combination: (values in ``names`` order, images, class -> instances per size)
Cell = tuple[list[str], int, dict[str, list[int]]]


class CharacteristicsRecord(_Block):
    """``characteristics:`` of a data set: the joint distribution per split."""

    names: list[str] = Field(default_factory=list)
    sizes: list[str] = Field(default_factory=lambda: list(SIZES))
    groups: dict[str, dict[str, int]] = Field(default_factory=dict)
    splits: dict[str, list[Cell]] = Field(default_factory=dict)

    @field_validator("splits", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        """``[day, 640x480, 1]`` written by hand: YAML reads the 1 as a number, a value is text."""
        if not isinstance(value, dict):
            return value
        return {
            split: [
                [[str(v) for v in cell[0]], *cell[1:]]
                if isinstance(cell, list) and cell and isinstance(cell[0], list)
                else cell
                for cell in cells
            ]
            if isinstance(cells, list)
            else cells
            for split, cells in value.items()
        }

    @model_validator(mode="after")
    def _cells_fit_their_names(self) -> CharacteristicsRecord:
        """A cell edited by hand must still have one value per name and one count per size
        (else every query would read past it)."""
        if len(set(self.names)) != len(self.names):
            raise ValueError("names lists a characteristic twice")
        for split, cells in self.splits.items():
            for number, (values, images, instances) in enumerate(cells):
                if len(values) != len(self.names):
                    raise ValueError(f"splits.{split}[{number}] has {len(values)} values for {len(self.names)} names")
                if images < 0 or any(len(c) != len(self.sizes) or min(c, default=0) < 0 for c in instances.values()):
                    raise ValueError(f"splits.{split}[{number}]: counts must be >= 0, one per object size")
        return self

    def _cells(self, split: str) -> list[Cell] | None:
        wanted = canonical_split(split)
        if wanted == "all":
            return [cell for cells in self.splits.values() for cell in cells]
        for name, cells in self.splits.items():
            if canonical_split(name) == wanted:
                return cells
        return None

    def split_names(self) -> list[str]:
        return [canonical_split(s) for s in self.splits]

    def knows(self, name: str) -> bool:
        """Whether ``name`` was measured (an image-level name, or ``object_size``)."""
        return name in self.names or name == OBJECT_SIZE

    def unknown(self, where: Where | None) -> list[str]:
        """The names of ``where`` this record cannot answer."""
        return [k for k in (where or {}) if not self.knows(k)]

    def _matching(self, split: str, where: Where | None) -> Iterable[Cell] | None:
        cells = self._cells(split)
        if cells is None:
            return None
        wanted = {k: v for k, v in _wanted(where).items() if k != OBJECT_SIZE}
        index = {k: self.names.index(k) for k in wanted if k in self.names}
        if len(index) < len(wanted):
            return None
        return (cell for cell in cells if all(cell[0][i] in wanted[k] for k, i in index.items()))

    def _size_mask(self, where: Where | None) -> list[bool]:
        sizes = _wanted(where).get(OBJECT_SIZE)
        return [sizes is None or s in sizes for s in self.sizes]

    def images(self, split: str, where: Where | None = None) -> int | None:
        """Images of a split (``all``: every split) meeting ``where``; None when not measured.
        A ``where`` on ``object_size`` alone does not filter images."""
        cells = self._matching(split, where)
        return None if cells is None else sum(cell[1] for cell in cells)

    def instances(self, split: str, class_name: str | None = None, where: Where | None = None) -> int | None:
        """Instances (of one class, or all) in the images meeting ``where``, of the object
        sizes it names."""
        cells = self._matching(split, where)
        if cells is None:
            return None
        mask = self._size_mask(where)
        total = 0
        for cell in cells:
            for name, counts in cell[2].items():
                if class_name is None or name == class_name:
                    total += sum(n for n, keep in zip(counts, mask) if keep)
        return total

    def distribution(self, split: str, name: str, class_name: str | None = None) -> dict[str, int] | None:
        """Images per value of an image-level characteristic in a split (instances per size
        for ``object_size``, of one class or all); None when not measured."""
        cells = self._cells(split)
        if cells is None:
            return None
        out: dict[str, int] = {}
        if name == OBJECT_SIZE:
            out = dict.fromkeys(self.sizes, 0)
            for cell in cells:
                for cls, counts in cell[2].items():
                    if class_name is None or cls == class_name:
                        for size, n in zip(self.sizes, counts):
                            out[size] += n
            return out
        if name not in self.names:
            return None
        i = self.names.index(name)
        for cell in cells:
            out[cell[0][i]] = out.get(cell[0][i], 0) + cell[1]
        return dict(sorted(out.items()))

    def class_distribution(self, split: str, name: str) -> dict[str, dict[str, int]] | None:
        """Instances per class and value of ``name`` in a split (the class x condition table)."""
        cells = self._cells(split)
        if cells is None or (name not in self.names and name != OBJECT_SIZE):
            return None
        out: dict[str, dict[str, int]] = {}
        if name == OBJECT_SIZE:
            for cell in cells:
                for cls, counts in cell[2].items():
                    row = out.setdefault(cls, dict.fromkeys(self.sizes, 0))
                    for size, n in zip(self.sizes, counts):
                        row[size] += n
            return out
        i = self.names.index(name)
        for cell in cells:
            for cls, counts in cell[2].items():
                row = out.setdefault(cls, {})
                row[cell[0][i]] = row.get(cell[0][i], 0) + sum(counts)
        return out

    def values(self, name: str) -> list[str]:
        """Every value of ``name`` observed in any split."""
        if name == OBJECT_SIZE:
            return list(self.sizes)
        if name not in self.names:
            return []
        i = self.names.index(name)
        return sorted({cell[0][i] for cells in self.splits.values() for cell in cells})


class SliceResult(_Block):
    """A model's metrics on the images of one split that meet ``where``."""

    split: str
    where: dict[str, Union[str, list[str]]] = Field(default_factory=dict)
    images: int = Field(default=0, ge=0)
    instances: int = Field(default=0, ge=0)
    mAP_50: Number | None = None
    mAP_50_95: Number | None = None
    precision: Number | None = None
    recall: Number | None = None
    #: fewer images than ``slices.min_images``: shown, never counted as a pass
    too_small: bool = False

    def get(self, metric: str) -> float | None:
        value = (
            getattr(self, metric, None) if metric in type(self).model_fields else (self.model_extra or {}).get(metric)
        )
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def matches(self, split: str, where: Where | None) -> bool:
        return canonical_split(self.split) == canonical_split(split) and _wanted(self.where) == _wanted(where)


class SliceRecord(_Block):
    """``slices:`` of a model version: per-condition metrics on val and test."""

    dataset: str | None = None
    fingerprint: str | None = None
    at: When | None = None
    min_images: int | None = None
    results: list[SliceResult] = Field(default_factory=list)

    def find(self, split: str, where: Where | None) -> SliceResult | None:
        return next((r for r in self.results if r.matches(split, where)), None)
