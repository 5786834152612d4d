"""The append-only audit log under ``artifacts/audit/``: a hash DAG that git merges.

Each entry is one small file, ``artifacts/audit/<h[:2]>/<h>.json``, named by its hash
``h`` (sha256 of the entry's canonical JSON without ``hash``). An entry has ``time``,
``actor``, ``host``, ``action``, ``item``, ``details`` and ``parents``: the hashes of the
heads its writer saw. Two people who record on two branches fork the DAG; git merges new
files without conflicts in every kind of merge (two-way, octopus, rebase, cherry-pick,
a forge's merge button) and needs no configuration; the next entry names every head,
joining the DAG again. (A single file with git's ``union`` merge driver was tried first:
octopus merges and ``git merge-file`` ignore merge drivers and conflict.) Entries are
ordered by their place in the DAG (parents first, then time, then hash), the same in
every clone.

:func:`verify` checks that each entry's content matches its hash and its file name, and
that every parent exists, so an edited entry, or a removed entry that others follow, is
found with its file. Logs written before the DAG (``artifacts/audit.jsonl``, with ``seq``
and ``prev``) keep verifying: ``prev`` is their one parent, and the file stays as it is.
They are migrated on the first append (or ``mle3 audit migrate``): the old chain is
verified, then an ``audit.migrate`` entry that follows its last entry is recorded.

Appends hold a file lock and never re-read the whole log: the heads are kept in
``.mle3/audit-index/`` with each shard folder's listing and mtime, so only shards that
changed (a ``git pull``) are listed again and only new entries read; a removed entry
(checkout, rebase) rebuilds the index from the whole log once.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import heapq
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock

from ._atomic import atomic_write_text, temporary_beside
from .errors import Mle3Error

AUDIT_DIR = "artifacts/audit"
LEGACY_FILE = "artifacts/audit.jsonl"
INDEX_DIR = ".mle3/audit-index"
GENESIS = "0" * 64
MIGRATE = "audit.migrate"
_ENTRY_NAME = re.compile(r"^([0-9a-f]{64})\.json$")
_SHARD_NAME = re.compile(r"^[0-9a-f]{2}$")
#: a shard folder changed less than this before the index was written may change again
#: within the same mtime tick: it is listed again on the next append
_RACY_NS = 2_000_000_000


def audit_dir(root: Path) -> Path:
    return root / AUDIT_DIR


def entry_file(digest: str) -> str:
    """Workspace-relative file of the entry with hash ``digest``."""
    return f"{AUDIT_DIR}/{digest[:2]}/{digest}.json"


def exists(root: Path) -> bool:
    return audit_dir(root).is_dir() or (root / LEGACY_FILE).is_file()


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
def _shards(root: Path) -> list[os.DirEntry]:
    try:
        return [d for d in os.scandir(audit_dir(root)) if _SHARD_NAME.match(d.name) and d.is_dir()]
    except FileNotFoundError:
        return []


def _entry_names(shard: str | os.PathLike) -> list[str]:
    try:
        return [e.name for e in os.scandir(shard) if _ENTRY_NAME.match(e.name)]
    except FileNotFoundError:
        return []


def _read_bytes(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            block = os.read(fd, 1 << 16)
            if not block:
                return b"".join(chunks)
            chunks.append(block)
    finally:
        os.close(fd)


def entries(root: Path) -> Iterator[tuple[str, int, dict[str, Any] | None, bytes]]:
    """(file, line, entry or None if unparsable, raw bytes): the legacy file's lines, then
    every entry file (in no meaningful order). A legacy last line without newline is a
    crash during an append (never a complete entry) and is skipped; temporary files of an
    interrupted append are not entries."""
    legacy = root / LEGACY_FILE
    if legacy.is_file():
        with open(legacy, "rb") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip() or not line.endswith(b"\n"):
                    continue
                yield LEGACY_FILE, number, _parse(line), line
    for shard in _shards(root):
        for name in _entry_names(shard.path):
            raw = _read_bytes(os.path.join(shard.path, name))
            yield f"{AUDIT_DIR}/{shard.name}/{name}", 1, _parse(raw), raw


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


@dataclass
class AuditProblem:
    file: str
    line: int
    message: str

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Node:
    """One entry of the log with its file and its place in the DAG."""

    file: str
    line: int
    entry: dict[str, Any]
    hash: str
    parents: tuple[str, ...]
    generation: int = 0
    order: int = 0


def _hash_ok(raw: bytes, stored: str, entry: dict[str, Any]) -> bool:
    """Entries written by mle3 are their canonical body followed by ``,"hash":"..."}``:
    hashing the raw bytes avoids re-serializing 100,000 entries; anything else (legacy
    lines, reformatted files) is checked by its canonical form."""
    suffix = f',"hash":"{stored}"}}\n'.encode()
    if raw.endswith(suffix) and hashlib.sha256(raw[: -len(suffix)] + b"}").hexdigest() == stored:
        return True
    return entry_hash(entry) == stored


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
    """Read and check the whole log: hashes, file names, parents, DAG order."""
    log = Log()
    pending: list[Node] = []
    for file, line, entry, raw in entries(root):
        if entry is None:
            log.problems.append(AuditProblem(file, line, "not a JSON entry"))
            continue
        stored = entry.get("hash")
        what = entry.get("action") or "entry"
        if not isinstance(stored, str) or not _hash_ok(raw, stored, entry):
            log.problems.append(AuditProblem(file, line, f"{what} entry was edited (its content does not match its hash)"))
            stored = stored if isinstance(stored, str) else entry_hash(entry)
        if file != LEGACY_FILE and not file.endswith(f"/{stored[:2]}/{stored}.json"):
            log.problems.append(AuditProblem(file, line, f"{what} entry is stored under another entry's name (its hash is {stored[:12]}...)"))
        if stored in log.by_hash:
            continue  # the same entry twice: one entry
        node = Node(file, line, entry, stored, parents_of(entry))
        log.by_hash[stored] = node
        pending.append(node)
    for node in pending:
        for parent in node.parents:
            if parent not in log.by_hash:
                log.problems.append(AuditProblem(
                    node.file, node.line, f"{node.entry.get('action') or 'entry'} entry names parent {parent[:12]}..., which is not in the log (a removed entry)"))
    _order(log, pending)
    log.problems.sort(key=lambda p: (p.file, p.line))
    return log


def _order(log: Log, nodes: list[Node]) -> None:
    """Kahn's algorithm: parents first; among entries ready together, by (time, hash)."""
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
            log.problems.append(AuditProblem(node.file, node.line, "entry is part of a parent cycle (forged hashes)"))
            node.order = order
            order += 1
            log.nodes.append(node)
    referenced = {p for n in nodes for p in n.parents}
    log.heads = sorted(n.hash for n in nodes if n.hash not in referenced)


def verify(root: Path) -> tuple[int, list[AuditProblem]]:
    """(number of entries, problems): edited entries, removed entries that others follow."""
    log = read(root)
    return len(log), log.problems


def history(root: Path) -> list[dict[str, Any]]:
    """Every entry, oldest first (DAG order)."""
    return [n.entry for n in read(root).nodes]


def legacy_chain_problems(log: Log) -> list[AuditProblem]:
    """The checks of the linear format: each legacy entry follows the one before it in
    ``seq`` order. Run before a migration so a broken old chain is never built upon."""
    problems = list(log.problems)
    legacy = sorted((n for n in log.nodes if is_legacy(n.entry)), key=lambda n: n.line)
    prev, expected = GENESIS, 1
    for node in legacy:
        if node.entry.get("prev") != prev:
            problems.append(AuditProblem(node.file, node.line, f"entry {node.entry.get('seq')} does not follow the previous entry (removed or reordered entries)"))
        if node.entry.get("seq") != expected:
            problems.append(AuditProblem(node.file, node.line, f"sequence {node.entry.get('seq')} where {expected} was expected"))
        prev, expected = node.hash, (node.entry.get("seq") or expected) + 1
    return problems


# --------------------------------------------------------------------------- heads index
@dataclass
class _Index:
    """What the last append knew: heads, shard mtimes, the legacy file's state."""

    heads: list[str]
    shards: dict[str, int]
    legacy: list[int]
    written: int
    entries: int
    legacy_only: bool


def _index_file(root: Path) -> Path:
    return root / INDEX_DIR / "heads.json"


def _shard_index(root: Path, shard: str) -> Path:
    return root / INDEX_DIR / f"{shard}.txt"


def _legacy_state(root: Path) -> list[int]:
    try:
        st = (root / LEGACY_FILE).stat()
        return [st.st_size, st.st_mtime_ns]
    except FileNotFoundError:
        return []


def _save_index(root: Path, index: _Index) -> None:
    index.written = time.time_ns()
    atomic_write_text(_index_file(root), json.dumps(index.__dict__))


def _rebuild_index(root: Path) -> _Index:
    """Read the whole log once and write the index from it."""
    log = read(root)
    shards: dict[str, int] = {}
    for shard in _shards(root):
        shards[shard.name] = shard.stat().st_mtime_ns
        atomic_write_text(_shard_index(root, shard.name), "".join(n + "\n" for n in sorted(_entry_names(shard.path))))
    index = _Index(list(log.heads), shards, _legacy_state(root), 0, len(log), log.legacy_only)
    _save_index(root, index)
    return index


def _current_index(root: Path) -> _Index:
    """The heads now: the saved index, brought up to date by listing only shards whose
    mtime changed (or may have) and reading only entries it did not know."""
    try:
        index = _Index(**json.loads(_index_file(root).read_text()))
    except (OSError, ValueError, TypeError):
        return _rebuild_index(root)
    if index.legacy != _legacy_state(root):
        return _rebuild_index(root)
    on_disk = {shard.name: shard for shard in _shards(root)}
    if set(index.shards) - set(on_disk):
        return _rebuild_index(root)
    new: list[str] = []
    changed: dict[str, tuple[int, list[str]]] = {}
    for name, shard in on_disk.items():
        mtime = shard.stat().st_mtime_ns
        if index.shards.get(name) == mtime and mtime < index.written - _RACY_NS:
            continue
        now = set(_entry_names(shard.path))
        try:
            before = set(_shard_index(root, name).read_text().split())
        except FileNotFoundError:
            before = set() if name not in index.shards else None  # type: ignore[assignment]
        if before is None or before - now:
            return _rebuild_index(root)  # entries vanished (checkout, rebase): start over
        new.extend(f"{name}/{n}" for n in now - before)
        changed[name] = (mtime, sorted(now))
    if not changed:
        return index
    heads = set(index.heads)
    referenced: set[str] = set()
    for rel in new:
        entry = _parse(_read_bytes(str(audit_dir(root) / rel))) or {}
        digest = rel.split("/")[1][:-5]
        heads.add(digest)
        referenced.update(parents_of(entry))
        index.legacy_only = index.legacy_only and is_legacy(entry)
    index.heads = sorted(heads - referenced)
    index.entries += len(new)
    for name, (mtime, names) in changed.items():
        index.shards[name] = mtime
        atomic_write_text(_shard_index(root, name), "".join(n + "\n" for n in names))
    _save_index(root, index)
    return index


# --------------------------------------------------------------------------- writing
def append(root: Path, action: str, item: str | None, details: dict[str, Any] | None = None, actor: str | None = None,
           finalize: "Callable[[dict[str, Any]], None] | None" = None) -> dict[str, Any]:
    """Record one entry under the lock, naming every current head as a parent. The entry
    file appears complete (written, fsynced, renamed) or not at all. ``finalize`` sees the
    entry (with ``time`` and ``parents`` set) before it is hashed, still under the lock:
    approvals sign it there, bound to their place in the DAG."""
    with _lock(root):
        index = _current_index(root)
        if index.legacy_only:
            index = _migrate_locked(root)
        return _write_entry(root, index, action, item, details or {}, actor, finalize)


def _write_entry(root: Path, index: _Index, action: str, item: str | None, details: dict[str, Any], actor: str | None,
                 finalize: "Callable[[dict[str, Any]], None] | None" = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "actor": actor or default_actor(root),
        "host": socket.gethostname(),
        "action": action,
        "item": item,
        "details": details,
        "parents": sorted(index.heads),
    }
    if finalize is not None:
        finalize(entry)
    body = canonical_body(entry)
    digest = hashlib.sha256(body).hexdigest()
    entry["hash"] = digest
    target = root / entry_file(digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(target)
    try:
        os.write(fd, body[:-1] + f',"hash":"{digest}"}}\n'.encode())
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    shard = digest[:2]
    listing = _shard_index(root, shard)
    known = listing.read_text() if listing.exists() else ""
    atomic_write_text(listing, known + f"{digest}.json\n")
    index.shards[shard] = target.parent.stat().st_mtime_ns
    index.heads, index.entries, index.legacy_only = [digest], index.entries + 1, False
    _save_index(root, index)
    return entry


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _migrate_locked(root: Path) -> _Index:
    log = read(root)
    problems = legacy_chain_problems(log)
    if problems:
        first = problems[0]
        raise Mle3Error(f"the audit log in the linear format does not verify ({len(problems)} problem(s)), so it is not migrated: {first.message}",
                        file=first.file, line=first.line)
    index = _Index(list(log.heads), {}, _legacy_state(root), 0, len(log), True)
    details = {"from": f"{LEGACY_FILE} (linear: seq, prev)", "to": f"{AUDIT_DIR}/ (DAG: parents)", "entries": len(log), "heads": list(log.heads)}
    _write_entry(root, index, MIGRATE, None, details, None)
    return _current_index(root)


def migrate(root: Path) -> dict[str, Any] | None:
    """Migrate a log in the linear format (verified first); None when there is nothing to do."""
    with _lock(root):
        log = read(root)
        if not log.legacy_only:
            return None
        _migrate_locked(root)
    return {"entries": len(log), "heads": log.heads}
