"""The one pattern every item id follows, so a file name made from an id never leaves its
folder and an id reads the same in every tool.

An id is 1 to 128 characters: letters, digits, ``.``, ``_`` and ``-``, starting with a
letter or digit, with no ``..`` (no ``/``, spaces or control characters). Data set
versions follow the same pattern. Enforced by the loader (``load.id-invalid``), by every
command that takes or makes an id, and by the ReqIF import.
"""

from __future__ import annotations

import re

from .errors import Mle3Error

MAX_LENGTH = 128
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a valid id, or None."""
    text = str(value)
    if not text:
        return "is empty"
    if len(text) > MAX_LENGTH:
        return f"is {len(text)} characters long (at most {MAX_LENGTH})"
    if ".." in text:
        return "contains '..'"
    if not ID_PATTERN.match(text):
        bad = sorted({c for c in text if not (c.isascii() and (c.isalnum() or c in "._-"))})
        shown = ", ".join(repr(c) for c in bad[:5]) or "its first character"
        return f"contains {shown}; ids use letters, digits, '.', '_' and '-' and start with a letter or digit"
    return None


def check_id(value: object, what: str = "id", **where: object) -> str:
    """``value`` as a string, or a one-line user error (exit 2) naming what is wrong."""
    problem = id_problem(value)
    if problem:
        raise Mle3Error(f"{what} {str(value)[:80]!r} {problem}", **where)  # type: ignore[arg-type]
    return str(value)
