"""Queue claims, read: who took a queued run, and whether a queued run still waits.

A worker takes a queue entry by renaming it into ``claimed/<RUN>~<host>~<pid>~<start>.json``
(:mod:`mle3.runner.queue` writes them); this module only reads what the names and the
files' times say, so the status of a queued run (:func:`mle3.runs.records.effective_status`)
is known to every reader without the queue's machinery.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..workspace.layout import layout_at
from .records import STALE_WORKER_S, process_alive, process_start

#: a claim on another host (or one that names no process) is dead when its file was not
#: renewed for this long: the worker renews its claims at every poll
CLAIM_LEASE_S = STALE_WORKER_S
#: a queued run with neither an entry nor a claim is lost (enqueue died between writing the
#: record and its entry) once it is this old; younger, its entry may still be coming
ENTRY_GRACE_S = 60.0


def queue_folder(root: Path) -> Path:
    """The queue of the workspace at ``root`` (:attr:`Layout.queue_dir`)."""
    return root / layout_at(root).queue_dir


def me() -> str:
    """This process as a claimer: ``host~pid~start`` (``~`` is in no run id or host name)."""
    return f"{socket.gethostname()[:100]}~{os.getpid()}~{process_start(os.getpid()) or 0}"


def claim_path(root: Path, run_id: str, token: str) -> Path:
    return queue_folder(root) / "claimed" / f"{run_id}~{token}.json"


@dataclass
class Claim:
    """A taken queue entry: ``claimed/<RUN>~<host>~<pid>~<start>.json``."""

    path: Path
    run: str
    host: str | None
    pid: int | None
    start: str | None

    @classmethod
    def of(cls, path: Path) -> Claim:
        parts = path.name[: -len(".json")].split("~")
        if len(parts) == 4 and parts[2].isdigit():
            return cls(path, parts[0], parts[1], int(parts[2]), None if parts[3] == "0" else parts[3])
        return cls(path, parts[0].split(".", 1)[0], None, None, None)  # a name without a process: only its lease tells

    def alive(self) -> bool:
        """Same host: the process runs (pid present, same start time). Elsewhere: the
        claim file was renewed within :data:`CLAIM_LEASE_S`."""
        if self.host is not None and self.pid is not None:
            here = process_alive(self.host, self.pid, self.start)
            if here is not None:
                return here
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return True  # just renamed by its holder: not ours to judge
        return time.time() - max(st.st_mtime, st.st_ctime) <= CLAIM_LEASE_S

    @property
    def holder(self) -> str:
        return f"{self.host}:{self.pid}" if self.pid is not None else (self.host or "?")


def claims(root: Path, run_id: str | None = None) -> list[Claim]:
    """The claims on ``run_id`` (every claim without it)."""
    folder = queue_folder(root) / "claimed"
    if not folder.is_dir():
        return []
    pattern = f"{run_id}~*.json" if run_id else "*.json"
    found = [Claim.of(p) for p in folder.glob(pattern)]
    if run_id:  # claims named by an earlier mle3: <RUN>.<worker>.json
        found += [Claim.of(p) for p in folder.glob(f"{run_id}.*.json")]
    return found


def queue_state(root: Path, run: dict[str, Any]) -> str:
    """Where a queued run that has not started is: ``waiting`` (its entry is in the queue),
    ``claimed`` (by a live process) or ``lost`` (claimed by a dead one, or no entry at all)."""
    run_id = str(run.get("id"))
    if (queue_folder(root) / f"{run_id}.json").exists():
        return "waiting"
    held = claims(root, run_id)
    if any(c.alive() for c in held):
        return "claimed"
    if (queue_folder(root) / f"{run_id}.json").exists():
        return "waiting"  # queued again while we looked
    if held:
        return "lost"
    return "lost" if _age_s(run.get("created")) > ENTRY_GRACE_S else "waiting"


def _age_s(when: Any) -> float:
    import datetime as dt

    try:
        return (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(str(when))).total_seconds()
    except (TypeError, ValueError):
        return float("inf")
