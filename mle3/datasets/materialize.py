"""Local files for training: a data set in an object store is copied into a local cache.

Training and calibration read files from a disk, so they ask the data set's store for a
local folder (:meth:`~.storage.DataStore.materialize`). A local data set (workspace or
mounted root) is used where it lies. One in an object store is materialized here, into
``<cache>/<fingerprint hex>/`` (cache: ``MLE3_DATA_CACHE``, ``data_cache:`` in
``.mle3/local.yaml``, default ``.mle3/data``): every object is downloaded to a ``.part``
file, hashed as it lands and renamed only when its sha256 and size match the manifest. A
record of what landed (size, mtime, ctime and inode per file; sealed JSON, so a record
written elsewhere or edited is not trusted: :mod:`mle3.sealed`) is written last; on every later use files
missing, partial, resized or touched since are fetched again and files the manifest does
not list are removed, so a model never trains on a partial or corrupted cache. One process
at a time fills a cache (a file lock).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from collections.abc import Callable

from filelock import FileLock

from .. import sealed
from ..errors import Mle3Error
from .roots import data_cache_dir
from .storage import REQUESTS, DataStore, store_for
from .verify import load_entries

RECORD = ".mle3-materialized"


def local_data_base(root: Path, config: Any, dataset: Any, *, echo: Callable[[str], None] | None = None) -> Path:
    """The folder on this machine's disk that ``dataset``'s paths are relative to: the
    workspace, a mounted root, or (for an object store) the checked cache."""
    store = store_for(root, config, getattr(dataset, "data_root", None))
    if not dataset.data_yaml:
        raise Mle3Error(
            f"data set {dataset.key} has no data_yaml: register its files with `mle3 dataset register`",
            file=getattr(dataset, "_file", None),
        )
    return store.materialize(root, dataset, echo=echo)


def local_data_yaml(root: Path, config: Any, dataset: Any, *, echo: Callable[[str], None] | None = None) -> Path:
    """A data.yaml on this machine's disk for ``dataset``: where it lies, or in the cache."""
    return local_data_base(root, config, dataset, echo=echo) / dataset.data_yaml


def materialize(root: Path, store: DataStore, dataset: Any, *, echo: Callable[[str], None] | None = None) -> Path:
    """Copy ``dataset``'s files from ``store`` into this machine's data cache, each checked
    against the manifest as it lands; the cache folder."""
    entries = load_entries(root, store, dataset)
    if entries is None:
        raise Mle3Error(
            f"data set {dataset.key}: no manifest is reachable ({store.url(dataset.manifest)}), so its objects "
            "cannot be checked as they land; nothing was copied"
        )
    target = data_cache_dir(root) / dataset.fingerprint.split(":", 1)[-1]
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        landed = _read_record(root, target, dataset.fingerprint)
        wanted = {e.path: e for e in entries}
        _remove_strays(target, wanted)
        missing = []
        for e in entries:
            try:
                st = os.stat(target / e.path)
            except OSError:
                missing.append(e)
                continue
            if landed.get(e.path) != _stamp(st) or st.st_size != e.size:
                missing.append(e)
        if missing and echo:
            echo(
                f"materializing {dataset.key}: {len(missing)} of {len(entries)} files from {store.label} into {target}"
            )
        with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            for path, stamp in pool.map(lambda e: _fetch(store, target, e), missing):
                landed[path] = stamp
        record = json.dumps({p: landed[p] for p in wanted if p in landed}, separators=(",", ":")).encode()
        if not sealed.write_bytes(target / RECORD, _kind(dataset.fingerprint), record):
            (target / RECORD).unlink(missing_ok=True)  # no key: every file is checked again next time
    return target


def _fetch(store: DataStore, target: Path, entry: Any) -> tuple[str, list[int]]:
    path = target / entry.path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    try:
        size, digest = store.download(entry.path, part)
        if size != entry.size or digest != entry.sha256:
            raise Mle3Error(
                f"{store.url(entry.path)} changed since registration (sha256 {digest[:12]}..., registered "
                f"{entry.sha256[:12]}...): "
                "nothing was trained; register the new data as a new version"
            )
        os.replace(part, path)
    finally:
        if part.exists():
            part.unlink()
    return entry.path, _stamp(os.stat(path))


def _stamp(st: os.stat_result) -> list[int]:
    """What the record keeps of a file that landed (a list, as JSON gives it back)."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _kind(fp: str) -> str:
    return "materialized:" + fp


def _read_record(root: Path, target: Path, fp: str) -> dict[str, list[int]]:
    """What landed, from an authenticated record; absent, damaged, foreign or tracked by
    git: empty (every file is checked again)."""
    payload = sealed.read_bytes(target / RECORD, _kind(fp), root)
    try:
        record = json.loads(payload) if payload is not None else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _remove_strays(target: Path, wanted: dict[str, Any]) -> None:
    """Files the manifest does not list (left-over ``.part`` files, edits) would be trained on."""
    prefix = len(str(target)) + 1
    for folder, _, names in os.walk(target):
        for name in names:
            rel = os.path.join(folder, name)[prefix:].replace(os.sep, "/")
            if rel != RECORD and rel not in wanted:
                os.unlink(os.path.join(folder, name))
