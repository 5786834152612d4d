"""Workspace commands: init, check, trace, impact, matrix, rules, schema (the item files' and
the output documents' JSON Schemas)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .app import app, FORMAT, WorkspaceOpt, _load, _write_or_print
from .options import ExitCode, FormatOpt, deprecated, ok_if
from .shapes import BOOL, INT, STR, STRS, SHAPES, arr, declare, find, nullable, obj

_FINDING = obj(
    {
        "rule": STR,
        "severity": {"enum": ["error", "warning", "info"]},
        "item": nullable(STR),
        "message": STR,
        "file": nullable(STR),
        "line": nullable(INT),
        "column": nullable(INT),
        "field": nullable(STR),
    }
)
_SUMMARY = obj({k: INT for k in ("errors", "warnings", "infos", "items", "files", "ignored")})
CHECK = declare(
    "mle3.check/1",
    "`mle3 check --format json`: every finding with file, line and field.",
    {"ok": BOOL, "summary": _SUMMARY, "findings": arr(_FINDING)},
)
_ITEM = {
    "id": STR,
    "kind": STR,
    "title": nullable(STR),
    "status": nullable(STR),
    "file": nullable(STR),
    "line": nullable(INT),
}
_TREE = arr({"$ref": "#/$defs/node"})
_NODE = obj({**_ITEM, "relation": STR, "children": _TREE})
_NODE["properties"]["repeated"] = BOOL  # optional: the node was expanded where it first appeared
# optional, a requirement's: its type, text and the parents that name no item here (an ALM tool's ids)
_REQUIREMENT_FIELDS = {"type": STR, "text": nullable(STR), "external": STRS}
_NODE["properties"].update(_REQUIREMENT_FIELDS)
_TRACED = obj(dict(_ITEM))  # a copy: impact shares _ITEM
_TRACED["properties"].update(_REQUIREMENT_FIELDS)
TRACE = declare(
    "mle3.trace/1",
    "`mle3 trace --format json`: an item's upstream and downstream trees.",
    {"item": _TRACED, "upstream": _TREE, "downstream": _TREE},
    optional=("upstream", "downstream"),
    defs={"node": _NODE},
)
IMPACT = declare(
    "mle3.impact/1",
    "`mle3 impact --format json`: what must be re-validated, nearest first.",
    {"item": obj(_ITEM), "impacted": arr(obj({**_ITEM, "distance": INT, "via": STRS}))},
)
_ROW = obj(
    {
        "requirement": STR,
        "title": STR,
        "type": STR,
        "datasets": STRS,
        "configurations": STRS,
        "model_versions": STRS,
        "criteria_met": INT,
        "criteria_total": INT,
        "gaps": STRS,
    }
)
MATRIX = declare(
    "mle3.matrix/1",
    "`mle3 matrix --format json`: requirements against what satisfies them.",
    {"project": nullable(STR), "rows": arr(_ROW)},
)
RULE_LIST = declare(
    "mle3.rules/1",
    "`mle3 rules --format json`: every rule with its default severity and fix.",
    {"rules": arr(obj({"id": STR, "family": STR, "severity": STR, "summary": STR, "fix": STR}))},
)
SCHEMAS = declare(
    "mle3.schemas/1",
    "`mle3 schema --format json`: the published JSON Schemas.",
    {"outputs": arr(obj({"name": STR, "description": STR})), "item_kinds": STRS},
)


# ----------------------------------------------------------------- workspace
@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the workspace in.")] = Path("."),
    project: Annotated[Optional[str], typer.Option(help="Project name (default: directory name).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing mle3.yaml and examples.")] = False,
    lfs: Annotated[
        Optional[bool],
        typer.Option(
            "--lfs/--no-lfs", help="Track *.pt, *.onnx, *.engine with git LFS (default: when git lfs is installed)."
        ),
    ] = None,
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
        typer.echo(
            "note: git lfs is not installed; weights (*.pt, *.onnx, *.engine) are not set up for LFS (install "
            "git-lfs, then mle3 init --force --lfs)"
        )
    typer.echo(
        f"created workspace in {directory.resolve()} ({len(written)} files); next: edit the examples, "
        "register your data (mle3 dataset register DATA.yaml --id DATA-001 --version v1 -r REQ-DATA-001 -w "
        f"{directory}), "
        f"uncomment `dataset:` in the configuration, then mle3 check"
    )
    return ExitCode.OK


@app.command()
def check(
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json", "sarif", "junit"], FORMAT] = "text",
    strict: Annotated[bool, typer.Option(help="Warnings fail the check too (exit 1).")] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Parse every file again instead of using .mle3/ cache.")
    ] = False,
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
        from ..workspace.config import find_root

        _write_or_print(render(report, format, strict, find_root(workspace)), output)
    else:
        from ..output import findings_text, plural

        summary = (
            f"{'FAILED' if not report.ok(strict) else 'OK'}: {plural(report.errors, 'error')}, "
            f"{plural(report.warnings, 'warning')}, {plural(report.counts.get('info', 0), 'info')} "
            f"in {plural(report.items, 'item')} ({plural(report.files, 'file')})"
            + (f"; {report.ignored} ignored by mle3.yaml" if report.ignored else "")
        )
        _write_or_print(findings_text(report.findings, summary), output)
    return ok_if(report.ok(strict))


@app.command()
def trace(
    item: Annotated[str, typer.Argument(help="Item id (a bare data set id means its latest version).")],
    up: Annotated[bool, typer.Option("--up", help="Only upstream (what it rests on).")] = False,
    down: Annotated[bool, typer.Option("--down", help="Only downstream (what rests on it).")] = False,
    depth: Annotated[Optional[int], typer.Option(min=1, help="Levels to follow (default: all).")] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
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
    return ExitCode.OK


@app.command()
def impact(
    item: Annotated[str, typer.Argument(help="Item id whose change is assessed.")],
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
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
    return ExitCode.OK


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
    return ExitCode.OK


@app.command()
def rules(format: FormatOpt = "text") -> int:
    """List every rule: id, default severity, what it checks, how to fix."""
    from ..output import emit_json
    from ..rules import RULES

    table = sorted(RULES.values(), key=lambda r: r.id)
    if format == "json":
        emit_json(
            {
                "schema": RULE_LIST,
                "rules": [
                    {"id": r.id, "family": r.family, "severity": r.severity, "summary": r.summary, "fix": r.fix}
                    for r in table
                ],
            }
        )
        return ExitCode.OK
    for r in table:
        typer.echo(f"{r.id:<32} {r.severity:<8} {r.summary}\n{'':<41} fix: {r.fix}")
    return ExitCode.OK


@app.command()
def schema(
    name: Annotated[
        Optional[str],
        typer.Argument(
            help="An output document (mle3.check/1, or check for its newest "
            "version) or an item kind (training, ...); none: the list."
        ),
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output", "-o", help="Directory for <kind>.schema.json files of every item kind (for YAML editors)."
        ),
    ] = None,
    format: FormatOpt = "text",
) -> int:
    """List or print the JSON Schemas: of every --format json document mle3 prints, and of every item file kind."""
    import json

    from ..workspace import json_schemas

    kinds = json_schemas()
    # the old bare `mle3 schema` wrote schemas/: for one release it still does
    if output is not None or (name is None and format == "text"):
        from ..scaffold import write_schemas

        target = output or Path("schemas")
        if output is None:
            deprecated("`mle3 schema` writing schemas/", "`mle3 schema -o schemas` (`mle3 schema` alone lists them)")
        written = write_schemas(target)
        typer.echo(f"wrote {len(written)} schemas to {target}", err=output is None)
        if output is not None:
            return ExitCode.OK
    if name is not None:
        found = find(name) or kinds.get(name)
        if found is None:
            from ..errors import Mle3Error

            raise Mle3Error(f"no schema {name!r}: `mle3 schema` lists them")
        typer.echo(json.dumps(found, indent=2))
        return ExitCode.OK
    if format == "json":
        from ..output import emit_json

        emit_json(
            {
                "schema": SCHEMAS,
                "outputs": [{"name": n, "description": s["description"]} for n, s in SHAPES.items()],
                "item_kinds": sorted(kinds),
            }
        )
        return ExitCode.OK
    width = max(len(n) for n in SHAPES)
    typer.echo("output documents (--format json; `mle3 schema NAME` prints one):")
    for n, s in SHAPES.items():
        typer.echo(f"  {n:<{width}}  {s['description']}")
    typer.echo(f"item file kinds (`mle3 schema KIND`, or all with -o DIR): {', '.join(sorted(kinds))}")
    return ExitCode.OK
