"""Family ``data``: registered data sets whose files, manifest or labels are not as recorded."""

from __future__ import annotations

import os
from collections.abc import Iterator

import yaml

from ..datasets.manifest import compare_with_disk, fingerprint, is_data_file, read_manifest
from ..datasets.state import load_state
from ..datasets.verify import load_columns, local_manifest
from ..errors import Mle3Error
from ..paths import inside_workspace
from ..workspace.records import LabelQuality
from .registry import Context, Hit, rule


def _opened(ctx: Context, root_name: str | None):
    """The store of a data root (None: the workspace), or why it cannot be opened here;
    resolved once per check."""
    from ..datasets.storage import store_for

    key = ("store", root_name)
    if key not in ctx.memo:
        try:
            ctx.memo[key] = store_for(ctx.ws.root, ctx.ws.config, root_name)
        except Mle3Error as exc:
            ctx.memo[key] = exc
    return ctx.memo[key]


def _store(ctx: Context, ds):
    """The store a data set lives in, or None when its root is not available here
    (``data.root-unavailable`` says so)."""
    found = _opened(ctx, ds.data_root)
    return None if isinstance(found, Mle3Error) else found


def _state(ctx: Context, ds, store):
    """This machine's last verification of a data set, read once per check (``verify``
    inside the check rewrites it: :func:`_changed_v2` drops the memo then)."""
    key = ("state", ds.fingerprint, store.label)
    if key not in ctx.memo:
        ctx.memo[key] = load_state(ctx.ws.root, ds.fingerprint, store.label)
    return ctx.memo[key]


def _manifest(ctx: Context, ds):
    """The entries of a data set's v1 manifest (a TSV in the workspace), or None (recorded
    for the result cache)."""
    if not ds.manifest or not inside_workspace(ctx.ws.root, ds.manifest) or not ctx.exists(ds.manifest):
        return None
    try:
        return read_manifest(ctx.ws.root / ds.manifest)
    except (ValueError, OSError, UnicodeDecodeError):
        return None


def _manifest_trusted(ctx: Context, ds, store) -> bool:
    """The local copy of a v2 manifest is unchanged since it was last found to hash to the
    fingerprint (so ``check`` need not decompress 850k lines again)."""
    local = local_manifest(ctx.ws.root, ds)
    ctx.exists(local.relative_to(ctx.ws.root).as_posix())
    state = _state(ctx, ds, store)
    if state is None or state.manifest_stat is None:
        return False
    try:
        st = os.stat(local)
    except OSError:
        return False
    return state.manifest_stat == (st.st_size, st.st_mtime_ns)


@rule(
    "data.root-unavailable",
    "warning",
    "A data set's data root is not mapped or not mounted on this machine, so its data cannot be checked here.",
    "Map the root: set MLE3_DATA_ROOT_<NAME> or add it under data_roots in .mle3/local.yaml (a laptop without the "
    "NAS may set this rule to off in mle3.yaml).",
)
def root_unavailable(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        found = _opened(ctx, ds.data_root) if ds.data_root else None
        if isinstance(found, Mle3Error):  # not declared, not mapped, not mounted, or no backend for its URL
            yield Hit(ds, found.message, ("data_root",))


@rule(
    "data.manifest",
    "error",
    "A registered data set's manifest is missing, malformed, or does not match its fingerprint.",
    "Restore the manifest from version control (v1) or beside the data (v2); if the data really changed, register a "
    "new version.",
)
def manifest_integrity(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        if not ds.manifest:
            continue
        if not ds.manifest.endswith(".gz"):
            entries = _manifest(ctx, ds)
            if entries is None:
                yield Hit(ds, f"manifest {ds.manifest!r} is missing or unreadable", ("manifest",))
            elif ds.fingerprint and fingerprint(entries) != ds.fingerprint:
                yield Hit(
                    ds,
                    f"manifest {ds.manifest!r} does not match the recorded fingerprint (edited after registration?)",
                    ("fingerprint",),
                )
            continue
        store = _store(ctx, ds)
        if store is None or _manifest_trusted(ctx, ds, store):
            continue
        try:
            found = load_columns(ctx.ws.root, store, ds)
        except Mle3Error as exc:
            yield Hit(ds, str(exc), ("manifest",))
            continue
        if found is None:
            yield Hit(
                ds,
                f"manifest {ds.manifest!r} is neither beside the data ({store.label}) nor in "
                f"{ctx.ws.layout.local_manifests}: "
                "restore it there (it is named by the fingerprint), or `mle3 dataset verify` re-hashes the data as a "
                "whole",
                ("manifest",),
            )


def _files(ds) -> int:
    return ds.registered_files


@rule(
    "data.unverified",
    "info",
    "A large or remote data set has not been verified on this machine yet, so `check` cannot say whether it changed.",
    "Run `mle3 dataset verify ID` once; later checks compare the data folders' mtimes with that verification.",
)
def unverified(ctx: Context) -> Iterator[Hit]:
    for ds, store in _watched(ctx):
        if _large(ctx, ds, store) and _state(ctx, ds, store) is None:
            yield Hit(
                ds,
                f"data set {ds.key} ({_files(ds)} files, {store.label}) was not verified on this machine: run `mle3 "
                f"dataset verify {ds.key}`",
                ("manifest",),
            )


def _watched(ctx: Context):
    for ds in ctx.ws.of_kind("dataset"):
        if not ds.manifest or not ds.manifest.endswith(".gz"):
            continue
        store = _store(ctx, ds)
        if store is not None:
            yield ds, store


def _large(ctx: Context, ds, store) -> bool:
    return not store.stats_are_cheap or _files(ds) > ctx.ws.config.datasets.check_stat_limit


@rule(
    "data.changed",
    "error",
    "Files of a registered data set were changed, removed or added since registration.",
    "Restore the files (`mle3 dataset verify ID` lists them), or register the new data as a new version.",
)
def data_changed(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        if ds.manifest and not ds.manifest.endswith(".gz"):
            yield from _changed_v1(ctx, ds)
    for ds, store in _watched(ctx):
        summary = _changed_v2(ctx, ds, store)
        if summary and (summary["changed"] or summary["removed"] or summary["added"]):
            yield Hit(
                ds,
                f"data set {ds.key} differs from its manifest: {summary['changed']} changed, {summary['removed']} "
                "removed, "
                f"{summary['added']} added (e.g. {summary['example']})",
                ("manifest",),
            )


def _observer(ctx: Context):
    """Record what a stat saw (ctime and inode included), for the check's result cache."""
    from .result_cache import stat_state

    def observe(path: str, st: os.stat_result | None) -> None:
        ctx.disk[path] = None if st is None else stat_state(st)

    return observe


def _changed_v2(ctx: Context, ds, store) -> dict | None:
    """Small local data sets: every file statted (in-place edits found). Large or remote
    ones: the last verification's verdict while no data folder's mtime moved (an object
    store has none: its verdict stands until the next ``verify``)."""
    from ..datasets.verify import verify

    root = ctx.ws.root
    if _large(ctx, ds, store):
        state = _state(ctx, ds, store)
        if state is None:
            return None  # data.unverified says so
        if not store.folders_moved(state.dirs, _observer(ctx)):
            return state.summary if not state.ok else None
    try:  # small data sets: every file's stat recorded, so the result cache sees in-place edits
        result = verify(root, ds, config=ctx.ws.config, observe=None if _large(ctx, ds, store) else _observer(ctx))
    except Mle3Error:
        return None  # data.manifest reports an unreadable manifest
    ctx.memo.pop(("state", ds.fingerprint, store.label), None)  # verify saved a new one
    state = _state(ctx, ds, store)
    store.folders_moved(state.dirs if state else {}, _observer(ctx))  # the folders' stats, for the result cache
    return {
        "changed": len(result.changed),
        "removed": len(result.removed),
        "added": len(result.added),
        "example": (result.changed + result.removed + result.added + [None])[0],
    }


def _changed_v1(ctx: Context, ds) -> Iterator[Hit]:
    """Data sets registered before manifests v2 (TSV with mtimes, in the workspace)."""
    root = ctx.ws.root

    entries = _manifest(ctx, ds)
    if not entries:
        return
    diff = compare_with_disk(root, entries, _observer(ctx))
    example = (diff.changed + diff.removed)[:1]
    recorded_by_dir: dict[str, set[str]] = {}
    for e in entries:
        directory, name = os.path.split(e.path)
        recorded_by_dir.setdefault(directory, set()).add(name)
    added = 0
    for directory, recorded in sorted(recorded_by_dir.items()):
        ctx.exists(directory)  # a new file changes its folder's mtime: the cache notices
        try:
            names = {n for n in os.listdir(root / directory) if is_data_file(n)}
        except OSError:
            continue
        extra = [n for n in names - recorded if (root / directory / n).is_file()]
        if extra:
            added += len(extra)
            example = example or [f"{directory}/{sorted(extra)[0]}"]
    if diff.changed or diff.removed or added:
        yield Hit(
            ds,
            f"data set {ds.key} differs from its manifest: {len(diff.changed)} changed, {len(diff.removed)} removed, "
            f"{added} added (e.g. {example[0]})",
            ("manifest",),
        )


@rule(
    "data.label-quality",
    "error",
    "Label problems were recorded at registration (malformed lines, class ids out of range, boxes outside the image, "
    "unreadable images); missing or empty label files are warnings.",
    "Fix the labels and register a new version; `label_quality.findings` in the data set file lists them with file "
    "and line.",
)
def label_quality(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        quality = ds.label_quality
        if quality is None:
            continue
        errors, warnings = _kinds_by_severity(quality)
        if quality.errors:
            also = f"; {quality.warnings} warnings ({warnings})" if quality.warnings else ""
            yield Hit(ds, f"{quality.errors} label errors recorded ({errors}){also}", ("label_quality",))
        elif quality.warnings:
            yield Hit(ds, f"{quality.warnings} label warnings recorded ({warnings})", ("label_quality",), "warning")


@rule(
    "data.metadata-quality",
    "error",
    "The per-image metadata table registered with a data set has problems: images without a row, rows for no image, "
    "values outside the ODD's vocabulary, wrong types, missing values or required columns (warnings: columns the ODD "
    "does not define).",
    "Correct the table and register a new version; `metadata.findings` in the data set file lists each with file, "
    "line and column.",
)
def metadata_quality(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        table = ds.metadata
        if table is None or ds.retired:  # a retired version is out of use
            continue
        kinds = ", ".join(f"{k} {v}" for k, v in table.by_kind.items())
        first = next((f for f in table.findings if f.severity == "error"), None)
        example = ""
        if first is not None:
            where = f"{first.file}{':' + str(first.line) if first.line else ''}"
            example = f"; first: {where}: {first.message}" + (f" [{first.column}]" if first.column else "")
        if table.errors:
            yield Hit(ds, f"{table.errors} metadata errors recorded ({kinds}){example}", ("metadata",))
        elif table.warnings:
            yield Hit(ds, f"{table.warnings} metadata warnings recorded ({kinds})", ("metadata",), "warning")


def _kinds_by_severity(quality: LabelQuality) -> tuple[str, str]:
    """The recorded problem kinds with their counts, errors apart from warnings (a count of
    2 errors beside four kinds read as if all four were errors). A kind's severity comes
    from its recorded findings; "missing-label" and "empty-label" are the warnings."""
    severity = {f.kind: f.severity for f in quality.findings}
    parts: dict[str, list[str]] = {"error": [], "warning": []}
    for kind, count in quality.by_kind.items():
        level = severity.get(kind) or ("warning" if kind in ("missing-label", "empty-label") else "error")
        parts["warning" if level == "warning" else "error"].append(f"{kind} {count}")
    return ", ".join(parts["error"]) or "–", ", ".join(parts["warning"]) or "–"


@rule(
    "data.night-list",
    "warning",
    "Images the data set's night list names are no file below the data set's root, so headlight glare never runs on "
    "them.",
    "Write each line of the list relative to the data set's root (the data.yaml's `path:`), as the split folders "
    "are; see docs/guides/training.md, augmentation.",
)
def night_list(ctx: Context) -> Iterator[Hit]:
    from ..datasets.night import night_list_warning

    for ds in ctx.ws.of_kind("dataset"):
        store = _store(ctx, ds) if ds.data_yaml else None
        data_yaml = store.local_path(ds.data_yaml) if store is not None else None
        if data_yaml is None:  # unmapped roots are data.root-unavailable; lists in object stores are read at training
            continue
        try:
            message = night_list_warning(data_yaml)
        except (Mle3Error, OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            message = f"the night list cannot be read: {exc}"
        if message:
            yield Hit(ds, message, ("data_yaml",))


@rule(
    "data.retired",
    "warning",
    "A configuration, run or model uses a data set version that was retired (status rejected or obsolete); an error "
    "for validated or released models.",
    "Train on a version still in use (a bare data set id skips retired ones), or reconsider the retirement; the "
    "finding names its reason.",
)
def retired(ctx: Context) -> Iterator[Hit]:
    def why(ds) -> str:
        return f"data set version {ds.key} is {ds.status}" + (f": {ds.status_reason}" if ds.status_reason else "")

    for config in ctx.ws.of_kind("training"):
        ds = ctx.ws.resolve(config.dataset) if config.dataset else None
        if (
            ds is not None and ds.kind == "dataset" and ds.retired
        ):  # a bare id resolves to a retired one only when all are
            yield Hit(config, f"{why(ds)}; configuration {config.id} still trains on it", ("dataset",))
    for model in ctx.ws.of_kind("model_version"):
        ds = ctx.ws.resolve(model.training_data.dataset_version)
        if ds is not None and ds.kind == "dataset" and ds.retired:
            severity = "error" if model.status in ("validated", "released") else None
            yield Hit(
                model, f"{why(ds)}; model {model.id} was trained on it", ("training_data", "dataset_version"), severity
            )
