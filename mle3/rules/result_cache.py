"""Whole-check result cache: ``mle3 check`` on an unchanged workspace answers from disk.

The key covers everything a check reads: mle3's version, ``mle3.yaml``, every item file
(path, size, mtime) and every other path a rule looked at (artifact files and the like,
recorded with their lstat, ctime and inode included). Any change to any of them, a
racily recent mtime, or an unreadable cache means a full check. The cache is sealed JSON
(:mod:`mle3.sealed`): one written elsewhere, edited or tracked by git is not used.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from filelock import Timeout

from .. import sealed
from ..findings import Finding
from ..workspace.cache import RACY_MARGIN_NS, code_signature
from ..workspace.layout import layout_at

RESULT_FILE = "check-cache.json"
KIND = "check-cache"


def file_state(path: Path) -> list | None:
    """What a rule can observe of a path: None if absent, else :func:`stat_state` of its lstat."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return stat_state(st)


def stat_state(st: os.stat_result) -> list:
    """Type, size, mtime, ctime and inode: a file rewritten with its old size and mtime
    (files swapped, then ``os.utime``; tar or zip extraction) still changes its ctime.
    A list, as JSON gives it back."""
    return [st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def listing_key(config_bytes: bytes, listing: list[tuple[str, int, int]]) -> str:
    from .. import __version__

    h = hashlib.sha256()
    h.update(repr((__version__, sys.version_info[:2], code_signature())).encode())
    h.update(config_bytes)
    for path, size, mtime in listing:
        h.update(f"{path}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()


def load(root: Path, key: str, listing: list[tuple[str, int, int]]) -> dict[str, Any] | None:
    from ..tracked import tracked_state_files

    if tracked_state_files(root):  # workspace.tracked-state must be reported: check afresh
        return None
    path = root / layout_at(root).state_file(RESULT_FILE)
    data = sealed.read_json(path, KIND, root)
    try:
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        trusted_before = data["started_ns"] - RACY_MARGIN_NS
        if any(mtime >= trusted_before for _, _, mtime in listing):
            return None
        for rel, state in data["disk"].items():
            if file_state(root / rel) != state:
                return None
        data["findings"] = [Finding(**f) for f in data["findings"]]
        return data
    except Exception:  # absent, corrupt or foreign: check from scratch
        return None


def store(root: Path, key: str, started_ns: int, disk: dict[str, list | None], report: Any) -> None:
    from ..tracked import tracked_state_files

    if tracked_state_files(root):  # not reused while any is tracked, nor after it is untracked
        return
    payload = {
        "key": key,
        "started_ns": started_ns,
        "disk": disk,
        "findings": [f.to_json() for f in report.findings],
        "items": report.items,
        "files": report.files,
        "ignored": report.ignored,
        "counts": report.counts,
    }
    layout = layout_at(root)
    path = root / layout.state_file(RESULT_FILE)
    try:
        path.parent.mkdir(exist_ok=True)
        with layout.lock("result-cache").acquire(timeout=0):
            sealed.write_json(path, KIND, payload)
    except (Timeout, OSError):
        pass


def now_ns() -> int:
    return time.time_ns()
