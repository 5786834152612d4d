"""Read a workspace: find item files, parse them (in parallel, cached), validate items.

Every problem found here becomes a :class:`~mle3.findings.Finding` with ``file:line``;
loading never stops at the first problem, so ``mle3 check`` reports them all at once.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ValidationError

from .._gc import paused_gc
from ..errors import ItemNotFound, Mle3Error
from ..ids import check_id, id_problem
from ..findings import Finding, format_path
from . import cache as parse_cache
from .config import ProjectConfig, find_root, load_config
from .layout import Layout
from .schema import KINDS, Augmentation, locate, misspelled_fields
from .versions import alias_of, model_line_of, version_key
from .yamlpos import YamlProblem, line_of, parse_documents, parse_fast

#: Below this many files to parse, worker processes cost more than they save.
PARALLEL_THRESHOLD = 400
SKIP_DIRS = {".mle3", ".git", "__pycache__", "node_modules"}
#: a directory holding this file is a training run: its other files are outputs, not items
RUN_RECORD = "run.yaml"


@dataclass
class ParsedFile:
    """Result of parsing one file: plain documents, or the problem that stopped the parse.

    Line numbers are not kept here (they would double the parse and transfer cost);
    :meth:`Workspace.line_of` parses a file again with positions when a finding needs one.
    """

    path: str
    docs: list[Any] = field(default_factory=list)
    has_duplicates: bool = False
    problem: tuple[str, int, int, str] | None = None


@dataclass
class Workspace:
    """All items of a workspace, validated, with where each came from."""

    root: Path
    config: ProjectConfig
    items: list[Any]
    findings: list[Finding]
    files: list[str]
    by_key: dict[str, Any] = field(default_factory=dict)
    latest_dataset: dict[str, Any] = field(default_factory=dict)
    _positions: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ positions
    @property
    def layout(self) -> Layout:
        """Every path of this workspace (from ``mle3.yaml``'s ``item_dirs`` and ``artifacts_dir``)."""
        layout = self.__dict__.get("_layout")
        if layout is None or layout.root != self.root:
            layout = self.__dict__["_layout"] = Layout.of(self.root, self.config)
        return layout

    def lock(self, name: str, timeout: float = -1) -> Any:
        """The workspace lock ``name`` (``.mle3/locks/<name>.lock``): writers that check
        the workspace and then write hold it across both."""
        return self.layout.lock(name, timeout)

    def reload(self, *, use_cache: bool = True) -> Workspace:
        """Read the workspace again (after a write) into this object; returns it."""
        fresh = load_workspace(self.root, use_cache=use_cache)
        self.__dict__.pop("_layout", None)
        self.__dict__.update(fresh.__dict__)
        return self

    def positions(self, file: str) -> list[Any]:
        """The documents of ``file`` with line numbers (parsed on first use, then kept)."""
        docs = self._positions.get(file)
        if docs is None:
            try:
                docs = parse_documents((self.root / file).read_bytes())[0]
            except (OSError, YamlProblem):
                docs = []
            self._positions[file] = docs
        return docs

    def line_at(self, file: str, doc_index: int, path: tuple) -> int:
        """Line of ``path`` (keys and indexes) in document ``doc_index`` of ``file``."""
        docs = self.positions(file)
        return line_of(docs[doc_index], path, 1) if doc_index < len(docs) else 1

    def line_of(self, item: Any, path: tuple = ()) -> int:
        """Line of ``path`` inside ``item`` (its first line for an empty path)."""
        doc_index, base = item._where
        return self.line_at(item._file, doc_index, base + tuple(path))

    # ------------------------------------------------------------------ lookups
    def resolve(self, ref: str | None) -> Any | None:
        """The item a reference names: an exact key, a bare data set id (its latest
        version), or an augmentation file name."""
        if not ref:
            return None
        ref = str(ref)
        item = self.by_key.get(ref)
        if item is None:
            item = self.latest_dataset.get(ref)
        if item is None and ("/" in ref or ref.endswith((".yaml", ".yml"))):
            item = self.by_key.get(Path(ref).name)
        return item

    def get(self, ref: str) -> Any:
        """Like :meth:`resolve` but raises a user error naming close matches (and one
        naming what is wrong with a reference that cannot be an id)."""
        if not str(ref).endswith((".yaml", ".yml")):
            check_id(ref)
        item = self.resolve(ref)
        if item is None:
            broken = next((f for f in self.findings if f.item == ref and f.severity == "error"), None)
            if broken is not None:  # the item is there but does not load: say where and why
                raise Mle3Error(
                    f"{ref} does not load: {broken.message} ({broken.rule})", file=broken.file, line=broken.line
                )
            import difflib

            close = difflib.get_close_matches(ref, list(self.by_key), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ItemNotFound(f"no item with id {ref!r} in the workspace{hint}")
        return item

    def of_kind(self, kind: str) -> list[Any]:
        return [i for i in self.items if i.kind == kind]

    def is_external(self, ref: str) -> bool:
        return any(fnmatchcase(ref, pattern) for pattern in self.config.external)

    def rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


# ---------------------------------------------------------------------- discovery
def discover(root: Path, item_dirs: Iterable[str]) -> list[tuple[str, int, int]]:
    """Every ``*.yaml``/``*.yml`` below the item folders as ``(relpath, size, mtime_ns)``.

    Hidden folders are skipped; in a run directory (one holding ``run.yaml``) only the
    record itself is read, not the configuration snapshot and ultralytics' outputs."""
    found: list[tuple[str, int, int]] = []
    root_str = str(root)
    prefix_len = len(root_str) + 1

    def walk(directory: str) -> None:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        run_file = next((e for e in entries if e.name == RUN_RECORD and e.is_file(follow_symlinks=False)), None)
        if run_file is not None:  # a run directory: only its record is an item, the rest is output
            st = run_file.stat(follow_symlinks=False)
            found.append((run_file.path[prefix_len:].replace(os.sep, "/"), st.st_size, st.st_mtime_ns))
            return
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if name not in SKIP_DIRS and not name.startswith("."):
                    walk(entry.path)
            elif name.endswith((".yaml", ".yml")) and entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                found.append((entry.path[prefix_len:].replace(os.sep, "/"), st.st_size, st.st_mtime_ns))

    for d in item_dirs:
        walk(os.path.join(root_str, d))
    found.sort()
    return found


# ---------------------------------------------------------------------- parsing
def parse_file(root: str, relpath: str) -> ParsedFile:
    result = ParsedFile(relpath)
    try:
        with open(os.path.join(root, relpath), "rb") as fh:
            text = fh.read()
        result.docs, result.has_duplicates = parse_fast(text)
    except YamlProblem as exc:
        result.problem = (exc.message, exc.line, exc.column, exc.rule)
    except OSError as exc:
        result.problem = (f"cannot read: {exc.strerror}", 0, 0, "load.unreadable")
    return result


def _parse_chunk(args: tuple[str, list[str]]) -> list[ParsedFile]:
    root, paths = args
    return [parse_file(root, p) for p in paths]


def iter_parse(root: Path, paths: list[str], jobs: int | None = None) -> Iterator[ParsedFile]:
    """Parse files, across all cores when there are many, yielding chunks as they finish
    so that validation in this process overlaps with parsing in the workers."""
    jobs = jobs or os.cpu_count() or 1
    if len(paths) < PARALLEL_THRESHOLD or jobs == 1:
        for p in paths:
            yield parse_file(str(root), p)
        return
    size = max(50, -(-len(paths) // (jobs * 16)))
    chunks = [(str(root), paths[i : i + size]) for i in range(0, len(paths), size)]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
        for part in pool.map(_parse_chunk, chunks):
            yield from part


def parse_many(root: Path, paths: list[str], jobs: int | None = None) -> list[ParsedFile]:
    return list(iter_parse(root, paths, jobs))


# ---------------------------------------------------------------------- validation
_CRITERION_TAGS = {"metric", "class", "samples", "split_ratio"}


def _without_union_tags(loc: tuple) -> tuple:
    """Pydantic puts the criterion kind (the union tag) and ``[key]`` (a mapping key that
    failed) into error locations; drop them, so the location is the key's own line."""
    return tuple(
        x
        for i, x in enumerate(loc)
        if not (i > 0 and isinstance(loc[i - 1], int) and x in _CRITERION_TAGS and i + 1 < len(loc)) and x != "[key]"
    )


def _schema_findings(
    exc: ValidationError, ws: Workspace, file: str, doc_index: int, item_id: str | None, base: tuple
) -> Iterator[Finding]:
    for err in exc.errors(include_url=False):
        loc = _without_union_tags(tuple(err["loc"]))
        if err["type"] == "missing":
            message = "required field is missing"
        else:
            message = err["msg"]
            if "input" in err and not isinstance(err["input"], (dict, list)):
                got = repr(err["input"])
                message += f" (got {got if len(got) <= 80 else got[:77] + '...'})"
        where = format_path(base + loc)
        yield Finding(
            "load.schema",
            "error",
            f"{where}: {message}",
            item=item_id,
            file=file,
            line=ws.line_at(file, doc_index, base + loc),
            field=where,
        )


def build_items(parsed: ParsedFile, ws: Workspace) -> tuple[list[BaseModel], list[Finding]]:
    """Turn one parsed file into validated items and load findings."""
    file = parsed.path
    lines = partial(ws.line_at, file)  # parses the file with positions only if a finding needs a line
    findings: list[Finding] = []
    items: list[BaseModel] = []
    if parsed.problem:
        msg, line, col, rule = parsed.problem
        findings.append(Finding(rule, "error", msg, file=file, line=line or None, column=col or None))
        return items, findings
    if parsed.has_duplicates:
        for dup in parse_documents((ws.root / file).read_bytes())[1]:
            findings.append(
                Finding(
                    "load.duplicate-key",
                    "error",
                    f"key {dup.key!r} appears twice (first at line {dup.first_line}); the first value is lost",
                    file=file,
                    line=dup.line,
                    field=dup.key,
                )
            )
    recognised = False
    for doc_index, doc in enumerate(parsed.docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            findings.append(
                Finding(
                    "load.schema",
                    "error",
                    "an item file must be a mapping with one of the keys " + ", ".join(sorted(KINDS)),
                    file=file,
                    line=lines(doc_index, ()),
                )
            )
            continue
        for top_key, body in doc.items():
            spec = KINDS.get(top_key)
            if spec is None:
                continue
            recognised = True
            model, plural = spec
            if plural and not isinstance(body, list):
                findings.append(
                    Finding(
                        "load.schema",
                        "error",
                        f"{top_key}: must be a list of items",
                        file=file,
                        line=lines(doc_index, (top_key,)),
                        field=top_key,
                    )
                )
                continue
            entries = list(enumerate(body)) if plural else [(None, body)]
            for index, entry in entries:
                base = (top_key,) if index is None else (top_key, index)
                if not isinstance(entry, dict):
                    findings.append(
                        Finding(
                            "load.schema",
                            "error",
                            f"{format_path(base)}: must be a mapping of fields",
                            file=file,
                            line=lines(doc_index, base),
                            field=format_path(base),
                        )
                    )
                    continue
                item_id = entry.get("id") if isinstance(entry.get("id"), str) else None
                try:
                    obj = model.model_validate(entry)
                except ValidationError as exc:
                    findings.extend(_schema_findings(exc, ws, file, doc_index, item_id, base))
                    continue
                for path, extra, suggestion in misspelled_fields(obj):
                    findings.append(
                        Finding(
                            "load.unknown-field",
                            "warning",
                            f"unknown field {extra!r}: did you mean {suggestion!r}?",
                            item=item_id,
                            file=file,
                            line=lines(doc_index, base + path),
                            field=format_path(base + path),
                        )
                    )
                items.append(locate(obj, file, (doc_index, base), entry))
    if not recognised and not findings:
        findings.append(
            Finding(
                "load.unrecognised-file",
                "info",
                "no item key (" + ", ".join(sorted(k for k in KINDS if not k.endswith("s"))) + "): file skipped",
                file=file,
                line=1,
            )
        )
    return items, findings


def _invalid_id(ws: Workspace, item: Any) -> Finding | None:
    """An item whose id (or data set version) breaks the id pattern is reported and left
    out of the workspace: nothing can refer to it, and no file is ever named from it."""
    for name, value in (
        ("id", getattr(item, "id", None)),
        ("version", getattr(item, "version", None) if item.kind == "dataset" else None),
    ):
        if value is None:
            continue
        problem = id_problem(value)
        if problem:
            return Finding(
                "load.id-invalid",
                "error",
                f"{name} {str(value)[:80]!r} {problem}",
                file=item._file,
                line=ws.line_of(item, (name,)),
                field=name,
            )
    return None


def _duplicate(ws: Workspace, key: str, first: Any, item: Any) -> Finding:
    """Two items with one id (a merge of two branches that chose the same id by hand): the
    finding names both files and says whether their content differs."""
    where = f"{first._file}:{ws.line_of(first)}"
    if item.kind == first.kind == "dataset" and getattr(item, "fingerprint", None) != getattr(
        first, "fingerprint", None
    ):
        return Finding(
            "dataset.version-conflict",
            "error",
            f"data set {key} is registered twice with different data: {first.fingerprint} at {where} and "
            f"{item.fingerprint} here; "
            "register one of them as a new version",
            item=key,
            file=item._file,
            line=ws.line_of(item),
        )
    same = first.model_dump(mode="json") == item.model_dump(mode="json")
    what = "with the same content" if same else "with different content"
    return Finding(
        "load.duplicate-id",
        "error",
        f"id {key!r} is defined twice {what}: at {where} and here",
        item=key,
        file=item._file,
        line=ws.line_of(item),
    )


def _index_versions(ws: Workspace) -> None:
    """Make model versions findable by ``<line>-<version>`` once promotion gave them a
    version; a version given to two models (two branches) is reported."""
    for model in ws.of_kind("model_version"):
        alias = alias_of(model)
        if alias is None:
            continue
        taken = ws.by_key.get(alias)
        if taken is not None and taken is not model:
            ws.findings.append(
                Finding(
                    "load.duplicate-id",
                    "error",
                    f"version {model.version} of {model_line_of(model)} is given to {model.id} here and to "
                    f"{taken.id} at {taken._file}:{ws.line_of(taken)}; "
                    f"give one of them another version (mle3 promote --version)",
                    item=model.id,
                    file=model._file,
                    line=ws.line_of(model, ("version",)),
                )
            )
            continue
        ws.by_key[alias] = model


def item_key(item: Any) -> str:
    if isinstance(item, Augmentation):
        return item.id or Path(item._file).name
    return item.key


def load_workspace(start: Path | str | None = None, *, use_cache: bool = True, jobs: int | None = None) -> Workspace:
    """Load the workspace at ``start`` (or found above it). Problems become findings;
    only a missing or unreadable ``mle3.yaml`` raises."""
    root = find_root(Path(start) if start else None)
    config = load_config(root)
    return load_items(root, config, discover(root, Layout.of(root, config).item_dirs), use_cache=use_cache, jobs=jobs)


def as_workspace(where: Workspace | Path | str | None) -> Workspace:
    """The workspace an operation works on: ``where`` itself when the caller loaded it
    (the CLI loads once), else the workspace at (or above) the path ``where``."""
    return where if isinstance(where, Workspace) else load_workspace(where)


@contextmanager
def locked(where: Workspace | Path | str | None, name: str, *, use_cache: bool = True) -> Iterator[Workspace]:
    """The workspace read while its lock ``name`` is held, for a check and the write that
    depends on it: a given :class:`Workspace` is reloaded once the lock is held (and so
    is current for its caller afterwards), a path is loaded then."""
    if isinstance(where, Workspace):
        with where.lock(name):
            yield where.reload(use_cache=use_cache)
        return
    root = find_root(Path(where) if where else None)
    with Layout.of(root).lock(name):  # the lock's place does not depend on mle3.yaml
        yield load_workspace(root, use_cache=use_cache)


def load_items(
    root: Path,
    config: ProjectConfig,
    listing: list[tuple[str, int, int]],
    *,
    use_cache: bool = True,
    jobs: int | None = None,
) -> Workspace:
    """Parse and validate the files of ``listing`` (from :func:`discover`)."""
    with paused_gc():
        return _load_items(root, config, listing, use_cache, jobs)


def _load_items(
    root: Path, config: ProjectConfig, listing: list[tuple[str, int, int]], use_cache: bool, jobs: int | None
) -> Workspace:
    parsed = parse_cache.parse_with_cache(root, listing, lambda paths: iter_parse(root, paths, jobs), enabled=use_cache)
    ws = Workspace(root=root, config=config, items=[], findings=[], files=[p for p, _, _ in listing])
    per_file: dict[str, list[Any]] = {}
    for pf in parsed:
        per_file[pf.path], file_findings = build_items(pf, ws)
        ws.findings.extend(file_findings)
    # results arrive in completion order; items are indexed in file order (the first of
    # two duplicates is always the one in the earlier file)
    items = [item for path, _, _ in listing for item in per_file.get(path, ())]
    for item in items:
        key = item_key(item)
        invalid = _invalid_id(ws, item)
        if invalid is not None:
            ws.findings.append(invalid)
            continue
        first = ws.by_key.get(key)
        if first is not None:
            ws.findings.append(_duplicate(ws, key, first, item))
            continue
        ws.by_key[key] = item
        ws.items.append(item)
        if isinstance(item, Augmentation) and item.id:
            ws.by_key.setdefault(Path(item._file).name, item)
    _index_versions(ws)
    for ds in ws.of_kind("dataset"):  # a bare id means the latest version still in use
        current = ws.latest_dataset.get(ds.id)
        newer = current is None or version_key(ds.version) > version_key(current.version)
        if current is None or (current.retired and not ds.retired) or (newer and current.retired == ds.retired):
            ws.latest_dataset[ds.id] = ds
    return ws
