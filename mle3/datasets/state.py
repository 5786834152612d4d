"""What this machine last saw of a registered data set: the fast path of verification.

Per data set version (file ``.mle3/cache/datasets/<fingerprint hex>.state``, never
committed): each file's stamp in manifest order (locally :func:`stamp_of`: mtime, ctime
and inode; an ETag in an object store), each data folder's mtime, and the verdict of the
last verification. ``verify`` stats files against the stamps and re-hashes only those
whose stamp moved; ``check`` compares the folders' mtimes (a file added, removed or
renamed changes its folder's) and reuses the verdict when none moved. The file is sealed
JSON (:mod:`mle3.sealed`): a state written elsewhere, edited or tracked by git is not
used, and a missing or unreadable state only costs time.
"""

from __future__ import annotations

import base64
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import sealed
from ..workspace.layout import DEFAULT, layout_at

#: the default place (``Layout.dataset_state_dir`` is the workspace's own)
STATE_DIR = DEFAULT.dataset_state_dir
VERSION = 2


def stamp_of(st: os.stat_result) -> tuple[int, int, int]:
    """A local file's stamp: mtime, ctime and inode. Files swapped with their sizes and
    mtimes restored (``os.utime``, tar or zip extraction) keep neither ctime nor inode."""
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


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
    return root / layout_at(root).dataset_state_dir / (fp.split(":", 1)[-1] + ".state")


def _kind(fp: str) -> str:
    return "dataset-state:" + fp


def _stamp(value: Any) -> Any:
    """A stamp as JSON gave it back: local stamps are tuples again (ETags stay strings)."""
    return tuple(value) if isinstance(value, list) else value


def _pack(stamps: list[Any]) -> Any:
    """Local stamps as three packed columns (a list of 850k triples in JSON would take
    a second to read on every check); anything else as a plain list."""
    missing = [i for i, s in enumerate(stamps) if s is None]
    present = [s for s in stamps if s is not None] if missing else stamps
    if not all(type(s) is tuple and len(s) == 3 for s in present):
        return stamps
    try:
        columns = (
            [array(code, column) for code, column in zip("qqQ", zip(*present))]
            if present
            else [array(c) for c in "qqQ"]
        )
    except (OverflowError, TypeError):
        return stamps
    return {
        "packed": [base64.b64encode(c.tobytes()).decode() for c in columns],
        "missing": missing,
        "count": len(stamps),
    }


def _unpack(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [_stamp(s) for s in data]
    columns = []
    for text, code in zip(data["packed"], "qqQ"):
        column = array(code)
        column.frombytes(base64.b64decode(text, validate=True))
        columns.append(column)
    out: list[Any] = list(zip(*columns))
    count = int(data["count"])
    if data["missing"]:
        missing, present = {int(i) for i in data["missing"]}, iter(out)
        out = [None if i in missing else next(present) for i in range(count)]
    if len(out) != count:
        raise ValueError("stamps do not match their count")
    return out


def load_state(root: Path, fp: str | None, base: str) -> LocalState | None:
    if not fp:
        return None
    data = sealed.read_json(_path(root, fp), _kind(fp), root)
    try:
        if not isinstance(data, dict) or data.get("version") != VERSION or data.get("base") != base:
            return None
        manifest_stat = data.get("manifest_stat")
        return LocalState(
            str(data["base"]),
            _unpack(data["stamps"]),
            {str(k): int(v) for k, v in data["dirs"].items()},
            bool(data["ok"]),
            dict(data["summary"]),
            tuple(manifest_stat) if manifest_stat else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration):  # partial or foreign: verify from scratch
        return None


def save_state(root: Path, fp: str | None, state: LocalState) -> None:
    if not fp:
        return
    data = {
        "version": VERSION,
        "base": state.base,
        "stamps": _pack(state.stamps),
        "dirs": state.dirs,
        "ok": state.ok,
        "summary": state.summary,
        "manifest_stat": state.manifest_stat,
    }
    path = _path(root, fp)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a cache: a read-only workspace only loses speed
    sealed.write_json(path, _kind(fp), data)
