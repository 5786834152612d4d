"""Changing fields of an item in its YAML file without disturbing the rest of the file.

Top-level scalar fields (``status``, ``approver``...) are replaced on their own line, so
comments and layout stay exactly as the user wrote them. Nested or structured values
are written by re-serialising the item's document; the file's leading comment lines
are kept. The result must parse before it replaces the file (atomically).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ._atomic import atomic_write_text


def _render_scalar(name: str, value: Any) -> str:
    rendered = yaml.safe_dump({name: value}, default_flow_style=True, width=10_000).strip()
    return rendered[1:-1] if rendered.startswith("{") else rendered


def set_fields(ws: Any, item: Any, updates: dict[tuple[str, ...], Any]) -> None:
    scalar = all(len(path) == 1 and not isinstance(value, (dict, list)) for path, value in updates.items())
    if scalar:
        _set_top_level_lines(ws, item, {path[0]: value for path, value in updates.items()})
    else:
        _set_by_reserialising(ws, item, updates)


def _set_top_level_lines(ws: Any, item: Any, updates: dict[str, Any]) -> None:
    path = ws.root / item._file
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    id_line = ws.line_of(item, ("id",))
    lead = re.match(r"^(\s*(?:-\s+)?)", lines[id_line - 1])  # every line matches: both parts are optional
    indent = lead.group(1).replace("-", " ") if lead else ""
    inserts = []
    for name, value in updates.items():
        rendered = _render_scalar(name, value)
        if name in (item._raw or {}):
            key_line = ws.line_of(item, (name,))
            old = lines[key_line - 1]
            comment = re.search(r"\s+#[^\"']*$", old.rstrip("\n"))
            lines[key_line - 1] = f"{indent}{rendered}{comment.group(0) if comment else ''}\n"
        else:
            inserts.append(f"{indent}{rendered}\n")
    lines[id_line:id_line] = inserts  # after all replacements: line numbers stay valid
    _write(path, "".join(lines))


def _set_by_reserialising(ws: Any, item: Any, updates: dict[tuple[str, ...], Any]) -> None:
    path = ws.root / item._file
    text = path.read_text(encoding="utf-8")
    header = (
        "".join(line for line in text.splitlines(keepends=True)[:50] if line.startswith("#"))
        if text.startswith("#")
        else ""
    )
    docs = list(yaml.safe_load_all(text))
    doc_index, base = item._where
    node = docs[doc_index]
    for step in base:
        node = node[step]
    for key_path, value in updates.items():
        target = node
        for step in key_path[:-1]:
            if not isinstance(target.get(step), dict):
                target[step] = {}
            target = target[step]
        target[key_path[-1]] = value
    body = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, width=120)
    _write(path, header + body)


def _write(path, text: str) -> None:
    list(yaml.safe_load_all(text))  # never write a file that no longer parses
    atomic_write_text(path, text)
