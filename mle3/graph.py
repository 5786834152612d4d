"""The typed traceability graph: items are nodes, references are typed edges.

An edge ``A -> B`` means "A depends on B" (a model uses a configuration, a data set
satisfies a requirement). *Upstream* of an item are its successors (what it rests on),
*downstream* its predecessors (what must be re-validated when it changes).

:func:`references` is the single list of every link field; the graph and the dangling
reference rule both read it, so a new link kind is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

import networkx as nx

from ._gc import paused_gc
from .workspace import Workspace, item_key


@dataclass(frozen=True)
class Reference:
    relation: str
    target: str
    path: tuple
    allowed_kinds: tuple[str, ...]


#: the kinds a review may review: every item kind
REVIEWABLE = (
    "requirement",
    "architecture",
    "odd",
    "dataset",
    "training",
    "augmentation",
    "approach",
    "model_version",
    "run",
    "study",
    "review",
)


def _refs(relation: str, values: Any, path: tuple, kinds: tuple[str, ...]) -> Iterator[Reference]:
    if values is None:
        return
    if isinstance(values, list):
        for i, v in enumerate(values):
            if v:
                yield Reference(relation, str(v), path + (i,), kinds)
    elif values:
        yield Reference(relation, str(values), path, kinds)


def references(item: Any) -> Iterator[Reference]:
    """Every reference an item makes, with the field path it stands at."""
    kind = item.kind
    if kind == "requirement":
        yield from _refs("derived_from", item.derived_from, ("derived_from",), ("requirement",))
        yield from _refs("uses_odd", item.odd, ("odd",), ("odd",))
        for i, link in enumerate(item.links):
            yield Reference(f"links:{link.type}", link.to, ("links", i, "to"), ("requirement",))
    elif kind == "odd":
        yield from _refs("traces_to", item.requirements, ("requirements",), ("requirement",))
    elif kind == "architecture":
        yield from _refs("traces_to", item.requirements, ("requirements",), ("requirement",))
    elif kind == "dataset":
        yield from _refs("satisfies", item.requirements, ("requirements",), ("requirement",))
        if item.metadata is not None:
            yield from _refs("described_by", item.metadata.odd, ("metadata", "odd"), ("odd",))
    elif kind == "training":
        yield from _refs("uses_dataset", item.dataset, ("dataset",), ("dataset",))
        yield from _refs("uses_augmentation", item.augmentation, ("augmentation",), ("augmentation",))
        yield from _refs("traces_to", item.requirements, ("requirements",), ("requirement",))
        yield from _refs("optimized_by", item.optimized_by, ("optimized_by",), ("study",))
        yield from _refs("derived_from", item.derived_from, ("derived_from",), ("training",))
        yield from _refs("follows", item.approach, ("approach",), ("approach",))
    elif kind == "approach":
        yield from _refs("traces_to", item.requirements, ("requirements",), ("requirement",))
        if item.data is not None:  # not its tuning's studies: a study tunes a configuration that follows it
            yield from _refs("uses_dataset", item.data.datasets, ("data", "datasets"), ("dataset",))
            yield from _refs("uses_augmentation", item.data.augmentation, ("data", "augmentation"), ("augmentation",))
    elif kind == "study":
        yield from _refs("tunes", item.config, ("config",), ("training",))
        yield from _refs("uses_dataset", item.dataset_version, ("dataset_version",), ("dataset",))
    elif kind == "model_version":
        yield from _refs("trained_by", item.training_run, ("training_run",), ("run", "training"))
        yield from _refs("uses_config", item.training_config, ("training_config",), ("training",))
        td = item.training_data
        yield from _refs("uses_dataset", td.dataset_version, ("training_data", "dataset_version"), ("dataset",))
        yield from _refs("uses_augmentation", td.augmentation, ("training_data", "augmentation"), ("augmentation",))
        tr = item.traceability
        yield from _refs("traces_to", tr.requirements, ("traceability", "requirements"), ("requirement",))
        yield from _refs("implements", tr.architecture, ("traceability", "architecture"), ("architecture",))
        yield from _refs(
            "previous_version", tr.previous_version, ("traceability", "previous_version"), ("model_version",)
        )
    elif kind == "run":
        yield from _refs("uses_config", item.config, ("config",), ("training",))
        yield from _refs("uses_dataset", item.dataset_version, ("dataset_version",), ("dataset",))
    elif kind == "review":  # any kind may be reviewed (a review of a review too)
        yield from _refs("reviews", item.reviews, ("reviews",), REVIEWABLE)


def build_graph(ws: Workspace) -> nx.MultiDiGraph:
    """Nodes keyed by item key with ``kind`` and ``item``; edges with ``relation``, the
    referencing ``path`` and ``floating`` (a bare data set id, resolved to its latest
    version). References that resolve to nothing get no edge (the traceability rules
    report them).

    ``graph.graph["references"]`` keeps every reference once as ``(item, Reference,
    target item or None)`` so rules do not resolve them again."""
    with paused_gc():
        return _build_graph(ws)


def _build_graph(ws: Workspace) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    graph.add_nodes_from((item_key(item), {"kind": item.kind, "item": item}) for item in ws.items)
    resolved: list[tuple[Any, Reference, Any]] = []
    edges = []
    for item in ws.items:
        source = item_key(item)
        for ref in references(item):
            target = ws.resolve(ref.target)
            resolved.append((item, ref, target))
            if target is not None:
                # a bare data set id means "its latest version": the link moves when a new version appears;
                # not for a review, which binds to the content it reviewed (a new version makes it stale)
                floating = target.kind == "dataset" and ref.target == target.id and ref.relation != "reviews"
                edges.append(
                    (
                        source,
                        item_key(target),
                        ref.relation,
                        {"relation": ref.relation, "path": ref.path, "floating": floating},
                    )
                )
    graph.add_edges_from(edges)
    graph.graph["references"] = resolved
    return graph


def upstream(graph: nx.MultiDiGraph, node: str) -> set[str]:
    """Everything ``node`` rests on, transitively."""
    return nx.descendants(graph, node)


def downstream(graph: nx.MultiDiGraph, node: str) -> set[str]:
    """Everything that rests on ``node``, transitively."""
    return nx.ancestors(graph, node)


def relations(graph: nx.MultiDiGraph, node: str, direction: str) -> list[tuple[str, str]]:
    """Direct neighbours as ``(relation, key)``, sorted; direction ``up`` or ``down``."""
    if direction == "up":
        pairs = [(data["relation"], target) for _, target, data in graph.out_edges(node, data=True)]
    else:
        pairs = [(data["relation"], source) for source, _, data in graph.in_edges(node, data=True)]
    return sorted(set(pairs), key=lambda p: (p[1], p[0]))
