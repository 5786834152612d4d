"""Data set manifests: one line per file (path, size, mtime, sha256) and a fingerprint.

The fingerprint is the sha256 of the sorted ``sha256  size  path`` lines, so it changes
with any added, removed, renamed or edited file and does not depend on mtimes (which a
fresh clone or copy changes). Hashing itself is in :mod:`.scan`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .._atomic import atomic_write_text
from ..hashing import sha256_file

HEADER = "# mle3 manifest v1\tpath\tsize\tmtime_ns\tsha256"


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the workspace root, posix separators
    size: int
    mtime_ns: int
    sha256: str


def hash_entries(root: Path, relpaths: Iterable[str], *, progress: Callable[[int], None] | None = None) -> list[Entry]:
    """Stat and hash files (relative to ``root``), in parallel when there are many; sorted by path."""
    from .scan import scan

    return [Entry(path, size, mtime, digest) for path, size, mtime, digest, _ in scan(str(root), list(relpaths), progress=progress)]


def fingerprint(entries: Iterable[Entry]) -> str:
    text = "".join(f"{e.sha256}  {e.size}  {e.path}\n" for e in sorted(entries, key=lambda e: e.path))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class DiskDiff:
    changed: list[str]
    removed: list[str]
    hashed: int


def compare_with_disk(root: Path, recorded: list[Entry], observe: Callable[[str, os.stat_result | None], None] | None = None) -> DiskDiff:
    """Which recorded files changed or vanished: size and mtime first, then sha256 for a
    file whose mtime changed but not its size (touched but equal is unchanged).
    ``observe`` sees every stat (the check's result cache records them)."""
    changed: list[str] = []
    removed: list[str] = []
    suspects: list[Entry] = []
    for e in recorded:
        try:
            st = os.stat(root / e.path)
        except OSError:
            st = None
        if observe is not None:
            observe(e.path, st)
        if st is None:
            removed.append(e.path)
        elif st.st_size != e.size:
            changed.append(e.path)
        elif st.st_mtime_ns != e.mtime_ns:
            suspects.append(e)
    changed.extend(e.path for e in suspects if sha256_file(root / e.path) != e.sha256)
    return DiskDiff(sorted(changed), sorted(removed), len(suspects))


def write_manifest(path: Path, entries: list[Entry]) -> None:
    lines = [HEADER] + [f"{e.path}\t{e.size}\t{e.mtime_ns}\t{e.sha256}" for e in sorted(entries, key=lambda e: e.path)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_manifest(path: Path) -> list[Entry]:
    """Read a manifest; raises ValueError naming the line of a malformed entry."""
    entries = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4 or len(parts[3]) != 64:
                raise ValueError(f"{path}:{number}: malformed manifest line")
            entries.append(Entry(parts[0], int(parts[1]), int(parts[2]), parts[3]))
    return entries


def is_data_file(name: str) -> bool:
    """Hidden files and ultralytics' label caches (``labels/train.cache``, rewritten by
    every training) are not part of a data set."""
    return not name.startswith(".") and not name.endswith(".cache")


def list_files(root: Path, directory: Path) -> list[str]:
    """Every data file below ``directory`` (see :func:`is_data_file`; links skipped), relative to root."""
    out: list[str] = []
    root_s = str(root)
    prefix = len(root_s) + 1

    def walk(d: str) -> None:
        for entry in os.scandir(d):
            if entry.is_dir(follow_symlinks=False):
                if entry.name.startswith("."):
                    continue
                walk(entry.path)
            elif entry.is_file(follow_symlinks=False) and is_data_file(entry.name):
                out.append(entry.path[prefix:].replace(os.sep, "/"))

    walk(str(directory))
    return out
