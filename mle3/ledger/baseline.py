"""Baselines: ``mle3 baseline NAME`` records what was agreed at one point in time.

A baseline is one ``baseline`` entry in the audit log (so it merges like every entry, and
an edited one does not verify) that holds: the git commit the workspace was at (its
working tree clean), the fingerprints of every item that holds a counted approval for its
current content (the approvals every gate counts: :func:`.gates.verified_approvals`),
optionally the sha256 of each file of a rendered release package (``mle3 report release``:
``release.json`` and ``MANIFEST.sha256``), and the git tag ``baseline/NAME`` made on that
commit. A baseline of many items keeps its fingerprints in ``baseline.items`` entries of at
most :data:`PART_SIZE` items written just before it; the ``baseline`` entry names them by
hash, so the parts are bound to it like parents are.

``mle3 check`` compares the workspace with the newest baseline in the audit DAG's order
(family ``baseline``: items changed or removed since), and every baseline's tag with the
commit it recorded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import audit
from ..errors import Mle3Error
from ..hashing import sha256_file
from ..ids import check_id
from ..vocab import AuditAction

ACTION = AuditAction.BASELINE
PART_ACTION = AuditAction.BASELINE_ITEMS
#: the git tag of baseline NAME
TAG_PREFIX = "baseline/"
#: fingerprints per audit entry (an entry stays well below audit.MAX_ENTRY_BYTES: ~120 bytes each)
PART_SIZE = 4000
RELEASE_INDEX = "release.json"
RELEASE_MANIFEST = "MANIFEST.sha256"
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def tag_name(name: str) -> str:
    return TAG_PREFIX + name


@dataclass
class Baseline:
    """One recorded baseline, as read from the audit log."""

    name: str
    commit: str
    tag: str
    time: str
    actor: str
    message: str | None
    #: item key -> fingerprint of its approved content at the baseline
    items: dict[str, str]
    fingerprint_version: int | None
    release: dict[str, Any] | None
    entry: str
    file: str
    order: int
    #: why the entry cannot serve as a baseline (malformed, a part missing); None when it can
    problem: str | None = None
    #: the entry verifies (content matches its hash, parents exist)
    verified: bool = True
    parts: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.verified and self.problem is None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "commit": self.commit,
            "tag": self.tag,
            "time": self.time,
            "actor": self.actor,
            "message": self.message,
            "items": len(self.items),
            "fingerprint_version": self.fingerprint_version,
            "release": self.release,
            "entry": self.entry,
            "file": self.file,
            "ok": self.usable,
            "problem": self.problem if self.verified else (self.problem or "its audit entry does not verify"),
        }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _fingerprint_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return value


def recorded(log: audit.Log) -> list[Baseline]:
    """Every ``baseline`` entry in DAG order (oldest first); one that is malformed, names a
    part that is missing or does not verify carries why (:attr:`Baseline.usable` is false)."""
    bad = {(p.file, p.line) for p in log.problems}
    out = []
    for node in log.nodes:
        if node.action != ACTION:
            continue
        entry = node.entry
        details = entry.get("details")
        d: dict[str, Any] = details if isinstance(details, dict) else {}
        name, commit = _text(d.get("name")), _text(d.get("commit"))
        problem = None
        if not name:
            problem = "details.name is not text"
        elif not _HEX40.match(commit):
            problem = "details.commit is not a 40-digit git commit"
        items = _fingerprint_map(d.get("items"))
        if items is None and problem is None:
            problem = "details.items is not a mapping of item to fingerprint"
        items = dict(items or {})
        listed = d.get("parts")
        parts: list[Any] = listed if isinstance(listed, list) else []
        verified = (node.file, node.line) not in bad
        for digest in parts:
            part = log.by_hash.get(digest) if isinstance(digest, str) else None
            if part is None or part.action != PART_ACTION:
                problem = problem or f"part {str(digest)[:12]}... of its fingerprints is not in the audit log"
                continue
            if (part.file, part.line) in bad:
                verified = False
            held = part.entry.get("details")
            chunk = _fingerprint_map(held.get("items") if isinstance(held, dict) else None)
            if chunk is None:
                problem = problem or f"part {digest[:12]}... holds no mapping of item to fingerprint"
                continue
            items.update(chunk)
        count = d.get("count")
        if problem is None and type(count) is int and count != len(items):
            problem = f"details.count says {count} items, its fingerprints hold {len(items)}"
        version = d.get("fingerprint_version")
        release = d.get("release")
        out.append(
            Baseline(
                name,
                commit,
                _text(d.get("tag")) or tag_name(name),
                _text(entry.get("time")),
                _text(entry.get("actor")),
                d.get("message") if isinstance(d.get("message"), str) else None,
                items,
                version if type(version) is int else None,
                release if isinstance(release, dict) else None,
                node.hash,
                node.file,
                node.order,
                problem,
                verified,
                [p for p in parts if isinstance(p, str)],
            )
        )
    return out


def newest(baselines: list[Baseline]) -> Baseline | None:
    """The newest baseline that verifies, by the audit DAG's order (the same in every clone)."""
    usable = [b for b in baselines if b.usable]
    return usable[-1] if usable else None


# --------------------------------------------------------------------------- git
def _repo(root: Path) -> Any:
    """The git repository the workspace lies in, or a one-line refusal (exit 1)."""
    try:
        import git
    except ImportError as exc:  # pragma: no cover - gitpython is a dependency
        raise Mle3Error("a baseline needs gitpython (pip install gitpython)") from exc
    try:
        return git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise Mle3Error(
            f"{root} is not in a git repository: a baseline records a commit; run `git init` and commit the "
            "workspace first",
            exit_code=1,
        ) from None


def _clean_commit(root: Path) -> tuple[Any, str]:
    """The repository and its HEAD commit; refused (exit 1) when the workspace's part of
    the working tree is dirty (changed, staged or untracked files) or nothing is committed."""
    import git

    repo = _repo(root)
    try:
        commit = repo.head.commit.hexsha
    except ValueError:
        raise Mle3Error(
            "the git repository has no commit yet: commit the workspace, then record the baseline", exit_code=1
        ) from None
    rel = os.path.relpath(root, repo.working_tree_dir) if repo.working_tree_dir else "."
    try:
        status = repo.git.status("--porcelain", "--untracked-files=normal", "--", rel)
    except git.GitCommandError as exc:
        raise Mle3Error(f"git status failed: {str(exc.stderr or exc).strip()[:200]}", exit_code=1) from None
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise Mle3Error(
            f"the working tree is not clean ({shown}): a baseline records a commit, so commit (or stash) the "
            "changes first, then record the baseline",
            exit_code=1,
        )
    return repo, commit


def git_dir(root: Path) -> Path | None:
    """The repository's common git folder (refs live there), found without running git:
    ``.git`` as a folder, or a ``.git`` file (worktree, submodule) and its ``commondir``."""
    here = root.resolve()
    for folder in (here, *here.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            try:
                text = dot.read_text(errors="replace").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            gitdir = (folder / text[len("gitdir:") :].strip()).resolve()
            common = gitdir / "commondir"
            if common.is_file():
                try:
                    return (gitdir / common.read_text().strip()).resolve()
                except OSError:
                    return gitdir
            return gitdir
    return None


def ref_files(root: Path, tag: str) -> list[Path]:
    """The files git keeps a tag in: its loose ref and ``packed-refs`` (the result cache watches them)."""
    folder = git_dir(root)
    return [folder / "refs" / "tags" / tag, folder / "packed-refs"] if folder is not None else []


def tag_target(root: Path, tag: str, expected: str | None = None) -> str | None:
    """The commit the tag points at (an annotated tag peeled), None when there is no such
    tag. A tag whose ref holds ``expected`` (a lightweight tag on the recorded commit) is
    read from its ref file without running git; anything else is peeled by git."""
    folder = git_dir(root)
    if folder is None:
        return None
    sha: str | None = None
    loose = folder / "refs" / "tags" / tag
    try:
        if loose.is_file() and not loose.is_symlink():
            sha = loose.read_text(errors="replace").strip()
    except OSError:
        sha = None
    if sha is None:
        sha = _packed(folder / "packed-refs", f"refs/tags/{tag}")
    if sha is None:
        return None
    return sha if expected is not None and sha == expected else _peel(root, tag)


def _packed(path: Path, ref: str) -> str | None:
    """The object a packed ref names (its peeled commit when git recorded one)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for i, line in enumerate(lines):
        parts = line.split(" ", 1)
        if len(parts) == 2 and parts[1] == ref:
            peeled = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("^") else None
            return peeled[1:].strip() if peeled else parts[0]
    return None


def _peel(root: Path, tag: str) -> str | None:
    try:
        repo = _repo(root)
        return str(repo.commit(f"refs/tags/{tag}").hexsha)
    except Exception:
        return None


# --------------------------------------------------------------------------- recording
def _release(root: Path, directory: Path) -> dict[str, Any]:
    """The digests of a rendered release package (``mle3 report release``): each file the
    manifest lists, checked against it, and the manifest's own digest; refused (exit 2,
    one line naming the file) when it is not such a package or does not match its manifest."""
    import json

    if not directory.is_dir():
        raise Mle3Error(f"{directory}: not a folder (--release-dir names the folder `mle3 report release` wrote)")
    manifest = directory / RELEASE_MANIFEST
    index = directory / RELEASE_INDEX
    for f in (manifest, index):
        if f.is_symlink() or not f.is_file():
            raise Mle3Error(
                f"{f}: missing or not a regular file; --release-dir names a package of `mle3 report release`"
            )
    from ..formats import parse_sha256sums
    from ..paths import list_tree

    try:
        listed = parse_sha256sums(manifest.read_text(encoding="utf-8", errors="replace"))
    except ValueError as exc:
        number, why = exc.args if len(exc.args) == 2 else (None, str(exc))
        raise Mle3Error(why, file=str(manifest), line=number) from None
    present_files, odd = list_tree(directory)
    if odd:
        raise Mle3Error(f"{directory / odd[0][0]}: {odd[0][1]}; a release package holds regular files only")
    present = {p for p in present_files if p != RELEASE_MANIFEST}
    extra = sorted(present - set(listed))
    if extra:
        raise Mle3Error(
            f"{directory / extra[0]}: not listed in {RELEASE_MANIFEST} (the package changed after it was made)"
        )
    files: dict[str, str] = {}
    for name, expected in sorted(listed.items()):
        path = directory / name
        if path.is_symlink() or not path.is_file():
            raise Mle3Error(f"{path}: listed in {RELEASE_MANIFEST} but missing, or not a regular file")
        digest = sha256_file(path)
        if digest != expected:
            raise Mle3Error(
                f"{path}: its sha256 differs from {RELEASE_MANIFEST} (the file changed after the package was made)"
            )
        files[name] = "sha256:" + digest
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Mle3Error(f"not JSON: {str(exc)[:120]}", file=str(index)) from None
    if not isinstance(data, dict) or not isinstance(data.get("documents"), list):
        raise Mle3Error("not a release index: no list 'documents'", file=str(index))
    documents = []
    for i, doc in enumerate(data["documents"]):
        if not isinstance(doc, dict) or not isinstance(doc.get("file"), str) or doc["file"] not in files:
            raise Mle3Error(f"documents[{i}] names no file of the package", file=str(index))
        documents.append(
            {
                "wp": _text(doc.get("wp")),
                "item": _text(doc.get("item")),
                "file": doc["file"],
                "sha256": files[doc["file"]],
                "approved": doc.get("approved") is True,
                "fingerprint": _text(doc.get("fingerprint")) or None,
            }
        )
    try:
        shown = directory.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = directory.resolve().name  # outside the workspace: no machine's path in the shared log
    return {
        "dir": shown,
        "model": _text(data.get("model")) or None,
        "manifest_sha256": "sha256:" + sha256_file(manifest),
        "files": files,
        "documents": documents,
    }


def approved_fingerprints(ws: Any, graph: Any, log: audit.Log) -> tuple[dict[str, str], int]:
    """Item key -> fingerprint of each item holding a counted approval of its current content."""
    from .approvals import fresh_approvals
    from .fingerprint import FINGERPRINT_VERSION, Fingerprints
    from .gates import verified_approvals

    fingerprints = Fingerprints(ws, graph)
    counted = verified_approvals(
        ws.root, log=log, fingerprints=fingerprints, require_signatures=ws.config.policy.require_signatures
    ).approvals
    out: dict[str, str] = {}
    for key in sorted({a.item for a in counted if a.decision == "approved"}):
        if key not in ws.by_key:
            continue
        current = fingerprints.of(key)
        if fresh_approvals(counted, key, current):
            out[key] = current
    return out, FINGERPRINT_VERSION


def _refuse_taken(root: Path, name: str, tag: str, log: audit.Log) -> None:
    """A name in use: a baseline entry of that name (any, even one that does not verify), or the tag."""
    if any(b.name == name for b in recorded(log)):
        raise Mle3Error(f"baseline {name!r} exists in the audit log (`mle3 baseline --list`); choose another name")
    if git_dir(root) is not None and tag_target(root, tag) is not None:
        raise Mle3Error(
            f"git tag {tag} exists but no baseline of that name is recorded (an interrupted `mle3 baseline`, or "
            f"a tag made by hand): remove it (`git tag -d {tag}`) or choose another name"
        )


def record(ws: Any, graph: Any, name: str, message: str | None = None, release_dir: Path | None = None) -> Baseline:
    """Record baseline ``name``: refuse a name in use (exit 2) and a dirty or missing git
    working tree (exit 1), then tag the commit and append the audit entries; a failure
    after the tag was made removes it again."""
    check_id(name, "baseline name")
    root = ws.root
    tag = tag_name(name)
    _refuse_taken(root, name, tag, audit.read(root))  # before the working tree: the usual mistake is a reused name
    try:
        repo, commit = _clean_commit(root)
    except Mle3Error:
        _refuse_taken(root, name, tag, audit.read(root))  # recorded meanwhile (its entry is what makes the tree dirty)
        raise
    release = _release(root, release_dir) if release_dir is not None else None
    with ws.layout.lock("baseline", timeout=60):
        log = audit.read(root)
        _refuse_taken(root, name, tag, log)  # another process may have recorded it meanwhile
        items, version = approved_fingerprints(ws, graph, log)
        try:
            created = repo.create_tag(tag, ref=commit)  # lightweight: `check` reads it without running git
        except Exception as exc:  # git refused (the name exists, is not a valid ref name, the repository is read-only)
            detail = str(getattr(exc, "stderr", "") or exc).strip().splitlines()
            raise Mle3Error(f"git could not make tag {tag}: {(detail or ['?'])[-1][:200]}") from None
        try:
            keys = sorted(items)
            parts = []
            if len(keys) > PART_SIZE:
                for start in range(0, len(keys), PART_SIZE):
                    chunk = {k: items[k] for k in keys[start : start + PART_SIZE]}
                    parts.append(audit.append(root, PART_ACTION, None, {"baseline": name, "items": chunk})["hash"])
            details: dict[str, Any] = {
                "name": name,
                "message": message,
                "commit": commit,
                "tag": tag,
                "workspace": Path(os.path.relpath(root, repo.working_tree_dir)).as_posix(),
                "fingerprint_version": version,
                "count": len(items),
                "items": {} if parts else items,
                "parts": parts,
                "release": release,
            }
            entry = audit.append(root, ACTION, None, details)
        except BaseException:
            repo.delete_tag(created)
            raise
    return Baseline(
        name,
        commit,
        tag,
        entry["time"],
        entry["actor"],
        message,
        items,
        version,
        release,
        entry["hash"],
        audit.entry_file(entry["hash"], root),
        -1,
        parts=parts,
    )
