"""``mle3 tune``: an Optuna study over a training configuration's ``tuning:`` block.

Every trial is a recorded run (``mle3 train`` with the sampled values written into the
configuration, ``epochs_per_trial`` epochs, no test split and no model version); each
epoch's validation value is reported to Optuna, whose pruner may stop the trial (run
status ``pruned``). A crashed trial is ``failed`` in its run and in the study, which goes
on. The study lives in Optuna's storage (SQLite under ``.mle3/`` by default, or any
Optuna storage URL), so several processes, on one machine or many, join one study by
name; ``artifacts/studies/<STUDY>.yaml`` is rewritten from the storage as trials finish.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from ..errors import Mle3Error
from ..runs.records import pause_for_test
from ..vocab import MODEL_TO_EPOCH, f1, is_validation_split
from .lost import counted, fail_lost_trials, this_process
from ..workspace.layout import DEFAULT, layout_at
from .record import StudyResult, redact, write_record

if TYPE_CHECKING:
    from ..workspace import Workspace

#: the default place (``Layout.optuna_storage`` is the workspace's own)
DEFAULT_STORAGE = DEFAULT.optuna_storage


@dataclass
class TuneOptions:
    trials: int | None = None
    timeout: float | None = None
    study: str | None = None
    storage: str | None = None
    workers: int = 1
    device: str | None = None


def storage_url(root: Path, given: str | None) -> str:
    if given:
        return given
    path = root / layout_at(root).optuna_storage
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def open_storage(url: str) -> Any:
    """Optuna's storage for a URL; a file name ending in ``.log`` or ``journal:PATH`` is a
    journal file (for shared file systems). Unreachable: one line, exit 2."""
    import optuna

    try:
        if url.startswith("journal:") or url.endswith((".log", ".journal")):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
        engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=60, grace_period=180)
    except Exception as exc:  # sqlalchemy, a missing driver, a refused connection: all one line
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Mle3Error(f"cannot open the study storage {redact(url)}: {type(exc).__name__}: {detail[:200]}") from None


def process_seed(study: Any, tuning: Any) -> int | None:
    """The sampler seed of this process: ``tuning.seed`` plus the number of processes that
    joined the study before it (a counter in the study, taken under the workspace's
    storage lock), so every process samples other values, and a study run by one process
    is reproducible from ``tuning.seed``. Recorded in the study's ``seeds``."""
    joined = study.user_attrs.get("processes_joined", 0)
    joined = joined if type(joined) is int and joined >= 0 else 0
    study.set_user_attr("processes_joined", joined + 1)
    seed = None if tuning.seed is None else tuning.seed + joined
    seeds = study.user_attrs.get("seeds")
    seeds = list(seeds) if isinstance(seeds, list) else []
    study.set_user_attr("seeds", (seeds + [{"process": joined, "seed": seed, **this_process()}])[-100:])
    return seed


def _sampler(tuning: Any, seed: int | None) -> Any:
    import optuna

    if tuning.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if tuning.sampler == "cmaes":
        from ..optional import require

        require("cmaes")
        return optuna.samplers.CmaEsSampler(seed=seed)
    if tuning.sampler == "grid":
        return optuna.samplers.GridSampler({k: list(v.choices) for k, v in tuning.space.items()}, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(tuning: Any, epochs: int) -> Any:
    import optuna

    if tuning.pruner == "none":
        return optuna.pruners.NopPruner()
    if tuning.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    # detection metrics sit near 0 for the first epochs of every trial: compare only the
    # second half of a trial, after a few complete trials
    return optuna.pruners.MedianPruner(
        n_startup_trials=min(5, max(2, tuning.trials // 4)), n_warmup_steps=max(1, epochs // 2)
    )


def epoch_value(metrics: dict[str, Any], metric: str) -> float | None:
    """The objective's value in one epoch's validation metrics."""
    if metric == "f1":
        p, r = metrics.get("precision"), metrics.get("recall")
        return None if p is None or r is None else f1(p, r)
    value = metrics.get(MODEL_TO_EPOCH[metric])
    return None if value is None else float(value)


def resolve(ws: Any, config_ref: str) -> Any:
    """The configuration to tune; refuses one without ``tuning:`` or with an objective on
    the test split (the test split is never seen during a study)."""
    from ..runner.train import find_config

    cfg = find_config(ws, config_ref)
    if cfg.tuning is None:
        raise Mle3Error(
            f"configuration {cfg.id} has no tuning block (objective, trials, space)", file=cfg._file, field="tuning"
        )
    if not is_validation_split(cfg.tuning.objective.split):
        raise Mle3Error(
            f"the objective is measured on the {cfg.tuning.objective.split!r} split; a study may only use the "
            "validation split "
            "(the test split stays unseen until the final model)",
            file=cfg._file,
            line=ws.line_of(cfg, ("tuning", "objective", "split")),
            field="tuning.objective.split",
        )
    return cfg


def default_study_name(config_id: str) -> str:
    return f"{config_id}-TUNE-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def tune(
    root: Workspace | Path,
    config_ref: str,
    options: TuneOptions,
    echo: Callable[[str], None] = print,
    *,
    worker: int = 0,
) -> StudyResult:
    """Run (or join) a study; with ``options.workers`` > 1, start that many trial
    processes on the same study (one GPU each when there are GPUs) and wait for them."""
    import optuna

    from ..ids import check_id
    from ..workspace import as_workspace

    ws = as_workspace(root)
    root = ws.root
    cfg = resolve(ws, config_ref)
    tuning = cfg.tuning
    name = options.study or default_study_name(cfg.id)
    check_id(name, "study name", field="--study")
    url = storage_url(root, options.storage)
    trials = options.trials or tuning.trials
    epochs = tuning.epochs_per_trial or cfg.epochs
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    with ws.lock("optuna-storage"):  # processes starting together create the schema once
        storage = open_storage(url)
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            direction=tuning.objective.direction,
            sampler=optuna.samplers.RandomSampler(),
            pruner=_pruner(tuning, epochs),
            load_if_exists=True,
        )
        known = study.user_attrs.get("config")
        if known and known != cfg.id:
            raise Mle3Error(f"study {name} tunes configuration {known}, not {cfg.id}", field="--study")
        if not known:
            study.set_user_attr("config", cfg.id)
        study.sampler = _sampler(tuning, process_seed(study, tuning))
        lost = fail_lost_trials(root, study)
        if lost:
            echo(f"study {name}: trial(s) {', '.join(map(str, lost))} failed: their process is gone")
        if not study.trials and tuning.sampler != "grid":
            from .space import baseline_values

            aug = ws.resolve(cfg.augmentation) if cfg.augmentation else None
            baseline = baseline_values(cfg, aug, tuning.space)
            if baseline is not None:  # trial 0: the values as configured
                study.enqueue_trial(baseline, user_attrs={"baseline": True})
    if options.workers > 1 and worker == 0:
        _run_workers(root, cfg.id, name, url, options, trials, echo)
    else:
        _optimize(root, ws, cfg, study, name, url, trials, epochs, options, echo)
    return write_record(root, ws, cfg, study, name, url, final=True)


def _optimize(
    root: Path,
    ws: Any,
    cfg: Any,
    study: Any,
    name: str,
    url: str,
    trials: int,
    epochs: int,
    options: TuneOptions,
    echo: Callable[[str], None],
) -> None:
    import optuna

    from ..runner.train import Pruned, TrainOptions, train
    from .space import suggest

    tuning = cfg.tuning
    metric = tuning.objective.metric

    class TrialFailed(Exception):
        pass

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("process", this_process())  # a trial whose process dies is failed, not left running
        values = suggest(trial, tuning.space)
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        echo(f"trial {trial.number}: {shown}")
        pause_for_test("trial")

        def report(metrics: dict[str, Any]) -> None:
            value = epoch_value(metrics, metric)
            if value is None:
                return
            trial.report(value, step=int(metrics["epoch"]))
            if trial.should_prune():
                echo(f"trial {trial.number}: pruned after epoch {metrics['epoch']} ({metric} {value:.4f})")
                raise Pruned()

        opts = TrainOptions(
            device=options.device,
            overrides={**values, "epochs": epochs},
            evaluate_test=False,
            write_model=False,
            study={"name": name, "trial": trial.number, "params": values, "objective": tuning.objective.model_dump()},
            on_record=lambda run_id: trial.set_user_attr("run", run_id),
            on_epoch=report,
        )
        try:
            result = train(root, cfg.id, opts, echo=lambda line: echo(f"  {line}"))
        except Mle3Error as exc:  # the trial's values make the configuration unusable
            echo(f"trial {trial.number}: failed before training: {exc}")
            raise TrialFailed(str(exc)) from None
        if result.status == "pruned":
            raise optuna.TrialPruned()
        if result.status != "success":
            raise TrialFailed(result.error or result.status)
        value = result.metrics.get("validation", {}).get(metric)
        if value is None:
            raise TrialFailed(f"the run recorded no validation {metric}")
        echo(f"trial {trial.number}: {metric} {value:.4f} (run {result.run_id})")
        return float(value)

    def after(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        write_record(root, ws, cfg, study, name, url)
        if counted(study) >= trials:  # the budget: every trial but those lost with their process
            study.stop()

    remaining = trials - counted(study)
    if remaining <= 0:
        return
    study.optimize(
        objective,
        n_trials=remaining,
        timeout=options.timeout,
        catch=(TrialFailed,),
        callbacks=[after],
        gc_after_trial=True,
    )


def _run_workers(
    root: Path, config_id: str, name: str, url: str, options: TuneOptions, trials: int, echo: Callable[[str], None]
) -> None:
    """K trial processes on one study; each takes trials until the study has ``trials``."""
    gpus = _gpu_count()
    procs = []
    for worker in range(options.workers):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(worker % gpus)
        cmd = [
            sys.executable,
            "-c",
            "from mle3.cli import run; run()",
            "tune",
            "run",
            config_id,
            "--study",
            name,
            "--storage",
            url,
            "--trials",
            str(trials),
            "--worker-index",
            str(worker + 1),
            "-w",
            str(root),
        ]
        if options.timeout:
            cmd += ["--timeout", str(options.timeout)]
        if options.device:
            cmd += ["--device", options.device]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    echo(f"study {name}: {len(procs)} trial processes" + (f" on {gpus} GPU(s)" if gpus else " on the CPU"))
    failed = []
    for i, proc in enumerate(procs, 1):
        out, _ = proc.communicate()
        for line in out.splitlines():
            echo(f"[worker {i}] {line}")
        if proc.returncode not in (0,):
            failed.append(i)
    if failed:
        raise Mle3Error(f"trial processes {failed} ended with an error (their output is above)", exit_code=1)


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no torch or no driver: the CPU
        return 0


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
