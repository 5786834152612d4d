"""Run records under ``artifacts/runs/<RUN-ID>/``.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .._atomic import atomic_write_text

RUNS_DIR = "artifacts/runs"
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
CHANGES_FILE = ".mle3/run-changes.log"
#: the log starts over above this size; a reader that sees it shrink checks every run once
CHANGES_MAX_BYTES = 8 << 20


QUEUE_DIR = ".mle3/queue"


def abort_flag(root: Path, run_id: str) -> Path:
    """Asking a run to stop (``mle3 serve``'s abort, ``mle3 runs abort``): the run's
    process sees the file within a second, wherever it runs on a shared workspace."""
    return root / QUEUE_DIR / "abort" / run_id


def note_change(root: Path, run_id: str) -> None:
    try:
        fd = os.open(root / CHANGES_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except FileNotFoundError:
        (root / ".mle3").mkdir(exist_ok=True)
        fd = os.open(root / CHANGES_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError:
        return  # a read-only workspace: only the live index misses it
    try:
        os.write(fd, (run_id + "\n").encode())
        if os.fstat(fd).st_size > CHANGES_MAX_BYTES:
            os.replace(root / CHANGES_FILE, root / (CHANGES_FILE + ".1"))
    finally:
        os.close(fd)


@dataclass
class RunRecord:
    root: Path
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def directory(self) -> Path:
        return self.root / RUNS_DIR / self.id

    @property
    def rel_dir(self) -> str:
        return f"{RUNS_DIR}/{self.id}"

    @classmethod
    def create(cls, root: Path, config_id: str, **fields: Any) -> "RunRecord":
        run_id = new_run_id()
        while (root / RUNS_DIR / run_id).exists():
            run_id = new_run_id()
        (root / RUNS_DIR / run_id).mkdir(parents=True)
        data = {
            "id": run_id,
            "config": config_id,
            "status": "pending",
            "created": now_iso(),
            "pid": os.getpid(),
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
    def load(cls, root: Path, run_id: str) -> "RunRecord":
        with open(root / RUNS_DIR / run_id / RUN_FILE, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        return cls(root, doc["run"])

    def save(self) -> None:
        with _SAVE_LOCK:  # the heartbeat thread saves too
            self.data["heartbeat"] = now_iso()
            text = "# Written by `mle3 train`: the record of one training run. Do not edit.\n" + yaml.safe_dump({"run": clean(self.data)}, sort_keys=False, allow_unicode=True, width=120)
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


def read_epochs(path: Path) -> list[dict[str, Any]]:
    """Every complete epoch line (a torn last line from a crash is skipped)."""
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.endswith("\n"):
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
    except FileNotFoundError:
        pass
    return out


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


def effective_status(run: dict[str, Any]) -> str:
    """The status to show: an active run whose process is gone is ``stale``."""
    status = run.get("status", "pending")
    if status not in ACTIVE:
        return status
    if status == "pending" and run.get("queue"):
        return status  # waits in the queue: no process yet
    if run.get("worker") and status == "in_progress" and _silent_for(run) > STALE_WORKER_S:
        return "stale"
    if run.get("host") == socket.gethostname():
        pid = run.get("pid")
        if isinstance(pid, int) and not _pid_alive(pid):
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
    """Every run record (newest first), read directly: runs are listed while they train."""
    runs = []
    base = root / RUNS_DIR
    if not base.is_dir():
        return runs
    for entry in base.iterdir():
        path = entry / RUN_FILE
        if not path.is_file():
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
            run = dict(doc["run"])
        except Exception:
            runs.append({"id": entry.name, "status": "unreadable", "file": path.relative_to(root).as_posix()})
            continue
        run["effective_status"] = effective_status(run)
        run.setdefault("kind", "training")
        run["file"] = path.relative_to(root).as_posix()
        runs.append(run)
    runs.sort(key=lambda r: str(r.get("created", "")), reverse=True)
    return runs
