"""Run records under ``<artifacts_dir>/runs/<RUN-ID>/`` (:attr:`Layout.runs_dir`).

``run.yaml`` (a ``run:`` item the workspace loads) is rewritten atomically at every state
change; ``epochs.jsonl`` gets one line per finished epoch (appended and fsynced), so a
crash at any point leaves a complete record of everything that happened before it.
A run left ``in_progress`` by a killed process is recognised as stale from its pid, host
and heartbeat.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .._atomic import atomic_write_text
from ..errors import Mle3Error

# the readers live with the typed records; re-exported for the callers of this module
from ..workspace.layout import DEFAULT, layout_at
from ..workspace.records import MAX_EPOCH_LINE, MAX_RECORD_BYTES, parse_epoch_line, read_epochs  # noqa: F401
from ..workspace.records import RunRecord as TypedRunRecord
from ..workspace.records import iter_runs, read_epoch_log, read_run_mapping

#: the default place (``Layout.runs_dir`` is the workspace's own)
RUNS_DIR = DEFAULT.runs_dir
RUN_FILE = "run.yaml"
EPOCHS_FILE = "epochs.jsonl"
LOG_FILE = "train.log"
#: a run whose heartbeat is older than this on another host is considered stale
STALE_AFTER_S = 6 * 3600
#: a run executed by ``mle3 worker`` beats every HEARTBEAT_S; silent for STALE_WORKER_S: stale
HEARTBEAT_S = 30
STALE_WORKER_S = 4 * HEARTBEAT_S
ACTIVE = ("pending", "in_progress")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return "RUN-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def clean(value: Any) -> Any:
    """Plain YAML-safe values (numpy scalars, tuples, paths, str subclasses -> builtins)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, int) and type(value) is int:
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float):
        # 6 decimals, or 6 significant digits for small values (learning rates of 1e-4)
        return float(f"{value:.6g}") if 0 < abs(value) < 0.1 else round(value, 6)
    return value


_SAVE_LOCK = threading.RLock()
#: one line per saved run record (run id): ``mle3 serve`` follows it to keep its index
#: current without rescanning every run (O_APPEND lines of this size are atomic)
CHANGES_FILE = DEFAULT.run_changes
#: the log starts over above this size; a reader that sees it shrink checks every run once
CHANGES_MAX_BYTES = 8 << 20


QUEUE_DIR = DEFAULT.queue_dir


def abort_flag(root: Path, run_id: str) -> Path:
    """Asking a run to stop (``mle3 serve``'s abort, ``mle3 runs abort``): the run's
    process sees the file within a second, wherever it runs on a shared workspace."""
    return root / layout_at(root).queue_dir / "abort" / run_id


def note_change(root: Path, run_id: str) -> None:
    log = root / layout_at(root).run_changes
    try:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except FileNotFoundError:
        log.parent.mkdir(exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError:
        return  # a read-only workspace: only the live index misses it
    try:
        os.write(fd, (run_id + "\n").encode())
        if os.fstat(fd).st_size > CHANGES_MAX_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))
    finally:
        os.close(fd)


@dataclass
class RunRecord:
    """The writer of one run's files (``run.yaml`` rewritten whole, ``epochs.jsonl``
    appended); ``data`` is the mapping it saves. Readers use :attr:`typed`
    (:class:`mle3.workspace.records.RunRecord`)."""

    root: Path
    data: dict[str, Any]

    @property
    def typed(self) -> TypedRunRecord:
        """The typed view of the record as it stands."""
        return TypedRunRecord.from_mapping(self.data, f"{self.rel_dir}/{RUN_FILE}")

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def directory(self) -> Path:
        return self.root / self.rel_dir

    @property
    def rel_dir(self) -> str:
        return layout_at(self.root).run_dir(self.id)

    @classmethod
    def create(cls, root: Path, config_id: str, **fields: Any) -> RunRecord:
        runs = root / layout_at(root).runs_dir
        run_id = new_run_id()
        while (runs / run_id).exists():
            run_id = new_run_id()
        (runs / run_id).mkdir(parents=True)
        data = {
            "id": run_id,
            "config": config_id,
            "status": "pending",
            "created": now_iso(),
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
            "host": socket.gethostname(),
            "heartbeat": now_iso(),
            "epochs_file": EPOCHS_FILE,
            "log": LOG_FILE,
        }
        data.update(fields)
        record = cls(root, data)
        record.save()
        return record

    @classmethod
    def load(cls, root: Path, run_id: str) -> RunRecord:
        """The record of ``run_id``; an unreadable or malformed one is a one-line
        :class:`Mle3Error` naming the file and field (exit 2)."""
        rel = f"{layout_at(root).run_dir(run_id)}/{RUN_FILE}"
        return cls(root, read_record(root / rel, run_id, rel=rel))

    def save(self) -> None:
        with _SAVE_LOCK:  # the heartbeat thread saves too
            self.data["heartbeat"] = now_iso()
            text = "# Written by `mle3 train`: the record of one training run. Do not edit.\n" + yaml.safe_dump(
                {"run": clean(self.data)}, sort_keys=False, allow_unicode=True, width=120
            )
            atomic_write_text(self.directory / RUN_FILE, text)
        note_change(self.root, self.id)

    def update(self, **fields: Any) -> None:
        self.data.update(fields)
        self.save()

    def append_epoch(self, metrics: dict[str, Any]) -> None:
        line = json.dumps(clean(metrics), sort_keys=True) + "\n"
        fd = os.open(self.directory / EPOCHS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def epochs(self) -> list[dict[str, Any]]:
        return read_epochs(self.directory / EPOCHS_FILE)


def read_record(path: Path, run_id: str | None = None, *, rel: str | None = None) -> dict[str, Any]:
    """The checked ``run:`` mapping of a ``run.yaml`` (the one reader is
    :func:`mle3.workspace.records.read_run`; this is its mapping, which the writer saves back)."""
    return read_run_mapping(path, run_id, rel=rel)


def epoch_lines(path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The epochs of ``epochs.jsonl`` and the problems of its lines (see
    :func:`mle3.workspace.records.read_epoch_log`)."""
    log = read_epoch_log(path)
    return log.epochs, log.problems


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``), or None
    where that is not known: a pid reused by another process has another start."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[19].decode()
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def process_alive(host: Any, pid: Any, start: Any = None) -> bool | None:
    """Whether the process (host, pid, start) still runs: None when it is on another host
    (only a lease or heartbeat can tell there)."""
    if host != socket.gethostname():
        return None
    if type(pid) is not int or not 0 < pid < 1 << 31:
        return False
    if not _pid_alive(pid):
        return False
    return not (start and process_start(pid) not in (None, str(start)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody reaped (its parent died too) is a zombie: not alive
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def effective_status(run: dict[str, Any], root: Path | None = None) -> str:
    """The status to show: an active run whose process is gone is ``stale``. With the
    workspace ``root``, a queued run whose claim is held by a dead worker (it died
    between taking the run and the run's first write) is ``stale`` too."""
    status = run.get("status", "pending")
    if not isinstance(status, str):
        return "unreadable"  # a hand-edited record (read_record names the field)
    if status not in ACTIVE:
        return status
    if status == "pending" and run.get("queue") and not run.get("worker"):
        if root is None:
            return status  # waits in the queue: no process yet
        from .claims import queue_state

        return "stale" if queue_state(root, run) == "lost" else status
    if run.get("worker") and _silent_for(run) > STALE_WORKER_S:
        return "stale"
    if run.get("host") == socket.gethostname():
        if process_alive(run.get("host"), run.get("pid"), run.get("pid_start")) is False:
            return "stale"
        return status
    return "stale" if _silent_for(run) > STALE_AFTER_S else status


def _silent_for(run: dict[str, Any]) -> float:
    """Seconds since the run's last heartbeat (infinite when it has none readable)."""
    try:
        beat = dt.datetime.fromisoformat(str(run.get("heartbeat")))
    except ValueError:
        return float("inf")
    return (dt.datetime.now(dt.timezone.utc) - beat).total_seconds()


def list_runs(root: Path) -> list[dict[str, Any]]:
    """Every run record (newest first), read directly: runs are listed while they train.
    Each is the record's mapping with ``effective_status``, ``kind`` and ``file`` added;
    an unreadable one is ``{id, status: unreadable, error, file}``."""
    runs = []
    for run_id, rel, found in iter_runs(root):
        if isinstance(found, Mle3Error):
            runs.append(
                {
                    "id": run_id,
                    "status": "unreadable",
                    "effective_status": "unreadable",
                    "error": str(found),
                    "file": rel,
                }
            )
            continue
        run = dict(found.data)
        run["effective_status"] = effective_status(run, root)
        run.setdefault("kind", "training")
        run["file"] = rel
        runs.append(run)
    runs.sort(key=lambda r: str(r.get("created", "")), reverse=True)
    return runs


def pause_for_test(point: str) -> None:
    """Test seam for crash tests: with ``MLE3_TEST_PAUSE_AT=<point>`` the process writes
    ``MLE3_TEST_PAUSE_FILE`` and waits there to be killed (points: ``claim``, the worker
    right after taking a run; ``handover``, the run's process before its first write;
    ``trial``, a study's trial after its values were sampled)."""
    if os.environ.get("MLE3_TEST_PAUSE_AT") != point:
        return
    marker = os.environ.get("MLE3_TEST_PAUSE_FILE")
    if marker:
        Path(marker).write_text(str(os.getpid()))
    time.sleep(600)
