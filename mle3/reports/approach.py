"""The 08-65 ML training and validation approach: every section of an ``approach:`` item,
the configurations that follow it, and for each recent run of those configurations whether
its entry and exit criteria held and the hardware it ran on against the one required
(the checks of :mod:`mle3.rules.approach`, the same ones ``mle3 check`` runs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..rules.approach import (
    when_of,
    accepted_deviation,
    entry_check,
    exit_check,
    hardware_gaps,
    is_trial,
    approach_of_run,
    used_hardware,
)
from ..rules.registry import Context as RuleContext
from ..rules.training import early_stopping_cannot_fire
from ..workspace import item_key

INERT = "training.early-stopping-inert"

#: runs shown per configuration (newest first)
RECENT_RUNS = 10

ENTRY_TEXT = {
    "dataset_verified": "The data set's files hashed to its registered fingerprint when the run started",
    "dataset_approved": "The 11-07 of the data set version was approved before the run started",
    "configuration_approved": "The 04-11 of the configuration was approved before the run started",
    "clean_worktree": "Every input was committed (clean git working tree) when the run started",
}


def _relations(ctx: Any, key: str, relation: str, direction: str) -> list[Any]:
    graph = ctx.graph
    edges = graph.in_edges(key, data=True) if direction == "down" else graph.out_edges(key, data=True)
    out = []
    for a, b, data in edges:
        if data.get("relation") == relation:
            other = a if direction == "down" else b
            out.append(ctx.ws.by_key[other])
    return out


def _short_time(value: Any) -> str:
    when = when_of(value)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if when is not None else "–"


def _run_row(rctx: RuleContext, run: Any, cfg: Any, approach: Any) -> dict[str, Any]:
    ws = rctx.ws
    entry = entry_check(rctx, run, cfg, approach)
    model = ws.resolve(run.model_version) if run.model_version else None
    model = model if model is not None and model.kind == "model_version" else None
    verdict = exit_check(ws, run, cfg, approach, model)
    env = approach.environment
    required = env.hardware if env is not None else None
    used = used_hardware(run)
    gaps = hardware_gaps(required, used) if required is not None else []
    accepted = accepted_deviation(rctx, run) if gaps else None
    return {
        "id": run.id,
        "config": cfg.id,
        "status": run.status,
        "started": _short_time(run.started or run.created),
        "model": model.id if model is not None else None,
        "entry_met": all(c.met is not False for c in entry),
        "entry_unmet": [f"{c.name}: {c.detail}" for c in entry if c.met is False],
        "entry_held": [f"{c.name}: {c.detail}" for c in entry if c.met is True],
        "exit_met": verdict.met,
        "exit_lines": verdict.lines,
        "used": used.text() if used is not None else "not recorded",
        "required": required.text() if required is not None else "–",
        "gaps": gaps,
        "accepted": (
            {"name": accepted.name, "role": accepted.role, "time": accepted.time, "comment": accepted.comment}
            if accepted is not None
            else None
        ),
    }


def build_approach(ctx: Any, approach: Any) -> dict[str, Any]:
    ws = ctx.ws
    rctx = RuleContext(ws, ctx.graph)
    configurations = sorted(_relations(ctx, approach.id, "follows", "down"), key=lambda c: c.id)
    runs: list[dict[str, Any]] = []
    for cfg in configurations:
        mine = [
            r
            for r in ws.of_kind("run")
            if r.run_kind == "training"
            and not is_trial(r)
            and r.status != "pending"
            and ws.resolve(r.config) is cfg
            and approach_of_run(ws, r, cfg) is approach
        ]
        mine.sort(key=lambda r: str(r.started or r.created or ""), reverse=True)
        runs.extend(_run_row(rctx, r, cfg, approach) for r in mine[:RECENT_RUNS])
    entry = approach.entry_criteria
    ex = approach.exit_criteria
    shown = {item_key(approach), *(item_key(c) for c in configurations), *(r["id"] for r in runs)}
    return {
        "approach": approach,
        "entry": [
            {"name": name, "required": bool(getattr(entry, name)), "text": text} for name, text in ENTRY_TEXT.items()
        ],
        "exit": ex,
        "tuning": approach.tuning,
        "data": approach.data,
        "environment": approach.environment,
        "interface": approach.interface,
        "robustification": approach.robustification,
        "requirements": [
            {"id": r, "title": getattr(ws.resolve(r), "title", None), "found": ws.resolve(r) is not None}
            for r in approach.requirements
        ],
        "configurations": [
            {
                "id": c.id,
                "file": c._file,
                "epochs": c.epochs,
                "patience": c.early_stopping.patience,
                "metric": c.early_stopping.metric,
                "inert": early_stopping_cannot_fire(c),
                "dataset": c.dataset,
            }
            for c in configurations
        ],
        "runs": runs,
        "recent": RECENT_RUNS,
        "deviations": [r for r in runs if r["gaps"]],
        "findings": [f for f in ctx.check.findings if f.rule.startswith(("approach.", INERT)) and f.item in shown],
    }
