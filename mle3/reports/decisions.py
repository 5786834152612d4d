"""MLE.3 and MLE.4 apart in the 13-65: which split each decision of a training used, and
the test results kept as ML model testing evidence (MLE.4, the 08-64 characteristics the
workspace records).

MLE.3 trains and optimizes on training and validation data: the best checkpoint, early
stopping, the approach's exit criteria, the tuning objective and the quantization gate all
decide on val (:data:`mle3.vocab.DECISION_SPLIT`). The test split stays unseen by them; its
results are what MLE.4 tests against the ML requirements.
"""

from __future__ import annotations

from typing import Any

from ..vocab import DECISION_SPLIT, FITNESS_METRICS, TEST_SPLIT, canonical_split
from ..workspace import item_key

#: ultralytics' own fitness when no early_stopping.metric names one
DEFAULT_FITNESS = "fitness (0.1 mAP50 + 0.9 mAP50-95)"


def _row(decision: str, split: str | None, basis: str, outcome: str) -> dict[str, Any]:
    on_test = split is not None and canonical_split(split) == TEST_SPLIT
    return {
        "decision": decision,
        "split": split or "none (a count)",
        "basis": basis,
        "outcome": outcome,
        "process": "MLE.4 (testing)" if on_test else "MLE.3",
    }


def split_decisions(
    ctx: Any, run: Any, model: Any, cfg: Any, checks: list[dict[str, Any]], optimization: Any
) -> list[dict[str, Any]]:
    """One row per decision the 13-65 reports: what was decided, on which split, on what basis."""
    from ..rules.approach import model_exit_verdict

    ws = ctx.ws
    rows: list[dict[str, Any]] = []
    early = cfg.early_stopping if cfg is not None else None
    fitness = FITNESS_METRICS.get((early.metric or "").strip().lower()) if early is not None and early.metric else None
    basis = f"val {early.metric}" if fitness and early is not None else f"val {DEFAULT_FITNESS}"
    if run is not None and run.run_kind == "training":
        best = f"epoch {run.best_epoch}" if run.best_epoch else "not recorded"
        rows.append(
            _row("best checkpoint (best.pt, the model's weights)", DECISION_SPLIT, f"the epoch of best {basis}", best)
        )
        patience = early.patience if early is not None else None
        if patience:
            epochs = cfg.epochs
            inert = isinstance(epochs, int) and patience >= epochs
            fired = f"fired at epoch {run.early_stop_epoch}" if run.early_stop_epoch else "did not fire"
            rows.append(
                _row(
                    "early stopping",
                    DECISION_SPLIT,
                    f"no better {basis} for {patience} epochs",
                    f"cannot fire: patience {patience} >= {epochs} epochs" if inert else fired,
                )
            )
    verdict = model_exit_verdict(ws, model) if model is not None else None
    if verdict is not None:
        approach = ws.resolve(verdict.approach)
        exit_ = approach.exit_criteria if approach is not None else None
        metric = exit_.metric if exit_ is not None else None
        rows.append(
            _row(
                f"exit criteria of {verdict.approach} (08-65)",
                DECISION_SPLIT if metric is not None else None,
                "; ".join(verdict.lines) or "—",
                "met" if verdict.met else "NOT met",
            )
        )
    if optimization and not optimization.get("missing"):
        objective = optimization.get("objective") or {}
        split = str(objective.get("split") or DECISION_SPLIT)
        rows.append(
            _row(
                f"hyperparameters from study {optimization.get('id')}",
                split,
                f"{objective.get('direction', 'maximize')} {objective.get('metric', '?')} on {split}",
                "chosen by the study's best trial",
            )
        )
    if model is not None:
        gated = [model] if model.quantization is not None else ctx.quantized_children.get(item_key(model), [])
        for child in gated:
            q = child.quantization
            rows.append(
                _row(
                    f"quantization gate of {item_key(child)}",
                    DECISION_SPLIT,
                    f"mAP50 drop against the float model <= {q.threshold} (whole split and each slice)",
                    "passed" if q.passed else "FAILED",
                )
            )
    for c in checks:
        rows.append(
            _row(
                f"criterion of {c['requirement']}",
                c.get("split"),
                c["text"],
                "met" if c["passed"] is True else "NOT met" if c["passed"] is False else "not evaluable",
            )
        )
    return rows


def testing_evidence(
    ctx: Any, run_data: Any, model: Any, dataset: Any, checks: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The ML model testing evidence (MLE.4) the workspace holds for ``model``: the test data
    set and its independence, the test results of the best weights, the criteria on test,
    the test slices and the quantized variants on test. None without a model."""
    if model is None:
        return None
    final = run_data.get("final_metrics") or {}
    recorded = final.get(TEST_SPLIT) if isinstance(final, dict) else None
    test_metrics = recorded or (model.metrics.test.model_dump(exclude_none=True) if model.metrics.test else {})
    info = dataset.split(TEST_SPLIT) if dataset is not None else None
    independence = []
    if dataset is not None:
        shared = dataset.shared_images
        independence.append(
            f"{shared} image(s) shared between splits" if shared else "no image shared between splits (by content)"
        )
        groups = dataset.leakage.shared_groups if dataset.leakage is not None else {}
        for name, found in (groups or {}).items():
            count = found.get("count") if isinstance(found, dict) else None
            independence.append(
                f"group {name!r}: {count} value(s) in more than one split"
                if count
                else f"group {name!r}: no value in two splits"
            )
    findings = [f for f in ctx.trace_findings(item_key(model)) if f.rule == "tuning.test-split"]
    independence.append(
        f"tuning on test: {findings[0].message}" if findings else "no study tuned on the test split (tuning.test-split)"
    )
    slices = [
        r for r in (model.slices.results if model.slices is not None else []) if canonical_split(r.split) == TEST_SPLIT
    ]
    environment = run_data.get("environment") if isinstance(run_data.get("environment"), dict) else {}
    gpus = environment.get("gpus")
    device = ", ".join(str(g) for g in gpus) if isinstance(gpus, list) and gpus else environment.get("cpu")
    return {
        "dataset": dataset.key if dataset is not None else None,
        "fingerprint": dataset.fingerprint if dataset is not None else None,
        "samples": info.samples if info is not None else None,
        "instances": sum((info.instances or {}).values()) if info is not None and info.instances else None,
        "independence": independence,
        "metrics": test_metrics,
        "criteria": [c for c in checks if canonical_split(str(c.get("split"))) == TEST_SPLIT],
        "slices": slices,
        "environment": f"ultralytics val on the best weights{f', on {device}' if device else ''}",
    }
