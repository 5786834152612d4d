"""The typer application and the output helpers every command module shares (the options
and exit codes are in :mod:`.options`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any
from collections.abc import Callable

import typer

from .. import __version__
from .options import FORMAT, WorkspaceOpt  # noqa: F401  (defined once in .options; re-exported for the command modules)

app = typer.Typer(
    name="mle3",
    help="Auditable ML training under Automotive SPICE MLE.3: traceability checks, recorded training, work products, approvals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # click's plain help wraps long option names and text at any width; rich's boxes cut
    # them ("--allow-changed…") when the terminal or a pipe is 80 columns wide
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)


def _load(workspace: Path | None):
    from ..graph import build_graph
    from ..workspace import load_workspace

    ws = load_workspace(workspace)
    return ws, build_graph(ws)


def _workspace(workspace: Path | None):
    """The workspace, loaded once for the command (operations receive it)."""
    from ..workspace import load_workspace

    return load_workspace(workspace)


def _workspace_root(workspace: Path | None) -> Path:
    from ..workspace import find_root

    return find_root(workspace)


def _write_or_print(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from .._atomic import atomic_write_text

    atomic_write_text(output, text)
    typer.echo(f"wrote {output}", err=True)


def _with_progress(json_output: bool, work: Callable[[Callable[[str], None]], Any]) -> Any:
    """Run long work that prints progress. With JSON output stdout carries only the JSON
    document, so progress lines and library output go to stderr instead."""
    if not json_output:
        return work(typer.echo)
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):
        return work(lambda line: typer.echo(line, err=True))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mle3 {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Auditable ML training under Automotive SPICE MLE.3."""
