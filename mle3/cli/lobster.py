"""``mle3 lobster``: the trace as LOBSTER files, for teams whose traceability evidence is
BMW's LOBSTER report (``lobster-report``, ``lobster-ci-report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import WorkspaceOpt, _workspace, app
from .options import ExitCode, FormatOpt
from .shapes import INT, STR, STRS, declare

LOBSTER = declare(
    "mle3.lobster/1",
    "`mle3 lobster --format json`: the LOBSTER files written and what they hold.",
    {
        "directory": STR,
        "files": STRS,
        "requirements": INT,
        "implementation": INT,
        "activities": INT,
        "external": STRS,
        "failed": STRS,
    },
)


@app.command()
def lobster(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the .lobster files and lobster.conf.")],
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Write the trace as LOBSTER files (requirements, data and configurations, runs and
    models) and a lobster.conf policy for the MLE.3 levels; run lobster-report in that folder."""
    from ..interop.lobster import write
    from ..output import emit_json

    ws = _workspace(workspace)
    result = write(ws, output)
    if format == "json":
        emit_json({"schema": LOBSTER, **result})
    else:
        typer.echo(
            f"wrote {result['requirements']} requirements, {result['implementation']} data sets and configurations, "
            f"{result['activities']} runs and model versions to {output}/ "
            f"(then: cd {output} && lobster-report && lobster-ci-report)"
        )
        if result["external"]:
            typer.echo(f"external parents (placeholders in system.lobster): {', '.join(result['external'])}")
    return ExitCode.OK
