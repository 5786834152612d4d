"""approve, promote and ``mle3 audit``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .app import WorkspaceOpt, app, _load, _workspace_root
from .options import ExitCode, FormatOpt, ok_if
from .shapes import BOOL, INT, OBJ, STR, STRS, arr, declare, nullable, obj

APPROVAL = declare(
    "mle3.approval/2",
    "`mle3 approve --format json`: the decision recorded, bound to the content's fingerprint.",
    {
        "order": INT,
        "time": STR,
        "item": STR,
        "role": STR,
        "name": STR,
        "decision": {"enum": ["approved", "rejected"]},
        "fingerprint": STR,
        "comment": nullable(STR),
        "deviation": nullable(STR),
        "signed": BOOL,
        "entry": STR,
        "file": STR,
        "warnings": STRS,
    },
)
PROMOTE = declare(
    "mle3.promote/2",
    "`mle3 promote --format json`: the gate's answer; `missing` says why it refused.",
    {
        "ok": BOOL,
        "model": STR,
        "current": STR,
        "target": STR,
        "missing": STRS,
        "approvals": arr(OBJ),
        "version": nullable(STR),
        "alias": nullable(STR),
        "notes": STRS,
    },
)
AUDIT_VERIFY = declare(
    "mle3.audit-verify/2",
    "`mle3 audit verify --format json`: hashes, parents and signatures checked.",
    {
        "ok": BOOL,
        "entries": INT,
        "heads": STRS,
        "legacy_format": BOOL,
        "problems": arr(obj({"file": STR, "line": INT, "message": STR})),
    },
)
AUDIT_MIGRATE = declare(
    "mle3.audit-migrate/1",
    "`mle3 audit migrate --format json`: whether a linear log was migrated.",
    {"migrated": BOOL, "entries": INT, "heads": STRS},
    optional=("entries", "heads"),
)
AUDIT_LOG = declare(
    "mle3.audit-log/2",
    "`mle3 audit log --format json`: the entries, oldest first, with their place and file.",
    {
        "entries": arr(
            obj(
                {
                    "hash": STR,
                    "time": STR,
                    "action": STR,
                    "item": nullable(STR),
                    "actor": STR,
                    "order": INT,
                    "file": STR,
                },
                optional=("item",),
            )
        )
    },
)


# ----------------------------------------------------------------- approvals
@app.command()
def approve(
    item: Annotated[str, typer.Argument(help="Item id (model version, data set version, configuration, run, ...).")],
    role: Annotated[
        str,
        typer.Option(
            help="Role you approve in (one the approval policy uses: policy.approvals in mle3.yaml, or the defaults)."
        ),
    ],
    name: Annotated[Optional[str], typer.Option(help="Approver (default: the git user of the workspace).")] = None,
    comment: Annotated[Optional[str], typer.Option(help="Comment recorded with the decision.")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Record a rejection instead.")] = False,
    deviation: Annotated[
        Optional[str],
        typer.Option(
            help="Also accept a known deviation of this content (a rule id, e.g. quantization.drop); needs --comment."
        ),
    ] = None,
    sign: Annotated[
        bool,
        typer.Option("--sign", help="Sign the approval with your SSH key (ssh-keygen -Y, namespace mle3-approval)."),
    ] = False,
    key: Annotated[
        Optional[Path],
        typer.Option("--key", help="Private SSH key to sign with (default: git user.signingkey or ~/.ssh/id_ed25519)."),
    ] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Record who approved (or rejected) which exact content, bound to its fingerprint."""
    from ..approvals import approve as record_approval
    from ..output import emit_json

    ws, graph = _load(workspace)
    a = record_approval(ws, graph, item, role, name, comment, reject, deviation, sign, key)
    if format == "json":
        emit_json({"schema": APPROVAL, **a.to_json()})
    else:
        typer.echo(
            f"{a.decision} {a.item} as {a.role} by {a.name} (audit entry {a.entry[:12]}); fingerprint {a.fingerprint}"
        )
    for warning in a.warnings:
        typer.echo(f"warning: {warning}", err=True)
    return ExitCode.OK


@app.command()
def promote(
    model: Annotated[str, typer.Argument(help="Model version id.")],
    to: Annotated[
        Literal["draft", "training", "validated", "released", "rejected", "obsolete"],
        typer.Option("--to", help="Target status."),
    ],
    version: Annotated[
        Optional[str],
        typer.Option(
            "--version",
            help="Semantic version to give at validation (default: the next minor version of the model line).",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Move a model version along its life cycle, only when checks, criteria, approvals and separation of duties
    allow."""
    from dataclasses import asdict

    from ..approvals import promote as run_promotion
    from ..output import emit_json

    gate = run_promotion(_workspace_root(workspace), model, to, version)
    if format == "json":
        emit_json({"schema": PROMOTE, "ok": gate.ok, **asdict(gate)})
    elif gate.ok:
        typer.echo(
            f"{gate.model}: {gate.current} -> {gate.target}"
            + (
                f" (approved by {', '.join(a['name'] + ' as ' + a['role'] for a in gate.approvals)})"
                if gate.approvals
                else ""
            )
        )
        if gate.version:
            typer.echo(f"  version {gate.version}: also known as {gate.alias}")
    else:
        typer.echo(f"{gate.model}: refused {gate.current} -> {gate.target}; missing:")
        for reason in gate.missing:
            typer.echo(f"  - {reason}")
    if format != "json":
        for note in gate.notes:
            typer.echo(f"  note: {note}")
    return ok_if(gate.ok)


audit_app = typer.Typer(
    help="The append-only audit log (artifacts/audit/, one file per entry), a hash DAG that git merges.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(workspace: WorkspaceOpt = None, format: FormatOpt = "text") -> int:
    """Check every entry's hash, that every parent exists, and the signatures."""
    from .. import audit as audit_log
    from ..ledger.approvals import recorded
    from ..output import emit_json

    root = _workspace_root(workspace)
    log = audit_log.read(root)
    problems = sorted(log.problems, key=lambda p: p.line)
    for a in recorded(root, verify_signatures=True, log=log):
        if a.invalid:
            problems.append(audit_log.AuditProblem(a.file, a.line, f"approval entry is malformed: {a.invalid}"))
        elif a.signed and not a.verified:
            problems.append(
                audit_log.AuditProblem(
                    a.file, a.line, f"approval of {a.item} by {a.name} as {a.role}: {a.signature_problem}"
                )
            )
    legacy = log.legacy_only
    if format == "json":
        emit_json(
            {
                "schema": AUDIT_VERIFY,
                "ok": not problems,
                "entries": len(log),
                "heads": log.heads,
                "legacy_format": legacy,
                "problems": [p.__dict__ for p in problems],
            }
        )
    elif problems:
        for p in problems:
            typer.echo(f"{p.where()}: {p.message}")
        typer.echo(f"FAILED: {len(problems)} problem(s) in {len(log)} entries")
    else:
        heads = (
            f"{len(log.heads)} heads (branches not joined yet; the next entry joins them)"
            if len(log.heads) > 1
            else "1 head"
        )
        typer.echo(
            f"OK: {len(log)} entries, every hash and parent intact, {heads}"
            + ("; linear format (migrated on the next append, or: mle3 audit migrate)" if legacy else "")
        )
    return ok_if(not problems)


@audit_app.command("migrate")
def audit_migrate(workspace: WorkspaceOpt = None, format: FormatOpt = "text") -> int:
    """Verify a log in the linear format (seq, prev) and record its migration to the DAG format."""
    from .. import audit as audit_log
    from ..output import emit_json

    done = audit_log.migrate(_workspace_root(workspace))
    if format == "json":
        emit_json({"schema": AUDIT_MIGRATE, "migrated": done is not None, **(done or {})})
    elif done is None:
        typer.echo("nothing to migrate: the log is empty or already in the DAG format")
    else:
        typer.echo(f"migrated: {done['entries']} entries verified in the linear format; audit.migrate recorded")
    return ExitCode.OK


def _audited_ids(root: Path, item: str, logged: set, workspace: Optional[Path]) -> set[str]:
    """The ids ``--item`` means: itself when the log has entries about it (items since
    removed included), else what the workspace resolves it to (a bare data set id, a
    model's version alias); an id nothing knows is a usage error, not an empty list."""
    if item in logged:
        return {item}
    ws, _ = _load(workspace)
    target = ws.get(item)  # one line naming close matches when nothing has that id
    return {target.key, target.id}


@audit_app.command("log")
def audit_log_cmd(
    item: Annotated[Optional[str], typer.Option("--item", help="Only entries about this item.")] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Show the history (approvals, promotions, registrations, runs)."""
    from .. import audit as audit_log
    from ..output import emit_json

    root = _workspace_root(workspace)
    entries = audit_log.read(root).nodes
    wanted = None if item is None else _audited_ids(root, item, {n.entry.get("item") for n in entries}, workspace)
    nodes = [n for n in entries if wanted is None or n.entry.get("item") in wanted]
    if format == "json":
        emit_json({"schema": AUDIT_LOG, "entries": [{**n.entry, "order": n.order, "file": n.file} for n in nodes]})
        return ExitCode.OK
    for n in nodes:
        e, d = n.entry, n.entry.get("details")
        d = d if isinstance(d, dict) else {}
        summary = ", ".join(
            f"{k}={v}"
            for k, v in d.items()
            if k not in ("fingerprint", "signature", "heads") and v not in (None, "", [], {})
        )
        joins = f" (joins {len(n.parents)})" if len(n.parents) > 1 else ""
        typer.echo(
            f"{n.hash[:10]} {e.get('time')} {str(e.get('action', '?')):<17} {str(e.get('item') or '-'):<28} "
            f"{e.get('actor')}{joins}  {summary}"
        )
    return ExitCode.OK
