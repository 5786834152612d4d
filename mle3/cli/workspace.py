"""Workspace commands: init, check, trace, impact, matrix, rules, schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .app import app, FORMAT, WorkspaceOpt, _load, _write_or_print


# ----------------------------------------------------------------- workspace
@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the workspace in.")] = Path("."),
    project: Annotated[Optional[str], typer.Option(help="Project name (default: directory name).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing mle3.yaml and examples.")] = False,
    lfs: Annotated[Optional[bool], typer.Option("--lfs/--no-lfs", help="Track *.pt, *.onnx, *.engine with git LFS (default: when git lfs is installed).")] = None,
) -> int:
    """Create a workspace in a git repository: example requirements and configuration, JSON
    Schemas, .gitignore (and git LFS patterns for weights when git lfs is installed)."""
    from .. import lfs as git_lfs
    from ..scaffold import init_git, init_workspace

    written = init_workspace(directory, project, force=force, lfs=lfs)
    note = init_git(directory)
    if note:
        typer.echo(f"note: {note}")
    if lfs is None and not git_lfs.available():
        typer.echo("note: git lfs is not installed; weights (*.pt, *.onnx, *.engine) are not set up for LFS (install git-lfs, then mle3 init --force --lfs)")
    typer.echo(f"created workspace in {directory.resolve()} ({len(written)} files); next: edit the examples, "
               f"register your data (mle3 dataset register DATA.yaml --id DATA-001 --version v1 -r REQ-DATA-001 -w {directory}), "
               f"uncomment `dataset:` in the configuration, then mle3 check")
    return 0


@app.command()
def check(
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json", "sarif", "junit"], FORMAT] = "text",
    strict: Annotated[bool, typer.Option(help="Warnings fail the check too (exit 1).")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Parse every file again instead of using .mle3/ cache.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to a file.")] = None,
) -> int:
    """Find broken or missing traceability, stale approvals and unmet criteria."""
    from ..rules import check_workspace

    report = check_workspace(workspace, use_cache=not no_cache)
    if format == "json":
        import json

        _write_or_print(json.dumps(report.to_json(strict), indent=2), output)
    elif format in ("sarif", "junit"):
        from ..interop import render

        _write_or_print(render(report, format, strict), output)
    else:
        from ..output import findings_text, plural

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
    from ..output import emit_json
    from ..trace import render_tree_text, trace as trace_item

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
    from ..output import emit_json
    from ..trace import impact as impact_of, render_impact_text

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
    from ..matrix import build_matrix, render_matrix

    ws, graph = _load(workspace)
    rows = build_matrix(ws, graph)
    _write_or_print(render_matrix(rows, format, ws.config.project), output)
    return 0


@app.command()
def rules(format: Annotated[Literal["text", "json"], FORMAT] = "text") -> int:
    """List every rule: id, default severity, what it checks, how to fix."""
    from ..output import emit_json
    from ..rules import RULES

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
    from ..scaffold import write_schemas

    written = write_schemas(output)
    typer.echo(f"wrote {len(written)} schemas to {output}")
    return 0


