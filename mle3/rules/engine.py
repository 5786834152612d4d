"""Run every registered rule over a workspace and apply the severity policy of mle3.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..findings import Finding, format_path
from ..graph import build_graph
from ..workspace import CONFIG_NAME, Workspace, item_key
from ..workspace.yamlpos import line_of
from .registry import RULES, Context, Hit

#: Version of the JSON document ``mle3 check --format json`` prints.
CHECK_SCHEMA = "mle3.check/1"


@dataclass
class CheckReport:
    findings: list[Finding]
    items: int
    files: int
    ignored: int = 0
    counts: dict[str, int] = field(default_factory=dict)

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


def _to_finding(rule_id: str, default: str, hit: Hit) -> Finding:
    item = hit.item
    raw = getattr(item, "_raw", None)
    return Finding(
        rule=rule_id,
        severity=hit.severity or default,  # type: ignore[arg-type]
        message=hit.message,
        item=item_key(item),
        file=getattr(item, "_file", None),
        line=line_of(raw, hit.path, getattr(item, "_line", 0)) if raw is not None else None,
        field=format_path(hit.path) or None,
    )


def _run(rules: list, ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for r in rules:
        out.extend(_to_finding(r.id, r.severity, hit) for hit in r.check(ctx))
    return out


def run_checks(ws: Workspace, graph: nx.MultiDiGraph | None = None, *, only: set[str] | None = None) -> CheckReport:
    """All findings for ``ws``: load problems plus every rule, overrides applied, sorted."""
    graph = graph if graph is not None else build_graph(ws)
    selected = [r for r in RULES.values() if r.check and (only is None or r.id in only)]
    ctx = Context(ws, graph)
    findings = list(ws.findings) + _run([r for r in selected if not r.late], ctx)
    findings.extend(_config_findings(ws))
    late_ctx = Context(ws, graph, findings)
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
            f.severity = override.severity  # type: ignore[assignment]
        kept.append(f)
    kept.sort(key=Finding.sort_key)
    counts: dict[str, int] = {}
    for f in kept:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return CheckReport(kept, items=len(ws.items), files=len(ws.files), ignored=ignored, counts=counts)


def _config_findings(ws: Workspace) -> list[Finding]:
    """Overrides in mle3.yaml that name no rule."""
    out = []
    for rule_id in ws.config.rules:
        if rule_id not in RULES:
            out.append(Finding("config.unknown-rule", "warning", f"rules: {rule_id!r} is not a rule id (see `mle3 rules`)", file=CONFIG_NAME, line=_config_line(ws, rule_id), field=f"rules.{rule_id}"))
    return out


def _config_line(ws: Workspace, rule_id: str) -> int:
    from ..workspace.yamlpos import parse_documents

    try:
        docs, _ = parse_documents((ws.root / CONFIG_NAME).read_bytes())
        return line_of(docs[0], ("rules", rule_id), 1)
    except Exception:
        return 1
