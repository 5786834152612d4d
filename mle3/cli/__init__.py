"""The ``mle3`` command line: the front end, above every other layer (nothing imports it).
Commands are registered on one typer app (:mod:`.app`) by a module per area (workspace,
dataset, runs, queue, tune, serve, tools, reports, approvals); each command parses
arguments, calls the function that does the work, prints. What they share is defined
once: options and exit codes in :mod:`.options`, the JSON documents they print in
:mod:`.shapes` (each declared beside its command, published by ``mle3 schema``).

Exit codes (all commands, :class:`.options.ExitCode`): 0 ok; 1 findings or errors in the
workspace (or warnings with ``--strict``), a refused gate, a failed run; 2 usage error,
unreadable input or no workspace (one line on stderr); 130 interrupted.
Heavy libraries (torch, ultralytics, weasyprint) are imported inside the commands that
need them, so ``check``/``trace``/``report``/``approve`` start fast.
"""

from __future__ import annotations

import os
import sys

import typer
from typer._click import exceptions as click_errors  # typer 0.2x vendors click: its own classes

from ..errors import Mle3Error
from . import workspace, dataset, runs, queue, tune, serve, tools, reports, approvals, baseline, notify, verify, lobster  # noqa: F401,I001  (register the commands, in help order)
from .app import app
from .options import ExitCode

__all__ = ["ExitCode", "app", "main", "run"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors print one line, never a traceback."""
    from .pipe import PipeSafeStream

    original = sys.stdout
    sys.stdout = PipeSafeStream(original)
    try:
        return _main(argv)
    finally:
        sys.stdout = original


def _main(argv: list[str] | None) -> int:
    try:
        result = app(args=argv, prog_name="mle3", standalone_mode=False)
        return int(result) if isinstance(result, int) else ExitCode.OK
    except Mle3Error as exc:
        typer.echo(f"mle3: error: {exc}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("mle3: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except click_errors.NoArgsIsHelpError as exc:  # `mle3 dataset`: the group's help
        exc.show()
        return ExitCode.USAGE
    except click_errors.UsageError as exc:  # one line, as every other error: what is wrong and where help is
        where = exc.ctx.command_path if exc.ctx is not None else "mle3"
        typer.echo(f"mle3: error: {exc.format_message()} (see {where} -h)", err=True)
        return ExitCode.USAGE
    except typer.TyperException as exc:  # other errors of typer's own click
        show = getattr(exc, "show", None)
        if show:
            show()
        else:
            typer.echo(f"mle3: error: {exc}", err=True)
        return getattr(exc, "exit_code", ExitCode.USAGE) or ExitCode.USAGE
    except KeyboardInterrupt:
        typer.echo("mle3: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except ModuleNotFoundError as exc:  # an optional part that is not installed
        from ..optional import missing_module_message

        typer.echo(f"mle3: error: {missing_module_message(exc.name)}", err=True)
        return ExitCode.USAGE
    except BrokenPipeError:  # before OSError, its base: stdout's reader went away (`| head -1`)
        if _stdout_gone():
            return ExitCode.OK
        typer.echo(
            "mle3: error: a pipe closed while mle3 was writing to it; files already recorded are unchanged", err=True
        )
        return ExitCode.USAGE
    except OSError as exc:  # disk full, permissions, vanished files: nothing half-written
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        typer.echo(f"mle3: error: {exc.strerror or exc}{where}; files already recorded are unchanged", err=True)
        return ExitCode.USAGE


def _stdout_gone() -> bool:
    """Whether the broken pipe is stdout's: the output is then unwanted, not an error."""
    from .pipe import PipeSafeStream

    stream = sys.stdout
    if isinstance(stream, PipeSafeStream):
        if stream.closed_by_reader:
            return True
        stream.flush()
        return stream.closed_by_reader
    try:
        stream.flush()
    except BrokenPipeError:
        return True
    return False


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
