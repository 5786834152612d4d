"""Large files (weights, ONNX, TensorRT engines) kept by git LFS, or not fetched in a clone.

A clone without ``git lfs pull`` holds small pointer files instead of the weights; a clone
whose weights live elsewhere may hold nothing. Either way the content is *not
materialized* here: ``check`` says so with the command that fetches it, instead of a hash
mismatch, and fingerprints use the pointer's sha256 (see :mod:`mle3.hashing`).
"""

from __future__ import annotations

import shutil
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path

from ._atomic import atomic_write_text
from .hashing import lfs_pointer_oid

#: what ``mle3 init`` tracks with LFS when git lfs is installed
PATTERNS = ("*.pt", "*.onnx", "*.engine")


def attribute_lines() -> list[str]:
    return [f"{pattern} filter=lfs diff=lfs merge=lfs -text" for pattern in PATTERNS]


def write_attributes(root: Path) -> list[str]:
    """Add the LFS lines for weights, ONNX and engines to the workspace's
    ``.gitattributes``; returns the lines added."""
    path = root / ".gitattributes"
    existing = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    wanted = [line for line in attribute_lines() if line not in existing]
    if wanted:
        atomic_write_text(path, "\n".join(existing + wanted) + "\n")
    return wanted


def available() -> bool:
    """Whether ``git lfs`` is installed here."""
    if shutil.which("git") is None:
        return False
    try:
        return subprocess.run(["git", "lfs", "version"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def tracked_patterns(root: Path) -> list[str]:
    """Patterns the workspace's ``.gitattributes`` hands to LFS."""
    path = root / ".gitattributes"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and "filter=lfs" in parts[1:]:
            out.append(parts[0].lstrip("/"))
    return out


def is_tracked(root: Path, rel: str) -> bool:
    name = Path(rel).name
    return any(fnmatchcase(rel, p) or ("/" not in p and fnmatchcase(name, p)) for p in tracked_patterns(root))


def not_materialized(root: Path, rel: str) -> str | None:
    """Why ``rel`` is not here as content (an LFS pointer, or an absent LFS-tracked file),
    with the command that fetches it; None when the content is here or the file is simply missing."""
    path = root / rel
    if path.is_file() and lfs_pointer_oid(path):
        return f"{rel} is a git LFS pointer, its content was not fetched: git lfs pull --include={rel!r}"
    if not path.exists() and is_tracked(root, rel):
        return f"{rel} is tracked by git LFS and not in this checkout: git lfs pull --include={rel!r}"
    return None
