"""``mle3 dataset verify`` and the data check behind ``mle3 check``.

Verification compares a registered version with its data where it lives: files added,
removed or changed. The fast path compares each file's stamp (size, mtime, ctime and inode
locally, size and ETag in an object store) with this machine's last verification
(:mod:`.state`) and re-hashes only files whose stamp moved; ``deep`` re-hashes everything. Without a manifest
(a machine that cannot reach it), every file is re-hashed and compared with the
fingerprint as a whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from .._atomic import atomic_write_bytes
from ..errors import Mle3Error
from ..formats import dataset_fingerprint, encode_manifest
from ..workspace.layout import layout_at
from .manifest import Columns, Entry, decode_columns, fingerprint, manifest_name, manifest_text, read_manifest
from .scan import Listing
from .state import LocalState, load_state, save_state
from .storage import DataStore, store_for


@dataclass
class Verification:
    key: str
    files: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    hashed: int = 0
    fingerprint_ok: bool = True
    #: where the data was read (the workspace, a root's folder or URL)
    location: str = ""
    #: False when no manifest was reachable and the files were compared as a whole
    manifest_found: bool = True

    @property
    def ok(self) -> bool:
        return not (self.added or self.removed or self.changed) and self.fingerprint_ok


def load_columns(root: Path, store: DataStore, dataset: Any) -> tuple[Columns, list[int] | None] | None:
    """A data set's manifest as columns, with the recorded mtimes of a v1 manifest: the
    local copy, else the one beside the data (then copied locally), else a v1 manifest in
    the workspace; None when none is reachable. A v2 manifest is trusted only when it
    hashes to the fingerprint."""
    rel = dataset.manifest
    if not rel:
        raise Mle3Error(f"data set {dataset.key} has no manifest (register it with `mle3 dataset register`)")
    if not rel.endswith(".gz"):  # v1: a TSV in the workspace
        try:
            entries = read_manifest(root / rel)
        except FileNotFoundError:
            raise Mle3Error("manifest file is missing", file=rel) from None
        except ValueError as exc:
            raise Mle3Error(str(exc)) from None
        return Columns([e.path for e in entries], [e.size for e in entries], [e.sha256 for e in entries]), [
            e.mtime_ns for e in entries
        ]
    local = local_manifest(root, dataset)
    for source in ("local", "data"):
        try:
            data = local.read_bytes() if source == "local" else store.read_bytes(rel)
        except (OSError, Mle3Error):
            continue
        try:
            columns = decode_columns(data, str(local) if source == "local" else rel, dataset.fingerprint)
        except ValueError:
            if source == "local":
                continue  # a damaged local copy: fetch it again
            raise Mle3Error(
                "the manifest beside the data does not hash to the recorded fingerprint: edited or damaged", file=rel
            ) from None
        if source == "data":
            local.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(local, data)
        return columns, None
    return None


def packed_manifest(root: Path, config: Any, dataset: Any) -> bytes | None:
    """A registered data set's v2 manifest as stored (gzip), checked against its
    fingerprint: this machine's copy, else the one beside the data; None when neither is
    reachable or it is a v1 manifest (a workspace file)."""
    rel = dataset.manifest
    if not rel or not rel.endswith(".gz") or not dataset.fingerprint:
        return None
    local = local_manifest(root, dataset)
    for source in ("local", "data"):
        try:
            data = (
                local.read_bytes() if source == "local" else store_for(root, config, dataset.data_root).read_bytes(rel)
            )
            decode_columns(data, rel, dataset.fingerprint)
        except (OSError, Mle3Error, ValueError):
            continue
        return data
    return None


def load_entries(root: Path, store: DataStore, dataset: Any) -> list[Entry] | None:
    """:func:`load_columns` as entries (small data sets, materializing)."""
    found = load_columns(root, store, dataset)
    if found is None:
        return None
    columns, mtimes = found
    return [
        Entry(p, s, m, d)
        for p, s, d, m in zip(columns.paths, columns.sizes, columns.digests, mtimes or [0] * len(columns.paths))
    ]


def local_manifest(root: Path, dataset: Any) -> Path:
    return root / layout_at(root).local_manifests / manifest_name(dataset.fingerprint or "")


def _listing(store: DataStore, dataset: Any) -> Listing | None:
    """The files of the data set's folder now (None when its data.yaml no longer parses:
    reported as changed or removed)."""
    try:
        return store.walk(store.layout(dataset.data_yaml).root)
    except Mle3Error:
        return None


def verify(
    root: Path,
    dataset: Any,
    *,
    config: Any = None,
    deep: bool = False,
    progress: Callable[[int], None] | None = None,
    observe: Callable[[str, os.stat_result | None], None] | None = None,
) -> Verification:
    """Compare a registered data set with its data; remember what was seen for next time.
    ``observe`` sees every local file's stat (the check's result cache records them)."""
    if config is None:
        from ..workspace.config import load_config

        config = load_config(root)
    if not dataset.data_yaml and not dataset.manifest:
        raise Mle3Error(f"data set {dataset.key} has no manifest (register it with `mle3 dataset register`)")
    store = store_for(root, config, getattr(dataset, "data_root", None))
    found = load_columns(root, store, dataset)
    listing = _listing(store, dataset) if dataset.data_yaml else None
    if found is None:
        return _verify_whole(root, store, dataset, listing)
    columns, v1_mtimes = found
    paths, sizes, digests = columns.paths, columns.sizes, columns.digests
    state = load_state(root, dataset.fingerprint, store.label)
    stamps = state.stamps if state is not None and len(state.stamps) == len(paths) else v1_mtimes
    mtime_only = stamps is not None and stamps is v1_mtimes  # a v1 TSV records mtimes only
    result = Verification(dataset.key, len(paths), location=store.label)
    if v1_mtimes is not None and dataset.fingerprint and fingerprint(columns.entries()) != dataset.fingerprint:
        result.fingerprint_ok = False
    suspects: list[int] = []
    seen_stamps: list[Any] = [None] * len(paths)
    for i, seen in enumerate(store.stamps(paths, listing, observe)):
        if seen is None:
            result.removed.append(paths[i])
            continue
        size, seen_stamps[i], mtime = seen  # locally mtime, ctime, inode: a swap with mtimes restored still moves
        if size != sizes[i]:
            result.changed.append(paths[i])
        elif deep or stamps is None or stamps[i] != (mtime if mtime_only else seen_stamps[i]):
            suspects.append(i)
    result.hashed = len(suspects)
    for i, (_, _, digest) in zip(suspects, store.hash_many([paths[i] for i in suspects], progress)):
        if digest != digests[i]:
            result.changed.append(paths[i])
    bad = set(result.changed)
    if bad:
        seen_stamps = [None if p in bad else st for p, st in zip(paths, seen_stamps)]
    if listing is not None:
        result.added = sorted(set(listing.paths()).difference(paths))
        # a recorded file now a link out of the data's place (or dangling): changed even
        # when the content it points to is the same
        result.changed.extend(sorted(set(listing.refused).intersection(paths).difference(result.changed)))
    result.changed.sort()
    result.removed.sort()
    save_state(
        root,
        dataset.fingerprint,
        LocalState(
            store.label,
            seen_stamps,
            listing.dir_mtimes if listing else {},
            result.ok,
            _summary(result),
            manifest_stat=_stat(local_manifest(root, dataset)),
        ),
    )
    return result


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _verify_whole(root: Path, store: DataStore, dataset: Any, listing: Listing | None) -> Verification:
    """No manifest reachable: hash every file and compare the fingerprint as a whole; a
    match recreates the local manifest."""
    result = Verification(dataset.key, 0, location=store.label, manifest_found=False)
    if listing is None:
        result.fingerprint_ok = False
        return result
    paths = listing.paths()
    if dataset.data_yaml and dataset.data_yaml not in paths:
        paths = sorted(paths + [dataset.data_yaml])
    hashed = store.hash_many(paths)
    entries = [Entry(p, size, 0, digest) for p, (size, _, digest) in zip(paths, hashed)]
    stamps = [stamp for _, stamp, _ in hashed]
    result.files = len(entries)
    result.hashed = len(entries)
    text = manifest_text(entries)
    if dataset_fingerprint(text) == dataset.fingerprint:
        local = root / layout_at(root).local_manifests / manifest_name(dataset.fingerprint)
        local.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(local, encode_manifest(text))
        result.manifest_found = True  # rebuilt from data that matches it
        save_state(
            root,
            dataset.fingerprint,
            LocalState(store.label, stamps, listing.dir_mtimes, True, manifest_stat=_stat(local)),
        )
    else:
        result.fingerprint_ok = False
    return result


def _summary(result: Verification) -> dict[str, Any]:
    example = (result.changed + result.removed + result.added)[:1]
    return {
        "changed": len(result.changed),
        "removed": len(result.removed),
        "added": len(result.added),
        "example": example[0] if example else None,
    }
