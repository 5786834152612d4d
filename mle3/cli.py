"""The ``mle3`` command line. Each command parses arguments, calls one function, prints.

Exit codes (all commands): 0 ok; 1 findings or errors in the workspace (or warnings with
``--strict``); 2 usage error, unreadable input or no workspace; 130 interrupted.
Heavy libraries (torch, ultralytics, weasyprint) are imported inside the commands that
need them, so ``check``/``trace``/``report``/``approve`` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from . import __version__
from .errors import Mle3Error

app = typer.Typer(
    name="mle3",
    help="Auditable ML training under Automotive SPICE MLE.3: traceability checks, recorded training, work products, approvals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

WorkspaceOpt = Annotated[Optional[Path], typer.Option("--workspace", "-w", help="Workspace directory (default: found from the current directory upwards).", file_okay=False)]


FORMAT = typer.Option("--format", "-f", help="Output format.")


def _load(workspace: Path | None):
    from .graph import build_graph
    from .workspace import load_workspace

    ws = load_workspace(workspace)
    return ws, build_graph(ws)


def _write_or_print(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from ._atomic import atomic_write_text

    atomic_write_text(output, text)
    typer.echo(f"wrote {output}", err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mle3 {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False) -> None:
    """Auditable ML training under Automotive SPICE MLE.3."""


# --------------------------------------------------------------------------- workspace
@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the workspace in.")] = Path("."),
    project: Annotated[Optional[str], typer.Option(help="Project name (default: directory name).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing mle3.yaml and examples.")] = False,
) -> int:
    """Create a workspace skeleton with commented examples that pass `mle3 check`."""
    from .scaffold import init_workspace

    written = init_workspace(directory, project, force=force)
    typer.echo(f"created workspace in {directory.resolve()} ({len(written)} files); next: cd {directory} && mle3 check")
    return 0


@app.command()
def check(
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
    strict: Annotated[bool, typer.Option(help="Warnings fail the check too (exit 1).")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Parse every file again instead of using .mle3/ cache.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to a file.")] = None,
) -> int:
    """Find broken or missing traceability, stale approvals and unmet criteria."""
    from .rules import check_workspace

    report = check_workspace(workspace, use_cache=not no_cache)
    if format == "json":
        import json

        _write_or_print(json.dumps(report.to_json(strict), indent=2), output)
    else:
        from .output import findings_text, plural

        summary = (
            f"{'FAILED' if not report.ok(strict) else 'OK'}: {plural(report.errors, 'error')}, "
            f"{plural(report.warnings, 'warning')}, {plural(report.counts.get('info', 0), 'info')} "
            f"in {plural(report.items, 'item')} ({plural(report.files, 'file')})"
            + (f"; {report.ignored} ignored by mle3.yaml" if report.ignored else "")
        )
        _write_or_print(findings_text(report.findings, summary), output)
    return 0 if report.ok(strict) else 1


@app.command()
def trace(
    item: Annotated[str, typer.Argument(help="Item id (a bare data set id means its latest version).")],
    up: Annotated[bool, typer.Option("--up", help="Only upstream (what it rests on).")] = False,
    down: Annotated[bool, typer.Option("--down", help="Only downstream (what rests on it).")] = False,
    depth: Annotated[Optional[int], typer.Option(min=1, help="Levels to follow (default: all).")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Show an item's upstream and downstream traceability tree."""
    from .output import emit_json
    from .trace import render_tree_text, trace as trace_item

    ws, graph = _load(workspace)
    both = up == down
    result = trace_item(ws, graph, item, up=up or both, down=down or both, depth=depth)
    if format == "json":
        emit_json(result)
    else:
        typer.echo(render_tree_text(result))
    return 0


@app.command()
def impact(
    item: Annotated[str, typer.Argument(help="Item id whose change is assessed.")],
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """List everything that must be re-validated if ITEM changes."""
    from .output import emit_json
    from .trace import impact as impact_of, render_impact_text

    ws, graph = _load(workspace)
    result = impact_of(ws, graph, item)
    if format == "json":
        emit_json(result)
    else:
        typer.echo(render_impact_text(result))
    return 0


@app.command()
def matrix(
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["md", "csv", "json", "html"], FORMAT] = "md",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> int:
    """Traceability matrix: requirements against data sets, configurations, model versions."""
    from .matrix import build_matrix, render_matrix

    ws, graph = _load(workspace)
    rows = build_matrix(ws, graph)
    _write_or_print(render_matrix(rows, format, ws.config.project), output)
    return 0


@app.command()
def rules(format: Annotated[Literal["text", "json"], FORMAT] = "text") -> int:
    """List every rule: id, default severity, what it checks, how to fix."""
    from .output import emit_json
    from .rules import RULES

    table = sorted(RULES.values(), key=lambda r: r.id)
    if format == "json":
        emit_json({"schema": "mle3.rules/1", "rules": [{"id": r.id, "family": r.family, "severity": r.severity, "summary": r.summary, "fix": r.fix} for r in table]})
        return 0
    for r in table:
        typer.echo(f"{r.id:<32} {r.severity:<8} {r.summary}\n{'':<41} fix: {r.fix}")
    return 0


@app.command()
def schema(output: Annotated[Path, typer.Option("--output", "-o", help="Directory for <kind>.schema.json files.")] = Path("schemas")) -> int:
    """Write the JSON Schema of every item file kind (for YAML editors)."""
    from .scaffold import write_schemas

    written = write_schemas(output)
    typer.echo(f"wrote {len(written)} schemas to {output}")
    return 0


# --------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors print one line, never a traceback."""
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
    except BrokenPipeError:
        return 0


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
