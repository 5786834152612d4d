"""Trials whose process died: failed in the study so they neither stay ``running`` nor
use up its budget.

A trial records the process that runs it (host, pid, start time) and its run. A trial
still ``RUNNING`` in Optuna's storage whose process is gone (same host), or whose run is
stale or ended, was killed (SIGKILL, out of memory, a lost node): nobody will ever
finish it. :func:`fail_lost_trials` marks it ``FAIL`` with the user attribute ``lost``,
and the study's budget counts every trial except lost ones.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from ..errors import Mle3Error
from ..runs.records import RunRecord, effective_status, process_alive, process_start


def this_process() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start(os.getpid())}


#: a trial on another host whose run ended this long ago without the study hearing of it is lost
ENDED_GRACE_S = 600.0


def lost_reason(root: Path, trial: Any) -> str | None:
    """Why a running trial is dead, or None while it may still be alive: its process is
    gone (same host), or, for a process elsewhere, its run is stale or ended long ago."""
    proc = trial.user_attrs.get("process")
    alive = process_alive(proc.get("host"), proc.get("pid"), proc.get("start")) if isinstance(proc, dict) else None
    if alive is True:
        return None
    if alive is False:
        return f"its process {proc.get('host')}:{proc.get('pid')} is gone"
    run_id = trial.user_attrs.get("run")
    if not isinstance(run_id, str):
        return None
    try:
        data = RunRecord.load(root, run_id).data
    except Mle3Error:
        return None
    status = effective_status(data, root)
    if status == "stale":
        return f"its run {run_id} is stale (the process died)"
    if status not in ("pending", "in_progress") and _age_s(data.get("ended")) > ENDED_GRACE_S:
        return f"its run {run_id} ended {status} but the study was never told (the process died)"
    return None


def _age_s(when: Any) -> float:
    import datetime as dt

    try:
        return (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(str(when))).total_seconds()
    except (TypeError, ValueError):
        return 0.0


def fail_lost_trials(root: Path, study: Any) -> list[int]:
    """Mark running trials whose process is gone as FAIL (``lost``); returns their numbers."""
    from optuna.trial import TrialState

    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        why = lost_reason(root, trial)
        if why is None:
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "lost", why)
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except Exception:  # finished meanwhile (UpdateFinishedTrialError): not lost after all
            continue
        failed.append(trial.number)
    return failed


def counted(study: Any) -> int:
    """Trials that use up the budget: started ones (running included) but the lost ones;
    a waiting (enqueued) trial counts once a process runs it."""
    from optuna.trial import TrialState

    return sum(
        1 for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING and not t.user_attrs.get("lost")
    )
