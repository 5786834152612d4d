"""Events (``promote.<status>``, ``approval.<wp or kind>``, ``rejection.<...>``) and the
outbox records the matching inform rules of mle3.yaml produce.

:func:`inform` is called by promote and approve after their audit entry is written. It
does only what must happen before the command returns: match the rules, write one outbox
file per message (e-mail: one message to every recipient the matching rules name;
webhooks: one per webhook) and, with ``deliver: background``, start the detached
deliverer. Rendering the report and talking to servers happen in :mod:`.deliver`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from ..workspace.config import ProjectConfig
from . import outbox

#: the work product attached to a message about an item of this kind (when the event names none)
REPORT_OF_KIND = {
    "model_version": "11-06",
    "dataset": "11-07",
    "training": "04-11",
    "run": "13-65",
    "approach": "08-65",
}
#: the environment switch over ``notifications.deliver`` (tests, CI): background or queue
DELIVER_ENV = "MLE3_NOTIFY_DELIVER"


def event_names(event: str, kind: str | None) -> set[str]:
    """What an inform rule's ``on:`` may say to receive ``event``: the event, its family's
    ``*``, and for a decision on a work product also the item's kind."""
    family, _, _ = event.partition(".")
    names = {event, f"{family}.*"}
    if family in ("approval", "rejection") and kind:
        names.add(f"{family}.{kind}")
    return names


def targets(config: ProjectConfig, event: str, kind: str | None) -> tuple[list[str], list[str]]:
    """(e-mail recipients, webhook names) of every inform rule that ``event`` matches."""
    wanted = event_names(event, kind)
    emails: list[str] = []
    hooks: list[str] = []
    for rule in config.notifications.inform:
        if wanted & set(rule.on):
            emails.extend(a for a in rule.email if a not in emails)
            hooks.extend(h for h in rule.webhooks if h not in hooks)
    return emails, hooks


def deliver_mode(config: ProjectConfig) -> str:
    mode = os.environ.get(DELIVER_ENV, "").strip().lower()
    return mode if mode in ("background", "queue") else config.notifications.deliver


def inform(
    root: Path,
    config: ProjectConfig,
    event: str,
    item: str,
    *,
    kind: str | None,
    fingerprint: str | None,
    status: str | None = None,
    actor: str | None = None,
    wp: str | None = None,
    details: dict[str, Any] | None = None,
) -> list[str]:
    """Queue the messages ``event`` on ``item`` produces (their outbox ids; none when no
    rule matches) and start their delivery. Never raises for a delivery problem: the
    messages wait in the outbox."""
    emails, hooks = targets(config, event, kind)
    if not emails and not hooks:
        return []
    now = dt.datetime.now(dt.timezone.utc)
    base = {
        "created": now.isoformat(timespec="seconds"),
        "project": config.project,
        "event": event,
        "item": item,
        "kind": kind,
        "fingerprint": fingerprint,
        "status": status,
        "actor": actor,
        "report_wp": wp or REPORT_OF_KIND.get(kind or ""),
        "details": details or {},
    }
    ids = []
    if emails:
        ids.append(
            outbox.write(Path(root), {**base, "id": outbox.new_id(now), "channel": "email", "recipients": emails})
        )
    for name in hooks:
        ids.append(outbox.write(Path(root), {**base, "id": outbox.new_id(now), "channel": "webhook", "webhook": name}))
    if deliver_mode(config) == "background":
        from .deliver import start_background

        start_background(Path(root))
    return ids


def _fingerprint(ws: Any, key: str) -> str | None:
    from ..graph import build_graph
    from ..ledger.fingerprint import Fingerprints

    return Fingerprints(ws, build_graph(ws)).of(key) if key in ws.by_key else None


def on_promote(ws: Any, gate: Any) -> list[str]:
    """After a successful promotion (``gate`` passed and written): ``promote.<status>``."""
    event = f"promote.{gate.target}"
    emails, hooks = targets(ws.config, event, "model_version")
    if not emails and not hooks:
        return []
    from .. import audit

    fingerprint = next((a["fingerprint"] for a in gate.approvals if a.get("fingerprint")), None)
    return inform(
        ws.root,
        ws.config,
        event,
        gate.model,
        kind="model_version",
        fingerprint=fingerprint or _fingerprint(ws, gate.model),
        status=gate.target,
        actor=audit.default_actor(ws.root),
        details={"from": gate.current, "version": gate.version, "approvals": gate.approvals},
    )


def on_decision(ws: Any, kind: str, approval: Any, wp: str | None = None) -> list[str]:
    """After a recorded approval or rejection: ``approval.<wp or kind>`` / ``rejection.<...>``."""
    family = "approval" if approval.decision == "approved" else "rejection"
    return inform(
        ws.root,
        ws.config,
        f"{family}.{wp or kind}",
        approval.item,
        kind=kind,
        fingerprint=approval.fingerprint,
        status=approval.decision,
        actor=approval.name,
        wp=wp,
        details={"role": approval.role, "comment": approval.comment, "deviation": approval.deviation},
    )
