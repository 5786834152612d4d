"""Trace and impact queries over the graph (``mle3 trace``, ``mle3 impact``)."""

from __future__ import annotations

from collections import deque
from typing import Any

import networkx as nx

from .graph import relations
from .workspace import Workspace, item_key

TRACE_SCHEMA = "mle3.trace/1"
IMPACT_SCHEMA = "mle3.impact/1"


def describe_item(ws: Workspace, key: str) -> dict[str, Any]:
    """An item's fields in a trace; a requirement adds its ``type``, ``text`` and the
    ``external`` parents it is derived from (ids that name no item here: an ALM tool's)."""
    item = ws.by_key[key]
    out = {
        "id": key,
        "kind": item.kind,
        "title": getattr(item, "title", None),
        "status": getattr(item, "status", None),
        "file": item._file,
        "line": ws.line_of(item),
    }
    if item.kind == "requirement":
        out |= {
            "type": item.type,
            "text": item.text,
            "external": [p for p in item.derived_from if ws.resolve(p) is None],
        }
    return out


def _tree(
    ws: Workspace, graph: nx.MultiDiGraph, key: str, direction: str, expanded: set[str], depth: int | None
) -> list[dict]:
    """Neighbours in one direction, each expanded only the first time it appears (later
    occurrences say ``repeated``), so the tree stays linear in the size of the graph."""
    out = []
    for relation, other in relations(graph, key, direction):
        node = describe_item(ws, other) | {"relation": relation, "children": []}
        if other in expanded:
            node["repeated"] = bool(relations(graph, other, direction))
        else:
            expanded.add(other)
            if depth is None or depth > 1:
                node["children"] = _tree(ws, graph, other, direction, expanded, None if depth is None else depth - 1)
        out.append(node)
    return out


def trace(
    ws: Workspace, graph: nx.MultiDiGraph, ref: str, *, up: bool = True, down: bool = True, depth: int | None = None
) -> dict[str, Any]:
    """Upstream (what the item rests on) and downstream (what rests on it) as trees."""
    key = item_key(ws.get(ref))
    result: dict[str, Any] = {"schema": TRACE_SCHEMA, "item": describe_item(ws, key)}
    if up:
        result["upstream"] = _tree(ws, graph, key, "up", {key}, depth)
    if down:
        result["downstream"] = _tree(ws, graph, key, "down", {key}, depth)
    return result


def impact(ws: Workspace, graph: nx.MultiDiGraph, ref: str) -> dict[str, Any]:
    """Everything downstream of an item, nearest first, with the path that links it."""
    key = item_key(ws.get(ref))
    via: dict[str, list[str]] = {key: [key]}
    queue = deque([key])
    while queue:
        current = queue.popleft()
        for _, other in relations(graph, current, "down"):
            if other not in via:
                via[other] = via[current] + [other]
                queue.append(other)
    impacted = [describe_item(ws, k) | {"distance": len(path) - 1, "via": path} for k, path in via.items() if k != key]
    impacted.sort(key=lambda d: (d["distance"], d["kind"], d["id"]))
    return {"schema": IMPACT_SCHEMA, "item": describe_item(ws, key), "impacted": impacted}


def render_tree_text(result: dict[str, Any]) -> str:
    item = result["item"]
    lines = [
        f"{item['id']} ({item['kind']}){' - ' + item['title'] if item.get('title') else ''}  "
        f"{item['file']}:{item['line']}"
    ]
    for direction, arrow in (("upstream", "rests on"), ("downstream", "used by")):
        if direction not in result:
            continue
        lines.append(f"{direction} ({arrow}):")
        if not result[direction]:
            lines.append("  (nothing)")
        _render_nodes(result[direction], "  ", lines)
    return "\n".join(lines)


def _render_nodes(nodes: list[dict], indent: str, lines: list[str]) -> None:
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        branch = "└─ " if last else "├─ "
        status = f" [{node['status']}]" if node.get("status") else ""
        rep = " (see above)" if node.get("repeated") else ""
        lines.append(f"{indent}{branch}{node['relation']}: {node['id']} ({node['kind']}){status}{rep}")
        _render_nodes(node["children"], indent + ("   " if last else "│  "), lines)


def render_impact_text(result: dict[str, Any]) -> str:
    item = result["item"]
    if not result["impacted"]:
        return f"Nothing depends on {item['id']}."
    lines = [f"Changing {item['id']} ({item['kind']}) requires re-validating {len(result['impacted'])} item(s):"]
    for d in result["impacted"]:
        lines.append(f"  {d['distance']}  {d['id']} ({d['kind']})  via {' <- '.join(d['via'])}")
    return "\n".join(lines)
