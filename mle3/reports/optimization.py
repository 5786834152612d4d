"""What a hyperparameter study shows in the 13-65 training report and on the site: the
objective, trials by status, the ten best trials, the best values, parameter importances
and the optimization history (MLE.3 BP3 and outcome O5: results of optimization are
summarized)."""

from __future__ import annotations

from typing import Any

from .charts import Series, bar_chart, line_chart


def study_summary(study: Any) -> dict[str, Any]:
    """Tables and charts of a ``study`` item (values as recorded by ``mle3 tune``)."""
    trials = list(study.trials or [])
    objective = dict(study.objective or {})
    maximize = objective.get("direction", "maximize") == "maximize"
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status or "?"] = counts.get(t.status or "?", 0) + 1
    complete = [t for t in trials if t.status == "complete" and t.value is not None]
    top = [t.as_written() for t in sorted(complete, key=lambda t: t.value, reverse=maximize)[:10]]
    params = list(study.best.params) if study.best else sorted({k for t in trials for k in t.params})
    return {
        "missing": None,
        "id": study.id,
        "config": study.config,
        "objective": objective,
        "sampler": study.sampler,
        "pruner": study.pruner,
        "seed": study.seed,
        "counts": dict(sorted(counts.items())),
        "total": len(trials),
        "top": top,
        "params": params,
        "best": study.best.as_written() if study.best else None,
        "importances": dict(study.importances or {}),
        "importance_chart": _importance_chart(study.importances or {}),
        "history_chart": _history_chart(trials, objective.get("metric", "value"), maximize),
    }


def _importance_chart(importances: dict[str, float]) -> str | None:
    if not importances:
        return None
    names = list(importances)
    return bar_chart("Parameter importance (Optuna)", names, {"importance": [float(importances[n]) for n in names]})


def _history_chart(trials: list[Any], metric: str, maximize: bool) -> str | None:
    done = [t for t in sorted(trials, key=lambda t: t.number or 0) if t.status == "complete" and t.value is not None]
    if not done:
        return None
    xs = [t.number for t in done]
    ys = [float(t.value) for t in done]
    best, running = [], None
    for y in ys:
        running = y if running is None else (max(running, y) if maximize else min(running, y))
        best.append(running)
    return line_chart(
        f"Optimization history: {metric} of each complete trial",
        [Series("trial", xs, ys), Series("best so far", xs, best, dashed=True)],
        y_label=metric,
        x_label="trial",
    )


def optimization_of(ws: Any, cfg: Any) -> dict[str, Any] | None:
    """The study a training configuration was optimized by (``optimized_by``), summarized;
    ``{"missing": id}`` when the record is not in the workspace."""
    if cfg is None or not getattr(cfg, "optimized_by", None):
        return None
    study = ws.resolve(cfg.optimized_by)
    if study is None or study.kind != "study":
        return {"missing": cfg.optimized_by}
    return study_summary(study)
