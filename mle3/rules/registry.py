"""The rule table: every rule's stable id, family, default severity, purpose and fix.

A rule is a generator decorated with :func:`rule`; it yields :class:`Hit` objects and the
engine turns them into findings with the rule's id, severity and ``file:line``.
Rules reported by the loader (family ``load``) are registered here without a function,
so ``mle3 rules`` lists them too.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterator

from ..findings import Finding
from ..workspace import Workspace, item_key

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class Hit:
    """What a rule found about one item; ``path`` is the field it concerns."""

    item: Any
    message: str
    path: tuple = ()
    severity: str | None = None


@dataclass
class Rule:
    id: str
    family: str
    severity: str
    summary: str
    fix: str
    check: Callable[[Context], Iterator[Hit]] | None = None
    #: runs after all other rules and may read their findings
    late: bool = False


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: str, summary: str, fix: str, *, late: bool = False) -> Callable:
    """Register a check function under a stable id (``family.name``)."""

    def register(fn: Callable[[Context], Iterator[Hit]] | None) -> Callable | None:
        if rule_id in RULES:
            raise RuntimeError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, rule_id.split(".")[0], severity, summary, fix, fn, late)
        return fn

    return register


def declare(rule_id: str, severity: str, summary: str, fix: str) -> None:
    """Register a rule whose findings are produced elsewhere (the loader)."""
    rule(rule_id, severity, summary, fix)(None)


@dataclass
class Context:
    """What a rule can see: the workspace, its graph, and (for late rules) findings."""

    ws: Workspace
    graph: nx.MultiDiGraph
    findings: list[Finding] = field(default_factory=list)
    #: every path outside the item files a rule looked at, with what it saw (result cache)
    disk: dict[str, list | None] = field(default_factory=dict)
    #: what several rules of one family share within one check (opened stores, read states)
    memo: dict[tuple, Any] = field(default_factory=dict)

    def exists(self, relative: str) -> bool:
        """Whether a workspace-relative path exists; recorded so the result cache
        notices when it appears, disappears or changes."""
        from .result_cache import file_state

        state = file_state(self.ws.root / relative)
        self.disk[relative] = state
        return state is not None and os.path.exists(self.ws.root / relative)

    @cached_property
    def error_items(self) -> set[str]:
        """Keys of items with at least one error finding so far."""
        return {f.item for f in self.findings if f.severity == "error" and f.item}

    @cached_property
    def error_files(self) -> set[str]:
        return {f.file for f in self.findings if f.severity == "error" and f.file and not f.item}

    @cached_property
    def satisfied_by(self) -> dict[str, list[Any]]:
        """Requirement id -> data sets that declare they satisfy it."""
        out: dict[str, list[Any]] = defaultdict(list)
        for ds in self.ws.of_kind("dataset"):
            for req in ds.requirements:
                out[req].append(ds)
        return out

    @cached_property
    def models_tracing_to(self) -> dict[str, list[Any]]:
        """Requirement id -> model versions that list it in their traceability."""
        out: dict[str, list[Any]] = defaultdict(list)
        for model in self.ws.of_kind("model_version"):
            for req in model.traceability.requirements:
                out[req].append(model)
        return out

    def key(self, item: Any) -> str:
        return item_key(item)

    def model_dataset(self, model: Any) -> Any | None:
        """The data set version a model version names, if it resolves to one."""
        ds = self.ws.resolve(model.training_data.dataset_version)
        return ds if ds is not None and ds.kind == "dataset" else None
