"""13-52 communication evidence: every message about an item (event, when, channel,
recipients, the digest of the bytes sent, delivered or not, attempts, errors), read from
the ``communication`` entries of the audit log, and what still waits in the outbox."""

from __future__ import annotations

import json
import os
from typing import Any

from .. import audit
from ..vocab import AuditAction
from ..workspace import item_key
from ..workspace.layout import layout_at


def _waiting(root: Any, key: str) -> list[dict[str, Any]]:
    """The outbox messages about ``key`` (read only: the outbox is :mod:`mle3.notify`'s)."""
    layout = layout_at(root)
    folder = layout.path(layout.outbox_dir)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.endswith(".state.json"))
    except OSError:
        return []
    out = []
    for name in names:
        try:
            record = json.loads((folder / name).read_bytes())
            state_file = folder / (name[: -len(".json")] + ".state.json")
            state = json.loads(state_file.read_bytes()) if state_file.is_file() else {}
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("item") != key or not isinstance(state, dict):
            continue
        out.append(
            {
                "message": record.get("id"),
                "event": record.get("event"),
                "created": record.get("created"),
                "channel": record.get("channel"),
                "recipients": record.get("recipients") or [record.get("webhook")],
                "attempts": state.get("attempts") or 0,
                "next_attempt": state.get("next_attempt"),
                "last_error": state.get("last_error"),
            }
        )
    return out


def build_communications(ctx: Any, item: Any) -> dict[str, Any]:
    key = item_key(item)
    messages: dict[str, dict[str, Any]] = {}
    for entry in audit.history(ctx.ws.root):
        if entry.get("action") != AuditAction.COMMUNICATION or entry.get("item") != key:
            continue
        d = entry.get("details") or {}
        msg = messages.setdefault(
            str(d.get("message")),
            {
                "message": d.get("message"),
                "event": d.get("event"),
                "channel": d.get("channel"),
                "recipients": d.get("recipients") or [],
                "subject": d.get("subject"),
                "message_sha256": d.get("message_sha256"),
                "fingerprint": d.get("fingerprint"),
                "report": d.get("report"),
                "attempts": [],
                "delivered": False,
            },
        )
        msg["attempts"].append(
            {"time": entry.get("time"), "attempt": d.get("attempt"), "delivered": d.get("delivered") is True,
             "error": d.get("error"), "actor": entry.get("actor"), "entry": str(entry.get("hash", ""))[:12]}
        )  # fmt: skip
        msg["delivered"] = msg["delivered"] or d.get("delivered") is True
        msg["first"] = msg.get("first") or entry.get("time")
    rows = sorted(messages.values(), key=lambda m: str(m.get("first")))
    current = ctx.fingerprints.of(key)
    waiting = _waiting(ctx.ws.root, key)
    return {
        "messages": rows,
        "waiting": waiting,
        "delivered_count": sum(1 for m in rows if m["delivered"]),
        "undelivered_count": sum(1 for m in rows if not m["delivered"]),
        "current_fingerprint": current,
        "communicated_current": any(m["delivered"] and m["fingerprint"] == current for m in rows),
        "rules": [{"on": r.on, "email": r.email, "webhooks": r.webhooks} for r in ctx.ws.config.notifications.inform],
    }
