"""Paths named in workspace files must stay inside the workspace; the name of mle3's state folder.

The rest of the layout (what follows mle3.yaml) is :mod:`mle3.workspace.layout`; the state
folder's name is here because the primitives below the workspace (git tracking, sealed
caches) need it too."""

from __future__ import annotations

import os
from pathlib import Path

#: the folder of untracked state (caches, locks, queue, per-machine settings); never configurable
STATE = ".mle3"
#: the file that makes a folder a workspace (its settings)
CONFIG_NAME = "mle3.yaml"


def inside_workspace(root: Path, relative: str) -> bool:
    """True when ``relative`` is a relative path that, with links resolved, stays in ``root``."""
    if not relative or os.path.isabs(relative) or Path(relative).is_absolute():
        return False
    try:
        root = root.resolve()
        target = (root / relative).resolve()
    except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13), an unreadable link
        return False
    return target == root or root in target.parents


def list_tree(root: Path, limit: int = 1_000_000) -> tuple[list[str], list[tuple[str, str]]]:
    """Every regular file below ``root`` (relative POSIX paths, sorted) and what is not one:
    ``(path, "a symbolic link" | "not a regular file")``. Links are never followed, so
    nothing outside ``root`` is read; more than ``limit`` entries raise ValueError."""
    import stat

    files: list[str] = []
    odd: list[tuple[str, str]] = []
    stack = [""]
    seen = 0
    while stack:
        rel = stack.pop()
        with os.scandir(root / rel if rel else root) as entries:
            for entry in entries:
                seen += 1
                if seen > limit:
                    raise ValueError(f"more than {limit} entries below {root}")
                path = f"{rel}/{entry.name}" if rel else entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    odd.append((path, "a symbolic link"))
                elif stat.S_ISDIR(mode):
                    stack.append(path)
                elif stat.S_ISREG(mode):
                    files.append(path)
                else:
                    odd.append((path, "not a regular file"))
    return sorted(files), sorted(odd)
