"""The append-only audit log ``artifacts/audit.jsonl``: a hash DAG that git merges.

Each line is one entry, a JSON object with ``time``, ``actor``, ``host``, ``action``,
``item``, ``details``, ``parents`` (the hashes of the heads its writer saw) and ``hash``
(sha256 of the entry's canonical JSON without ``hash``). Two people who append on two
branches fork the DAG; git's built-in ``union`` merge driver (``.gitattributes``, written
by ``mle3 init``) keeps both sides' lines, and the next entry names both heads, joining
the DAG again. Line order carries no meaning: entries are ordered by their place in the
DAG (generation, then time, then hash), the same in every clone.

:func:`verify` checks every entry's own hash and that every parent exists, so an edited
entry, or a removed entry that has a child, is found with its line number. Logs written
before the DAG (``seq`` and ``prev``) keep verifying: ``prev`` is their one parent. They
are migrated on the first append (or ``mle3 audit migrate``): the old chain is verified,
then an ``audit.migrate`` entry is recorded.

Appends hold a file lock and never re-read the whole log: the heads are kept in
``.mle3/audit-heads.json`` with the size and last line of the log they describe, and
only lines added since (a ``git pull``) are read; a log that changed otherwise (checkout,
rebase) is read once to rebuild them.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import heapq
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock

from ._atomic import atomic_write_text
from .errors import Mle3Error

AUDIT_FILE = "artifacts/audit.jsonl"
HEADS_CACHE = ".mle3/audit-heads.json"
GENESIS = "0" * 64
MIGRATE = "audit.migrate"
#: what ``.gitattributes`` must say for git to merge the log without conflicts
GITATTRIBUTES_LINE = f"/{AUDIT_FILE} merge=union"


def audit_path(root: Path) -> Path:
    return root / AUDIT_FILE


def _lock(root: Path) -> FileLock:
    lock_dir = root / ".mle3"
    lock_dir.mkdir(exist_ok=True)
    return FileLock(str(lock_dir / "audit.lock"), timeout=60)


def canonical_body(entry: dict[str, Any]) -> bytes:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_body(entry)).hexdigest()


def parents_of(entry: dict[str, Any]) -> tuple[str, ...]:
    """The entries this one follows: ``parents``, or a legacy entry's ``prev``."""
    if "parents" in entry:
        parents = entry.get("parents")
        return tuple(str(p) for p in parents) if isinstance(parents, list) else ()
    prev = entry.get("prev")
    return (str(prev),) if prev and prev != GENESIS else ()


def is_legacy(entry: dict[str, Any]) -> bool:
    return "parents" not in entry and "prev" in entry


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


# --------------------------------------------------------------------------- reading
def entries(root: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, entry or None if unparsable, raw line) in file order. A last line
    without newline is a crash during an append (never a complete entry) and is skipped."""
    path = audit_path(root)
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip() or not line.endswith("\n"):
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                yield number, None, line
                continue
            yield number, entry if isinstance(entry, dict) else None, line


@dataclass
class AuditProblem:
    line: int
    message: str


@dataclass
class Node:
    """One entry of the log with its place in the file and in the DAG."""

    line: int
    entry: dict[str, Any]
    hash: str
    parents: tuple[str, ...]
    generation: int = 0
    order: int = 0


def _fast_hash_ok(raw: str, stored: str) -> bool:
    """Entries written by mle3 are their canonical body followed by ``,"hash":"..."}``:
    hashing the raw bytes avoids re-serializing 100,000 entries."""
    suffix = f',"hash":"{stored}"}}\n'
    if not raw.endswith(suffix):
        return False
    return hashlib.sha256((raw[: -len(suffix)] + "}").encode()).hexdigest() == stored


@dataclass
class Log:
    """The whole log as a DAG: nodes in DAG order, heads, and what does not verify."""

    nodes: list[Node] = field(default_factory=list)
    by_hash: dict[str, Node] = field(default_factory=dict)
    heads: list[str] = field(default_factory=list)
    problems: list[AuditProblem] = field(default_factory=list)
    _ancestors: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def legacy_only(self) -> bool:
        return bool(self.nodes) and all(is_legacy(n.entry) for n in self.nodes)

    def ancestors(self, digest: str) -> frozenset[str]:
        """Every entry that ``digest`` follows, directly or not (memoised)."""
        known = self._ancestors.get(digest)
        if known is not None:
            return known
        seen: set[str] = set()
        stack = list(self.by_hash[digest].parents) if digest in self.by_hash else []
        while stack:
            h = stack.pop()
            if h in seen or h not in self.by_hash:
                continue
            seen.add(h)
            cached = self._ancestors.get(h)
            if cached is not None:
                seen |= cached
                continue
            stack.extend(self.by_hash[h].parents)
        result = frozenset(seen)
        self._ancestors[digest] = result
        return result

    def follows(self, later: str, earlier: str) -> bool:
        return earlier in self.ancestors(later)

    def concurrent(self, a: str, b: str) -> bool:
        return a != b and not self.follows(a, b) and not self.follows(b, a)


def read(root: Path) -> Log:
    """Read and check the whole log: hashes, parents, DAG order."""
    log = Log()
    pending: list[Node] = []
    for number, entry, raw in entries(root):
        if entry is None:
            log.problems.append(AuditProblem(number, "not a JSON entry"))
            continue
        stored = entry.get("hash")
        if not isinstance(stored, str) or not (_fast_hash_ok(raw, stored) or stored == entry_hash(entry)):
            what = entry.get("action") or "entry"
            log.problems.append(AuditProblem(number, f"{what} entry was edited (its content does not match its hash)"))
            stored = entry_hash(entry) if not isinstance(stored, str) else stored
        if stored in log.by_hash:
            continue  # the same entry twice (both sides of a merge kept it): one entry
        node = Node(number, entry, stored, parents_of(entry))
        log.by_hash[stored] = node
        pending.append(node)
    for node in pending:
        for parent in node.parents:
            if parent not in log.by_hash:
                log.problems.append(AuditProblem(
                    node.line, f"{node.entry.get('action') or 'entry'} entry names parent {parent[:12]}..., which is not in the log (a removed entry)"))
    _order(log, pending)
    return log


def _order(log: Log, nodes: list[Node]) -> None:
    """Kahn's algorithm: parents first; among entries ready together, by (time, hash).
    The generation (1 + the deepest parent) is kept for display and tie-breaking."""
    children: dict[str, list[Node]] = {}
    waiting: dict[str, int] = {}
    ready: list[tuple[str, str]] = []
    for node in nodes:
        present = [p for p in node.parents if p in log.by_hash]
        waiting[node.hash] = len(present)
        for parent in present:
            children.setdefault(parent, []).append(node)
        if not present:
            ready.append((str(node.entry.get("time", "")), node.hash))
    heapq.heapify(ready)
    order = 0
    while ready:
        _, digest = heapq.heappop(ready)
        node = log.by_hash[digest]
        node.order = order
        order += 1
        log.nodes.append(node)
        for child in children.get(digest, ()):
            child.generation = max(child.generation, node.generation + 1)
            waiting[child.hash] -= 1
            if waiting[child.hash] == 0:
                heapq.heappush(ready, (str(child.entry.get("time", "")), child.hash))
    for node in nodes:  # a cycle can only come from forged hashes: keep the entries visible
        if waiting[node.hash] > 0:
            log.problems.append(AuditProblem(node.line, "entry is part of a parent cycle (forged hashes)"))
            node.order = order
            order += 1
            log.nodes.append(node)
    referenced = {p for n in nodes for p in n.parents}
    log.heads = sorted(n.hash for n in nodes if n.hash not in referenced)


def verify(root: Path) -> tuple[int, list[AuditProblem]]:
    """(number of entries, problems): edited entries, removed entries that have children."""
    log = read(root)
    return len(log), sorted(log.problems, key=lambda p: p.line)


def legacy_chain_problems(log: Log) -> list[AuditProblem]:
    """The checks of the linear format: each legacy entry follows the one before it in
    ``seq`` order. Run before a migration so a broken old chain is never built upon."""
    problems = list(log.problems)
    legacy = sorted((n for n in log.nodes if is_legacy(n.entry)), key=lambda n: n.line)
    prev, expected = GENESIS, 1
    for node in legacy:
        if node.entry.get("prev") != prev:
            problems.append(AuditProblem(node.line, f"entry {node.entry.get('seq')} does not follow the previous entry (removed or reordered entries)"))
        if node.entry.get("seq") != expected:
            problems.append(AuditProblem(node.line, f"sequence {node.entry.get('seq')} where {expected} was expected"))
        prev, expected = node.hash, (node.entry.get("seq") or expected) + 1
    return problems


# --------------------------------------------------------------------------- heads cache
@dataclass
class _Heads:
    size: int
    tail: str  # sha256 of the last line (with its newline)
    tail_len: int
    heads: list[str]
    entries: int
    legacy_only: bool


def _last_line(path: Path, size: int) -> bytes:
    """The last complete line of the first ``size`` bytes of ``path`` (reads backwards)."""
    with open(path, "rb") as fh:
        pos, block = size, b""
        while pos > 0:
            step = min(4096, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step) + block
            cut = block.rfind(b"\n", 0, len(block) - 1)
            if cut >= 0:
                return block[cut + 1:]
        return block


def _load_heads(root: Path, path: Path) -> _Heads | None:
    """The cached heads if they still describe the log, updated with lines appended since."""
    try:
        cached = _Heads(**json.loads((root / HEADS_CACHE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    size = path.stat().st_size if path.exists() else 0
    if size < cached.size:
        return None
    if cached.size:
        with open(path, "rb") as fh:
            fh.seek(cached.size - cached.tail_len)
            if hashlib.sha256(fh.read(cached.tail_len)).hexdigest() != cached.tail:
                return None
    if size == cached.size:
        return cached
    with open(path, "rb") as fh:
        fh.seek(cached.size)
        added = fh.read(size - cached.size)
    heads = set(cached.heads)
    new, referenced = set(), set()
    count, legacy_only = cached.entries, cached.legacy_only
    for raw in added.split(b"\n"):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
            continue
        count += 1
        legacy_only = legacy_only and is_legacy(entry)
        new.add(entry["hash"])
        referenced.update(parents_of(entry))
    last = _last_line(path, size)
    return _Heads(size, hashlib.sha256(last).hexdigest(), len(last), sorted((heads | new) - referenced), count, legacy_only)


def _save_heads(root: Path, state: _Heads) -> None:
    atomic_write_text(root / HEADS_CACHE, json.dumps(state.__dict__))


def _heads_from(log: Log, path: Path) -> _Heads:
    size = path.stat().st_size if path.exists() else 0
    last = _last_line(path, size) if size else b""
    return _Heads(size, hashlib.sha256(last).hexdigest(), len(last), list(log.heads), len(log), log.legacy_only)


# --------------------------------------------------------------------------- writing
def append(root: Path, action: str, item: str | None, details: dict[str, Any] | None = None, actor: str | None = None,
           finalize: "Callable[[dict[str, Any]], None] | None" = None) -> dict[str, Any]:
    """Append one entry under the lock, naming every current head as a parent; the line is
    written with a single write + fsync. ``finalize`` sees the entry (with ``time`` and
    ``parents`` set) before it is hashed, still under the lock: approvals sign it there,
    bound to their place in the DAG."""
    path = audit_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(root):
        _repair_torn_tail(path)
        state = _load_heads(root, path)
        if state is None:
            state = _heads_from(read(root), path)
        if state.legacy_only:
            state = _migrate_locked(root, path)
        entry = _write_entry(root, path, state, action, item, details or {}, actor, finalize)
    return entry


def _write_entry(root: Path, path: Path, state: _Heads, action: str, item: str | None, details: dict[str, Any], actor: str | None,
                 finalize: "Callable[[dict[str, Any]], None] | None" = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "actor": actor or default_actor(root),
        "host": socket.gethostname(),
        "action": action,
        "item": item,
        "details": details,
        "parents": sorted(state.heads),
    }
    if finalize is not None:
        finalize(entry)
    body = canonical_body(entry)
    digest = hashlib.sha256(body).hexdigest()
    entry["hash"] = digest
    line = body[:-1] + f',"hash":"{digest}"}}\n'.encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    _save_heads(root, _Heads(state.size + len(line), hashlib.sha256(line).hexdigest(), len(line), [digest], state.entries + 1, False))
    return entry


def _migrate_locked(root: Path, path: Path) -> _Heads:
    log = read(root)
    problems = legacy_chain_problems(log)
    if problems:
        first = problems[0]
        raise Mle3Error(f"the audit log in the linear format does not verify ({len(problems)} problem(s)), so it is not migrated: {first.message}",
                        file=AUDIT_FILE, line=first.line)
    state = _heads_from(log, path)
    heads = list(log.heads)
    details = {"from_format": "linear (seq, prev)", "to_format": "dag (parents)", "entries": len(log), "heads": heads}
    entry = _write_entry(root, path, state, MIGRATE, None, details, None)
    return _load_heads(root, path) or _Heads(path.stat().st_size, "", 0, [entry["hash"]], len(log) + 1, False)


def migrate(root: Path) -> dict[str, Any] | None:
    """Migrate a log in the linear format (verified first); None when there is nothing to do."""
    path = audit_path(root)
    with _lock(root):
        _repair_torn_tail(path)
        log = read(root)
        if not log.legacy_only:
            return None
        _migrate_locked(root, path)
    return {"entries": len(log), "heads": log.heads}


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
        pos = size
        while pos > 0:  # find the last newline, reading backwards
            step = min(4096, pos)
            pos -= step
            fh.seek(pos)
            cut = fh.read(step).rfind(b"\n")
            if cut >= 0:
                fh.truncate(pos + cut + 1)
                return
        fh.truncate(0)


# --------------------------------------------------------------------------- git setup
def in_git_repository(root: Path) -> bool:
    return any((folder / ".git").exists() for folder in [root, *root.parents])


def gitattributes_ok(root: Path) -> bool:
    """Whether git merges the log with the union driver (``.gitattributes`` of the workspace
    or of the repository above it)."""
    for folder in [root, *root.parents]:
        attributes = folder / ".gitattributes"
        if attributes.is_file():
            rel = (root / AUDIT_FILE).relative_to(folder).as_posix()
            for line in attributes.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0].lstrip("/") in (rel, f"**/{AUDIT_FILE}", "audit.jsonl", "*.jsonl") and "merge=union" in parts[1:]:
                    return True
        if (folder / ".git").exists():
            break
    return False


def ensure_gitattributes(root: Path, extra: list[str] | None = None) -> list[str]:
    """Add the union merge line for the log (and ``extra`` lines) to the workspace's
    ``.gitattributes``; returns the lines added."""
    path = root / ".gitattributes"
    existing = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    wanted = ([] if gitattributes_ok(root) else [GITATTRIBUTES_LINE]) + [line for line in (extra or []) if line not in existing]
    if wanted:
        header = [] if existing else ["# Written by mle3: the audit log is append-only, so git keeps both sides' lines on a merge."]
        atomic_write_text(path, "\n".join(existing + header + wanted) + "\n")
    return wanted
