"""What every command shares, defined once (as pip's ``cli/cmdoptions.py``): the options
``--workspace``, ``--format`` and ``--output``, the exit codes, and the deprecation line
that old spellings print for one release."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from typer.core import TyperCommand


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
    typer.Option(
        "--workspace",
        "-w",
        file_okay=False,
        help="Workspace directory (default: found from the current directory upwards).",
    ),
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


def choice(allowed: tuple[str, ...], legacy: tuple[str, ...] = ()):
    """A ``--format`` callback: ``allowed`` values pass, ``legacy`` ones (an old meaning
    kept for one release) pass for the command to translate, anything else is a usage
    error (exit 2, one line) naming what the command writes."""

    def check(value: str | None) -> str | None:
        if value is None or value in allowed or value in legacy:
            return value
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(repr(a) for a in allowed)}")

    return check


class EqualsValueCommand(TyperCommand):
    """A command whose flag ``--NAME`` may carry a value only as ``--NAME=VALUE`` (as git's
    ``--color[=WHEN]``): a bare ``--NAME CONFIG`` must not swallow the argument after it.
    ``equals_values`` maps the flag to the hidden option that receives the value."""

    equals_values: dict[str, str] = {}

    # typer passes its own Context, a subclass of the one its base class names
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten += args[i:]
                break
            name, eq, value = arg.partition("=")
            if eq and name in self.equals_values:
                rewritten += [name, f"{self.equals_values[name]}={value}"]
            else:
                rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def equals_values(**flags: str) -> type[EqualsValueCommand]:
    """The command class for ``@app.command(cls=...)``: ``equals_values(mlflow="--mlflow-at")``."""
    mapping = {f"--{flag.replace('_', '-')}": target for flag, target in flags.items()}
    return type("EqualsValueCommand", (EqualsValueCommand,), {"equals_values": mapping})


def format_with_legacy(legacy: tuple[str, ...]) -> Any:  # typer.Option's OptionInfo, for Annotated[str, ...]
    """``--format text|json`` of a command whose ``--format`` used to name what it renders
    (export's model format, report's document format): those values still pass, for the
    command to translate with a deprecation line."""
    check = choice(("text", "json"), legacy=legacy)
    return typer.Option("--format", "-f", metavar="<text|json>", help="Output format.", callback=check)
