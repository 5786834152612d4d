"""The training queue's worker: ``mle3 worker`` (the queue's ``runs`` commands are in :mod:`.runs`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import WorkspaceOpt, _workspace_root, app
from .options import ExitCode


@app.command()
def worker(
    gpus: Annotated[
        Optional[str],
        typer.Option(help="GPUs to use, e.g. 0,1 (one run per GPU); default: one run at a time on the CPU."),
    ] = None,
    max_parallel: Annotated[Optional[int], typer.Option(min=1, help="At most K runs at once.")] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Exit when the queue is empty (for a cluster job: SLURM, Kubernetes).")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Train queued runs (`mle3 train --queue`) by priority, then age; several workers never take the same run."""
    from ..runner.queue import WorkerOptions, work

    root = _workspace_root(workspace)
    chosen = [g.strip() for g in gpus.split(",") if g.strip()] if gpus else None
    work(root, WorkerOptions(gpus=chosen, max_parallel=max_parallel, once=once), echo=typer.echo)
    return ExitCode.OK
