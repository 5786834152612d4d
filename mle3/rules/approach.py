"""Family ``approach``: training runs and model versions held to the training and validation
approach (08-65) their configuration follows.

Which runs are judged: training runs (``kind: training``) that started, not the trials of a
study (a trial explores; its model is never promoted: the configuration the study's result
is accepted into trains the run that counts). The approach a run is held to is the one its
configuration named when the run started (the snapshot in the run record), else the one it
names now; a run that predates its configuration's approach is not judged.

- entry criteria: read from the run record (the data check at the start, the git state,
  the hashes of the configuration and data it used) and the audit log: an approval counts
  for an entry criterion only when it verifies (:func:`~mle3.ledger.gates.verified_approvals`),
  was recorded before the run started, is the person's latest decision in that role before
  then, and approved the content the run used (the item's fingerprint unchanged since, and
  the data set's registered fingerprint / the configuration's hash the same as the run's).
- exit criteria: the run ended ``success`` and one of: the exit metric reached on val (the
  model's validation metrics, which are the best epoch's; else the best epoch of
  ``epochs.jsonl``), the epoch budget spent, early stopping fired.
- hardware: the accelerator, count and precision the run used (its arguments ``device``
  and ``amp``, the GPU names of its environment) against ``environment.hardware``; memory
  per GPU is not recorded by a run and is not checked.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from collections.abc import Iterator

from ..formats import config_hash
from ..ledger.approvals import Approval, latest_decisions
from ..vocab import FITNESS_METRICS, MODEL_TO_EPOCH
from ..workspace.records import EPOCHS_FILE, read_epochs
from .approvals import _shared
from .training import early_stopping_cannot_fire
from .registry import Context, Hit, rule

_RELEASED = ("validated", "released")
HARDWARE_RULE = "approach.hardware-deviation"


# ----------------------------------------------------------------------------- what a run holds
def _raw(run: Any) -> dict[str, Any]:
    raw = getattr(run, "_raw", None)
    return raw if isinstance(raw, dict) else {}


def when_of(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        out = value
    elif isinstance(value, dt.date):
        out = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            out = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return out if out.tzinfo is not None else out.replace(tzinfo=dt.timezone.utc)


def is_trial(run: Any) -> bool:
    return bool(_raw(run).get("study"))


def judged_runs(ws: Any) -> Iterator[tuple[Any, Any, Any]]:
    """(run, configuration, approach) of every training run held to an approach."""
    for run in ws.of_kind("run"):
        if run.run_kind != "training" or is_trial(run) or run.status == "pending":
            continue
        cfg = ws.resolve(run.config)
        if cfg is None or cfg.kind != "training":
            continue
        approach = approach_of_run(ws, run, cfg)
        if approach is not None:
            yield run, cfg, approach


def approach_of_run(ws: Any, run: Any, cfg: Any) -> Any | None:
    """The approach the configuration named when the run started (its snapshot), else now."""
    snapshot = _raw(run).get("configuration")
    name = snapshot.get("approach") if isinstance(snapshot, dict) else cfg.approach
    if not isinstance(name, str) or not name:
        return None
    found = ws.resolve(name)
    return found if found is not None and found.kind == "approach" else None


@dataclass
class UsedHardware:
    """What a run trained on, as its record says."""

    accelerator: str  # "cpu" or the GPU name(s)
    names: list[str]
    count: int
    precision: str

    def text(self) -> str:
        if self.accelerator == "cpu":
            return f"cpu ({self.precision})"
        return f"{self.count}x {', '.join(dict.fromkeys(self.names))} ({self.precision})"


def used_hardware(run: Any) -> UsedHardware | None:
    """The hardware from the run's arguments and environment; None when not recorded."""
    raw = _raw(run)
    params, env = raw.get("parameters"), raw.get("environment")
    if not isinstance(params, dict) or not isinstance(env, dict):
        return None
    gpus = [str(g) for g in env.get("gpus") or [] if isinstance(g, str)] if isinstance(env.get("gpus"), list) else []
    device = str(params.get("device") if params.get("device") is not None else "").strip().lower()
    amp = params.get("amp") is True
    if device == "cpu" or (not device and not gpus):
        return UsedHardware("cpu", [], 0, "fp32")
    indices = [p.strip().removeprefix("cuda:") for p in device.split(",") if p.strip()]
    names = [gpus[int(i)] for i in indices if i.isdigit() and int(i) < len(gpus)]
    if not indices and gpus:
        names = gpus[:1]
    if not names:  # a device the environment does not name (mps, a GPU not listed)
        names = [device or "unknown"]
    precision = "amp" if amp else ("fp16" if params.get("half") is True else "fp32")
    return UsedHardware("gpu", names, len(names), precision)


def hardware_gaps(required: Any, used: UsedHardware | None) -> list[str]:
    """How the hardware a run used differs from the approach's requirement (empty: none)."""
    if used is None:
        return [f"the run recorded no device or environment; the approach requires {required.text()}"]
    if required.is_cpu:
        return [] if used.accelerator == "cpu" else [f"it trained on {used.text()}; the approach requires cpu"]
    if used.accelerator == "cpu":
        return [f"it trained on cpu; the approach requires {required.text()}"]
    gaps = []
    wanted = " ".join(required.accelerator.lower().split())
    other = [n for n in used.names if wanted not in " ".join(n.lower().split())]
    if other:
        gaps.append(f"it trained on {', '.join(dict.fromkeys(other))}, not {required.accelerator}")
    if used.count < required.count:
        gaps.append(f"it used {used.count} GPU(s), the approach requires {required.count}")
    if required.precision is not None:
        same = used.precision == required.precision or (required.precision == "fp16" and used.precision == "amp")
        if not same:
            gaps.append(f"precision {used.precision}, the approach requires {required.precision}")
    return gaps


# ----------------------------------------------------------------------------- entry criteria
@dataclass
class Criterion:
    name: str
    met: bool | None  # None: not required by the approach
    detail: str


def _approved_before(
    approvals: list[Approval], key: str, start: dt.datetime, roles: list[str], fingerprint: str
) -> tuple[list[Approval], list[str]]:
    """The approvals of ``key`` that count for entry: the latest decision of each person in a
    role before ``start`` is an approval of the fingerprint (and of a policy role, when the
    policy names roles). Returns them and why others did not count."""
    before = [a for a in approvals if a.item == key and (t := when_of(a.time)) is not None and t <= start]
    later = [a for a in approvals if a.item == key and a not in before]
    decisions = [a for a in latest_decisions(before, key) if not roles or a.role in roles]
    good = [a for a in decisions if a.decision == "approved" and a.fingerprint == fingerprint]
    why = []
    if later and not good:
        why.append(f"approved only after the start ({later[0].time})")
    if any(a.decision == "approved" and a.fingerprint != fingerprint for a in decisions) and not good:
        why.append("approved for other content than now")
    if any(a.decision == "rejected" for a in decisions) and not good:
        why.append("rejected before the start")
    return good, why


def entry_check(ctx: Context, run: Any, cfg: Any, approach: Any) -> list[Criterion]:
    """Each entry criterion of the approach, judged for this run."""
    crit = approach.entry_criteria
    raw = _raw(run)
    out: list[Criterion] = []
    start = when_of(run.started) or when_of(run.created)
    ws = ctx.ws
    dataset = ws.resolve(run.dataset_version) if run.dataset_version else None
    dataset = dataset if dataset is not None and dataset.kind == "dataset" else None
    if crit.dataset_verified:
        check = raw.get("data_check")
        if dataset is None:
            out.append(Criterion("dataset_verified", False, "it trained on no registered data set version"))
        elif isinstance(check, dict) and check.get("checked") is True and check.get("matches") is True:
            out.append(Criterion("dataset_verified", True, f"{dataset.key} hashed to its fingerprint at the start"))
        else:
            problem = (
                "its files did not match the registration" if isinstance(check, dict) else "no data check recorded"
            )
            out.append(Criterion("dataset_verified", False, f"{run.dataset_version}: {problem}"))
    else:
        out.append(Criterion("dataset_verified", None, "not required"))
    shared = _shared(ctx) if (crit.dataset_approved or crit.configuration_approved) else None
    for name, wanted, item, wp, same, what in (
        (
            "dataset_approved",
            crit.dataset_approved,
            dataset,
            "11-07",
            dataset is not None and bool(run.dataset_fingerprint) and dataset.fingerprint == run.dataset_fingerprint,
            "the data set the run used",
        ),
        (
            "configuration_approved",
            crit.configuration_approved,
            cfg,
            "04-11",
            bool(run.config_sha256) and config_hash(cfg._raw) == run.config_sha256,
            "the configuration the run used",
        ),
    ):
        if not wanted:
            out.append(Criterion(name, None, "not required"))
            continue
        if item is None:
            out.append(Criterion(name, False, f"{run.dataset_version or 'no data set'}: not a registered data set"))
            continue
        assert shared is not None
        key = ctx.key(item)
        if start is None:
            out.append(Criterion(name, False, f"the run recorded no start time, so no approval of {key} precedes it"))
            continue
        if not same:
            recorded = run.dataset_fingerprint if name == "dataset_approved" else run.config_sha256
            gone = "changed since the run used it" if recorded else "has no fingerprint recorded by the run"
            out.append(Criterion(name, False, f"{key} {gone}: no approval can show {what}"))
            continue
        roles = ws.config.policy.approvals.get(wp, [])
        good, why = _approved_before(shared.all, key, start, roles, shared.fingerprints.of(key))
        if good:
            a = good[0]
            out.append(Criterion(name, True, f"{key} approved by {a.name} ({a.role}) at {a.time}, before the start"))
        else:
            reason = "; ".join(why) or "no approval recorded"
            out.append(Criterion(name, False, f"{key} ({wp}) was not approved before the run started: {reason}"))
    if crit.clean_worktree:
        code = raw.get("code")
        dirty = code.get("dirty") if isinstance(code, dict) else None
        if dirty is False:
            out.append(Criterion("clean_worktree", True, "the working tree was clean at the start"))
        else:
            files = code.get("dirty_files") if isinstance(code, dict) else None
            detail = (
                f"uncommitted changes at the start ({', '.join(map(str, files[:3]))})"
                if dirty and isinstance(files, list) and files
                else ("uncommitted changes at the start" if dirty else "no git state recorded")
            )
            out.append(Criterion("clean_worktree", False, detail))
    else:
        out.append(Criterion("clean_worktree", None, "not required"))
    return out


# ----------------------------------------------------------------------------- exit criteria
@dataclass
class ExitVerdict:
    """Whether a model's training met its approach's exit criteria, and the facts."""

    approach: str
    run: str | None
    met: bool
    #: what held (or did not), one line each
    lines: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return "; ".join(self.lines)


def _val_metric(ws: Any, run: Any, model: Any, metric: str) -> tuple[float | None, str]:
    if model is not None and model.metrics.validation is not None:
        value = model.metrics.validation.get(metric)
        if value is not None:
            return float(value), f"the model's val {metric}"
    epoch_name = MODEL_TO_EPOCH.get(metric, metric)
    rel = (PurePosixPath(run._file).parent / EPOCHS_FILE).as_posix()
    path = ws.root / rel
    epochs = read_epochs(path) if path.is_file() else []
    best = run.best_epoch
    chosen = next((e for e in epochs if e.get("epoch") == best), None) if best is not None else None
    value = chosen.get(epoch_name) if chosen is not None else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value), f"val {metric} at the best epoch {best}"
    return None, f"val {metric}"


def exit_check(ws: Any, run: Any, cfg: Any, approach: Any, model: Any = None) -> ExitVerdict:
    """The exit criteria of ``approach`` for the training ``run`` (and its ``model``)."""
    ex = approach.exit_criteria
    lines: list[str] = []
    if run.status != "success":
        return ExitVerdict(approach.id, run.id, False, [f"run {run.id} ended {run.status!r}, not success"])
    held = False
    if ex.metric is not None:
        value, where = _val_metric(ws, run, model, ex.metric.metric)
        bound = " and ".join(
            b
            for b in (
                f">= {ex.metric.min}" if ex.metric.min is not None else "",
                f"<= {ex.metric.max}" if ex.metric.max is not None else "",
            )
            if b
        )
        ok = (
            value is not None
            and (ex.metric.min is None or value >= ex.metric.min)
            and (ex.metric.max is None or value <= ex.metric.max)
        )
        held = held or ok
        shown = "not recorded" if value is None else f"{value:.4g}"
        lines.append(f"{where} {shown} ({'reached' if ok else 'not reached'}: {bound})")
    snapshot = _raw(run).get("configuration")
    configured = snapshot.get("epochs") if isinstance(snapshot, dict) else None
    budget = ex.epoch_budget or (configured if type(configured) is int else cfg.epochs if cfg is not None else None)
    done = run.epochs_completed
    if budget is not None:
        ok = type(done) is int and done >= budget
        held = held or ok
        lines.append(
            f"{done if done is not None else 'no'} of {budget} epochs ({'budget spent' if ok else 'budget not spent'})"
        )
    stopped = run.early_stop_epoch is not None
    held = held or stopped
    if stopped:
        lines.append(f"early stopping fired at epoch {run.early_stop_epoch}")
    elif cfg is not None and early_stopping_cannot_fire(cfg, configured):
        epochs = configured if type(configured) is int else cfg.epochs
        lines.append(
            f"early stopping cannot fire (patience {cfg.early_stopping.patience} >= {epochs} epochs): "
            "no exit criterion of this training"
        )
    else:
        lines.append("early stopping did not fire")
    return ExitVerdict(approach.id, run.id, held, lines)


def model_exit_verdict(ws: Any, model: Any) -> ExitVerdict | None:
    """The exit verdict for a model version's training; None when no approach applies."""
    source = ws.resolve(model.training_run) if model.training_run else None
    if source is None:
        return None
    if source.kind == "training":
        approach = ws.resolve(source.approach) if source.approach else None
        if approach is None or approach.kind != "approach":
            return None
        return ExitVerdict(
            approach.id,
            None,
            False,
            [f"it names configuration {source.id}, not a run record that shows how training ended"],
        )
    if source.kind != "run":
        return None
    cfg = ws.resolve(source.config)
    cfg = cfg if cfg is not None and cfg.kind == "training" else None
    approach = approach_of_run(ws, source, cfg) if cfg is not None else None
    if approach is None:
        return None
    return exit_check(ws, source, cfg, approach, model)


# ----------------------------------------------------------------------------- accepted deviations
def accepted_deviation(ctx: Context, run: Any) -> Approval | None:
    """A verified, fresh approval of the run that accepts its hardware deviation."""
    shared = _shared(ctx)
    key = ctx.key(run)
    fingerprint = shared.fingerprints.of(key)
    for a in latest_decisions(shared.all, key):
        if a.decision == "approved" and a.fingerprint == fingerprint and a.deviation == HARDWARE_RULE:
            return a
    return None


def _early_stopping_metric(name: str | None) -> str | None:
    if name is None:
        return None
    return FITNESS_METRICS.get(name.strip().lower(), name.strip().lower())


# ----------------------------------------------------------------------------- rules
@rule(
    "approach.missing",
    "warning",
    "A training configuration names no training and validation approach (08-65), in a workspace that has one: its "
    "runs are held to no entry or exit criteria and no required hardware.",
    "Name the approach the configuration follows (`approach: APPROACH-ID`); `mle3 report 08-65 ID` shows it.",
)
def missing(ctx: Context) -> Iterator[Hit]:
    if not ctx.ws.of_kind("approach"):
        return  # a workspace without approaches: the assessment view reports BP1 missing
    for cfg in ctx.ws.of_kind("training"):
        if not cfg.approach:
            yield Hit(cfg, f"configuration {cfg.id} names no approach (approach:)")


@rule(
    "approach.entry-unmet",
    "error",
    "A training run started while an entry criterion of its configuration's approach was unmet (data set not "
    "verified or not approved before the start, configuration not approved, uncommitted changes).",
    "Meet the criterion (approve the data set's 11-07 or the configuration's 04-11, commit) and train again; the "
    "run stays on record as one that did not meet the approach.",
)
def entry_unmet(ctx: Context) -> Iterator[Hit]:
    for run, cfg, approach in judged_runs(ctx.ws):
        for c in entry_check(ctx, run, cfg, approach):
            if c.met is False:
                yield Hit(run, f"entry criterion {c.name} of approach {approach.id} unmet at the start: {c.detail}")


@rule(
    "approach.exit-unmet",
    "error",
    "A validated or released model version whose training did not meet its approach's exit criteria (the run ended "
    "success and the val metric was reached, the epoch budget spent, or early stopping fired).",
    "Train until the exit criteria hold and validate that model, or move this one back (`mle3 promote ID --to draft`).",
)
def exit_unmet(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        if model.status not in _RELEASED:
            continue
        run = ctx.ws.resolve(model.training_run) if model.training_run else None
        if run is not None and run.kind == "run":  # the result cache must notice an edited epochs.jsonl
            ctx.exists((PurePosixPath(run._file).parent / EPOCHS_FILE).as_posix())
        verdict = model_exit_verdict(ctx.ws, model)
        if verdict is not None and not verdict.met:
            yield Hit(
                model,
                f"{model.status} model's training did not meet the exit criteria of approach {verdict.approach}: "
                f"{verdict.summary}",
                ("training_run",),
            )


@rule(
    "approach.early-stopping",
    "error",
    "A configuration lacks the early-stopping rule its approach requires (no patience, a longer patience, or "
    "another metric).",
    "Set early_stopping.patience (at most the approach's) and early_stopping.metric as the approach says.",
)
def early_stopping(ctx: Context) -> Iterator[Hit]:
    for cfg in ctx.ws.of_kind("training"):
        approach = ctx.ws.resolve(cfg.approach) if cfg.approach else None
        if approach is None or approach.kind != "approach" or approach.exit_criteria.early_stopping is None:
            continue
        want = approach.exit_criteria.early_stopping
        have = cfg.early_stopping
        if not have.patience:
            yield Hit(
                cfg,
                f"approach {approach.id} requires early stopping with patience <= {want.patience}; the configuration "
                "sets none",
                ("early_stopping",),
            )
        elif have.patience > want.patience:
            yield Hit(
                cfg,
                f"early_stopping.patience {have.patience} is above the {want.patience} approach {approach.id} allows",
                ("early_stopping", "patience"),
            )
        if want.metric is not None and _early_stopping_metric(have.metric) != _early_stopping_metric(want.metric):
            yield Hit(
                cfg,
                f"early_stopping.metric is {have.metric!r}; approach {approach.id} requires {want.metric!r}",
                ("early_stopping", "metric") if have.metric else ("early_stopping",),
            )


@rule(
    HARDWARE_RULE,
    "warning",
    "A training run used other hardware than its approach requires (accelerator model, GPU count, precision): a "
    "deviation to record with its reason (info once accepted).",
    "Train on the required hardware, or accept the deviation with its reason: `mle3 approve RUN --role ROLE "
    "--deviation approach.hardware-deviation --comment WHY`.",
)
def hardware_deviation(ctx: Context) -> Iterator[Hit]:
    for run, _cfg, approach in judged_runs(ctx.ws):
        env = approach.environment
        if env is None or env.hardware is None:
            continue
        gaps = hardware_gaps(env.hardware, used_hardware(run))
        if not gaps:
            continue
        text = f"run {run.id} deviates from the hardware of approach {approach.id}: {'; '.join(gaps)}"
        accepted = accepted_deviation(ctx, run)
        if accepted is not None:
            yield Hit(
                run,
                f"{text} (accepted by {accepted.name} as {accepted.role}: {accepted.comment})",
                severity="info",
            )
        else:
            yield Hit(run, text)


@rule(
    "approach.tuning-reference",
    "error",
    "An approach's tuning section names a study or configuration that does not exist (or is of another kind).",
    "Correct the id in tuning.studies / tuning.configurations, or remove it.",
)
def tuning_reference(ctx: Context) -> Iterator[Hit]:
    for approach in ctx.ws.of_kind("approach"):
        if approach.tuning is None:
            continue
        for name, kind in (("studies", "study"), ("configurations", "training")):
            for i, ref in enumerate(getattr(approach.tuning, name)):
                found = ctx.ws.resolve(ref)
                if found is None or found.kind != kind:
                    what = "nothing" if found is None else f"a {found.kind}"
                    yield Hit(
                        approach,
                        f"tuning.{name} names {ref!r}, which resolves to {what}, not a {kind}",
                        ("tuning", name, i),
                    )
