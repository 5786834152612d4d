"""Typed records of what mle3 writes itself (like MLflow's entities), each with one reader.

- :class:`RunRecord`: ``artifacts/runs/<RUN>/run.yaml``, read by :func:`read_run` (the CLI,
  serve, the monitor, the site, the reports and the MLflow export all read it here);
- :class:`EpochRecord`: one line of the run's ``epochs.jsonl``, read by :func:`read_epoch_log`;
- :class:`RegistrationRecord`, :class:`LabelQuality`, :class:`Leakage`,
  :class:`ConversionRecord`: the blocks ``mle3 dataset register`` writes into a data set item;
- :class:`QuantizationRecord`: the block ``mle3 quantize`` writes into the child model version;
- :class:`StudyTrial`: a trial of ``artifacts/studies/<STUDY>.yaml``; the study itself is a
  workspace item (``mle3.workspace.schema.Study``, also named ``StudyRecord``).

The blocks inside items are validated by the workspace loader (a wrong type is a load
finding with file, line and field). The run side is read while a run trains and from
files anyone can edit, so its readers never raise anything but a one-line
:class:`~mle3.errors.Mle3Error`: a field of the wrong type is kept out of the typed
attributes (``None``) and named in :attr:`RunRecord.problems`, the mapping as written
stays in :attr:`RunRecord.data`. The writers (``mle3.runs.records``) write the same
bytes as before: fingerprints hash ``epochs.jsonl``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, Union
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..errors import Mle3Error
from .layout import DEFAULT, layout_at

#: the default layout's run folder (a root's own is ``layout_at(root).runs_dir``)
RUNS_DIR = DEFAULT.runs_dir
RUN_FILE = "run.yaml"
EPOCHS_FILE = "epochs.jsonl"
#: a run record larger than this is not a record mle3 wrote (refused before parsing)
MAX_RECORD_BYTES = 8 << 20
#: an epoch line longer than this is not one mle3 wrote
MAX_EPOCH_LINE = 64 << 10

When = Union[dt.datetime, dt.date, str]
Finite = Union[int, float]


class _Block(BaseModel):
    """A block mle3 writes into an item: unknown keys are kept (later versions add some)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_default=False)


# --------------------------------------------------------------------- data set blocks
class RegistrationRecord(_Block):
    """``registered:`` of a data set: when, by whom, and how much was registered."""

    at: When | None = None
    by: str | None = None
    files: int | None = Field(default=None, ge=0)
    bytes: int | None = Field(default=None, ge=0)
    manifest_bytes: int | None = Field(default=None, ge=0)


class LabelFinding(_Block):
    """One label problem recorded at registration."""

    severity: str | None = None
    kind: str | None = None
    file: str | None = None
    line: int | None = None
    message: str | None = None


class LabelQuality(_Block):
    """``label_quality:`` of a data set: counts by severity and kind, the first findings."""

    errors: int = Field(default=0, ge=0)
    warnings: int = Field(default=0, ge=0)
    by_kind: dict[str, int] = Field(default_factory=dict)
    findings: list[LabelFinding] = Field(default_factory=list)


class Leakage(_Block):
    """``leakage:`` of a data set: images whose content is in more than one split."""

    shared_images: int | None = Field(default=None, ge=0)
    examples: list[list[str]] = Field(default_factory=list)
    #: group characteristic (``role: group``, e.g. a sequence id) -> values found in more
    #: than one split: ``{count: N, examples: [...]}`` (ISO/PAS 8800 independence)
    shared_groups: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: [split, split, folder]: two splits naming the same image folder
    shared_folders: list[list[str]] = Field(default_factory=list)

    @property
    def shared_group_values(self) -> int:
        return sum(int(v.get("count") or 0) for v in self.shared_groups.values())


class ConversionInput(_Block):
    """One converted input file: its split, where it lay (workspace-relative or
    ``ROOT:path``), its sha256 and how many entries it held."""

    split: str | None = None
    annotations: str | None = None
    image_folder: str | None = None
    sha256: str | None = None
    images: int | None = Field(default=None, ge=0)
    annotations_count: int | None = Field(default=None, ge=0)


class DroppedCategory(_Block):
    """A source category left out of the classes, and why (``no annotations``)."""

    id: int | None = None
    name: str | None = None
    reason: str | None = None


class ConversionRecord(_Block):
    """``conversion:`` of a data set converted to YOLO before registration (COCO): typed so
    the loader knows it and a changed source is traceable to its inputs."""

    #: the source format (``coco``), and the converter that wrote the labels
    from_: str | None = Field(default=None, alias="from")
    tool: str | None = None
    version: str | None = None
    inputs: list[ConversionInput] = Field(default_factory=list)
    #: source category id -> class index in ``classes``
    categories: dict[int, int] = Field(default_factory=dict)
    dropped_categories: list[DroppedCategory] = Field(default_factory=list)


# --------------------------------------------------------------------- quantization
class QuantizationRecord(_Block):
    """``quantization:`` of a quantized model version (``mle3 quantize``).

    ``drop`` and ``threshold`` stay loosely typed: the rule ``quantization.drop`` reports
    a drop that is not a mapping of finite numbers (one must never pass for "no drop")."""

    method: str | None = None
    library: dict[str, Any] = Field(default_factory=dict)
    backend: str | None = None
    format: str | None = None
    calibration: dict[str, Any] | None = None
    qat_epochs: int | None = None
    float_reference: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    drop: Any = None
    threshold: Any = None
    passed: bool | None = None
    size_bytes: int | None = None
    float_size_bytes: int | None = None
    size_ratio: float | None = None
    latency_ms: Any = None
    float_latency_ms: Any = None
    latency_device: str | None = None
    onnx_nodes: Any = None
    trt_int8: Any = None
    parent_fingerprint: str | None = None
    parent_fingerprint_version: int | None = None

    def get(self, name: str, default: Any = None) -> Any:
        """A field or kept extra by name (templates read the block as a mapping)."""
        value = getattr(self, name, None) if name in type(self).model_fields else (self.model_extra or {}).get(name)
        return default if value is None else value


# --------------------------------------------------------------------- studies
class StudyTrial(_Block):
    """One trial of a study record (``mle3 tune``): its run, state, objective value and values."""

    number: int | None = None
    run: str | None = None
    status: str | None = None
    value: Finite | None = Field(default=None, allow_inf_nan=False)
    params: dict[str, Any] = Field(default_factory=dict)
    epochs: int | None = None
    duration_s: Finite | None = None

    def as_written(self) -> dict[str, Any]:
        """The trial as the study file has it (JSON output and templates)."""
        return self.model_dump(exclude_unset=True)


# --------------------------------------------------------------------- runs
class RunRecord(BaseModel):
    """A run as ``run.yaml`` records it. ``data`` is the mapping as written (shown by
    ``runs show --json`` and saved back by the writer); the typed fields are the values of
    the right type, ``None`` where a hand-edited value is not (named in ``problems``)."""

    model_config = ConfigDict(frozen=False, arbitrary_types_allowed=True)

    id: str
    config: str
    status: str
    kind: str = "training"
    method: str | None = None
    dataset_version: str | None = None
    dataset_fingerprint: str | None = None
    config_sha256: str | None = None
    model_version: str | None = None
    parent_model: str | None = None
    created: When | None = None
    started: When | None = None
    ended: When | None = None
    heartbeat: When | None = None
    pid: int | None = None
    pid_start: str | int | None = None
    host: str | None = None
    worker: str | None = None
    duration_s: Finite | None = None
    epochs_completed: int | None = None
    best_epoch: int | None = None
    early_stop_epoch: int | None = None
    error: str | None = None
    final_metrics: dict[str, Any] | None = None
    #: the ultralytics arguments the run trained with
    parameters: dict[str, Any] | None = None
    #: workspace-relative path of the file it was read from
    file: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
    problems: list[tuple[str, str]] = Field(default_factory=list, exclude=True)

    @property
    def folder(self) -> str:
        """The run's folder, workspace-relative (its evidence lies there)."""
        if self.file:
            return PurePosixPath(self.file).parent.as_posix()
        return f"{RUNS_DIR}/{self.id}"

    def epochs_file(self, root: Path) -> Path:
        return root / self.folder / EPOCHS_FILE

    @classmethod
    def from_mapping(cls, run: dict[str, Any], file: str | None = None) -> RunRecord:
        """The typed view of a checked ``run:`` mapping (see :func:`read_run`)."""
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for name in _RUN_FIELDS:
            if name not in run or run[name] is None:
                continue
            try:
                values[name] = _adapter(name).validate_python(run[name])
            except ValidationError as exc:
                problems.append((name, str(exc.errors()[0].get("msg", "invalid"))[:120]))
            else:
                if isinstance(values[name], float) and not math.isfinite(values[name]):
                    del values[name]
                    problems.append((name, "not a finite number"))
        return cls(**values, file=file, data=run, problems=problems)


#: run fields read from the mapping (id, config and status are checked by the reader)
_RUN_FIELDS = tuple(n for n in RunRecord.model_fields if n not in ("file", "data", "problems"))


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(RunRecord.model_fields[name].annotation, config=ConfigDict(strict=False))


def run_file(root: Path, run_id: str) -> Path:
    return root / layout_at(root).run_dir(run_id) / RUN_FILE


def read_run(path: Path, run_id: str | None = None, *, rel: str | None = None) -> RunRecord:
    """The run record of a ``run.yaml``, checked for the fields mle3 relies on (``id``,
    ``config``, ``status`` strings, ``pid`` and ``epochs_completed`` integers); anything
    else wrong is one line naming the file, line and field."""
    return RunRecord.from_mapping(read_run_mapping(path, run_id, rel=rel), rel)


def read_run_mapping(path: Path, run_id: str | None = None, *, rel: str | None = None) -> dict[str, Any]:
    """The checked ``run:`` mapping of a ``run.yaml`` as plain builtins (the writer saves
    it back as it is; :func:`read_run` gives the typed record)."""
    from .yamlpos import YamlProblem, line_of, parse_documents, parse_fast

    where = rel or path.as_posix()
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise Mle3Error(f"run record is larger than {MAX_RECORD_BYTES >> 20} MiB", file=where)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise Mle3Error(f"no run {run_id or path.parent.name}", file=where) from None
    except OSError as exc:
        raise Mle3Error(f"cannot read the run record: {exc.strerror or exc}", file=where) from None
    try:
        raw.decode("utf-8")
        docs, _ = parse_fast(raw)  # positions are only needed for a message: parsed again then
    except UnicodeDecodeError as exc:
        raise Mle3Error(f"run record is not UTF-8 text (byte {exc.start})", file=where) from None
    except YamlProblem as exc:
        raise Mle3Error((exc.message.splitlines() or ["invalid YAML"])[0], file=where, line=exc.line or None) from None
    doc = docs[0] if len(docs) == 1 else None
    problem = _run_problem(doc, run_id)
    if problem is None:
        return _plain(doc["run"])  # type: ignore[index]
    message, key_path = problem
    located = parse_documents(raw)[0]
    line = line_of(located[0], key_path, 1) if len(located) == 1 and isinstance(located[0], dict) else 1
    raise Mle3Error(message, file=where, line=line, field=".".join(key_path))


def _run_problem(doc: Any, run_id: str | None) -> tuple[str, tuple[str, ...]] | None:
    """Why a parsed ``run.yaml`` document is not a run record mle3 can use (message, key
    path of the field), or None."""
    run = doc.get("run") if isinstance(doc, dict) else None
    if not isinstance(run, dict):
        found = (
            ("a list" if isinstance(run, list) else type(run).__name__)
            if isinstance(doc, dict) and "run" in doc
            else "no run: mapping"
        )
        return f"a run record holds one `run:` mapping (found {found})", ("run",)
    for name in ("id", "config", "status"):
        value = run.get(name)
        if not isinstance(value, str):
            return f"run.{name} must be a string (found {type(value).__name__})", ("run", name)
    if run_id is not None and run["id"] != run_id:
        return f"run.id {run['id'][:80]!r} is not the run of this folder ({run_id})", ("run", "id")
    for name in ("pid", "epochs_completed"):
        value = run.get(name)
        if value is not None and (type(value) is not int or not 0 <= value < 1 << 31):
            return f"run.{name} must be a non-negative integer (found {str(value)[:40]!r})", ("run", name)
    return None


def _plain(value: Any) -> Any:
    """Line-aware dicts and lists as plain builtins (records are saved and compared)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def iter_runs(root: Path) -> Iterator[tuple[str, str, RunRecord | Mle3Error]]:
    """``(run id, workspace-relative file, record or why it cannot be read)`` of every run
    folder (in folder order), read directly: runs are listed while they train."""
    base = root / layout_at(root).runs_dir
    if not base.is_dir():
        return
    for entry in base.iterdir():
        path = entry / RUN_FILE
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        try:
            yield entry.name, rel, read_run(path, entry.name, rel=rel)
        except Mle3Error as exc:
            yield entry.name, rel, exc


# --------------------------------------------------------------------- epochs
#: one ``epochs.jsonl`` line as written: ``epoch`` (a non-negative integer) and the metric
#: names of that epoch; kept a plain mapping because the names are open (ultralytics'
#: ``metrics/mAP50(B)``) and the bytes are evidence a fingerprint covers
EpochRecord = dict[str, Any]


@dataclass
class EpochLog:
    """The readable epochs of an ``epochs.jsonl`` and its unreadable lines (1-based, why)."""

    epochs: list[EpochRecord] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


def read_epoch_log(path: Path) -> EpochLog:
    """The epochs of ``epochs.jsonl`` and the problems of its lines.

    Only a torn last line (no newline: the process died while appending it) is skipped
    silently; any other line that is not a JSON object is a problem. Reads in binary with
    a bounded line length, so a garbage or binary file cannot exhaust memory or crash."""
    log = EpochLog()
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return log
    except OSError as exc:
        log.problems.append((0, f"cannot read: {exc.strerror or exc}"))
        return log
    with fh:
        number = 0
        while True:
            raw = fh.readline(MAX_EPOCH_LINE + 1)
            if not raw:
                break
            number += 1
            if len(raw) > MAX_EPOCH_LINE:
                log.problems.append((number, f"line longer than {MAX_EPOCH_LINE >> 10} KiB"))
                while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                    raw = fh.readline(MAX_EPOCH_LINE + 1)
                continue
            if not raw.endswith(b"\n"):
                break  # torn by a crash
            if not raw.strip():
                continue
            value, why = parse_epoch_line(raw)
            if why:
                log.problems.append((number, why))
            else:
                log.epochs.append(value)
    return log


def parse_epoch_line(raw: bytes) -> tuple[Any, str | None]:
    """One ``epochs.jsonl`` line: (the epoch, None), or (None, why it is not one)."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:  # JSONDecodeError, or an integer of too many digits
        return None, f"not JSON ({str(exc)[:80]})"
    if not isinstance(value, dict):
        return None, f"not a JSON object (found {type(value).__name__})"
    epoch = value.get("epoch")
    if epoch is not None and (type(epoch) is not int or epoch < 0):
        return None, f"field epoch must be a non-negative integer (found {str(epoch)[:40]!r})"
    return value, None


def read_epochs(path: Path) -> list[EpochRecord]:
    """Every readable epoch line (problems are reported by :func:`read_epoch_log` and the
    ``training.epochs-unreadable`` rule; a torn last line from a crash is skipped)."""
    return read_epoch_log(path).epochs


def run_epochs(root: Path, run_id: str) -> list[EpochRecord]:
    """The readable epochs of run ``run_id`` (none for a run that recorded none)."""
    return read_epochs(root / layout_at(root).run_dir(run_id) / EPOCHS_FILE)
