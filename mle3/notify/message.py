"""The exact bytes of a message: an e-mail with the rendered work product attached, or
the JSON body a chat or ALM tool takes. Built once per message (the first attempt) and
frozen in the outbox, so every retry sends the same bytes and the same digest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from ..workspace.config import ProjectConfig

FORMAT = "mle3.notification/1"


@dataclass
class Report:
    """The work product sent with a message, rendered at the first attempt."""

    wp: str
    name: str
    html: bytes
    fingerprint: str | None

    @property
    def sha256(self) -> str:
        return "sha256:" + hashlib.sha256(self.html).hexdigest()


def render_report(root: Path, record: dict[str, Any], cache: dict[Any, Any]) -> tuple[Report | None, str | None]:
    """(the report, None) or (None, why there is none); ``cache`` keeps the loaded workspace
    for the other messages of the same delivery."""
    wp_id = record.get("report_wp")
    key = ("report", wp_id, record.get("item"), record.get("event"), record.get("created"))
    if key in cache:  # the messages of one event carry the same report, byte for byte
        return cache[key]
    cache[key] = _render_report(root, record, wp_id, cache)
    return cache[key]


def _render_report(
    root: Path, record: dict[str, Any], wp_id: Any, cache: dict[Any, Any]
) -> tuple[Report | None, str | None]:
    if not wp_id:
        return None, "no work product describes a " + str(record.get("kind"))
    try:
        from ..errors import Mle3Error
        from ..reports.products import WORK_PRODUCTS, Context
        from ..reports.render import render_html

        wp = WORK_PRODUCTS.get(wp_id)
        if wp is None:
            return None, f"no work product {wp_id}"
        if "ctx" not in cache:
            from ..graph import build_graph
            from ..workspace import load_workspace

            ws = load_workspace(root)
            cache["ctx"] = Context(ws, build_graph(ws))
        html, doc = render_html(cache["ctx"], wp_id, str(record["item"]))
    except Mle3Error as exc:
        return None, f"the {wp_id} could not be rendered: {exc.message}"
    return Report(wp_id, wp.name, html.encode("utf-8"), doc.get("fingerprint")), None


def what_happened(record: dict[str, Any]) -> str:
    event, item, details = str(record.get("event")), record.get("item"), record.get("details") or {}
    family, _, what = event.partition(".")
    who = f" by {record['actor']}" if record.get("actor") else ""
    if family == "promote":
        return f"{item} was promoted to {what}{who}"
    role = f" as {details['role']}" if details.get("role") else ""
    verb = "approved" if family == "approval" else "rejected"
    return f"{item} ({what}) was {verb}{role}{who}"


def short_text(record: dict[str, Any], report: Report | None, no_report: str | None) -> str:
    lines = [
        f"[{record.get('project')}] {what_happened(record)}.",
        f"Fingerprint at the event: {record.get('fingerprint')}",
    ]
    comment = (record.get("details") or {}).get("comment")
    if comment:
        lines.append(f"Comment: {comment}")
    if report is not None:
        lines.append(f"Report: {report.wp} {report.name} ({report.sha256})")
        if report.fingerprint and record.get("fingerprint") and report.fingerprint != record.get("fingerprint"):
            lines.append(f"Note: the item changed after the event; the report shows fingerprint {report.fingerprint}")
    else:
        lines.append(f"No report attached: {no_report}")
    lines.append(f"Event {record.get('event')} at {record.get('created')}, message {record.get('id')}")
    return "\n".join(lines)


def subject_of(record: dict[str, Any]) -> str:
    return f"[mle3] {what_happened(record)}"


def report_meta(report: Report | None) -> dict[str, str] | None:
    return {"wp": report.wp, "sha256": report.sha256} if report is not None else None


def email_bytes(config: ProjectConfig, record: dict[str, Any], report: Report | None, no_report: str | None) -> bytes:
    smtp = config.notifications.smtp
    sender = smtp.sender if smtp is not None else "mle3@localhost"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(record.get("recipients") or [])
    msg["Subject"] = subject_of(record)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=str(record.get("id")), domain=sender.rsplit("@", 1)[-1])
    msg["X-Mle3-Event"] = str(record.get("event"))
    msg["X-Mle3-Item"] = str(record.get("item"))
    msg["X-Mle3-Fingerprint"] = str(record.get("fingerprint"))
    msg.set_content(short_text(record, report, no_report) + "\n")
    if report is not None:
        msg.add_attachment(
            report.html, maintype="text", subtype="html", filename=f"{report.wp}_{record.get('item')}.html"
        )
    return msg.as_bytes(policy=SMTP.clone(max_line_length=998))  # headers unfolded: a fingerprint stays whole


def webhook_bytes(record: dict[str, Any], report: Report | None, no_report: str | None) -> bytes:
    body = {
        "schema": FORMAT,
        "project": record.get("project"),
        "event": record.get("event"),
        "item": record.get("item"),
        "kind": record.get("kind"),
        "fingerprint": record.get("fingerprint"),
        "status": record.get("status"),
        "actor": record.get("actor"),
        "time": record.get("created"),
        "message": record.get("id"),
        "report": None if report is None else {"wp": report.wp, "name": report.name, "sha256": report.sha256},
        "text": short_text(record, report, no_report),
    }
    return json.dumps(body, sort_keys=True).encode("utf-8")
