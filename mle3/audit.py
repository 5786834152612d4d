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
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

from filelock import FileLock

from .workspace.layout import DEFAULT, layout_at
from ._atomic import atomic_write_text, temporary_beside
from ._gc import paused_gc
from .errors import Mle3Error
from .formats import canonical_json

#: the default places (``Layout.audit_dir``, ``audit_legacy``, ``audit_index_dir`` and
#: ``tmp_dir`` are the workspace's own: they follow ``artifacts_dir`` in mle3.yaml)
AUDIT_DIR = DEFAULT.audit_dir
LEGACY_FILE = DEFAULT.audit_legacy
INDEX_DIR = DEFAULT.audit_index_dir
GENESIS = "0" * 64
MIGRATE = "audit.migrate"
_ENTRY_NAME = re.compile(r"^([0-9a-f]{64})\.json$")
_SHARD_NAME = re.compile(r"^[0-9a-f]{2}$")
#: a shard folder changed less than this before the index was written may change again
#: within the same mtime tick: it is listed again on the next append
_RACY_NS = 2_000_000_000
_READ = 1 << 14  # entries are < 2 KiB; a buffer over the mmap threshold (128 KiB) would cost page faults on every read
_DECODE = json.JSONDecoder().decode
#: an entry is a few hundred bytes nested four levels deep; anything far larger or deeper
#: is refused before parsing (a file of 100,000 ``{`` would exhaust the parser's stack)
MAX_ENTRY_BYTES = 1 << 20
MAX_DEPTH = 64
#: a child entry may carry a time up to this much before its parent's (clocks of two
#: machines that exchange entries through git differ a little); more is an audit error
CLOCK_SKEW_S = 300
#: temporary files of appends live here (ignored by git), not beside the entries
TMP_DIR = DEFAULT.tmp_dir
_TMP_PREFIX = "audit-"
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def audit_dir(root: Path) -> Path:
    return root / layout_at(root).audit_dir


def entry_file(digest: str, root: Path | None = None) -> str:
    """Workspace-relative file of the entry with hash ``digest`` (in the workspace at
    ``root``; in the default layout without it)."""
    folder = layout_at(root).audit_dir if root is not None else AUDIT_DIR
    return f"{folder}/{digest[:2]}/{digest}.json"


def exists(root: Path) -> bool:
    return audit_dir(root).is_dir() or (root / layout_at(root).audit_legacy).is_file()


def _lock(root: Path) -> FileLock:
    return layout_at(root).lock("audit", timeout=60)


def canonical_body(entry: dict[str, Any]) -> bytes:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return canonical_json(body)


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
        return [d for d in os.scandir(audit_dir(root)) if _SHARD_NAME.match(d.name) and d.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _entry_names(shard: str | os.PathLike[str]) -> list[str]:
    try:
        return [e.name for e in os.scandir(shard) if _ENTRY_NAME.match(e.name) and not e.is_symlink()]
    except FileNotFoundError:
        return []


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _read_bytes(path: str, limit: int = MAX_ENTRY_BYTES) -> bytes:
    """One file's bytes with as few system calls as possible (entries are small); never
    through a symbolic link, and at most ``limit + 1`` bytes (a longer file is refused)."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    try:
        data = os.read(fd, _READ)
        if len(data) < _READ:
            return data
        chunks, size = [data], len(data)
        while size <= limit and (block := os.read(fd, min(_READ, limit + 1 - size))):
            chunks.append(block)
            size += len(block)
        return b"".join(chunks)
    finally:
        os.close(fd)


def shape_problem(raw: bytes) -> str | None:
    """Why ``raw`` is refused before parsing: too large, or nested too deeply; None when fine.
    Counting brackets first keeps the usual entry at two ``bytes.count`` calls."""
    if len(raw) > MAX_ENTRY_BYTES:
        return f"entry is larger than {MAX_ENTRY_BYTES} bytes (refused unread)"
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return None
    depth = 0
    for token in _TOKENS.finditer(raw):
        t = token.group()
        if t in (b"{", b"["):
            depth += 1
            if depth > MAX_DEPTH:
                return f"entry is nested more than {MAX_DEPTH} levels deep (refused unparsed)"
        elif t in (b"}", b"]"):
            depth -= 1
    return None


_LINK = "is a symbolic link: entries are read only from regular files in the workspace (refused)"


def _raw_entries(root: Path) -> Iterator[tuple[str, int, bytes | None, str | None]]:
    """(file, line, raw bytes, problem): the legacy file's lines, then every entry file (in
    no meaningful order). A legacy last line without newline is a crash during an append
    (never a complete entry) and is skipped; temporary files of an interrupted append are
    not entries. Symbolic links (the log's folder, a shard, an entry, the legacy file) are
    never followed: each is a problem, so nothing outside the workspace is read as an entry."""
    layout = layout_at(root)
    legacy_rel, audit_rel = layout.audit_legacy, layout.audit_dir
    legacy = root / legacy_rel
    if legacy.is_symlink():
        yield legacy_rel, 1, None, f"{legacy_rel} {_LINK}"
    elif legacy.is_file():
        with open(legacy, "rb") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip() and line.endswith(b"\n"):
                    yield legacy_rel, number, line, None
    if audit_dir(root).is_symlink():
        yield audit_rel, 1, None, f"{audit_rel} {_LINK}"
        return
    try:
        shards = [d for d in os.scandir(audit_dir(root)) if _SHARD_NAME.match(d.name)]
    except (FileNotFoundError, NotADirectoryError):
        return
    for shard in shards:
        rel = f"{audit_rel}/{shard.name}/"
        if shard.is_symlink():
            yield rel[:-1], 1, None, f"shard folder {_LINK}"
            continue
        if not shard.is_dir():
            continue
        folder = shard.path + os.sep
        for entry in os.scandir(shard.path):
            name = entry.name
            if not _ENTRY_NAME.match(name):
                continue
            if entry.is_symlink():
                yield rel + name, 1, None, f"entry file {_LINK}"
                continue
            try:
                yield rel + name, 1, _read_bytes(folder + name), None
            except OSError as exc:
                yield rel + name, 1, None, f"entry file cannot be read ({exc.strerror or exc})"


def _parse(raw: bytes) -> dict[str, Any] | None:
    """The entry as a dict, or None: not UTF-8, not JSON, not an object, too large or too
    deep (checked before the parser sees it)."""
    if shape_problem(raw) is not None:
        return None
    try:
        entry = _DECODE(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError
        return None
    return entry if isinstance(entry, dict) else None


@dataclass
class AuditProblem:
    file: str
    line: int
    message: str

    def where(self) -> str:
        return f"{self.file}:{self.line}"


class Node:
    """One entry of the log with its file and its place in the DAG. The JSON is parsed on
    first use of :attr:`entry`: verifying 100,000 entries needs only their hashes, actions,
    times and parents, which mle3's canonical form gives without parsing."""

    __slots__ = ("file", "line", "hash", "parents", "action", "time", "generation", "order", "_raw", "_entry")

    def __init__(
        self,
        file: str,
        line: int,
        digest: str,
        parents: tuple[str, ...],
        action: str,
        time: str,
        raw: bytes = b"",
        entry: dict[str, Any] | None = None,
    ) -> None:
        self.file, self.line, self.hash, self.parents = file, line, digest, parents
        self.action, self.time = action, time
        self.generation = self.order = 0
        self._raw, self._entry = raw, entry

    @property
    def entry(self) -> dict[str, Any]:
        if self._entry is None:
            self._entry = _parse(self._raw) or {}
            self._raw = b""
        return self._entry


_HASH_SUFFIX = len(',"hash":"') + 64 + len('"}\n')


def _canonical_node(file: str, raw: bytes) -> Node | None:
    """A node read straight from an entry file in mle3's canonical form (sorted keys,
    ``parents`` and ``time`` last, then ``hash``) whose bytes match its hash; None for
    anything else, which is then parsed and checked the slow way."""
    end = len(raw) - _HASH_SUFFIX
    if (
        end < 2
        or raw[end : end + 9] != b',"hash":"'
        or not raw.startswith(b'{"action":"')
        or raw[end - 1 : end] != b'"'
    ):
        return None
    digest = raw[end + 9 : end + 73].decode("ascii", "replace")
    if hashlib.sha256(raw[:end] + b"}").hexdigest() != digest:
        return None
    at_time = raw.rfind(b',"time":"', 0, end)
    at_parents = raw.rfind(b',"parents":[', 0, at_time)
    if at_time < 0 or at_parents < 0 or raw[at_time - 1 : at_time] != b"]" or b'"' in raw[at_time + 9 : end - 1]:
        return None
    inner = raw[at_parents + 12 : at_time - 1]
    parents = tuple(p.strip(b'"').decode("ascii", "replace") for p in inner.split(b",")) if inner else ()
    action_end = raw.index(b'"', 11)
    return Node(
        file,
        1,
        digest,
        parents,
        raw[11:action_end].decode("utf-8", "replace"),
        raw[at_time + 9 : end - 1].decode("ascii", "replace"),
        raw=raw,
    )


@dataclass
class Log:
    """The whole log as a DAG: nodes in DAG order, heads, and what does not verify."""

    nodes: list[Node] = field(default_factory=list)
    by_hash: dict[str, Node] = field(default_factory=dict)
    heads: list[str] = field(default_factory=list)
    problems: list[AuditProblem] = field(default_factory=list)
    #: the workspace-relative legacy file (its lines are nodes of the linear format)
    legacy_file: str = LEGACY_FILE
    _ancestors: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def legacy_only(self) -> bool:
        return bool(self.nodes) and all(n.file == self.legacy_file for n in self.nodes)

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


def read(root: Path, *, boundary: frozenset[str] = frozenset()) -> Log:
    """Read and check the whole log: hashes, file names, parents, DAG order. ``boundary``
    names parents known to lie outside this copy of the log (a release bundle carries the
    sub-DAG of its model's trace): those are not removed entries."""
    with paused_gc():  # 100,000 small dicts: the cycle collector would only slow this down
        return _read(root, boundary)


def _read(root: Path, boundary: frozenset[str] = frozenset()) -> Log:
    log = Log(legacy_file=layout_at(root).audit_legacy)
    pending: list[Node] = []
    for file, line, raw, problem in _raw_entries(root):
        if raw is not None and problem is None:
            problem = shape_problem(raw)
        if problem is not None or raw is None:
            log.problems.append(AuditProblem(file, line, problem or "entry cannot be read"))
            continue
        node = _canonical_node(file, raw) if file != log.legacy_file else None
        if node is None:
            node = _checked_node(log, file, line, raw)
            if node is None:
                continue
        elif not file.endswith(f"/{node.hash[:2]}/{node.hash}.json"):
            log.problems.append(
                AuditProblem(
                    file,
                    line,
                    f"{node.action or 'entry'} entry is stored under another entry's name (its hash is "
                    f"{node.hash[:12]}...)",
                )
            )
        if node.hash in log.by_hash:
            continue  # the same entry twice: one entry
        log.by_hash[node.hash] = node
        pending.append(node)
    for node in pending:
        for parent in node.parents:
            known = log.by_hash.get(parent)
            if known is None and parent in boundary:
                continue
            if known is None:
                log.problems.append(
                    AuditProblem(
                        node.file,
                        node.line,
                        f"{node.action or 'entry'} entry names parent {parent[:12]}..., which is not in the log (a "
                        "removed entry)",
                    )
                )
            elif _earlier(node.time, known.time):
                log.problems.append(
                    AuditProblem(
                        node.file,
                        node.line,
                        f"{node.action or 'entry'} entry is dated {node.time}, before its parent {parent[:12]}... "
                        f"({known.time}): "
                        "an entry is written after the entries it follows (back-dated?)",
                    )
                )
    _order(log, pending)
    log.problems.sort(key=lambda p: (p.file, p.line))
    return log


def _earlier(child: str, parent: str) -> bool:
    """Whether ``child`` is more than :data:`CLOCK_SKEW_S` before ``parent`` (ISO 8601
    times; an unreadable time is not compared here). mle3's own UTC times compare as text."""
    if len(child) == len(parent) and child.endswith("+00:00") and parent.endswith("+00:00") and child >= parent:
        return False
    try:
        a, b = dt.datetime.fromisoformat(child), dt.datetime.fromisoformat(parent)
        if (a.tzinfo is None) != (b.tzinfo is None):
            a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
        return (b - a).total_seconds() > CLOCK_SKEW_S
    except (TypeError, ValueError, OverflowError):
        return False


def _checked_node(log: Log, file: str, line: int, raw: bytes) -> Node | None:
    """The slow path: parse, then check the hash of the canonical form (legacy lines,
    reformatted or edited entries)."""
    entry = _parse(raw)
    if entry is None:
        log.problems.append(AuditProblem(file, line, "not a JSON entry"))
        return None
    stored = entry.get("hash")
    action = str(entry.get("action") or "entry")
    if not isinstance(stored, str) or entry_hash(entry) != stored:
        log.problems.append(
            AuditProblem(file, line, f"{action} entry was edited (its content does not match its hash)")
        )
        stored = stored if isinstance(stored, str) else entry_hash(entry)
    if file != log.legacy_file and not file.endswith(f"/{stored[:2]}/{stored}.json"):
        log.problems.append(
            AuditProblem(
                file, line, f"{action} entry is stored under another entry's name (its hash is {stored[:12]}...)"
            )
        )
    return Node(file, line, stored, parents_of(entry), action, str(entry.get("time", "")), entry=entry)


def _order(log: Log, nodes: list[Node]) -> None:
    """Kahn's algorithm gives each entry its generation (1 + its deepest parent); entries
    are then sorted by (generation, time, hash): parents always come first, and the order
    is the same in every clone whatever the files' order on disk."""
    by_hash = log.by_hash
    children: dict[str, list[Node]] = {}
    waiting: dict[str, int] = {}
    ready: list[Node] = []
    for node in nodes:
        count = 0
        for parent in node.parents:
            if parent in by_hash:
                count += 1
                children.setdefault(parent, []).append(node)
        waiting[node.hash] = count
        if not count:
            ready.append(node)
    done: list[Node] = []
    while ready:
        node = ready.pop()
        done.append(node)
        for child in children.get(node.hash, ()):
            if child.generation <= node.generation:
                child.generation = node.generation + 1
            waiting[child.hash] -= 1
            if not waiting[child.hash]:
                ready.append(child)
    done.sort(key=lambda n: (n.generation, n.time, n.hash))
    if len(done) < len(nodes):  # a cycle can only come from forged hashes: keep the entries visible
        placed = {n.hash for n in done}
        for node in nodes:
            if node.hash not in placed:
                log.problems.append(
                    AuditProblem(node.file, node.line, "entry is part of a parent cycle (forged hashes)")
                )
                done.append(node)
    for order, node in enumerate(done):
        node.order = order
    log.nodes = done
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
            problems.append(
                AuditProblem(
                    node.file,
                    node.line,
                    f"entry {node.entry.get('seq')} does not follow the previous entry (removed or reordered entries)",
                )
            )
        if node.entry.get("seq") != expected:
            problems.append(
                AuditProblem(node.file, node.line, f"sequence {node.entry.get('seq')} where {expected} was expected")
            )
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
    return root / layout_at(root).audit_index_dir / "heads.json"


def _shard_index(root: Path, shard: str) -> Path:
    return root / layout_at(root).audit_index_dir / f"{shard}.txt"


def _legacy_state(root: Path) -> list[int]:
    try:
        st = (root / layout_at(root).audit_legacy).stat()
        return [st.st_size, st.st_mtime_ns]
    except FileNotFoundError:
        return []


def _save_index(root: Path, index: _Index) -> None:
    index.written = time.time_ns()
    atomic_write_text(_index_file(root), json.dumps(index.__dict__))


def _rebuild_index(root: Path) -> _Index:
    """Read the whole log once and write the index from it (and remove temporary files
    crashed appends left beside the entries)."""
    remove_stale_temporaries(root)
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
        try:
            entry = _parse(_read_bytes(str(audit_dir(root) / rel))) or {}
        except OSError:  # an unreadable file: never an entry (verify names it)
            entry = {}
        if not entry:
            continue  # not an entry (verify names it), so never a parent
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
def append(
    root: Path,
    action: str,
    item: str | None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
    finalize: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Record one entry under the lock, naming every current head as a parent. The entry
    file appears complete (written, fsynced, renamed) or not at all. ``finalize`` sees the
    entry (with ``time`` and ``parents`` set) before it is hashed, still under the lock:
    approvals sign it there, bound to their place in the DAG."""
    with _lock(root):
        index = _current_index(root)
        if index.legacy_only:
            index = _migrate_locked(root)
        return _write_entry(root, index, action, item, details or {}, actor, finalize)


def _write_entry(
    root: Path,
    index: _Index,
    action: str,
    item: str | None,
    details: dict[str, Any],
    actor: str | None,
    finalize: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
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
    target = root / entry_file(digest, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(root, target)
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


def _temporary(root: Path, target: Path) -> tuple[int, Path]:
    """A new temporary file for an entry under ``.mle3/tmp/`` (ignored by git, on the
    workspace's file system), so a crash never leaves a file in ``artifacts/audit/`` that
    ``git add -A`` would pick up. Called under the log's lock: any audit temporary file
    still there is left by a crashed append and is removed first."""
    folder = root / layout_at(root).tmp_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ignore = folder.parent / ".gitignore"
        if not ignore.exists():
            atomic_write_text(ignore, "*\n")
        for stale in os.scandir(folder):
            if stale.name.startswith("." + _TMP_PREFIX) and stale.name.endswith(".tmp"):
                os.unlink(stale.path)
        if os.stat(folder).st_dev == os.stat(target.parent).st_dev:  # os.replace cannot cross file systems
            return temporary_beside(folder / f"{_TMP_PREFIX}{target.name}")
    except OSError:
        pass
    return temporary_beside(target)


def remove_stale_temporaries(root: Path) -> int:
    """Remove temporary files crashed appends of earlier versions left beside the entries
    (``artifacts/audit/<xx>/.<hash>.json.<hex>.tmp``); called under the lock."""
    removed = 0
    for shard in _shards(root):
        for entry in os.scandir(shard.path):
            if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                    removed += 1
                except OSError:
                    pass
    return removed


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
        raise Mle3Error(
            f"the audit log in the linear format does not verify ({len(problems)} problem(s)), so it is not "
            f"migrated: {first.message}",
            file=first.file,
            line=first.line,
        )
    index = _Index(list(log.heads), {}, _legacy_state(root), 0, len(log), True)
    layout = layout_at(root)
    details = {
        "from": f"{layout.audit_legacy} (linear: seq, prev)",
        "to": f"{layout.audit_dir}/ (DAG: parents)",
        "entries": len(log),
        "heads": list(log.heads),
    }
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
