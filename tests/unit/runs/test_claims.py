"""Queue claims, read: whether a queued run waits, is claimed by a live process, or is lost."""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

from mle3.runs.claims import Claim, claim_path, claims, me, queue_folder, queue_state
from mle3.runs.records import effective_status

RUN = "RUN-20260101-000000-abcd"


def _queued(created: str | None = None) -> dict[str, object]:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return {"id": RUN, "status": "pending", "queue": {"priority": 0}, "created": created or now}


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_an_entry_in_the_queue_waits(tmp_path: Path) -> None:
    queue_folder(tmp_path).mkdir(parents=True)
    (queue_folder(tmp_path) / f"{RUN}.json").write_text("{}")
    assert queue_state(tmp_path, _queued("2000-01-01T00:00:00+00:00")) == "waiting"


def test_a_claim_of_a_live_process_is_claimed_and_of_a_dead_one_lost(tmp_path: Path) -> None:
    live = claim_path(tmp_path, RUN, me())
    live.parent.mkdir(parents=True)
    live.write_text("{}")
    assert [c.run for c in claims(tmp_path, RUN)] == [RUN]
    assert queue_state(tmp_path, _queued()) == "claimed"
    assert effective_status(_queued(), tmp_path) == "pending"
    live.unlink()
    dead = claim_path(tmp_path, RUN, f"{socket.gethostname()}~{_dead_pid()}~0")
    dead.write_text("{}")
    assert not Claim.of(dead).alive()
    assert queue_state(tmp_path, _queued()) == "lost"
    assert effective_status(_queued(), tmp_path) == "stale"


def test_neither_entry_nor_claim_is_lost_only_after_the_grace(tmp_path: Path) -> None:
    assert queue_state(tmp_path, _queued()) == "waiting"  # its entry may still be coming
    assert queue_state(tmp_path, _queued("2000-01-01T00:00:00+00:00")) == "lost"
