"""What this machine last saw of a registered data set: the fast path of verification.

Per data set version (file ``.mle3/cache/datasets/<fingerprint hex>.state``, never
committed): each file's stamp in manifest order (mtime_ns locally, ETag in an object
store), each data folder's mtime, and the verdict of the last verification. ``verify``
stats files against the stamps and re-hashes only those whose stamp moved; ``check``
compares the folders' mtimes (a file added, removed or renamed changes its folder's) and
reuses the verdict when none moved. A missing or unreadable state only costs time.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes

STATE_DIR = ".mle3/cache/datasets"
VERSION = 1


@dataclass
class LocalState:
    base: str  # where the data was seen (a folder or URL): a remapped root starts over
    stamps: list[Any]  # per manifest entry, in manifest order
    dirs: dict[str, int] = field(default_factory=dict)  # folder (relative) -> mtime_ns
    ok: bool = True
    summary: dict[str, Any] = field(default_factory=dict)  # counts and an example when not ok
    #: (size, mtime_ns) of the local manifest copy when it was last checked against the
    #: fingerprint: ``check`` skips re-hashing an unchanged copy
    manifest_stat: tuple[int, int] | None = None


def _path(root: Path, fp: str) -> Path:
    return root / STATE_DIR / (fp.split(":", 1)[-1] + ".state")


def load_state(root: Path, fp: str | None, base: str) -> LocalState | None:
    if not fp:
        return None
    try:
        with open(_path(root, fp), "rb") as fh:
            version, state = pickle.load(fh)
    except Exception:  # absent, partial or foreign: verify from scratch
        return None
    if version != VERSION or not isinstance(state, LocalState) or state.base != base:
        return None
    return state


def save_state(root: Path, fp: str | None, state: LocalState) -> None:
    if not fp:
        return
    path = _path(root, fp)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, pickle.dumps((VERSION, state), protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass  # a cache: a read-only workspace only loses speed
