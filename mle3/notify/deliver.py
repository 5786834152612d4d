"""Delivery: one attempt per message in the outbox, each finished attempt a
``communication`` entry in the audit log; delivered messages leave the outbox, the
others wait with their next attempt (backoff: ``notifications.backoff`` seconds, doubled
per attempt up to ``max_backoff``).

A message is attempted by one process at a time (its lock is taken without waiting); its
bytes are frozen before the first send. A delivered message is marked delivered in its
state before its audit entry is written, so a crash after sending never sends it twice,
and a later delivery writes the missing entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import audit
from ..vocab import AuditAction
from ..workspace.config import ProjectConfig, load_config
from . import message, outbox
from .smtp import SendError
from .webhook import public_url


@dataclass
class Attempt:
    """What one attempt on one message did."""

    message: str
    item: str | None
    event: str | None
    channel: str | None
    recipients: list[str]
    delivered: bool
    attempt: int
    error: str | None
    skipped: str | None = None
    next_attempt: str | None = None


def recipients_of(config: ProjectConfig, record: dict[str, Any]) -> list[str]:
    if record.get("channel") == "webhook":
        name = str(record.get("webhook"))
        hook = config.notifications.webhooks.get(name)
        return [f"{name} {public_url(hook.url)}" if hook is not None else name]
    return list(record.get("recipients") or [])


def _freeze(root: Path, config: ProjectConfig, entry: outbox.Entry, cache: dict[str, Any]) -> tuple[bytes, dict]:
    """The message's bytes and what the audit entry says of them: built at the first attempt, then reused."""
    data, meta = outbox.payload(root, entry.id), entry.state.get("frozen")
    if data is not None and isinstance(meta, dict):
        return data, meta
    report, why = message.render_report(root, entry.record, cache)
    if entry.record.get("channel") == "webhook":
        data = message.webhook_bytes(entry.record, report, why)
    else:
        data = message.email_bytes(config, entry.record, report, why)
    meta = {
        "subject": message.subject_of(entry.record),
        "message_sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
        "report": message.report_meta(report),
    }
    outbox.freeze(root, entry.id, data)
    entry.state["frozen"] = meta
    outbox.write_state(root, entry.id, entry.state)
    return data, meta


def _send(config: ProjectConfig, record: dict[str, Any], data: bytes) -> None:
    if record.get("channel") == "webhook":
        from .webhook import post

        hook = config.notifications.webhooks.get(str(record.get("webhook")))
        if hook is None:
            raise SendError(f"notifications.webhooks in mle3.yaml no longer defines {record.get('webhook')!r}")
        post(hook, data)
        return
    from .smtp import send

    smtp = config.notifications.smtp
    if smtp is None:
        raise SendError("notifications.smtp in mle3.yaml names no mail server")
    send(smtp, smtp.sender, list(record.get("recipients") or []), data)


def _record(root: Path, config: ProjectConfig, entry: outbox.Entry, meta: dict, attempt: int, error: str | None):
    rec = entry.record
    audit.append(
        root,
        AuditAction.COMMUNICATION,
        rec.get("item"),
        {
            "event": rec.get("event"),
            "message": entry.id,
            "channel": rec.get("channel"),
            "recipients": recipients_of(config, rec),
            "subject": meta.get("subject"),
            "message_sha256": meta.get("message_sha256"),
            "fingerprint": rec.get("fingerprint"),
            "report": meta.get("report"),
            "delivered": error is None,
            "attempt": attempt,
            "error": error,
        },
    )


def _already_recorded(root: Path, msg_id: str) -> bool:
    return any(
        e.get("action") == AuditAction.COMMUNICATION
        and (e.get("details") or {}).get("message") == msg_id
        and (e.get("details") or {}).get("delivered") is True
        for e in audit.history(root)
    )


def _backoff(config: ProjectConfig, attempts: int, now: dt.datetime) -> str:
    n = config.notifications
    delay = min(n.backoff * (2 ** max(0, attempts - 1)), n.max_backoff)
    return (now + dt.timedelta(seconds=delay)).isoformat(timespec="seconds")


def _one(root: Path, config: ProjectConfig, entry: outbox.Entry, cache: dict[str, Any]) -> Attempt:
    rec = entry.record
    base: dict[str, Any] = dict(
        message=entry.id, item=rec.get("item"), event=rec.get("event"), channel=rec.get("channel")
    )
    recipients = recipients_of(config, rec)
    lock = outbox.lock(root, entry.id)
    from filelock import Timeout

    try:
        lock.acquire()
    except Timeout:
        return Attempt(**base, recipients=recipients, delivered=False, attempt=entry.attempts, error=None,
                       skipped="another process is delivering it")  # fmt: skip
    try:
        if not outbox.exists(root, entry.id):  # delivered by another process meanwhile
            return Attempt(**base, recipients=recipients, delivered=True, attempt=entry.attempts, error=None,
                           skipped="delivered meanwhile")  # fmt: skip
        entry.state = outbox.read_state(root, entry.id)
        if entry.state.get("delivered"):  # sent, then interrupted before its entry or its removal
            if not _already_recorded(root, entry.id):
                _record(root, config, entry, entry.state.get("frozen") or {}, entry.attempts, None)
            outbox.remove(root, entry.id)
            return Attempt(**base, recipients=recipients, delivered=True, attempt=entry.attempts, error=None)
        data, meta = _freeze(root, config, entry, cache)
        attempt = entry.attempts + 1
        error: str | None = None
        try:
            _send(config, rec, data)
        except SendError as exc:
            error = str(exc)
        now = dt.datetime.now(dt.timezone.utc)
        entry.state.update(attempts=attempt, last_attempt=now.isoformat(timespec="seconds"), last_error=error)
        if error is None:
            entry.state["delivered"] = True
        else:
            entry.state["next_attempt"] = _backoff(config, attempt, now)
        outbox.write_state(root, entry.id, entry.state)
        _record(root, config, entry, meta, attempt, error)
        if error is None:
            outbox.remove(root, entry.id)
        return Attempt(**base, recipients=recipients, delivered=error is None, attempt=attempt, error=error,
                       next_attempt=entry.state.get("next_attempt"))  # fmt: skip
    finally:
        lock.release()


def deliver(root: Path, *, due_only: bool = False, config: ProjectConfig | None = None) -> list[Attempt]:
    """Attempt every message in the outbox (``due_only``: those whose backoff has passed);
    a bad mle3.yaml raises its one-line error before anything is sent."""
    root = Path(root)
    config = config or load_config(root)
    now = dt.datetime.now(dt.timezone.utc)
    cache: dict[str, Any] = {}
    out = []
    for entry in outbox.pending(root):
        if entry.problem:
            out.append(Attempt(entry.id, None, None, None, [], False, 0, entry.problem, skipped="unreadable"))
            continue
        if due_only and not entry.due(now):
            continue
        out.append(_one(root, config, entry, cache))
    return out


def run_background(root: Path, held: Any = None) -> None:
    """The detached deliverer: one per workspace at a time (a second one started meanwhile
    leaves its messages to the first, which lists the outbox again until nothing new is
    due, also once after it lets go of its lock, so no message waits for the next event).
    Each message is attempted once per run: a failed one waits for its retry time."""
    from filelock import FileLock, Timeout

    root = Path(root)
    config = load_config(root)
    folder = outbox.outbox_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    lock = held or FileLock(str(folder / ".deliverer.lock"), timeout=0)
    tried: set[str] = set()
    cache: dict[str, Any] = {}

    def fresh() -> list[outbox.Entry]:
        now = dt.datetime.now(dt.timezone.utc)
        return [e for e in outbox.pending(root) if not e.problem and e.id not in tried and e.due(now)]

    first = held is not None
    while True:
        if not first:
            try:
                lock.acquire()
            except Timeout:
                return
        first = False
        try:
            while todo := fresh():
                for entry in todo:
                    tried.add(entry.id)
                    _one(root, config, entry, cache)
        finally:
            lock.release()
        if not fresh():
            return


def start_background(root: Path) -> None:
    """Start the detached deliverer (``python -m mle3.notify ROOT``): it outlives the
    command, reads nothing from it and writes nothing to its terminal."""
    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    folder = outbox.outbox_dir(Path(root)).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    try:
        subprocess.Popen(
            [sys.executable, "-m", "mle3.notify", str(Path(root).resolve()), str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    except OSError:
        pass  # the message waits in the outbox for `mle3 notify`
