"""The training queue: ``mle3 train --queue`` and ``mle3 worker``.

A queued run is a run record with status ``pending`` and a ``queue`` block (priority,
time), written after the configuration and the data were checked, plus an entry file in
``.mle3/queue/``. Workers take entries by priority, then age. Taking one is a rename of
its entry into ``claimed/``: atomic on local and network file systems (NFS included), so
two workers never take the same run. The worker starts each run as its own process
(``mle3 runs execute``), one per free GPU or one at a time on the CPU; the run checks its
data again, trains with the recorded choices (timeout, attempts), beats its heartbeat
every 30 s, and records the scheduler's job id and node when a cluster scheduler
(SLURM, Kubernetes, Ray) started the worker. mle3 has no scheduler of its own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import audit
from .._atomic import atomic_write_text
from ..errors import Mle3Error
from .records import HEARTBEAT_S, QUEUE_DIR, RUN_FILE, RUNS_DIR, RunRecord, abort_flag, effective_status, now_iso

RERUNNABLE = ("failed", "terminated", "aborted", "stale", "pruned")


def _queue(root: Path) -> Path:
    return root / QUEUE_DIR


def enqueue(root: Path, config_ref: str, options: Any, priority: int = 0, *, rerun_of: str | None = None) -> str:
    """Check everything ``mle3 train`` checks, record a pending run and queue it."""
    from ..workspace import load_workspace
    from .train import apply_overrides, config_hash, options_record, prepare

    ws = load_workspace(root)
    prep = prepare(ws, config_ref, options)
    args = apply_overrides(prep, options, 0)  # the device is resolved again where the run starts
    cfg = prep.cfg
    queued_at = now_iso()
    record = RunRecord.create(
        root, cfg.id,
        config_file=cfg._file, config_sha256=config_hash(cfg._raw), configuration=cfg._raw,
        dataset_version=prep.dataset.key if prep.dataset is not None else None, dataset_fingerprint=prep.fingerprint,
        data_check=prep.data_check, parameters=args, options=options_record(options),
        mapping=[r.__dict__ for r in prep.mapping.rows], deviations=[d.__dict__ for d in prep.mapping.deviations],
        not_applied=[r.field for r in prep.mapping.not_applied],
        queue={"priority": int(priority), "queued_at": queued_at, "by": audit.default_actor(root)},
        **({"rerun_of": rerun_of} if rerun_of else {}),
    )
    entry = _queue(root) / f"{record.id}.json"
    entry.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(entry, json.dumps({"run": record.id, "priority": int(priority), "queued_at": queued_at}))
    audit.append(root, "run.queue", record.id, {"config": cfg.id, "priority": int(priority), **({"rerun_of": rerun_of} if rerun_of else {})})
    return record.id


def waiting(root: Path) -> list[dict[str, Any]]:
    """Queue entries by priority (high first), then age."""
    out = []
    folder = _queue(root)
    if not folder.is_dir():
        return out
    for path in folder.glob("*.json"):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a half-written or just-claimed entry
    out.sort(key=lambda e: (-int(e.get("priority", 0)), str(e.get("queued_at", "")), e.get("run", "")))
    return out


def claim(root: Path, run_id: str, worker: str) -> bool:
    """Take one entry: the rename succeeds for exactly one worker."""
    claimed = _queue(root) / "claimed"
    claimed.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(_queue(root) / f"{run_id}.json", claimed / f"{run_id}.{worker}.json")
        return True
    except FileNotFoundError:
        return False


def claim_next(root: Path, worker: str) -> str | None:
    for entry in waiting(root):
        if claim(root, entry["run"], worker):
            return entry["run"]
    return None


def scheduler_ids() -> dict[str, Any]:
    """Who started this worker: SLURM, Kubernetes or Ray job ids when present."""
    env = os.environ
    out: dict[str, Any] = {}
    if env.get("SLURM_JOB_ID"):
        out["slurm"] = {k.lower(): env[k] for k in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST", "SLURMD_NODENAME") if env.get(k)}
    if env.get("KUBERNETES_SERVICE_HOST"):
        out["kubernetes"] = {"pod": env.get("POD_NAME") or env.get("HOSTNAME") or socket.gethostname(), **({"namespace": env["POD_NAMESPACE"]} if env.get("POD_NAMESPACE") else {})}
    if env.get("RAY_JOB_ID"):
        out["ray"] = {"job_id": env["RAY_JOB_ID"]}
    return out


def execute(root: Path, run_id: str, echo: Callable[[str], None] = print, *, worker: str | None = None) -> Any:
    """Run a claimed pending run in this process (``mle3 runs execute``)."""
    from .train import options_from_record, train

    record = RunRecord.load(root, run_id)
    if record.data.get("status") != "pending":
        raise Mle3Error(f"run {run_id} is {record.data.get('status')}, not pending")
    options = options_from_record(record.data)
    scheduler = scheduler_ids()
    record.update(worker={"name": worker or f"{socket.gethostname()}:{os.getpid()}", "node": socket.gethostname(), "pid": os.getpid(),
                          "started": now_iso(), **({"cuda_visible_devices": os.environ["CUDA_VISIBLE_DEVICES"]} if os.environ.get("CUDA_VISIBLE_DEVICES") else {})},
                  **({"scheduler": scheduler} if scheduler else {}))
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                record.save()
            except OSError:
                pass

    threading.Thread(target=beat, daemon=True, name="mle3-heartbeat").start()
    try:
        try:
            return train(root, record.data["config"], options, echo=echo, queued=record)
        except Mle3Error as exc:  # the data or configuration changed while it waited
            record.update(status="failed", ended=now_iso(), error=f"could not start: {exc}")
            audit.append(root, "run.end", run_id, {"status": "failed", "error": f"could not start: {exc}"})
            raise
    finally:
        stop.set()
        for claimed in (root / QUEUE_DIR / "claimed").glob(f"{run_id}.*.json"):
            claimed.unlink(missing_ok=True)


def abort(root: Path, run_id: str) -> str:
    """Stop a pending or running run; its status becomes ``terminated`` (the seed's
    "user intentionally ended"). Returns the status it had."""
    path = root / RUNS_DIR / run_id / RUN_FILE
    if not path.is_file():
        raise Mle3Error(f"no run {run_id}")
    record = RunRecord.load(root, run_id)
    status = effective_status(record.data)
    if status == "pending" and claim(root, run_id, "abort"):
        record.update(status="terminated", ended=now_iso(), error="terminated by the user (abort) while pending")
        (root / QUEUE_DIR / "claimed" / f"{run_id}.abort.json").unlink(missing_ok=True)
        audit.append(root, "run.abort", run_id, {"was": "pending"})
        return status
    if status not in ("pending", "in_progress"):
        raise Mle3Error(f"run {run_id} is {status}: only pending or running runs can be aborted")
    flag = abort_flag(root, run_id)
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(now_iso())
    if record.data.get("host") == socket.gethostname() and isinstance(record.data.get("pid"), int):
        try:
            os.kill(record.data["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    audit.append(root, "run.abort", run_id, {"was": status})
    return status


def rerun(root: Path, run_id: str, priority: int | None = None) -> str:
    """Queue a failed or ended run again with its configuration and choices, linked to it."""
    from .train import options_from_record

    path = root / RUNS_DIR / run_id / RUN_FILE
    if not path.is_file():
        raise Mle3Error(f"no run {run_id}")
    data = RunRecord.load(root, run_id).data
    status = effective_status(data)
    if status not in RERUNNABLE:
        raise Mle3Error(f"run {run_id} is {status}: only {', '.join(RERUNNABLE)} runs are run again")
    options = options_from_record(data)
    options.model_id = None  # a hand-chosen model id belongs to the first run
    queue = data.get("queue") or {}
    return enqueue(root, data["config"], options, queue.get("priority", 0) if priority is None else priority, rerun_of=run_id)


@dataclass
class WorkerOptions:
    gpus: list[str] | None = None
    max_parallel: int | None = None
    once: bool = False
    poll_s: float = 1.0


def work(root: Path, options: WorkerOptions, echo: Callable[[str], None] = print) -> int:
    """Take pending runs until stopped (or, with ``once``, until the queue is empty):
    one per GPU slot, one at a time on the CPU. Returns how many runs it started."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    slots: list[str | None] = list(options.gpus) if options.gpus else [None]
    limit = min(len(slots), options.max_parallel or len(slots))
    slots = slots[:limit]
    running: dict[int, tuple[str, subprocess.Popen]] = {}
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set()) if threading.current_thread() is threading.main_thread() else None
    started = 0
    echo(f"worker {name}: {len(slots)} slot(s) ({', '.join('GPU ' + s if s is not None else 'CPU' for s in slots)})")
    try:
        while True:
            for slot, (run_id, proc) in list(running.items()):
                if proc.poll() is not None:
                    echo(f"run {run_id} ended (exit {proc.returncode})")
                    del running[slot]
            if stopping.is_set():
                for run_id, proc in running.values():
                    proc.send_signal(signal.SIGTERM)  # each run records itself as terminated
                for run_id, proc in running.values():
                    proc.wait()
                return started
            for slot in range(len(slots)):
                if slot in running:
                    continue
                run_id = claim_next(root, name)
                if run_id is None:
                    break
                env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", PYTHONUNBUFFERED="1")
                cmd = [sys.executable, "-c", "from mle3.cli import run; run()", "runs", "execute", run_id, "--worker", name, "-w", str(root)]
                if slots[slot] is not None:
                    env["CUDA_VISIBLE_DEVICES"] = slots[slot]
                log = open(root / RUNS_DIR / run_id / "worker.log", "ab")  # the run's console lines
                running[slot] = (run_id, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
                log.close()
                started += 1
                echo(f"run {run_id}: started on {'GPU ' + slots[slot] if slots[slot] is not None else 'the CPU'}")
            if options.once and not running and not waiting(root):
                return started
            stopping.wait(options.poll_s)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
