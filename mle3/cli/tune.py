"""``mle3 tune run|accept``: hyperparameter studies on Optuna, and accepting their best values."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from .app import WorkspaceOpt, _with_progress, app
from .options import ExitCode, FormatOpt, deprecated, ok_if
from .shapes import ANY, INT, OBJ, STR, STRS, arr, declare, deprecated_alias, nullable, obj

_TRIAL = obj(
    {
        "number": INT,
        "run_id": STR,
        "run": deprecated_alias(nullable(STR), "run_id"),
        "status": STR,
        "value": ANY,
        "params": OBJ,
    }
)
TUNE = declare(
    "mle3.tune/1",
    "`mle3 tune run --format json`: the study and its trials (every trial a recorded run).",
    {"study": STR, "record": STR, "trials": arr(_TRIAL), "best": nullable(OBJ)},
)
TUNE_ACCEPT = declare(
    "mle3.tune-accept/1",
    "`mle3 tune accept --format json`: the new configuration with the best values.",
    {"config": STR, "trial": ANY, "files": STRS},
)


class _TuneGroup(TyperGroup):
    """``tune run|accept``; the old ``tune CONFIG`` still runs a study for one release."""

    # typer passes its own Context, a subclass of the one its base class names
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            deprecated(f"`mle3 tune {args[0]} ...`", f"`mle3 tune run {args[0]} ...`")
            args = ["run", *args]
        return super().parse_args(ctx, args)


tune_app = typer.Typer(
    cls=_TuneGroup, no_args_is_help=True, help="Hyperparameter studies on Optuna: run one, accept its best values."
)
app.add_typer(tune_app, name="tune")


@tune_app.command("run")
def tune_run(
    config: Annotated[str, typer.Argument(help="Training configuration id (or file) with a tuning: block.")],
    trials: Annotated[Optional[int], typer.Option(min=1, help="Trials in the study (default: tuning.trials).")] = None,
    timeout: Annotated[Optional[float], typer.Option(min=1, help="Stop starting trials after SECONDS.")] = None,
    study: Annotated[
        Optional[str], typer.Option(help="Study name: join this study (default: a new one, <CONFIG>-TUNE-<time>).")
    ] = None,
    storage: Annotated[
        Optional[str],
        typer.Option(
            help="Optuna storage URL (default: SQLite in .mle3/); postgresql://... or a journal file on shared "
            "storage for several machines."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Trial processes on this machine (one GPU each when there are GPUs).")
    ] = 1,
    device: Annotated[Optional[str], typer.Option(help="Override the device of every trial (recorded).")] = None,
    worker_index: Annotated[int, typer.Option(hidden=True)] = 0,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Optimize a configuration's hyperparameters with Optuna (every trial a recorded run, the test split never
    used)."""
    from ..output import emit_json
    from ..tuning.study import TuneOptions
    from ..tuning.study import tune as run_study
    from ..workspace import find_root

    root = find_root(workspace)
    options = TuneOptions(trials=trials, timeout=timeout, study=study, storage=storage, workers=workers, device=device)
    result = _with_progress(format == "json", lambda echo: run_study(root, config, options, echo, worker=worker_index))
    if format == "json":
        rows = [
            {"number": t["number"], "run_id": t["run"], **{k: t[k] for k in ("run", "status", "value", "params")}}
            for t in result.trials
        ]
        best = result.best and {"run_id": result.best.get("run"), **result.best}
        emit_json({"schema": TUNE, "study": result.study, "record": result.record, "trials": rows, "best": best})
    else:
        counts: dict[str, int] = {}
        for t in result.trials:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        typer.echo(
            f"study {result.study}: {len(result.trials)} trials "
            f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}); record {result.record}"
        )
        if result.best:
            values = ", ".join(f"{k}={v}" for k, v in result.best["params"].items())
            typer.echo(
                f"best: trial {result.best['number']} (run {result.best['run']}) value {result.best['value']}: {values}"
            )
            typer.echo(f"accept it with: mle3 tune accept {result.study}")
    return ok_if(bool(result.best))


@tune_app.command("accept")
def tune_accept(
    study: Annotated[str, typer.Argument(help="The study whose best values become a new configuration.")],
    id: Annotated[
        Optional[str], typer.Option("--id", help="Id of the new configuration (default: <CONFIG>-TUNED-<time>).")
    ] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Write a new training configuration with the study's best values (optimized_by: STUDY)."""
    from ..output import emit_json
    from ..tuning.accept import accept as accept_study
    from ..workspace import find_root

    result = accept_study(find_root(workspace), study, id)
    if format == "json":
        emit_json({"schema": TUNE_ACCEPT, **result})
    else:
        typer.echo(
            f"wrote {', '.join(result['files'])}: configuration {result['config']} with trial {result['trial']}'s "
            "values"
        )
        typer.echo(f"train the final model with: mle3 train {result['config']}")
    return ExitCode.OK
