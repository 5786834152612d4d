"""Whole-check result cache: ``mle3 check`` on an unchanged workspace answers from disk.

The key covers everything a check reads: mle3's version, ``mle3.yaml``, every item file
(path, size, mtime) and every other path a rule looked at (artifact files and the like,
recorded with their lstat). Any change to any of them, a racily recent mtime, or an
unreadable cache means a full check.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .._atomic import atomic_write_bytes
from ..findings import Finding
from ..workspace.cache import CACHE_DIR, RACY_MARGIN_NS, code_signature

RESULT_FILE = "check-cache.pickle"


def file_state(path: Path) -> tuple | None:
    """What a rule can observe of a path: None if absent, else type, size and mtime."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_mode, st.st_size, st.st_mtime_ns)


def listing_key(config_bytes: bytes, listing: list[tuple[str, int, int]]) -> str:
    from .. import __version__

    h = hashlib.sha256()
    h.update(repr((__version__, sys.version_info[:2], code_signature())).encode())
    h.update(config_bytes)
    for path, size, mtime in listing:
        h.update(f"{path}\0{size}\0{mtime}\n".encode())
    return h.hexdigest()


def load(root: Path, key: str, listing: list[tuple[str, int, int]]) -> dict[str, Any] | None:
    path = root / CACHE_DIR / RESULT_FILE
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
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


def store(root: Path, key: str, started_ns: int, disk: dict[str, tuple | None], report: Any) -> None:
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
    path = root / CACHE_DIR / RESULT_FILE
    try:
        path.parent.mkdir(exist_ok=True)
        with FileLock(str(path) + ".lock").acquire(timeout=0):
            atomic_write_bytes(path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    except (Timeout, OSError):
        pass


def now_ns() -> int:
    return time.time_ns()
