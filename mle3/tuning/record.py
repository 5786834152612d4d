"""The study record ``artifacts/studies/<STUDY>.yaml``: a workspace item (kind ``study``)
rewritten from Optuna's storage, atomically and under a lock, whenever a trial finishes.

Optuna's storage is the truth; the record is what git keeps and reports read: the
configuration and its hash, the objective, the space, sampler, pruner and seed, the data
set fingerprint, every trial (number, run, status, value, parameters), the best trial and
the parameter importances (Optuna's default evaluator). Each study has its own file,
named by the study, so studies on two branches never touch the same file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._atomic import atomic_write_text
from ..runs.records import clean
from ..workspace.layout import DEFAULT, layout_at

#: the default place (``Layout.studies_dir`` is the workspace's own)
STUDY_DIR = DEFAULT.studies_dir
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


@dataclass
class StudyResult:
    """What a study run (or its record) says: its trials and the best one."""

    study: str
    record: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None


def redact(url: str) -> str:
    """A storage URL without its password (it goes into records and messages)."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def record_path(root: Path, name: str) -> Path:
    return root / layout_at(root).studies_dir / f"{name}.yaml"


def trials_of(study: Any) -> list[dict[str, Any]]:
    out = []
    for t in study.get_trials(deepcopy=False):
        out.append(
            {
                "number": t.number,
                "run": t.user_attrs.get("run"),
                "status": STATES.get(t.state.name, t.state.name.lower()),
                "value": None if t.value is None else clean(float(t.value)),
                "params": clean(dict(t.params)),  # rounded as in the trial's run record
                "epochs": len(t.intermediate_values),
                **({"baseline": True} if t.user_attrs.get("baseline") else {}),
                "duration_s": round(t.duration.total_seconds(), 2) if t.duration else None,
                **({"lost": str(t.user_attrs["lost"])} if t.user_attrs.get("lost") else {}),
            }
        )
    return out


def _best(study: Any, trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    complete = [t for t in trials if t["status"] == "complete" and t["value"] is not None]
    if not complete:
        return None
    pick = max if study.direction.name == "MAXIMIZE" else min
    best = pick(complete, key=lambda t: t["value"])
    return {k: best[k] for k in ("number", "run", "value", "params")}


def _importances(study: Any, trials: list[dict[str, Any]]) -> dict[str, float]:
    import optuna

    complete = [t for t in trials if t["status"] == "complete"]
    if len(complete) < 2:
        return {}
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "importances will be equal" for tiny studies: the numbers say so
            return {k: round(float(v), 4) for k, v in optuna.importance.get_param_importances(study).items()}
    except Exception:  # too few distinct values: no importances yet
        return {}


def write_record(root: Path, ws: Any, cfg: Any, study: Any, name: str, storage: str, *, final: bool = False) -> Any:
    """Rewrite the record from the storage; returns the :class:`StudyResult`."""
    from ..runner.train import config_hash

    path = record_path(root, name)
    layout = layout_at(root)
    with layout.lock(f"study-{name}"):
        from .lost import fail_lost_trials

        fail_lost_trials(root, study)  # a killed trial is failed, not left running
        trials = trials_of(study)
        best = _best(study, trials)
        dataset = ws.resolve(cfg.dataset) if cfg.dataset else None
        tuning = cfg.tuning
        counts: dict[str, int] = {}
        for t in trials:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        item = {
            "id": name,
            "title": f"Hyperparameter study of {cfg.id}",
            "config": cfg.id,
            "config_sha256": config_hash(cfg._raw),
            "status": "finished" if final and not counts.get("running") else "running",
            "updated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "storage": redact(storage)
            if not storage.startswith("sqlite:///" + str(root))
            else f"sqlite (workspace {layout.optuna_storage})",
            "objective": tuning.objective.model_dump(),
            "epochs_per_trial": tuning.epochs_per_trial or cfg.epochs,
            "sampler": tuning.sampler,
            "pruner": tuning.pruner,
            "seed": tuning.seed,
            **(
                {"process_seeds": [s.get("seed") for s in study.user_attrs["seeds"] if isinstance(s, dict)]}
                if isinstance(study.user_attrs.get("seeds"), list)
                else {}
            ),
            "space": {k: v.model_dump(exclude_none=True, exclude_defaults=True) for k, v in tuning.space.items()},
            "dataset_version": dataset.key if dataset is not None and dataset.kind == "dataset" else cfg.dataset,
            "dataset_fingerprint": getattr(dataset, "fingerprint", None),
            "counts": dict(sorted(counts.items())),
            "trials": trials,
            "best": best,
            "importances": _importances(study, trials),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            path,
            "# Written by `mle3 tune` from the Optuna study; do not edit.\n"
            + yaml.safe_dump({"study": item}, sort_keys=False, allow_unicode=True, width=120),
        )
    return StudyResult(name, path.relative_to(root).as_posix(), trials, best)
