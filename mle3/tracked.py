"""Files under ``.mle3/`` that git carries: per-machine state that must never be shared.

``.mle3/`` holds caches and per-machine settings (``local.yaml`` maps data roots). A
branch that commits them (``git add -f``) would remap data roots or seed caches for
everyone who merges it, so mle3 ignores every tracked file there and ``check`` warns
(rule ``workspace.tracked-state``). The answer of ``git ls-files`` is kept per process
until git's index file changes, so asking costs one ``git`` call per check.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .paths import STATE as STATE_DIR

_memo: dict[str, tuple[tuple, frozenset[str]]] = {}


def _index_file(root: Path) -> Path | None:
    """Git's index file for the repository holding ``root`` (None outside a repository)."""
    for folder in (root, *root.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git / "index"
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            try:
                text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            gitdir = Path(text[len("gitdir:") :].strip())
            return (gitdir if gitdir.is_absolute() else folder / gitdir) / "index"
    return None


def tracked_state_files(root: Path) -> frozenset[str]:
    """Workspace-relative paths (``.mle3/...``) of files under ``.mle3/`` that git tracks;
    empty outside a git repository or without git."""
    root = Path(root)
    index = _index_file(root)
    if index is None:
        return frozenset()
    try:
        st = os.stat(index)
        stamp: tuple = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    except OSError:
        return frozenset()  # no index yet: nothing is tracked
    key = str(root)
    known = _memo.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", STATE_DIR], cwd=root, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    files = (
        frozenset(p for p in out.stdout.decode("utf-8", errors="surrogateescape").split("\0") if p)
        if out.returncode == 0
        else frozenset()
    )
    _memo[key] = (stamp, files)
    return files


def is_tracked(root: Path, path: Path | str) -> bool:
    """Whether ``path`` (absolute, or relative to ``root``) is a file git tracks under ``.mle3/``."""
    files = tracked_state_files(root)
    if not files:
        return False
    path = Path(path)
    try:
        rel = (path if not path.is_absolute() else path.relative_to(root)).as_posix()
    except ValueError:
        try:
            rel = Path(os.path.realpath(path)).relative_to(os.path.realpath(root)).as_posix()
        except ValueError:
            return False
    return rel in files
