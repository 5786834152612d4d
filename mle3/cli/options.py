"""What every command shares, defined once (as pip's ``cli/cmdoptions.py``): the options
``--workspace``, ``--format`` and ``--output``, the exit codes, and the deprecation line
that old spellings print for one release."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer


class ExitCode(IntEnum):
    """The exit codes of every command; scripts and CI read them, so they never move."""

    OK = 0
    #: findings or errors in the workspace (warnings too with ``--strict``), a refused gate,
    #: a failed run: the command worked and the answer is "no"
    FINDINGS = 1
    FAILED = 1
    #: usage error, unreadable input, no workspace, a missing optional part
    USAGE = 2
    INTERRUPTED = 130


def ok_if(condition: bool) -> ExitCode:
    """OK when ``condition`` holds, else FINDINGS: the usual end of a checking command."""
    return ExitCode.OK if condition else ExitCode.FINDINGS


WorkspaceOpt = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", help="Workspace directory (default: found from the current directory upwards).", file_okay=False),
]

#: ``--format`` is always the format of what the command writes (stdout or ``--output``);
#: a value the command does not write is a usage error (exit 2), never silently ignored
FORMAT = typer.Option("--format", "-f", help="Output format.")

TextOrJson = Literal["text", "json"]
#: the ``--format`` of a command that prints text for people or JSON for machines
FormatOpt = Annotated[TextOrJson, FORMAT]

OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to a file.")]


def deprecated(old: str, new: str) -> None:
    """One line on stderr for an old spelling that still works for one release."""
    typer.echo(f"mle3: deprecated: {old} still works for one release; use {new}", err=True)
