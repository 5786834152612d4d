"""sha256 of files and git LFS pointers: the one place every package hashes through.

A weights file checked out without ``git lfs pull`` is a small pointer text whose ``oid``
is the sha256 of the real content; :func:`content_sha256` reads that oid, so fingerprints
and approvals stay the same in a clone that has not fetched the large files.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_CHUNK = 1 << 20
LFS_SPEC = b"version https://git-lfs.github.com/spec/v1"
_LFS_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.M)
#: pointer files are < 200 bytes; anything larger is real content
_LFS_MAX = 1024


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (never the whole file in memory)."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while True:
            block = fh.read(_CHUNK)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def lfs_pointer_oid(path: str | Path) -> str | None:
    """The sha256 a git LFS pointer file stands for, or None when ``path`` is real content."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_LFS_MAX + 1)
    except OSError:
        return None
    if len(head) > _LFS_MAX or not head.startswith(LFS_SPEC):
        return None
    match = _LFS_OID.search(head)
    return match.group(1).decode() if match else None


def content_sha256(path: str | Path) -> str:
    """sha256 of the content a file holds or, for a git LFS pointer, stands for."""
    return lfs_pointer_oid(path) or sha256_file(path)


def sha256_many(paths: list[Path], jobs: int = 4) -> list[str]:
    """Hex sha256 of many files, ``jobs`` at a time (hashlib releases the GIL while it
    hashes a block, so threads overlap reading and hashing across files)."""
    if len(paths) < 2 or jobs < 2:
        return [sha256_file(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(sha256_file, paths))
