"""An index of run summaries kept current without rescanning every run.

Every save of a run record appends the run's id to ``.mle3/run-changes.log``
(:func:`mle3.runs.records.note_change`); the index reads the log from where it stopped
and parses only the runs named there. The log starts over at 8 MiB; an index that sees it
shrink compares every run's size and mtime once (a few milliseconds per thousand runs).
Runs that arrive another way (``git pull``, a copy) change the runs folder's mtime, and
only folders not yet known are read. Summaries are
cached in ``.mle3/cache/run-index.json`` (sealed JSON, :mod:`mle3.sealed`: one written
elsewhere or edited is not used) keyed by each record's size and mtime, so a restart over
10,000 runs parses nothing that did not change.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

from .. import sealed
from ..ids import id_problem
from ..errors import Mle3Error
from ..runs.records import RUN_FILE, effective_status
from ..workspace.layout import DEFAULT, layout_at
from ..workspace.records import read_run_mapping

#: the default place (``Layout.run_index`` is the workspace's own)
CACHE = DEFAULT.run_index
KIND = "run-index"
#: what a list of runs shows (the rest stays in run.yaml)
SUMMARY_FIELDS = (
    "id",
    "kind",
    "method",
    "config",
    "status",
    "dataset_version",
    "model_version",
    "created",
    "started",
    "ended",
    "duration_s",
    "epochs_completed",
    "best_epoch",
    "error",
    "rerun_of",
    "pid",
    "host",
    "heartbeat",
    "worker",
    "queue",
)


def read_record(root: Path, run_id: str) -> tuple[tuple[int, int], dict[str, Any]] | None:
    """((size, mtime_ns), the ``run`` mapping) of a run record, or None when it is gone.
    Read by the one reader (:func:`mle3.workspace.records.read_run_mapping`); a record it
    refuses is listed as ``unreadable``, never a crash."""
    rel = f"{layout_at(root).run_dir(run_id)}/{RUN_FILE}"
    path = root / rel
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        data = read_run_mapping(path, run_id, rel=rel)
    except Mle3Error as exc:
        data = {"id": run_id, "status": "unreadable", "error": str(exc)}
    return (st.st_size, st.st_mtime_ns), data


def summarize(root: Path, run_id: str) -> tuple[tuple[int, int], dict[str, Any]] | None:
    found = read_record(root, run_id)
    return None if found is None else (found[0], summary_of(found[1], run_id))


def summary_of(data: dict[str, Any], run_id: str) -> dict[str, Any]:
    """What a list of runs shows of one record."""
    summary = {k: data.get(k) for k in SUMMARY_FIELDS}
    summary["id"] = str(summary.get("id") or run_id)
    summary["kind"] = summary.get("kind") or "training"
    parameters = data.get("parameters")
    summary["epochs"] = parameters.get("epochs") if isinstance(parameters, dict) else None
    study = data.get("study")
    summary["study"] = study.get("name") if isinstance(study, dict) else None
    return summary


#: above this many unread records, a refresh parses them in worker processes
PARALLEL_FROM = 400


def _summarize_chunk(args: tuple[str, list[str]]) -> list[tuple[str, Any]]:
    root, run_ids = args
    out = []
    for run_id in run_ids:
        found = summarize(Path(root), run_id)
        if found is not None:
            out.append((run_id, found))
    return out


class RunIndex:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = layout_at(root)
        self.runs: dict[str, dict[str, Any]] = {}
        self.stamps: dict[str, tuple[int, int]] = {}
        self._offset = 0
        self._folder_mtime = -1
        self._lock = threading.Lock()
        self._load_cache()
        self.refresh(full=True)

    def _load_cache(self) -> None:
        data = sealed.read_json(self.root / self.layout.run_index, KIND, self.root)
        if data is None:  # absent, or not one this workspace sealed: read the runs
            self.stamps, self.runs = {}, {}
            return
        try:
            stamps, runs = data
            self.stamps = {str(k): (int(v[0]), int(v[1])) for k, v in stamps.items()}
            self.runs = {k: dict(runs[k]) for k in self.stamps}
        except (TypeError, ValueError, KeyError, IndexError, AttributeError):  # absent or foreign: read the runs
            self.stamps, self.runs = {}, {}

    def save_cache(self) -> None:
        try:
            (self.root / self.layout.run_index).parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                data = json.dumps([self.stamps, self.runs], separators=(",", ":"), default=str).encode()
            sealed.write_bytes(self.root / self.layout.run_index, KIND, data)
        except OSError:
            pass

    def _read(self, run_id: str, known_stamp: bool = True) -> None:
        if known_stamp and run_id in self.stamps:
            try:
                st = os.stat(self.root / self.layout.run_dir(run_id) / RUN_FILE)
                if (st.st_size, st.st_mtime_ns) == self.stamps[run_id]:
                    return
            except OSError:
                pass
        found = summarize(self.root, run_id)
        if found is None:
            if not (self.root / self.layout.run_dir(run_id)).is_dir():
                self.runs.pop(run_id, None)
                self.stamps.pop(run_id, None)
            return
        self.stamps[run_id], self.runs[run_id] = found

    def _read_many(self, run_ids: list[str]) -> None:
        """Parse many records on all cores (a first start over thousands of runs)."""
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        chunks = [(str(self.root), run_ids[i : i + 200]) for i in range(0, len(run_ids), 200)]
        with ProcessPoolExecutor(mp_context=get_context("fork")) as pool:
            for part in pool.map(_summarize_chunk, chunks):
                for run_id, found in part:
                    self.stamps[run_id], self.runs[run_id] = found

    def refresh(self, full: bool = False) -> set[str]:
        """Bring the index up to date; returns the ids that were read again."""
        changed: set[str] = set()
        with self._lock:
            log = self.root / self.layout.run_changes
            try:
                size = os.stat(log).st_size
                if size < self._offset:  # the log started over: changes may be in the old one
                    self._offset = 0
                    full = True
                if size > self._offset:
                    with open(log, "rb") as fh:
                        fh.seek(self._offset)
                        chunk = fh.read(size - self._offset)
                    complete = chunk.rfind(b"\n") + 1
                    self._offset += complete
                    changed |= {line.decode(errors="replace") for line in chunk[:complete].split(b"\n") if line}
            except FileNotFoundError:
                pass
            folder = self.root / self.layout.runs_dir
            try:
                mtime = os.stat(folder).st_mtime_ns
            except FileNotFoundError:
                mtime = 0
            if full or mtime != self._folder_mtime:
                self._folder_mtime = mtime
                names = set(os.listdir(folder)) if mtime else set()
                for gone in set(self.runs) - names:
                    self.runs.pop(gone, None)
                    self.stamps.pop(gone, None)
                new = names - set(self.runs)
                todo = sorted(names if full else new)
                unknown = [r for r in todo if r not in self.stamps]
                if len(unknown) > PARALLEL_FROM:
                    self._read_many(unknown)
                for run_id in todo:
                    self._read(run_id, known_stamp=True)
                changed |= new
            for run_id in changed:
                if id_problem(run_id) is None:  # a line of the log names a run folder, nothing else
                    self._read(run_id, known_stamp=False)
        return changed

    def query(
        self, status: str | None = None, q: str | None = None, page: int = 1, per_page: int = 50
    ) -> tuple[int, list[dict[str, Any]]]:
        """(matching count, one page of summaries), newest first; ``status`` compares the
        effective status (``stale`` included); ``q`` searches id, configuration, model and study."""
        with self._lock:
            runs = list(self.runs.values())
        needle = (q or "").strip().lower()
        out = []
        for run in runs:
            if needle and not any(
                needle in str(run.get(k) or "").lower()
                for k in ("id", "config", "model_version", "dataset_version", "study")
            ):
                continue
            shown = with_progress(run, self.root)
            if status and shown["effective_status"] != status:
                continue
            out.append(shown)
        out.sort(key=lambda r: str(r.get("created") or ""), reverse=True)
        start = max(0, (page - 1) * per_page)
        return len(out), out[start : start + per_page]

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            run = self.runs.get(run_id)
        return with_progress(run, self.root) if run else None


def with_progress(run: dict[str, Any], root: Path | None = None) -> dict[str, Any]:
    """A summary with its effective status (with the workspace ``root``, a queued run whose
    worker died is ``stale`` too), progress and ETA."""
    shown = dict(run)
    shown["effective_status"] = effective_status(run, root)
    done, total = (
        value if isinstance(value, int) and not isinstance(value, bool) else 0
        for value in (run.get("epochs_completed"), run.get("epochs"))
    )
    shown["progress"] = round(done / total, 4) if total else None
    shown["eta_s"] = None
    if shown["effective_status"] == "in_progress" and done and total and run.get("started"):
        try:
            elapsed = (
                dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(str(run["started"]))
            ).total_seconds()
            shown["eta_s"] = round(elapsed / done * (total - done), 1)
            shown["duration_s"] = round(elapsed, 1)
        except ValueError:
            pass
    return shown
