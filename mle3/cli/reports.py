"""Work products, the site and ReqIF exchange."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .app import FORMAT, WorkspaceOpt, app, _load, _workspace_root


# ----------------------------------------------------------------- reports
@app.command()
def report(
    work_product: Annotated[str, typer.Argument(metavar="WP", help="04-11, 11-07, 13-65, 11-06, or 'release' for the whole package of a model version.")],
    item: Annotated[str, typer.Argument(help="Item the document describes (release: a model version).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (release: directory).")] = None,
    format: Annotated[Literal["html", "pdf", "json"], FORMAT] = "pdf",
    release: Annotated[bool, typer.Option("--release", help="Refuse to render anything not approved as the policy requires.")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Render an ASPICE MLE.3 work product (DRAFT until the required approvals exist)."""
    from ..output import emit_json
    from ..reports import release_package, render_document

    ws, graph = _load(workspace)
    if work_product == "release":
        target = output or Path(f"release-{item}")
        docs = release_package(ws, graph, item, target, release=release)
        if format == "json":
            emit_json({"schema": "mle3.report/1", "directory": str(target), "documents": [{"wp": d.wp, "item": d.item, "file": str(d.path), "approved": d.approved, "missing_roles": d.missing_roles, "fingerprint": d.fingerprint} for d in docs]})
        else:
            for d in docs:
                typer.echo(f"{d.wp} {d.item}: {d.path} ({'APPROVED' if d.approved else 'DRAFT, missing ' + ', '.join(d.missing_roles)})")
            typer.echo(f"package in {target}/ (index.html, traceability-matrix.html, MANIFEST.sha256)")
        return 0
    fmt = "html" if format == "html" else "pdf"
    target = output or Path(f"{work_product}_{item}.{fmt}")
    d = render_document(ws, graph, work_product, item, fmt, target, release=release)
    if format == "json":
        emit_json({"schema": "mle3.report/1", "documents": [{"wp": d.wp, "item": d.item, "file": str(d.path), "approved": d.approved, "missing_roles": d.missing_roles, "fingerprint": d.fingerprint}]})
    else:
        typer.echo(f"{d.wp} {d.item}: {d.path} ({'APPROVED' if d.approved else 'DRAFT, missing ' + (', '.join(d.missing_roles) or 'an approval policy')})")
    return 0


@app.command()
def site(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the static site.")] = Path("site"),
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Build a static traceability site (works from file://, no network)."""
    from ..output import emit_json
    from ..site import build_site

    ws, graph = _load(workspace)
    result = build_site(ws, graph, output)
    if format == "json":
        emit_json({"schema": "mle3.site/1", "directory": str(result.directory), "pages": result.pages, "bytes": result.bytes})
    else:
        typer.echo(f"site with {result.pages} pages ({result.bytes / 1e6:.1f} MB) in {result.directory}/; open {result.directory / 'index.html'}")
    return 0


reqif_app = typer.Typer(help="Exchange requirements with ALM tools through ReqIF.", no_args_is_help=True)
app.add_typer(reqif_app, name="reqif")


@reqif_app.command("export")
def reqif_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Target .reqif or .reqifz file.")],
    workspace: WorkspaceOpt = None,
) -> int:
    """Write the workspace's requirements as ReqIF (spec objects, types, relations)."""
    from ..interop.reqif import export

    ws, _ = _load(workspace)
    result = export(ws, output)
    typer.echo(f"wrote {result['requirements']} requirements and {result['relations']} relations to {output}")
    return 0


@reqif_app.command("import")
def reqif_import(
    file: Annotated[Path, typer.Argument(help=".reqif or .reqifz file from another tool.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite requirement files edited locally; keep relations to missing SPEC-OBJECTs as dangling derived_from.")] = False,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Create or update requirements/ files from ReqIF; local edits and unresolvable relations need --force."""
    from dataclasses import asdict

    from ..interop.reqif import import_file
    from ..output import emit_json

    plan = import_file(_workspace_root(workspace), file, dry_run=dry_run, force=force)
    if format == "json":
        emit_json({"schema": "mle3.reqif-import/2", **asdict(plan)})
    else:
        typer.echo(f"{'would create' if not plan.written else 'created'} {len(plan.create)}, {'would update' if not plan.written else 'updated'} {len(plan.update)}, unchanged {len(plan.unchanged)}")
        if plan.unmapped:
            typer.echo(f"kept unmapped (under reqif_attributes): {', '.join(plan.unmapped)}")
        for req_id, diff in plan.conflicts.items():
            typer.echo(f"local edits in {req_id}:\n{diff}")
        for problem in plan.unresolved:
            typer.echo(f"unresolved: {problem}")
        if plan.conflicts and not force and not dry_run:
            typer.echo("nothing written: re-run with --force to overwrite local edits")
        if plan.unresolved and not force and not dry_run:
            typer.echo("nothing written: re-run with --force to keep these links as dangling derived_from (mle3 check reports them)")
    return 1 if (plan.conflicts or plan.unresolved) and not force and not dry_run else 0


