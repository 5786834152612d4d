"""The traceability matrix: every requirement against what covers it, gaps marked."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

import networkx as nx

from .rules.criteria import evaluate
from .workspace import Workspace

MATRIX_SCHEMA = "mle3.matrix/1"


@dataclass
class MatrixRow:
    requirement: str
    title: str
    type: str
    datasets: list[str] = field(default_factory=list)
    configurations: list[str] = field(default_factory=list)
    model_versions: list[str] = field(default_factory=list)
    criteria_met: int = 0
    criteria_total: int = 0
    gaps: list[str] = field(default_factory=list)


def build_matrix(ws: Workspace, graph: nx.MultiDiGraph) -> list[MatrixRow]:
    """One row per requirement; each index is built once (linear in the workspace)."""
    datasets_of: dict[str, list] = {}
    for ds in ws.of_kind("dataset"):
        for r in ds.requirements:
            datasets_of.setdefault(r, []).append(ds)
    models_of: dict[str, list] = {}
    for m in ws.of_kind("model_version"):
        for r in m.traceability.requirements:
            models_of.setdefault(r, []).append(m)
    configs = [(cfg, ws.resolve(cfg.dataset)) for cfg in ws.of_kind("training")]
    configs_by_dataset_id: dict[str, list] = {}
    configs_by_req: dict[str, list] = {}
    for cfg, target in configs:
        if target is not None and target.kind == "dataset":
            configs_by_dataset_id.setdefault(target.id, []).append(cfg)
        for r in cfg.requirements:
            configs_by_req.setdefault(r, []).append(cfg)
    rows = []
    for req in sorted(ws.of_kind("requirement"), key=lambda r: r.id):
        row = MatrixRow(req.id, req.title or "", req.type)
        datasets = datasets_of.get(req.id, [])
        row.datasets = sorted(ds.key for ds in datasets)
        found = {cfg.id: None for cfg in configs_by_req.get(req.id, [])}
        for ds_id in sorted({ds.id for ds in datasets}):
            found.update({cfg.id: None for cfg in configs_by_dataset_id.get(ds_id, [])})
        row.configurations = [cfg.id for cfg, _ in configs if cfg.id in found]
        models = models_of.get(req.id, [])
        row.model_versions = sorted(m.id for m in models)
        for criterion in req.criteria:
            targets = models if hasattr(criterion, "metric") else datasets
            for t in targets:
                row.criteria_total += 1
                row.criteria_met += evaluate(criterion, t).passed is True
        if req.type == "ml_data" and not datasets:
            row.gaps.append("no data set")
        if (req.type in ("performance", "ml_model") or any(hasattr(c, "metric") for c in req.criteria)) and not models:
            row.gaps.append("no model version")
        if row.criteria_total and row.criteria_met < row.criteria_total:
            row.gaps.append(f"{row.criteria_total - row.criteria_met} criterion check(s) not met")
        if not (datasets or models or row.configurations or list(graph.predecessors(req.id))):
            row.gaps.append("nothing traces to it")
        rows.append(row)
    return rows


def render_matrix(rows: list[MatrixRow], fmt: str, project: str = "") -> str:
    if fmt == "json":
        return json.dumps({"schema": MATRIX_SCHEMA, "project": project, "rows": [asdict(r) for r in rows]}, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(
            [
                "requirement",
                "title",
                "type",
                "datasets",
                "configurations",
                "model_versions",
                "criteria_met",
                "criteria_total",
                "gaps",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r.requirement,
                    r.title,
                    r.type,
                    " ".join(r.datasets),
                    " ".join(r.configurations),
                    " ".join(r.model_versions),
                    r.criteria_met,
                    r.criteria_total,
                    "; ".join(r.gaps),
                ]
            )
        return buf.getvalue()
    if fmt == "md":
        out = [
            "| Requirement | Type | Data sets | Configurations | Model versions | Criteria | Gaps |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:

            def cell(values: list[str]) -> str:
                return ", ".join(values) or "**—**"

            crit = f"{r.criteria_met}/{r.criteria_total}" if r.criteria_total else "–"
            gaps = "**" + "; ".join(r.gaps) + "**" if r.gaps else ""
            out.append(
                f"| {r.requirement} {_md(r.title)} | {r.type} | {cell(r.datasets)} | {cell(r.configurations)} | {cell(r.model_versions)} | {crit} | {gaps} |"
            )
        return "\n".join(out) + "\n"
    if fmt == "html":
        from .templating import render_template

        return render_template("matrix.html.j2", rows=rows, project=project)
    raise ValueError(f"unknown matrix format {fmt}")


def _md(text: str) -> str:
    return f"— {text.replace('|', '/')}" if text else ""
