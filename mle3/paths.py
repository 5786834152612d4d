"""Paths named in workspace files must stay inside the workspace."""

from __future__ import annotations

import os
from pathlib import Path


def inside_workspace(root: Path, relative: str) -> bool:
    """True when ``relative`` is a relative path that, with links resolved, stays in ``root``."""
    if not relative or os.path.isabs(relative) or Path(relative).is_absolute():
        return False
    root = root.resolve()
    target = (root / relative).resolve()
    return target == root or root in target.parents
