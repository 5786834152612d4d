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
from typing import IO, Any
from collections.abc import Callable

from .. import audit
from .._atomic import atomic_write_text
from ..errors import Mle3Error
from ..ids import id_problem
from ..vocab import RUN_RERUNNABLE, AuditAction
from ..workspace.layout import layout_at
from ..runs.claims import claim_path, claims, me, queue_state
from ..runs.records import (
    HEARTBEAT_S,
    RunRecord,
    abort_flag,
    effective_status,
    now_iso,
    pause_for_test,
    process_alive,
    process_start,
)

RERUNNABLE = RUN_RERUNNABLE


def _queue(root: Path) -> Path:
    return root / layout_at(root).queue_dir


def enqueue(root: Any, config_ref: str, options: Any, priority: int = 0, *, rerun_of: str | None = None) -> str:
    """Check everything ``mle3 train`` checks, record a pending run and queue it
    (``root``: the loaded workspace, or its path)."""
    from ..workspace import as_workspace
    from .train import apply_overrides, config_hash, options_record, prepare

    if type(priority) is not int or abs(priority) > MAX_PRIORITY:
        raise Mle3Error(
            f"priority {str(priority)[:40]!r} is not an integer of at most {MAX_PRIORITY:.0e} either way",
            field="--priority",
        )
    ws = as_workspace(root)
    root = ws.root
    prep = prepare(ws, config_ref, options)
    args = apply_overrides(prep, options, 0)  # the device is resolved again where the run starts
    cfg = prep.cfg
    queued_at = now_iso()
    record = RunRecord.create(
        root,
        cfg.id,
        config_file=cfg._file,
        config_sha256=config_hash(cfg._raw),
        configuration=cfg._raw,
        dataset_version=prep.dataset.key if prep.dataset is not None else None,
        dataset_fingerprint=prep.fingerprint,
        data_check=prep.data_check,
        parameters=args,
        options=options_record(options),
        mapping=[r.__dict__ for r in prep.mapping.rows],
        deviations=[d.__dict__ for d in prep.mapping.deviations],
        not_applied=[r.field for r in prep.mapping.not_applied],
        queue={"priority": int(priority), "queued_at": queued_at, "by": audit.default_actor(root)},
        **({"rerun_of": rerun_of} if rerun_of else {}),
    )
    entry = _queue(root) / f"{record.id}.json"
    entry.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(entry, json.dumps({"run": record.id, "priority": int(priority), "queued_at": queued_at}))
    audit.append(
        root,
        AuditAction.RUN_QUEUE,
        record.id,
        {"config": cfg.id, "priority": int(priority), **({"rerun_of": rerun_of} if rerun_of else {})},
    )
    return record.id


#: a queue entry larger than this is not one mle3 wrote
MAX_ENTRY_BYTES = 4096
#: priorities are small integers; a larger one is refused (it sorts nothing useful)
MAX_PRIORITY = 10**9
REFUSED = "refused"


def read_entry(path: Path, rel: str | None = None) -> dict[str, Any]:
    """One queue entry, checked: ``run`` (the id its file is named after), ``priority``
    (an integer) and ``queued_at`` (text); anything else is a one-line :class:`Mle3Error`
    naming the file and field. A missing file raises FileNotFoundError (just claimed)."""
    where = rel or path.name
    with open(path, "rb") as fh:
        raw = fh.read(MAX_ENTRY_BYTES + 1)
    if len(raw) > MAX_ENTRY_BYTES:
        raise Mle3Error(f"queue entry is larger than {MAX_ENTRY_BYTES} bytes", file=where)
    try:
        entry = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Mle3Error("queue entry is not UTF-8 text", file=where) from None
    except RecursionError:
        raise Mle3Error("queue entry is nested too deeply", file=where) from None
    except ValueError as exc:
        raise Mle3Error(f"queue entry is not JSON: {str(exc)[:80]}", file=where) from None
    if not isinstance(entry, dict):
        raise Mle3Error(f"queue entry must be a JSON object (found {type(entry).__name__})", file=where)
    run = entry.get("run")
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
    if not isinstance(run, str) or id_problem(run):
        raise Mle3Error(f"run {str(run)[:80]!r} is not a run id", file=where, field="run")
    if run != stem:
        raise Mle3Error(f"run {run[:80]!r} differs from the entry's file name ({stem[:80]})", file=where, field="run")
    priority = entry.get("priority", 0)
    if type(priority) is not int or abs(priority) > MAX_PRIORITY:
        raise Mle3Error(
            f"priority {str(priority)[:40]!r} is not an integer (at most {MAX_PRIORITY:.0e} either way)",
            file=where,
            field="priority",
        )
    if not isinstance(entry.get("queued_at", ""), str):
        raise Mle3Error(f"queued_at {str(entry.get('queued_at'))[:40]!r} is not a time", file=where, field="queued_at")
    return {"run": run, "priority": priority, "queued_at": entry.get("queued_at", "")}


def quarantine(root: Path, path: Path, why: str, echo: Callable[[str], None] | None = None) -> None:
    """Move a refused queue file aside (``.mle3/queue/refused/``), saying why in one line."""
    target = _queue(root) / REFUSED / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return  # another worker moved it first
    if echo is not None:
        echo(f"refused queue entry: {why}; moved to {layout_at(root).queue_dir}/{REFUSED}/{path.name}")


def waiting(root: Path, echo: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Queue entries by priority (high first), then age. An entry that is not one mle3
    wrote (garbage, a priority that is no integer, a run other than its file's) is moved
    to ``refused/`` with one line on ``echo``, so a worker never loops on it."""
    out: list[dict[str, Any]] = []
    folder = _queue(root)
    if not folder.is_dir():
        return out
    for path in folder.glob("*.json"):
        try:
            out.append(read_entry(path, f"{layout_at(root).queue_dir}/{path.name}"))
        except FileNotFoundError:
            continue  # just claimed
        except OSError as exc:
            if echo is not None:
                echo(f"{layout_at(root).queue_dir}/{path.name}: cannot read the queue entry: {exc.strerror or exc}")
            continue
        except Mle3Error as exc:
            quarantine(root, path, str(exc), echo)
    out.sort(key=lambda e: (-e["priority"], e["queued_at"], e["run"]))
    return out


def claim(root: Path, run_id: str, worker: str | None = None) -> bool:
    """Take one entry: the rename succeeds for exactly one claimer. The claim's name says
    who holds it (host, pid, start time), so a claim whose holder died is found."""
    claimed = _queue(root) / "claimed"
    claimed.mkdir(parents=True, exist_ok=True)
    target = claim_path(root, run_id, worker or me())
    try:
        os.rename(_queue(root) / f"{run_id}.json", target)
    except FileNotFoundError:
        return False
    renew(target)
    return True


def renew(path: Path) -> None:
    """Renew a claim's lease (its file's time), as its holder does at every poll."""
    try:
        os.utime(path)
    except OSError:
        pass


def hand_over(root: Path, run_id: str, token: str) -> Path | None:
    """The run's process takes its worker's claim (a rename): from then on the claim names
    the process that will write the run. None: the claim was lost (re-queued after the
    worker was taken for dead, or aborted), and the run must not start here."""
    mine = claim_path(root, run_id, me())
    try:
        os.rename(claim_path(root, run_id, token), mine)
    except FileNotFoundError:
        return None
    return mine


def take_dead_claim(root: Path, run_id: str) -> bool:
    """Take over a claim on ``run_id`` whose holder is dead (to abort or rerun it)."""
    for c in claims(root, run_id):
        if not c.alive():
            try:
                os.rename(c.path, claim_path(root, run_id, me()))
                return True
            except FileNotFoundError:
                continue
    return False


def release(root: Path, run_id: str) -> None:
    for c in claims(root, run_id):
        c.path.unlink(missing_ok=True)


def _unstarted(data: dict[str, Any]) -> bool:
    """A queued run whose process never wrote to it: safe to run from the start."""
    return data.get("status") == "pending" and bool(data.get("queue")) and not data.get("worker")


def recover(root: Path, echo: Callable[[str], None] | None = None, *, orphans: bool = False) -> list[str]:
    """Put back in the queue every run whose claimer died before the run started (a
    worker killed between taking it and starting its process); drop dead claims of runs
    that did start (their record says stale). With ``orphans``, also queue again runs
    whose entry was never written. Returns the runs queued again."""
    back: list[str] = []
    for c in claims(root):
        if c.alive():
            continue
        try:
            data = RunRecord.load(root, c.run).data
        except Mle3Error as exc:
            quarantine(root, c.path, f"claim {c.path.name}: {exc}", echo)
            continue
        if not _unstarted(data):
            c.path.unlink(missing_ok=True)
            continue
        try:
            os.rename(c.path, _queue(root) / f"{c.run}.json")
        except FileNotFoundError:
            continue  # another worker took it back first
        back.append(c.run)
        audit.append(
            root,
            AuditAction.RUN_REQUEUE,
            c.run,
            {"claimed_by": c.holder, "reason": "its claimer died before the run started"},
        )
        if echo is not None:
            echo(f"run {c.run}: queued again (its claimer {c.holder} died before the run started)")
    if orphans:
        back += _requeue_orphans(root, echo)
    return back


def _requeue_orphans(root: Path, echo: Callable[[str], None] | None) -> list[str]:
    out: list[str] = []
    base = root / layout_at(root).runs_dir
    if not base.is_dir():
        return out
    for folder in base.iterdir():
        try:
            data = RunRecord.load(root, folder.name).data
        except Mle3Error:
            continue
        if not _unstarted(data) or queue_state(root, data) != "lost" or claims(root, folder.name):
            continue
        queue = data["queue"] if isinstance(data["queue"], dict) else {}
        priority = queue.get("priority") if type(queue.get("priority")) is int else 0
        entry = _queue(root) / f"{folder.name}.json"
        atomic_write_text(
            entry,
            json.dumps(
                {
                    "run": folder.name,
                    "priority": priority,
                    "queued_at": str(queue.get("queued_at") or data.get("created") or ""),
                }
            ),
        )
        audit.append(root, AuditAction.RUN_REQUEUE, folder.name, {"reason": "its queue entry was never written"})
        out.append(folder.name)
        if echo is not None:
            echo(f"run {folder.name}: queued again (its queue entry was never written)")
    return out


def claim_next(root: Path, worker: str | None = None, echo: Callable[[str], None] | None = None) -> str | None:
    for entry in waiting(root, echo):
        if claim(root, entry["run"], worker):
            return entry["run"]
    return None


def scheduler_ids() -> dict[str, Any]:
    """Who started this worker: SLURM, Kubernetes or Ray job ids when present."""
    env = os.environ
    out: dict[str, Any] = {}
    if env.get("SLURM_JOB_ID"):
        out["slurm"] = {
            k.lower(): env[k]
            for k in (
                "SLURM_JOB_ID",
                "SLURM_ARRAY_JOB_ID",
                "SLURM_ARRAY_TASK_ID",
                "SLURM_JOB_NODELIST",
                "SLURMD_NODENAME",
            )
            if env.get(k)
        }
    if env.get("KUBERNETES_SERVICE_HOST"):
        out["kubernetes"] = {
            "pod": env.get("POD_NAME") or env.get("HOSTNAME") or socket.gethostname(),
            **({"namespace": env["POD_NAMESPACE"]} if env.get("POD_NAMESPACE") else {}),
        }
    if env.get("RAY_JOB_ID"):
        out["ray"] = {"job_id": env["RAY_JOB_ID"]}
    return out


def execute(
    root: Path,
    run_id: str,
    echo: Callable[[str], None] = print,
    *,
    worker: str | None = None,
    claim_token: str | None = None,
) -> Any:
    """Run a claimed pending run in this process (``mle3 runs execute``). The process
    first takes the claim from its worker (``claim_token``), or from the queue when started
    by hand, so a run whose claim was lost (taken back after the worker was thought dead,
    or aborted) never starts twice."""
    from .train import options_from_record, train

    record = RunRecord.load(root, run_id)
    if record.data.get("status") != "pending":
        raise Mle3Error(f"run {run_id} is {record.data.get('status')}, not pending")
    if record.data.get("worker"):
        raise Mle3Error(
            f"run {run_id} was started already by "
            f"{record.data['worker'].get('name') if isinstance(record.data['worker'], dict) else record.data['worker']}"
        )
    mine = (
        hand_over(root, run_id, claim_token)
        if claim_token
        else (claim_path(root, run_id, me()) if claim(root, run_id) else None)
    )
    if mine is None:
        raise Mle3Error(
            f"run {run_id}: this process holds no claim on it (queued again or aborted meanwhile); not started"
        )
    try:
        pause_for_test("handover")
        if abort_flag(root, run_id).exists():  # aborted while its worker was starting it
            record.update(status="terminated", ended=now_iso(), error="terminated by the user (abort) while pending")
            abort_flag(root, run_id).unlink(missing_ok=True)
            audit.append(
                root,
                AuditAction.RUN_END,
                run_id,
                {"status": "terminated", "error": "terminated by the user (abort) while pending"},
            )
            raise Mle3Error(f"run {run_id} was aborted before it started", exit_code=1)
        options = options_from_record(record.data)
        scheduler = scheduler_ids()
        record.update(
            worker={
                "name": worker or f"{socket.gethostname()}:{os.getpid()}",
                "node": socket.gethostname(),
                "pid": os.getpid(),
                "started": now_iso(),
                **(
                    {"cuda_visible_devices": os.environ["CUDA_VISIBLE_DEVICES"]}
                    if os.environ.get("CUDA_VISIBLE_DEVICES")
                    else {}
                ),
            },
            pid=os.getpid(),
            pid_start=process_start(os.getpid()),
            host=socket.gethostname(),
            **({"scheduler": scheduler} if scheduler else {}),
        )
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                try:
                    record.save()
                except OSError:
                    pass

        threading.Thread(target=beat, daemon=True, name="mle3-heartbeat").start()
        try:
            return train(root, record.data["config"], options, echo=echo, queued=record)
        except Mle3Error as exc:  # the data or configuration changed while it waited
            record.update(status="failed", ended=now_iso(), error=f"could not start: {exc}")
            audit.append(root, AuditAction.RUN_END, run_id, {"status": "failed", "error": f"could not start: {exc}"})
            raise
        finally:
            stop.set()
    finally:
        release(root, run_id)


def abort(root: Path, run_id: str) -> str:
    """Stop a pending or running run; its status becomes ``terminated`` (the seed's
    "user intentionally ended"). A queued run that never started (waiting, or lost by a
    dead worker) ends at once; a running one is asked to stop. Returns the status it had."""
    record = RunRecord.load(root, run_id)
    data = record.data
    status = effective_status(data, root)
    if _unstarted(data) and (
        claim(root, run_id) or take_dead_claim(root, run_id) or (status == "stale" and not claims(root, run_id))
    ):
        lost = " (its worker had died after taking it)" if status == "stale" else ""
        record.update(status="terminated", ended=now_iso(), error=f"terminated by the user (abort) while pending{lost}")
        release(root, run_id)
        audit.append(root, AuditAction.RUN_ABORT, run_id, {"was": status})
        return status
    if status == "stale" and data.get("status") == "pending":  # started by a worker, died before training
        record.update(
            status="terminated",
            ended=now_iso(),
            error="terminated by the user (abort): its process had died before training",
        )
        release(root, run_id)
        audit.append(root, AuditAction.RUN_ABORT, run_id, {"was": status})
        return status
    if status not in ("pending", "in_progress"):
        raise Mle3Error(f"run {run_id} is {status}: only pending or running runs can be aborted")
    flag = abort_flag(root, run_id)
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(now_iso())
    # signal only a process that wrote the record itself (not the `train --queue` that queued it)
    if not _unstarted(data) and process_alive(data.get("host"), data.get("pid"), data.get("pid_start")):
        try:
            os.kill(data["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    audit.append(root, AuditAction.RUN_ABORT, run_id, {"was": status})
    return status


def rerun(root: Path, run_id: str, priority: int | None = None) -> str:
    """Queue a failed or ended run again with its configuration and choices, linked to it.
    A queued run lost by a dead worker is ended (failed, naming the new run) so that no
    worker takes it back as well."""
    from .train import options_from_record

    record = RunRecord.load(root, run_id)
    data = record.data
    status = effective_status(data, root)
    if status not in RERUNNABLE:
        raise Mle3Error(f"run {run_id} is {status}: only {', '.join(RERUNNABLE)} runs are run again")
    lost = _unstarted(data)
    if lost and not (take_dead_claim(root, run_id) or not claims(root, run_id)):
        raise Mle3Error(f"run {run_id} was just taken back by a worker; it is pending again")
    options = options_from_record(data)
    options.model_id = None  # a hand-chosen model id belongs to the first run
    queued = data.get("queue")
    queue = queued if isinstance(queued, dict) else {}
    recorded = queue.get("priority")
    old_priority = recorded if type(recorded) is int else 0
    new = enqueue(root, data["config"], options, old_priority if priority is None else priority, rerun_of=run_id)
    if lost:
        record.update(
            status="failed",
            ended=now_iso(),
            error=f"lost: its worker died after taking it from the queue, before it started; run again as {new}",
        )
        release(root, run_id)
        audit.append(
            root, AuditAction.RUN_END, run_id, {"status": "failed", "error": "lost by a dead worker", "rerun_as": new}
        )
    return new


@dataclass
class WorkerOptions:
    gpus: list[str] | None = None
    max_parallel: int | None = None
    once: bool = False
    poll_s: float = 1.0


def work(root: Path, options: WorkerOptions, echo: Callable[[str], None] = print) -> int:
    """Take pending runs until stopped (or, with ``once``, until the queue is empty):
    one per GPU slot, one at a time on the CPU. Returns how many runs it started. At start
    and at every poll it queues again runs whose claimer died before they started, and it
    refuses (moves aside, one line) queue entries that are not ones mle3 wrote."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    token = me()
    slots: list[str | None] = list(options.gpus) if options.gpus else [None]
    limit = min(len(slots), options.max_parallel or len(slots))
    slots = slots[:limit]
    running: dict[int, tuple[str, subprocess.Popen]] = {}
    run_id: str | None
    stopping = threading.Event()
    previous = (
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        if threading.current_thread() is threading.main_thread()
        else None
    )
    started = 0
    echo(f"worker {name}: {len(slots)} slot(s) ({', '.join('GPU ' + s if s is not None else 'CPU' for s in slots)})")
    recover(root, echo, orphans=True)
    try:
        while True:
            for slot, (run_id, proc) in list(running.items()):
                if proc.poll() is not None:
                    echo(f"run {run_id} ended (exit {proc.returncode})")
                    _after_exit(root, run_id, proc.returncode, token, echo)
                    del running[slot]
                else:
                    renew(claim_path(root, run_id, token))  # until the run's process takes the claim
            if stopping.is_set():
                for _run_id, proc in running.values():
                    proc.send_signal(signal.SIGTERM)  # each run records itself as terminated
                for _run_id, proc in running.values():
                    proc.wait()
                return started
            recover(root, echo)
            for slot in range(len(slots)):
                if slot in running:
                    continue
                run_id = claim_next(root, token, echo)
                if run_id is None:
                    break
                pause_for_test("claim")
                env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", PYTHONUNBUFFERED="1")
                cmd = [
                    sys.executable,
                    "-c",
                    "from mle3.cli import run; run()",
                    "runs",
                    "execute",
                    run_id,
                    "--worker",
                    name,
                    "--claim",
                    token,
                    "-w",
                    str(root),
                ]
                gpu = slots[slot]
                if gpu is not None:
                    env["CUDA_VISIBLE_DEVICES"] = gpu
                log: IO[bytes] | int
                try:
                    log = open(root / layout_at(root).run_dir(run_id) / "worker.log", "ab")  # the run's console lines
                except OSError:
                    log = subprocess.DEVNULL  # no run folder: the run's process says so and exits
                running[slot] = (run_id, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
                if not isinstance(log, int):  # subprocess.DEVNULL is an int
                    log.close()
                started += 1
                echo(f"run {run_id}: started on {'GPU ' + gpu if gpu is not None else 'the CPU'}")
            if options.once and not running and not waiting(root, echo):
                return started
            stopping.wait(options.poll_s)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _after_exit(root: Path, run_id: str, code: int, token: str, echo: Callable[[str], None]) -> None:
    """A run's process ended: if it never wrote to its run (it died starting), record the
    run as failed instead of leaving it pending; drop the claims it left behind."""
    ours = claim_path(root, run_id, token).name
    others = [c for c in claims(root, run_id) if c.path.name != ours and c.alive()]
    if others or (_queue(root) / f"{run_id}.json").exists():
        return  # queued again meanwhile, or another process holds it now
    try:
        record = RunRecord.load(root, run_id)
    except Mle3Error as exc:
        echo(f"run {run_id}: {exc}")
        release(root, run_id)
        return
    if _unstarted(record.data):
        error = (
            f"its process (runs execute) exited with code {code} before the run started; see "
            f"{layout_at(root).run_dir(run_id)}/worker.log"
        )
        record.update(status="failed", ended=now_iso(), error=error)
        audit.append(root, AuditAction.RUN_END, run_id, {"status": "failed", "error": error})
        echo(f"run {run_id}: failed ({error})")
    release(root, run_id)
