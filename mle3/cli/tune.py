"""``mle3 tune``: hyperparameter studies on Optuna, and accepting their best values."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from ..errors import Mle3Error
from .app import FORMAT, WorkspaceOpt, _with_progress, app

@app.command()
def tune(
    config: Annotated[str, typer.Argument(help="Training configuration id (or file) with a tuning: block; or `accept` followed by a study name.")],
    study_to_accept: Annotated[Optional[str], typer.Argument(metavar="[STUDY]", help="With `accept`: the study whose best values become a new configuration.")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Trials in the study (default: tuning.trials).")] = None,
    timeout: Annotated[Optional[float], typer.Option(min=1, help="Stop starting trials after SECONDS.")] = None,
    study: Annotated[Optional[str], typer.Option(help="Study name: join this study (default: a new one, <CONFIG>-TUNE-<time>).")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL (default: SQLite in .mle3/); postgresql://... or a journal file on shared storage for several machines.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Trial processes on this machine (one GPU each when there are GPUs).")] = 1,
    device: Annotated[Optional[str], typer.Option(help="Override the device of every trial (recorded).")] = None,
    id: Annotated[Optional[str], typer.Option("--id", help="With `accept`: id of the new configuration (default: <CONFIG>-TUNED-<time>).")] = None,
    worker_index: Annotated[int, typer.Option(hidden=True)] = 0,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Optimize a configuration's hyperparameters with Optuna (every trial a recorded run, the test split never used); `mle3 tune accept STUDY` writes the best values as a new configuration."""
    from ..workspace import find_root

    root = find_root(workspace)
    if config == "accept":
        if not study_to_accept:
            raise Mle3Error("usage: mle3 tune accept STUDY [--id NEW-ID]")
        return _accept(root, study_to_accept, id, format)
    if study_to_accept:
        raise Mle3Error(f"unexpected argument {study_to_accept!r} (did you mean `mle3 tune accept {study_to_accept}`?)")
    from ..output import emit_json
    from ..tuning.study import TuneOptions
    from ..tuning.study import tune as run_study

    options = TuneOptions(trials=trials, timeout=timeout, study=study, storage=storage, workers=workers, device=device)
    result = _with_progress(format == "json", lambda echo: run_study(root, config, options, echo, worker=worker_index))
    if format == "json":
        emit_json({"schema": "mle3.tune/1", "study": result.study, "record": result.record,
                   "trials": [{k: t[k] for k in ("number", "run", "status", "value", "params")} for t in result.trials], "best": result.best})
    else:
        counts: dict[str, int] = {}
        for t in result.trials:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        typer.echo(f"study {result.study}: {len(result.trials)} trials ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}); record {result.record}")
        if result.best:
            values = ", ".join(f"{k}={v}" for k, v in result.best["params"].items())
            typer.echo(f"best: trial {result.best['number']} (run {result.best['run']}) value {result.best['value']}: {values}")
            typer.echo(f"accept it with: mle3 tune accept {result.study}")
    return 0 if result.best else 1


def _accept(root, study: str, new_id: str | None, format: str) -> int:
    """Write a new training configuration with the study's best values (optimized_by: STUDY)."""
    from ..output import emit_json
    from ..tuning.accept import accept as accept_study

    result = accept_study(root, study, new_id)
    if format == "json":
        emit_json({"schema": "mle3.tune-accept/1", **result})
    else:
        typer.echo(f"wrote {', '.join(result['files'])}: configuration {result['config']} with trial {result['trial']}'s values")
        typer.echo(f"train the final model with: mle3 train {result['config']}")
    return 0
