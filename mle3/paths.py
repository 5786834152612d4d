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
