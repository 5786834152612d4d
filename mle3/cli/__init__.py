"""The ``mle3`` command line: the front end, above every other layer (nothing imports it).
Commands are registered on one typer app (:mod:`.app`) by a module per area (workspace,
dataset, runs and its queue, tune, serve, tools, reports, approvals); each command
parses arguments, calls the function that does the work, prints.

Exit codes (all commands): 0 ok; 1 findings or errors in the workspace (or warnings with
``--strict``); 2 usage error, unreadable input or no workspace; 130 interrupted.
Heavy libraries (torch, ultralytics, weasyprint) are imported inside the commands that
need them, so ``check``/``trace``/``report``/``approve`` start fast.
"""

from __future__ import annotations

import os
import sys

import typer

from ..errors import Mle3Error
from . import workspace, dataset, runs, queue, tune, serve, tools, reports, approvals  # noqa: F401,I001  (register the commands, in help order)
from .app import app

__all__ = ["app", "main", "run"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors print one line, never a traceback."""
    from .pipe import PipeSafeStream

    original = sys.stdout
    sys.stdout = PipeSafeStream(original)  # type: ignore[assignment]
    try:
        return _main(argv)
    finally:
        sys.stdout = original


def _main(argv: list[str] | None) -> int:
    try:
        result = app(args=argv, prog_name="mle3", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except Mle3Error as exc:
        typer.echo(f"mle3: error: {exc}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("mle3: interrupted", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors (typer's own click)
        show = getattr(exc, "show", None)
        if show:
            show()
        else:
            typer.echo(f"mle3: error: {exc}", err=True)
        return getattr(exc, "exit_code", 2) or 2
    except KeyboardInterrupt:
        typer.echo("mle3: interrupted", err=True)
        return 130
    except ModuleNotFoundError as exc:  # an optional part that is not installed
        from ..optional import missing_module_message

        typer.echo(f"mle3: error: {missing_module_message(exc.name)}", err=True)
        return 2
    except OSError as exc:  # disk full, permissions, vanished files: nothing half-written
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        typer.echo(f"mle3: error: {exc.strerror or exc}{where}; files already recorded are unchanged", err=True)
        return 2


def run() -> None:
    """Console-script entry point.

    Exits without tearing down the interpreter: freeing a loaded 50,000-item workspace
    object by object takes seconds and nothing is left to clean up (all files written by
    mle3 are complete before a command returns)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
