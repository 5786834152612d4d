"""The outbox: one JSON file per message waiting for delivery, below ``.mle3/outbox/``.

``<id>.json`` is the message as the event produced it (written once, atomically: a crash
leaves it complete or absent); ``<id>.state.json`` the delivery bookkeeping (attempts,
the next attempt, the last error, the frozen bytes' digest); ``<id>.payload`` the exact
bytes sent (frozen at the first attempt, so every retry sends the same message). A
deliverer holds ``<id>.lock`` (never waits: another process delivering it is left alone).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_bytes, atomic_write_text
from ..workspace.layout import layout_at

FORMAT = "mle3.outbox/1"


def outbox_dir(root: Path) -> Path:
    return layout_at(root).path(layout_at(root).outbox_dir)


def new_id(now: dt.datetime | None = None) -> str:
    """Sortable by creation, unique across processes and machines."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(4)


@dataclass
class Entry:
    """One message in the outbox: the record and its bookkeeping."""

    id: str
    record: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def attempts(self) -> int:
        return int(self.state.get("attempts") or 0)

    @property
    def next_attempt(self) -> str | None:
        return self.state.get("next_attempt")

    @property
    def last_error(self) -> str | None:
        return self.state.get("last_error")

    def due(self, now: dt.datetime) -> bool:
        nxt = self.next_attempt
        return not nxt or nxt <= now.isoformat(timespec="seconds")


def write(root: Path, record: dict[str, Any]) -> str:
    """Put a message into the outbox (complete or not at all); returns its id."""
    msg_id = record.get("id") or new_id()
    record = {"format": FORMAT, **record, "id": msg_id}
    atomic_write_text(outbox_dir(root) / f"{msg_id}.json", json.dumps(record, sort_keys=True, indent=1) + "\n")
    return msg_id


def _read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def pending(root: Path) -> list[Entry]:
    """Every message in the outbox, oldest first; a file that cannot be read is listed with its problem."""
    folder = outbox_dir(root)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.endswith(".state.json"))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.startswith("."):
            continue
        msg_id = name[: -len(".json")]
        try:
            record = _read_json(folder / name)
            if not isinstance(record, dict) or record.get("format") != FORMAT:
                raise ValueError(f"not an outbox message ({FORMAT})")
        except FileNotFoundError:
            continue  # delivered meanwhile
        except (OSError, ValueError) as exc:
            out.append(Entry(msg_id, {}, problem=f"{name}: {exc}"))
            continue
        out.append(Entry(msg_id, record, read_state(root, msg_id)))
    return out


def read_state(root: Path, msg_id: str) -> dict[str, Any]:
    try:
        state = _read_json(outbox_dir(root) / f"{msg_id}.state.json")
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def write_state(root: Path, msg_id: str, state: dict[str, Any]) -> None:
    atomic_write_text(outbox_dir(root) / f"{msg_id}.state.json", json.dumps(state, sort_keys=True) + "\n")


def payload(root: Path, msg_id: str) -> bytes | None:
    try:
        return (outbox_dir(root) / f"{msg_id}.payload").read_bytes()
    except FileNotFoundError:
        return None


def freeze(root: Path, msg_id: str, data: bytes) -> None:
    atomic_write_bytes(outbox_dir(root) / f"{msg_id}.payload", data)


def exists(root: Path, msg_id: str) -> bool:
    return (outbox_dir(root) / f"{msg_id}.json").is_file()


def lock(root: Path, msg_id: str):
    """The lock a deliverer holds for one message (timeout 0: never waits)."""
    from filelock import FileLock

    return FileLock(str(outbox_dir(root) / f"{msg_id}.lock"), timeout=0)


def remove(root: Path, msg_id: str) -> None:
    """A delivered message leaves the outbox: the record first (then nothing lists it)."""
    folder = outbox_dir(root)
    for suffix in (".json", ".payload", ".state.json", ".lock"):
        try:
            os.unlink(folder / f"{msg_id}{suffix}")
        except FileNotFoundError:
            pass
