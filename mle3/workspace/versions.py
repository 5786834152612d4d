"""Ordering of version strings such as ``v1.2``, ``1.10.0`` or ``2024-06``."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)|([^\d.\-_+]+)")


def version_key(version: str) -> tuple:
    """A sort key under which ``v1.10`` comes after ``v1.9`` (natural ordering)."""
    text = str(version).strip().lstrip("vV")
    return tuple((0, int(num), "") if num else (1, 0, word.lower()) for num, word in _PART.findall(text))
