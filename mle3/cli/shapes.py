"""The JSON documents mle3 prints (``--format json``), each declared as a JSON Schema beside
the command that writes it, and published by ``mle3 schema``.

A document names its shape in its ``schema`` field (``mle3.check/1``); the number moves when
a field is removed or changes meaning, never when one is added. The schemas require what a
script may rely on and allow more (``additionalProperties``), so adding a field is not a
break. A key kept only for old scripts is marked ``deprecated`` with what replaces it.
"""

from __future__ import annotations

from typing import Any

#: every declared output shape by name, in declaration (= help) order
SHAPES: dict[str, dict[str, Any]] = {}

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
ANY: dict[str, Any] = {}
OBJ: dict[str, Any] = {"type": "object"}
STRS: dict[str, Any] = {"type": "array", "items": STR}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def obj(properties: dict[str, dict[str, Any]], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with these properties, all required but ``optional``; others allowed."""
    return {"type": "object", "properties": properties, "required": [k for k in properties if k not in optional]}


def deprecated_alias(schema: dict[str, Any], of: str) -> dict[str, Any]:
    """A key written for one more release because scripts read it; ``of`` replaces it."""
    return {**schema, "deprecated": True, "description": f"Same as {of}; kept for one release, read {of} instead."}


def declare(
    name: str,
    description: str,
    properties: dict[str, dict[str, Any]],
    optional: tuple[str, ...] = (),
    defs: dict[str, dict[str, Any]] | None = None,
) -> str:
    """Publish the shape of a document whose ``schema`` field is ``name``; returns ``name``
    so the command writes exactly the name it declared. ``defs`` are ``#/$defs/...`` for
    recursive parts (a trace tree)."""
    body = obj({"schema": {"const": name}, **properties}, optional)
    SHAPES[name] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "description": description,
        **body,
    }
    if defs:
        SHAPES[name]["$defs"] = defs
    return name


def find(name: str) -> dict[str, Any] | None:
    """A shape by its full name (``mle3.check/1``) or without prefix and version (``check``):
    the newest version when the version is left out."""
    if name in SHAPES:
        return SHAPES[name]
    short = name.removeprefix("mle3.").split("/")[0]
    matches = [n for n in SHAPES if n.removeprefix("mle3.").split("/")[0] == short]
    return SHAPES[max(matches, key=lambda n: int(n.rsplit("/", 1)[1]))] if matches else None
