"""``mle3 notify``: deliver (or list) the messages waiting in the outbox (13-52)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .app import WorkspaceOpt, app, _workspace_root
from .options import ExitCode, FormatOpt
from .shapes import BOOL, INT, STR, STRS, arr, declare, nullable, obj

NOTIFY = declare(
    "mle3.notify/1",
    "`mle3 notify --format json`: one row per message attempted (or, with --list, waiting in the outbox).",
    {
        "listed": BOOL,
        "messages": arr(
            obj(
                {
                    "message": STR,
                    "item": nullable(STR),
                    "event": nullable(STR),
                    "channel": nullable(STR),
                    "recipients": STRS,
                    "delivered": BOOL,
                    "attempts": INT,
                    "error": nullable(STR),
                    "skipped": nullable(STR),
                    "next_attempt": nullable(STR),
                }
            )
        ),
        "delivered": INT,
        "undelivered": INT,
    },
)


@app.command()
def notify(
    list_: Annotated[
        bool, typer.Option("--list", help="List the outbox (attempts, next attempt, last error); send nothing.")
    ] = False,
    due: Annotated[
        bool, typer.Option("--due", help="Attempt only messages whose retry time has come (for a cron job).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing; the exit code says it.")] = False,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Deliver the messages in the outbox now (e-mail, webhooks); each attempt is recorded in the audit log.
    Exit 0: all delivered; 1: some still wait."""
    from ..notify.deliver import deliver, recipients_of
    from ..notify.outbox import pending
    from ..output import emit_json
    from ..workspace.config import load_config

    root = _workspace_root(workspace)
    config = load_config(root)  # a bad mle3.yaml: its one line, exit 2, nothing sent
    rows: list[dict[str, Any]] = []
    if list_:
        for e in pending(root):
            rows.append(
                {
                    "message": e.id,
                    "item": e.record.get("item"),
                    "event": e.record.get("event"),
                    "channel": e.record.get("channel"),
                    "recipients": recipients_of(config, e.record) if e.record else [],
                    "delivered": False,
                    "attempts": e.attempts,
                    "error": e.problem or e.last_error,
                    "skipped": None,
                    "next_attempt": e.next_attempt,
                }
            )
    else:
        for a in deliver(root, due_only=due, config=config):
            rows.append(
                {
                    "message": a.message,
                    "item": a.item,
                    "event": a.event,
                    "channel": a.channel,
                    "recipients": a.recipients,
                    "delivered": a.delivered,
                    "attempts": a.attempt,
                    "error": a.error,
                    "skipped": a.skipped,
                    "next_attempt": a.next_attempt,
                }
            )
    undelivered = len(pending(root)) if not list_ else len(rows)
    delivered = sum(1 for r in rows if r["delivered"])
    if format == "json":
        emit_json(
            {"schema": NOTIFY, "listed": list_, "messages": rows, "delivered": delivered, "undelivered": undelivered}
        )
    elif not quiet:
        for r in rows:
            if list_:
                state = f"attempts {r['attempts']}" + (f", next {r['next_attempt']}" if r["next_attempt"] else "")
                state += f", last error: {r['error']}" if r["error"] else ""
            elif r["skipped"]:
                state = f"skipped ({r['skipped']})"
            else:
                state = "delivered" if r["delivered"] else f"NOT delivered (attempt {r['attempts']}): {r['error']}"
            typer.echo(
                f"{r['message']} {r['event']} {r['item']} {r['channel']} -> {', '.join(r['recipients'])}: {state}"
            )
        typer.echo(
            f"{undelivered} message(s) in the outbox"
            if list_
            else f"{delivered} delivered, {undelivered} still in the outbox"
            + (" (mle3 notify retries them; mle3 notify --list shows why)" if undelivered else "")
        )
    return ExitCode.FINDINGS if undelivered else ExitCode.OK
