"""Cache of parsed item files under ``.mle3/``, keyed by path, size and mtime.

Never stale: an entry is reused only when size and mtime (nanoseconds) are unchanged
*and* the file's mtime is older than the moment the cache was written minus a safety
margin ("racily clean" files, edited within the file system's timestamp granularity of
the cache write, are parsed again, as git does for its index). A cache written by another
mle3 or Python version, or one that cannot be read, is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

from filelock import FileLock, Timeout

from .._atomic import atomic_write_bytes

CACHE_DIR = ".mle3"
CACHE_FILE = "parse-cache.pickle"
FORMAT = 3
RACY_MARGIN_NS = 2_000_000_000


def code_signature() -> str:
    """Size and mtime of every module of mle3 itself: an edited (editable) install or an
    upgrade invalidates cached results even when the version number stays the same."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(package)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _signature() -> tuple:
    from .. import __version__

    return (FORMAT, __version__, sys.version_info[:2], code_signature())


def _read(path: Path) -> tuple[int, dict]:
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        if not isinstance(data, dict) or data.get("signature") != _signature():
            return 0, {}
        return int(data["written_ns"]), dict(data["entries"])
    except Exception:  # a corrupt or foreign cache is simply rebuilt
        return 0, {}


def parse_with_cache(root: Path, listing: list[tuple[str, int, int]], parse: Callable[[list[str]], Iterable], *, enabled: bool = True) -> Iterator:
    """Parsed files for ``listing``, parsing only what changed.

    Yields as results arrive (cached ones first, then in completion order), so the caller
    can validate while worker processes still parse; the cache is written at the end."""
    if not enabled:
        yield from parse([p for p, _, _ in listing])
        return
    started_ns = time.time_ns()
    cache_path = root / CACHE_DIR / CACHE_FILE
    written_ns, entries = _read(cache_path)
    trusted_before = written_ns - RACY_MARGIN_NS
    results: dict[str, object] = {}
    todo: list[str] = []
    for path, size, mtime in listing:
        hit = entries.get(path)
        if hit is not None and hit[0] == size and hit[1] == mtime and mtime < trusted_before:
            results[path] = hit[2]
            yield hit[2]
        else:
            todo.append(path)
    if todo:
        for parsed in parse(todo):
            results[parsed.path] = parsed
            yield parsed
    stale = len(entries) != len(listing) or bool(todo)
    if stale:
        new_entries = {path: (size, mtime, results[path]) for path, size, mtime in listing}
        _write(cache_path, new_entries, started_ns)


def _write(cache_path: Path, entries: dict, started_ns: int) -> None:
    """Write the cache if no other process is writing it; a cache is never required."""
    try:
        cache_path.parent.mkdir(exist_ok=True)
        ignore = cache_path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        lock = FileLock(str(cache_path) + ".lock")
        with lock.acquire(timeout=0):
            payload = {"signature": _signature(), "written_ns": started_ns, "entries": entries}
            atomic_write_bytes(cache_path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
    except (Timeout, OSError):
        pass
