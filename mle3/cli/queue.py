"""The training queue: ``mle3 worker`` and ``mle3 runs execute|rerun|abort|watch``."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from .app import FORMAT, WorkspaceOpt, _workspace_root, app
from .runs import runs_app


@app.command()
def worker(
    gpus: Annotated[Optional[str], typer.Option(help="GPUs to use, e.g. 0,1 (one run per GPU); default: one run at a time on the CPU.")] = None,
    max_parallel: Annotated[Optional[int], typer.Option(min=1, help="At most K runs at once.")] = None,
    once: Annotated[bool, typer.Option("--once", help="Exit when the queue is empty (for a cluster job: SLURM, Kubernetes).")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Train queued runs (`mle3 train --queue`) by priority, then age; several workers never take the same run."""
    from ..runner.queue import WorkerOptions, work

    root = _workspace_root(workspace)
    chosen = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None
    work(root, WorkerOptions(gpus=chosen, max_parallel=max_parallel, once=once), echo=typer.echo)
    return 0


@runs_app.command("execute", hidden=True)
def runs_execute(
    run_id: Annotated[str, typer.Argument(help="A claimed pending run.")],
    worker_name: Annotated[Optional[str], typer.Option("--worker")] = None,
    claim_token: Annotated[Optional[str], typer.Option("--claim", hidden=True)] = None,
    workspace: WorkspaceOpt = None,
) -> int:
    """Train one claimed queued run (started by `mle3 worker`)."""
    from ..ids import check_id
    from ..runner.queue import execute

    check_id(run_id, "run id")
    result = execute(_workspace_root(workspace), run_id, echo=typer.echo, worker=worker_name, claim_token=claim_token)
    return 0 if result.status == "success" else 1


@runs_app.command("rerun")
def runs_rerun(
    run_id: Annotated[str, typer.Argument(help="A failed, terminated, aborted, stale or pruned run.")],
    priority: Annotated[Optional[int], typer.Option(help="Priority of the new run (default: the old one's).")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Queue a run again with its configuration and choices (the new run names it in rerun_of)."""
    from ..ids import check_id
    from ..output import emit_json
    from ..runner.queue import rerun

    check_id(run_id, "run id")
    new = rerun(_workspace_root(workspace), run_id, priority)
    if format == "json":
        emit_json({"schema": "mle3.train-queue/1", "run": new, "status": "pending", "rerun_of": run_id})
    else:
        typer.echo(f"run {new}: pending (rerun of {run_id})")
    return 0


@runs_app.command("abort")
def runs_abort(
    run_id: Annotated[str, typer.Argument(help="A pending or running run.")],
    workspace: WorkspaceOpt = None,
) -> int:
    """Stop a pending or running run (status terminated: intentionally ended by the user)."""
    from ..ids import check_id
    from ..runner.queue import abort

    check_id(run_id, "run id")
    was = abort(_workspace_root(workspace), run_id)
    typer.echo(f"run {run_id}: abort requested (it was {was})")
    return 0


@runs_app.command("watch")
def runs_watch(
    run_id: Annotated[Optional[str], typer.Argument(help="Run to watch (default: the newest running or pending run).")] = None,
    once: Annotated[bool, typer.Option("--once", help="Print the view once and exit (no live updates).")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Watch a training live in the terminal: progress, recent epochs, a sparkline of mAP50."""
    from ..monitor.terminal import watch

    return watch(_workspace_root(workspace), run_id, once=once)
