"""Work products, the site and ReqIF exchange."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from .app import WorkspaceOpt, app, _load, _workspace_root
from ..errors import Mle3Error
from .options import ExitCode, FormatOpt, deprecated, format_with_legacy, ok_if
from .shapes import BOOL, INT, OBJ, STR, STRS, arr, declare, nullable, obj

_DOCUMENT = obj(
    {"wp": STR, "item": STR, "file": STR, "approved": BOOL, "missing_roles": STRS, "fingerprint": nullable(STR)}
)
REPORT = declare(
    "mle3.report/1",
    "`mle3 report --format json`: the documents rendered (a release: the whole package).",
    {"documents": arr(_DOCUMENT), "directory": STR, "signed": BOOL, "files": INT},
    optional=("directory", "signed", "files"),
)
SITE = declare(
    "mle3.site/1", "`mle3 site --format json`: the static site written.", {"directory": STR, "pages": INT, "bytes": INT}
)
REQIF_IMPORT = declare(
    "mle3.reqif-import/2",
    "`mle3 reqif import --format json`: what the import created, updated or refused.",
    {
        "create": STRS,
        "update": STRS,
        "unchanged": STRS,
        "unmapped": STRS,
        "conflicts": {"type": "object"},
        "unresolved": STRS,
        "skipped": STRS,
        "written": BOOL,
    },
)
_INDICATORS = {"enum": ["present", "partial", "missing"]}
_EVIDENCE = obj(
    {
        "kind": STR,
        "ref": STR,
        "label": STR,
        "file": nullable(STR),
        "detail": nullable(STR),
        "report": nullable(STR),
    }
)
_PRACTICE = obj(
    {
        "id": STR,
        "score_id": STR,
        "title": STR,
        "information_items": arr(obj({"id": STR, "name": STR, "score_id": STR})),
        "indicators": _INDICATORS,
        "reason": STR,
        "there": STRS,
        "lacking": STRS,
        "evidence": arr(_EVIDENCE),
    }
)
_OUTCOME = obj(
    {
        "id": STR,
        "number": INT,
        "text": STR,
        "practices": STRS,
        "score_ids": STRS,
        "indicators": _INDICATORS,
        "reason": STR,
        "lacking": STRS,
    }
)
ASSESSMENT = declare(
    "mle3.assessment/1",
    "`mle3 report assessment --to json`: per ASPICE 4.0 process (MLE.3, SUP.11) its base practices and "
    "outcomes with information items, evidence and indicators (present, partial, missing) and why.",
    {
        "project": STR,
        "scope": obj({"kind": {"enum": ["workspace", "model_version"]}, "item": nullable(STR)}),
        "generated": STR,
        "tool": STR,
        "git": OBJ,
        "note": STR,
        "processes": arr(obj({"id": STR, "name": STR, "practices": arr(_PRACTICE), "outcomes": arr(_OUTCOME)})),
        "counts": obj({"present": INT, "partial": INT, "missing": INT}),
    },
)
#: one role's approvals of an item as the 13-51 lists them (per node, per review)
_ROLE_ROW = {
    "role": STR,
    "state": {"enum": ["fresh", "stale", "rejected", "missing"]},
    "by": STRS,
    "stale": STRS,
    "rejected": STRS,
}
_FINDING = obj({"rule": STR, "severity": STR, "item": nullable(STR), "where": STR, "message": STR})
_VERDICT = {"enum": ["consistent", "linked", "warning", "inconsistent"]}
CONSISTENCY = declare(
    "mle3.consistency/1",
    "`mle3 report 13-51 MODEL --to json`: the model's trace both ways, each link with the check behind it, its "
    "facts, problems, findings and verdict, every item's approvals, and the review records of its items.",
    {
        "project": STR,
        "model": STR,
        "status": STR,
        "fingerprint": STR,
        "generated": STR,
        "tool": STR,
        "git": OBJ,
        "consistent": BOOL,
        "counts": obj({"consistent": INT, "linked": INT, "warning": INT, "inconsistent": INT}),
        "check": obj({"errors": INT, "warnings": INT, "trace_errors": INT, "trace_warnings": INT}),
        "upstream": INT,
        "downstream": INT,
        "links": arr(
            obj(
                {
                    "source": STR,
                    "source_kind": STR,
                    "relation": STR,
                    "target": STR,
                    "target_kind": STR,
                    "side": {"enum": ["up", "down"]},
                    "check": STR,
                    "facts": STRS,
                    "problems": STRS,
                    "warnings": STRS,
                    "findings": arr(_FINDING),
                    "verdict": _VERDICT,
                }
            )
        ),
        "dangling": arr(
            obj(
                {
                    "source": STR,
                    "relation": STR,
                    "target": STR,
                    "verdict": {"enum": ["inconsistent", "external"]},
                    "message": STR,
                }
            )
        ),
        "nodes": arr(
            obj(
                {
                    "key": STR,
                    "kind": STR,
                    "title": nullable(STR),
                    "status": nullable(STR),
                    "side": {"enum": ["model", "up", "down"]},
                    "file": nullable(STR),
                    "approvals": obj(
                        {
                            "fingerprint": STR,
                            "rows": arr(obj({"for": STR, **_ROLE_ROW})),
                            "not_counted": STRS,
                        }
                    ),
                    "findings": arr(_FINDING),
                }
            )
        ),
        "reviews": arr(
            obj(
                {
                    "key": STR,
                    "title": nullable(STR),
                    "file": STR,
                    "line": INT,
                    "reviewer": STR,
                    "date": STR,
                    "scope": nullable(STR),
                    "result": {"enum": ["passed", "failed", "passed_with_findings"]},
                    "reviews": arr(obj({"ref": STR, "key": nullable(STR)})),
                    "in_trace": STRS,
                    "checklist": arr(
                        obj({"question": STR, "result": {"enum": ["pass", "fail", "n/a"]}, "comment": nullable(STR)})
                    ),
                    "checklist_counts": obj({"pass": INT, "fail": INT, "n/a": INT}),
                    "sampled_links": arr(
                        obj(
                            {
                                "source": STR,
                                "relation": nullable(STR),
                                "target": STR,
                                "result": {"enum": ["consistent", "inconsistent"]},
                                "comment": nullable(STR),
                                "in_graph": BOOL,
                            }
                        )
                    ),
                    "review_findings": STRS,
                    "failures": STRS,
                    "inconsistent": BOOL,
                    "approvals": obj(
                        {
                            "fingerprint": STR,
                            "state": {"enum": ["fresh", "stale", "rejected", "unapproved"]},
                            "rows": arr(obj(_ROLE_ROW)),
                            "not_counted": STRS,
                        }
                    ),
                    "findings": arr(_FINDING),
                }
            )
        ),
    },
)
DOCUMENT_FORMATS = ("pdf", "html")
VIEW_FORMATS = ("pdf", "html", "json", "needs")
ReportFormatOpt = Annotated[str, format_with_legacy(DOCUMENT_FORMATS)]


# ----------------------------------------------------------------- reports
@app.command()
def report(
    work_product: Annotated[
        str,
        typer.Argument(
            metavar="WP",
            help="08-65, 04-11, 11-07, 13-51, 13-65, 11-06, 13-52, 'release' for the whole package of a model "
            "version, or 'assessment' for the assessment view (no ITEM: the whole workspace; a model version: "
            "its trace).",
        ),
    ],
    item: Annotated[
        Optional[str],
        typer.Argument(help="Item the document describes (release: a model version; assessment: optional)."),
    ] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (release: directory).")] = None,
    to: Annotated[
        Optional[Literal["pdf", "html", "json", "needs"]],
        typer.Option(
            "--to",
            help="Document format (a release has both); the assessment view also json (mle3.assessment/1) and "
            "needs (a sphinx-needs needs.json); the 13-51 also json (mle3.consistency/1). Default: from the "
            "-o file's suffix (.html, .json, needs.json), else pdf.",
        ),
    ] = None,
    format: ReportFormatOpt = "text",
    release: Annotated[
        bool, typer.Option("--release", help="Refuse to render anything not approved as the policy requires.")
    ] = False,
    key: Annotated[
        Optional[Path],
        typer.Option(
            "--key",
            help="release: the EC private key (PEM) that signs the bundle; default MLE3_RELEASE_KEY, then "
            "release.key_env, then release.key_file in mle3.yaml.",
        ),
    ] = None,
    weights: Annotated[
        bool,
        typer.Option("--weights/--no-weights", help="release: ship the model files, or only their digests."),
    ] = True,
    workspace: WorkspaceOpt = None,
) -> int:
    """Render an ASPICE MLE.3 work product (DRAFT until the required approvals exist), or
    a model version's signed release bundle (`mle3 verify` checks it anywhere)."""
    from ..output import emit_json
    from ..reports import render_document

    if format in DOCUMENT_FORMATS:  # the old meaning of --format: the document format
        deprecated(f"report --format {format}", f"--to {format} (--format is the output format: text or json)")
        to, format = ("pdf" if format == "pdf" else "html"), "text"  # DOCUMENT_FORMATS, as their Literal
    to = to or _format_of(output)
    if work_product == "assessment":
        return _assessment(item, output, to, format, workspace)
    if item is None:
        raise Mle3Error(f"mle3 report {work_product} needs the ITEM it describes (only 'assessment' has none)")
    if work_product == "13-51" and to == "json":
        return _consistency_json(item, output, format, workspace)
    if to not in DOCUMENT_FORMATS:
        raise Mle3Error(
            f"--to {to} is for the assessment view (and json for the 13-51); work product {work_product} is pdf or html"
        )
    ws, graph = _load(workspace)
    if work_product == "release":
        return _release(ws, graph, item, output, release, key, weights, format)
    target = output or Path(f"{work_product}_{item}.{to}")
    d = render_document(ws, graph, work_product, item, to, target, release=release)
    if format == "json":
        emit_json({"schema": REPORT, "documents": [_document(d)]})
    else:
        typer.echo(f"{d.wp} {d.item}: {d.path} ({_state(d)})")
    return ExitCode.OK


def _release(
    ws: Any, graph: Any, item: str, output: Path | None, release: bool, key: Path | None, weights: bool, format: str
) -> int:
    from ..bundle.build import build_bundle
    from ..bundle.keys import find_release_key
    from ..output import emit_json

    target = output or Path(f"release-{item}")
    release_key = find_release_key(ws.root, ws.config.release, key)
    echo = (lambda line: typer.echo(line, err=True)) if format == "json" else typer.echo
    bundle = build_bundle(ws, graph, item, target, release=release, key=release_key, weights=weights, echo=echo)
    docs = bundle.documents
    if format == "json":
        for note in bundle.notes:
            typer.echo(note, err=True)
        emit_json(
            {
                "schema": REPORT,
                "directory": str(target),
                "documents": [_document(d) for d in docs],
                "signed": bundle.signed,
                "files": bundle.files,
            }
        )
        return ExitCode.OK
    for d in docs:
        typer.echo(f"{d.wp} {d.item}: {d.path} ({_state(d)})")
    drafts = [d for d in docs if not d.approved and not d.record]
    typer.echo(
        f"bundle in {target}/ ({bundle.files} files: index.html, documents/, model/, attestations/, workspace/, "
        "MANIFEST.sha256)" + (f"; {len(drafts)} of {len(docs)} documents are DRAFT: not for release" if drafts else "")
    )
    for note in bundle.notes:
        typer.echo(note)
    if bundle.signed:
        typer.echo(
            f"signed with release key {bundle.key_id[:16]}... (publish its public half, e.g. `openssl ec -in KEY "
            f"-pubout`); anyone checks it with: mle3 verify {target} --key RELEASE-KEY.pub"
        )
    return ExitCode.OK


def _state(d: Any) -> str:
    """What a rendered document is, in a word or two: a record, APPROVED, or DRAFT and why."""
    if d.record:
        return "a record, not under approval"
    if d.approved:
        return "APPROVED"
    return "DRAFT, missing " + (", ".join(d.missing_roles) or "an approval policy")


def _document(d: Any) -> dict[str, Any]:
    """One rendered work product as ``mle3.report/1`` lists it."""
    return {
        "wp": d.wp,
        "item": d.item,
        "file": str(d.path),
        "approved": d.approved,
        "missing_roles": d.missing_roles,
        "fingerprint": d.fingerprint,
    }


def _view(wp: str, item: str, target: Path, fingerprint: str | None) -> dict[str, Any]:
    """A view or data file (the assessment view, the 13-51 as json) as ``mle3.report/1`` lists it (not approved)."""
    return {
        "wp": wp,
        "item": item,
        "file": str(target),
        "approved": False,
        "missing_roles": [],
        "fingerprint": fingerprint,
    }


def _format_of(output: Path | None) -> Literal["pdf", "html", "json", "needs"]:
    """The document format an output file's name asks for (``-o report.html``), else pdf."""
    name = output.name.lower() if output is not None else ""
    if name.endswith((".html", ".htm")):
        return "html"
    if name.endswith("needs.json"):
        return "needs"
    return "json" if name.endswith(".json") else "pdf"


def _consistency_json(item: str, output: Path | None, format: str, workspace: Any) -> int:
    """``mle3 report 13-51 MODEL --to json``: the consistency evidence as data (mle3.consistency/1)."""
    import json

    from .._atomic import atomic_write_text
    from ..output import emit_json
    from ..reports.consistency import consistency_json
    from ..reports.products import Context

    ws, graph = _load(workspace)
    model = ws.get(item)
    if model.kind != "model_version":
        raise Mle3Error(f"work product 13-51 is for a model_version; {item} is a {model.kind}")
    data = consistency_json(Context(ws, graph), model)
    target = output or Path(f"13-51_{item}.json")
    atomic_write_text(target, json.dumps(data, indent=2) + "\n")
    if format == "json":
        emit_json({"schema": REPORT, "documents": [_view("13-51", data["model"], target, data["fingerprint"])]})
    else:
        why = [f"{data['counts']['inconsistent']} link(s)"]
        if data["check"]["trace_errors"]:
            why.append(f"{data['check']['trace_errors']} check error(s) in the trace")
        failed = sum(1 for r in data["reviews"] if r["inconsistent"])
        if failed:
            why.append(f"{failed} review(s) found it inconsistent")
        verdict = "consistent" if data["consistent"] else f"INCONSISTENT: {', '.join(why)}"
        typer.echo(f"13-51 {data['model']}: {target} (data, not under approval; {verdict})")
    return ExitCode.OK


def _assessment(item: str | None, output: Path | None, to: str, format: str, workspace: Any) -> int:
    """``mle3 report assessment [MODEL]``: the view of the whole workspace or of one model's trace."""
    from ..output import emit_json
    from ..reports.assessment import render
    from ..reports.products import Context

    ws, graph = _load(workspace)
    model = ws.get(item) if item else None
    if model is not None and model.kind != "model_version":
        raise Mle3Error(f"the assessment view is of the workspace or of one model version; {item} is a {model.kind}")
    suffix = {"needs": "needs.json", "json": "json"}.get(to, to)
    target = output or Path(f"assessment{'_' + item if item else ''}.{suffix}")
    evaluation = render(Context(ws, graph), to, target, model)
    if format == "json":
        emit_json({"schema": REPORT, "documents": [_view("assessment", item or "workspace", target, None)]})
    else:
        counts = ", ".join(f"{n} {level}" for level, n in evaluation["counts"].items())
        typer.echo(f"assessment {item or 'workspace'}: {target} (a view, not under approval; base practices: {counts})")
    return ExitCode.OK


@app.command()
def site(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the static site.")] = Path("site"),
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Build a static traceability site (works from file://, no network)."""
    from ..output import emit_json
    from ..site import build_site

    ws, graph = _load(workspace)
    result = build_site(ws, graph, output)
    if format == "json":
        emit_json({"schema": SITE, "directory": str(result.directory), "pages": result.pages, "bytes": result.bytes})
    else:
        typer.echo(
            f"site with {result.pages} pages ({result.bytes / 1e6:.1f} MB) in {result.directory}/; open "
            f"{result.directory / 'index.html'}"
        )
    return ExitCode.OK


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
    return ExitCode.OK


@reqif_app.command("import")
def reqif_import(
    file: Annotated[Path, typer.Argument(help=".reqif or .reqifz file from another tool.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Overwrite requirement files edited locally; keep relations to missing SPEC-OBJECTs as dangling "
            "derived_from.",
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Create or update requirements/ files from ReqIF; local edits and unresolvable relations need --force."""
    from dataclasses import asdict

    from ..interop.reqif import import_file
    from ..output import emit_json

    plan = import_file(_workspace_root(workspace), file, dry_run=dry_run, force=force)
    if format == "json":
        emit_json({"schema": REQIF_IMPORT, **asdict(plan)})
    else:
        typer.echo(
            f"{'would create' if not plan.written else 'created'} {len(plan.create)}, "
            f"{'would update' if not plan.written else 'updated'} {len(plan.update)}, unchanged {len(plan.unchanged)}"
        )
        if plan.unmapped:
            typer.echo(f"kept unmapped (under reqif_attributes): {', '.join(plan.unmapped)}")
        for req_id, diff in plan.conflicts.items():
            typer.echo(f"local edits in {req_id}:\n{diff}")
        for problem in plan.unresolved:
            typer.echo(f"unresolved: {problem}")
        for skipped in plan.skipped:
            typer.echo(f"skipped: {skipped}")
        refused = "the import would write nothing" if dry_run else "nothing written"
        if plan.conflicts and not force:
            typer.echo(f"{refused}: re-run with --force to overwrite local edits")
        if plan.unresolved and not force:
            typer.echo(
                f"{refused}: re-run with --force to keep these links as dangling derived_from (mle3 check reports them)"
            )
    # --dry-run exits as the import would: a plan the import would refuse is exit 1 either way
    return ok_if(not ((plan.conflicts or plan.unresolved) and not force))
