"""Version strings and model version naming.

Ordering: ``v1.10`` after ``v1.9`` (natural), for data set and model versions.

Model versions never collide across branches: a training names its draft after its run
(``<line>-<RUN-ID>``, unique without coordination), and the semantic version
(``v2.4.0``) is given when the model is promoted to ``validated``. The version is written
into the model file as ``version:``; the model is then also found as ``<line>-<version>``
(an alias), so its id, the approvals bound to it and every trace stay unchanged. Model
versions written by hand may carry the version in their id (``MLE-MODEL-001-v2.3.1``).
"""

from __future__ import annotations

import re
from typing import Any
from collections.abc import Iterable

_PART = re.compile(r"(\d+)|([^\d.\-_+]+)")
SEMVER = re.compile(r"^v(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?P<suffix>[-+][\w.-]+)?$")
_ID_WITH_VERSION = re.compile(r"^(?P<line>.+)-(?P<version>v\d+\.\d+\.\d+)$")


def version_key(version: str) -> tuple:
    """A sort key under which ``v1.10`` comes after ``v1.9`` (natural ordering)."""
    text = str(version).strip().lstrip("vV")
    return tuple((0, int(num), "") if num else (1, 0, word.lower()) for num, word in _PART.findall(text))


def model_line_of(model: Any) -> str | None:
    """The model line a model version belongs to: its ``model_line`` field, else the part of
    its id before ``-vX.Y.Z`` or ``-RUN-``."""
    explicit = getattr(model, "model_line", None)
    if explicit:
        return str(explicit)
    match = _ID_WITH_VERSION.match(model.id)
    if match:
        return match.group("line")
    if "-RUN-" in model.id:
        return model.id.split("-RUN-", 1)[0]
    return None


def version_of(model: Any) -> str | None:
    """The semantic version of a model version: its ``version`` field or the one in its id."""
    given = getattr(model, "version", None)
    if given:
        return str(given)
    match = _ID_WITH_VERSION.match(model.id)
    return match.group("version") if match else None


def alias_of(model: Any) -> str | None:
    """``<line>-<version>`` for a model whose version was given at promotion, else None."""
    line, version = model_line_of(model), getattr(model, "version", None)
    if not line or not version:
        return None
    alias = f"{line}-{version}"
    return alias if alias != model.id else None


def next_release(existing: Iterable[str]) -> str:
    """The next minor version after the highest of ``existing`` (``v0.1.0`` first)."""
    parsed = [m for m in (SEMVER.match(v) for v in existing) if m and not m.group("suffix")]
    if not parsed:
        return "v0.1.0"
    top = max(parsed, key=lambda m: (int(m.group("major")), int(m.group("minor")), int(m.group("patch"))))
    return f"v{top.group('major')}.{int(top.group('minor')) + 1}.0"


def draft_id(line: str, run_id: str) -> str:
    """The id of the model a run leaves behind: unique because the run id is."""
    return f"{line}-{run_id}"
