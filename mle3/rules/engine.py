"""Run every registered rule over a workspace and apply the severity policy of mle3.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._gc import paused_gc
from ..findings import Finding, format_path
from ..workspace import CONFIG_NAME, Workspace, item_key
from ..workspace.yamlpos import line_of
from .registry import RULES, Context, Hit

if TYPE_CHECKING:
    import networkx as nx

# The rule families (and the graph, networkx, the ledger they read) are imported when rules
# run, not with this module: an unchanged workspace is answered from the result cache in a
# fraction of the time their imports take.

#: Version of the JSON document ``mle3 check --format json`` prints.
CHECK_SCHEMA = "mle3.check/1"


@dataclass
class CheckReport:
    findings: list[Finding]
    items: int
    files: int
    ignored: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    disk: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> int:
        return self.counts.get("error", 0)

    @property
    def warnings(self) -> int:
        return self.counts.get("warning", 0)

    def ok(self, strict: bool = False) -> bool:
        return self.errors == 0 and (not strict or self.warnings == 0)

    def to_json(self, strict: bool = False) -> dict[str, Any]:
        return {
            "schema": CHECK_SCHEMA,
            "ok": self.ok(strict),
            "summary": {
                "errors": self.errors,
                "warnings": self.warnings,
                "infos": self.counts.get("info", 0),
                "items": self.items,
                "files": self.files,
                "ignored": self.ignored,
            },
            "findings": [f.to_json() for f in self.findings],
        }


def _to_finding(ws: Workspace, rule_id: str, default: str, hit: Hit) -> Finding:
    item = hit.item
    fixed_line = getattr(item, "_line", None)  # a file-level finding (e.g. the audit log)
    return Finding(
        rule=rule_id,
        severity=hit.severity or default,  # type: ignore[arg-type]
        message=hit.message,
        item=None if fixed_line is not None else item_key(item),
        file=item._file,
        line=fixed_line if fixed_line is not None else ws.line_of(item, hit.path),
        field=format_path(hit.path) or None,
    )


def _run(rules: list, ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for r in rules:
        out.extend(_to_finding(ctx.ws, r.id, r.severity, hit) for hit in r.check(ctx))
    return out


def run_checks(ws: Workspace, graph: nx.MultiDiGraph | None = None, *, only: set[str] | None = None) -> CheckReport:
    """All findings for ``ws``: load problems plus every rule, overrides applied, sorted."""
    from . import families  # noqa: F401  (importing a family registers its rules)
    from ..graph import build_graph

    graph = graph if graph is not None else build_graph(ws)
    with paused_gc():
        return _run_checks(ws, graph, only)


def _run_checks(ws: Workspace, graph: nx.MultiDiGraph, only: set[str] | None) -> CheckReport:
    selected = [r for r in RULES.values() if r.check and (only is None or r.id in only)]
    ctx = Context(ws, graph)
    findings = list(ws.findings) + _run([r for r in selected if not r.late], ctx)
    findings.extend(_config_findings(ws))
    late_ctx = Context(ws, graph, findings, ctx.disk)
    findings += _run([r for r in selected if r.late], late_ctx)

    overrides = ws.config.rules
    kept: list[Finding] = []
    ignored = 0
    for f in findings:
        override = overrides.get(f.rule)
        if override is not None:
            if override.severity == "off":
                ignored += 1
                continue
            f.severity = override.severity
        kept.append(f)
    kept.sort(key=Finding.sort_key)
    counts: dict[str, int] = {}
    for f in kept:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return CheckReport(kept, items=len(ws.items), files=len(ws.files), ignored=ignored, counts=counts, disk=ctx.disk)


def check_workspace(start: Path | str | None = None, *, use_cache: bool = True) -> CheckReport:
    """Load and check a workspace; on an unchanged workspace answer from the result cache."""
    from ..workspace.config import find_root, load_config
    from ..workspace.layout import Layout
    from ..workspace.load import discover, load_items
    from . import result_cache

    root = find_root(Path(start) if start else None)
    config = load_config(root)
    started = result_cache.now_ns()
    listing = discover(root, Layout.of(root, config).item_dirs)
    key = result_cache.listing_key((root / CONFIG_NAME).read_bytes(), listing)
    if use_cache:
        hit = result_cache.load(root, key, listing)
        if hit is not None:
            return CheckReport(hit["findings"], hit["items"], hit["files"], hit["ignored"], hit["counts"])
    ws = load_items(root, config, listing, use_cache=use_cache)
    report = run_checks(ws)
    if use_cache:
        result_cache.store(root, key, started, report.disk, report)
    return report


def _config_findings(ws: Workspace) -> list[Finding]:
    """Overrides in mle3.yaml that name no rule."""
    out = []
    for rule_id in ws.config.rules:
        if rule_id not in RULES:
            out.append(
                Finding(
                    "config.unknown-rule",
                    "warning",
                    f"rules: {rule_id!r} is not a rule id (see `mle3 rules`)",
                    file=CONFIG_NAME,
                    line=_config_line(ws, rule_id),
                    field=f"rules.{rule_id}",
                )
            )
    return out


def _config_line(ws: Workspace, rule_id: str) -> int:
    from ..workspace.yamlpos import parse_documents

    try:
        docs, _ = parse_documents((ws.root / CONFIG_NAME).read_bytes())
        return line_of(docs[0], ("rules", rule_id), 1)
    except Exception:
        return 1
