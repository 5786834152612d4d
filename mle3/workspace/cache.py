"""Cache of parsed item files under ``.mle3/``, keyed by path, size and mtime.

Never stale: an entry is reused only when size and mtime (nanoseconds) are unchanged
*and* the file's mtime is older than the moment the cache was written minus a safety
margin ("racily clean" files, edited within the file system's timestamp granularity of
the cache write, are parsed again, as git does for its index). A cache written by another
mle3 or Python version, on another machine, edited, tracked by git, or unreadable is
ignored and rebuilt (:mod:`mle3.sealed`).

The file is JSON, one line per item file (``[path, size, mtime, duplicates, problem,
documents]``), read with one ``json.loads`` and rewritten by reusing the lines of files
that did not change. Values JSON cannot hold exactly (dates, binary, sets) take a second,
tagged section; a file whose documents still do not survive the round trip unchanged
(NaN, non-string keys) is simply parsed every time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Iterator

from filelock import Timeout

from .. import sealed
from .layout import DEFAULT, layout_at

#: the default place (the cache lies directly under ``Layout.state_dir``)
CACHE_DIR = DEFAULT.state_dir
CACHE_FILE = "parse-cache.json"
FORMAT = 4
RACY_MARGIN_NS = 2_000_000_000
KIND = "parse-cache"
_TAGGED = b"#tagged"
_TAG = "\x00mle3"


def code_signature() -> str:
    """Size and mtime of every module of mle3 itself: an edited (editable) install or an
    upgrade invalidates cached results even when the version number stays the same."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(package)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _signature() -> list:
    from .. import __version__

    return [FORMAT, __version__, list(sys.version_info[:2]), code_signature()]


# ---------------------------------------------------------------------- tagged values
def _tag(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {_TAG: ["datetime", value.isoformat()]}
    if isinstance(value, dt.date):
        return {_TAG: ["date", value.isoformat()]}
    if isinstance(value, (bytes, bytearray)):
        return {_TAG: ["bytes", base64.b64encode(value).decode()]}
    if isinstance(value, (set, frozenset)):
        return {_TAG: ["set", sorted(value, key=repr)]}
    raise TypeError(type(value).__name__)


def _untag(obj: dict) -> Any:
    tagged = obj.get(_TAG) if len(obj) == 1 else None
    if tagged is None:
        return obj
    kind, value = tagged
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "bytes":
        return base64.b64decode(value)
    if kind == "set":
        return set(value)
    raise ValueError(kind)


# ---------------------------------------------------------------------- entries
def _line(parsed: Any, size: int, mtime: int, *, tagged: bool) -> bytes:
    row = [
        parsed.path,
        size,
        mtime,
        int(parsed.has_duplicates),
        list(parsed.problem) if parsed.problem else None,
        parsed.docs,
    ]
    return json.dumps(row, separators=(",", ":"), default=_tag if tagged else None).encode()


def _decode(lines: list[bytes], hook: Callable | None) -> list[list]:
    if not lines:
        return []
    return json.loads(b"[" + b",".join(lines) + b"]", object_hook=hook)


#: path -> (size, mtime, ParsedFile or None (parse again), its line, line is tagged)
Entries = dict[str, tuple[int, int, Any, bytes | None, bool]]


def _read(path: Path, root: Path) -> tuple[int, Entries]:
    """(written_ns, entries) of an authenticated cache of this mle3; (0, {}) otherwise."""
    from .load import ParsedFile

    payload = sealed.read_bytes(path, KIND, root)
    if payload is None:
        return 0, {}
    try:
        head, _, body = payload.partition(b"\n")
        meta = json.loads(head)
        if not isinstance(meta, dict) or meta.get("signature") != _signature():
            return 0, {}
        lines = body.split(b"\n") if body else []
        cut = lines.index(_TAGGED) if _TAGGED in lines else len(lines)
        plain, tagged = lines[:cut], lines[cut + 1 :]
        entries: Entries = {}
        for rows, raw, is_tagged in ((_decode(plain, None), plain, False), (_decode(tagged, _untag), tagged, True)):
            for (p, size, mtime, dup, problem, docs), line in zip(rows, raw):
                entries[p] = (
                    size,
                    mtime,
                    ParsedFile(p, docs, bool(dup), tuple(problem) if problem else None),
                    line,
                    is_tagged,
                )
        for p, size, mtime in meta.get("reparse") or ():
            entries[p] = (size, mtime, None, None, False)
        return int(meta["written_ns"]), entries
    except Exception:  # a corrupt or foreign cache is simply rebuilt
        return 0, {}


def parse_with_cache(
    root: Path, listing: list[tuple[str, int, int]], parse: Callable[[list[str]], Iterable], *, enabled: bool = True
) -> Iterator:
    """Parsed files for ``listing``, parsing only what changed.

    Yields as results arrive (cached ones first, then in completion order), so the caller
    can validate while worker processes still parse; the cache is written at the end."""
    if not enabled:
        yield from parse([p for p, _, _ in listing])
        return
    started_ns = time.time_ns()
    cache_path = root / layout_at(root).state_file(CACHE_FILE)
    written_ns, entries = _read(cache_path, root)
    trusted_before = written_ns - RACY_MARGIN_NS
    fresh: dict[str, Any] = {}
    todo: list[str] = []
    stale = len(entries) != len(listing)
    for path, size, mtime in listing:
        hit = entries.get(path)
        if hit is not None and hit[0] == size and hit[1] == mtime and mtime < trusted_before:
            if hit[2] is not None:
                yield hit[2]
                continue
        else:
            stale = True
        todo.append(path)
    if todo:
        for parsed in parse(todo):
            fresh[parsed.path] = parsed
            yield parsed
    if stale:
        _write(root, cache_path, listing, entries, fresh, started_ns)


def _write(
    root: Path, cache_path: Path, listing: list[tuple[str, int, int]], entries: Entries, fresh: dict, started_ns: int
) -> None:
    """Write the cache if no other process is writing it; a cache is never required.
    Unchanged files keep their line; new ones are kept only if their line decodes to
    exactly the documents parsed (else they are listed to be parsed again)."""
    plain: list[bytes] = []
    tagged: list[bytes] = []
    reparse: list[list] = []
    candidates: list[tuple[Any, int, int]] = []
    for path, size, mtime in listing:
        parsed = fresh.get(path)
        if parsed is None:
            hit = entries.get(path)
            if hit is None:
                continue
            if hit[2] is None:
                reparse.append([path, size, mtime])
            elif hit[3] is not None:
                (tagged if hit[4] else plain).append(hit[3])
            continue
        candidates.append((parsed, size, mtime))
    lines: list[bytes] = []
    for parsed, size, mtime in candidates:
        try:
            lines.append(_line(parsed, size, mtime, tagged=False))
        except (TypeError, ValueError, RecursionError):
            lines.append(b"")
    decoded = _decode([ln for ln in lines if ln], None) if any(lines) else []
    rows = iter(decoded)
    for (parsed, size, mtime), line in zip(candidates, lines):
        if line and next(rows)[5] == parsed.docs:
            plain.append(line)
            continue
        try:
            line = _line(parsed, size, mtime, tagged=True)
            if _decode([line], _untag)[0][5] == parsed.docs:
                tagged.append(line)
                continue
        except (TypeError, ValueError, RecursionError):
            pass
        reparse.append([parsed.path, size, mtime])
    meta = json.dumps(
        {"signature": _signature(), "written_ns": started_ns, "reparse": reparse}, separators=(",", ":")
    ).encode()
    payload = b"\n".join([meta, *plain, *([_TAGGED, *tagged] if tagged else [])])
    try:
        cache_path.parent.mkdir(exist_ok=True)
        ignore = cache_path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        with layout_at(root).lock("parse-cache").acquire(timeout=0):
            sealed.write_bytes(cache_path, KIND, payload)
    except (Timeout, OSError):
        pass
