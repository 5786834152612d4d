"""The append-only, hash-chained audit log ``artifacts/audit.jsonl``.

Each line is a JSON object with ``seq``, ``time``, ``actor``, ``action``, ``item``,
``details``, ``prev`` (the previous entry's hash) and ``hash`` (sha256 of the entry's
canonical JSON without ``hash``). Editing, removing or reordering any entry breaks the
chain, which :func:`verify` reports. Appends hold a file lock, so concurrent mle3
processes never interleave or lose entries.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock

AUDIT_FILE = "artifacts/audit.jsonl"
GENESIS = "0" * 64


def audit_path(root: Path) -> Path:
    return root / AUDIT_FILE


def _lock(root: Path) -> FileLock:
    lock_dir = root / ".mle3"
    lock_dir.mkdir(exist_ok=True)
    return FileLock(str(lock_dir / "audit.lock"), timeout=60)


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def default_actor(root: Path | None = None) -> str:
    """The git user of the workspace (name <email>), else the login name."""
    try:
        import git

        reader = git.Repo(root, search_parent_directories=True).config_reader() if root else git.GitConfigParser()
        name = reader.get_value("user", "name", "")
        email = reader.get_value("user", "email", "")
        if name:
            return f"{name} <{email}>" if email else str(name)
    except Exception:
        pass
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _last_entry(path: Path) -> dict[str, Any] | None:
    """The last complete line of the log (reads backwards: appends stay O(1))."""
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        block = b""
        pos = end
        while pos > 0:
            step = min(4096, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step) + block
            lines = block.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or pos == 0:
                last = lines[-1]
                return json.loads(last) if last.strip() else None
    return None


def append(root: Path, action: str, item: str | None, details: dict[str, Any] | None = None, actor: str | None = None,
           finalize: "Callable[[dict[str, Any]], None] | None" = None) -> dict[str, Any]:
    """Append one entry under the lock; the line is written with a single write + fsync.
    ``finalize`` sees the entry (with ``time`` and ``prev`` set) before it is hashed, still
    under the lock: approvals sign it there, bound to their place in the chain."""
    path = audit_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(root):
        _repair_torn_tail(path)
        last = _last_entry(path)
        entry: dict[str, Any] = {
            "seq": (last["seq"] + 1) if last else 1,
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "actor": actor or default_actor(root),
            "host": socket.gethostname(),
            "action": action,
            "item": item,
            "details": details or {},
            "prev": last["hash"] if last else GENESIS,
        }
        if finalize is not None:
            finalize(entry)
        entry["hash"] = entry_hash(entry)
        line = (json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n").encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    return entry


def _repair_torn_tail(path: Path) -> None:
    """A crash mid-write can leave a last line without newline: it was never a complete
    entry (the writer fsyncs whole lines), so it is cut off before the next append."""
    if not path.exists():
        return
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)


def entries(root: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, entry or None if unparsable, raw line). A last line without newline
    is a crash during an append (never a complete entry) and is skipped."""
    path = audit_path(root)
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip() or not line.endswith("\n"):
                continue
            try:
                yield number, json.loads(line), line
            except json.JSONDecodeError:
                yield number, None, line


@dataclass
class AuditProblem:
    line: int
    message: str


def verify(root: Path) -> tuple[int, list[AuditProblem]]:
    """Check the chain: each entry's hash, its link to the previous one, and seq order."""
    problems: list[AuditProblem] = []
    prev, expected_seq, count = GENESIS, 1, 0
    for number, entry, _ in entries(root):
        count += 1
        if entry is None:
            problems.append(AuditProblem(number, "not a JSON entry"))
            continue
        if entry.get("hash") != entry_hash(entry):
            problems.append(AuditProblem(number, f"entry {entry.get('seq')} was edited (hash mismatch)"))
        if entry.get("prev") != prev:
            problems.append(AuditProblem(number, f"entry {entry.get('seq')} does not follow the previous entry (removed or reordered entries)"))
        if entry.get("seq") != expected_seq:
            problems.append(AuditProblem(number, f"sequence {entry.get('seq')} where {expected_seq} was expected"))
        prev = entry.get("hash", "")
        expected_seq = (entry.get("seq") or expected_seq) + 1
    return count, problems
