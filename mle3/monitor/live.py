"""Following one run's files while it trains: new epoch lines, status changes, the log tail.

Only the run's own files are watched (``epochs.jsonl`` read from where it stopped,
``run.yaml`` re-read when its size or mtime moves), never the whole workspace, so an
epoch is seen within one poll of landing and many viewers of one run cost one follower.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..runs.records import EPOCHS_FILE, RUN_FILE
from ..workspace.layout import layout_at
from ..workspace.records import parse_epoch_line
from .index import summarize, with_progress

LOG_TAIL_BYTES = 16 * 1024


#: terminal control sequences (colours, cursor moves, erase-line) that logs of tools
#: written for terminals carry
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def readable_log(text: str) -> str:
    """A log as a person reads it in a browser or a pager: escape sequences removed, and
    of a line redrawn with carriage returns (a progress bar) only its last state."""
    lines = []
    for line in _ESCAPES.sub("", text).split("\n"):
        parts = [p for p in line.split("\r") if p.strip()]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines)


class RunFollower:
    def __init__(self, root: Path, run_id: str) -> None:
        self.directory = root / layout_at(root).run_dir(run_id)
        self.root = root
        self.run_id = run_id
        self.epochs: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        self._offset = 0
        self._record_stamp: tuple[int, int] | None = None
        self._log_stamp: tuple[int, int] | None = None
        self.log_tail = ""

    def poll(self) -> list[tuple[str, Any]]:
        """What changed since the last poll: ("epoch", metrics), ("run", summary), ("log", text),
        and ("tick", summary) for a running run whose record did not change (progress and ETA
        move with time; a viewer may skip ticks, never a "run")."""
        events: list[tuple[str, Any]] = []
        try:
            size = os.stat(self.directory / EPOCHS_FILE).st_size
        except FileNotFoundError:
            size = 0
        if size > self._offset:
            with open(self.directory / EPOCHS_FILE, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read(size - self._offset)
            complete = chunk.rfind(b"\n") + 1  # a line being written waits for the next poll
            self._offset += complete
            for line in chunk[:complete].splitlines():
                metrics, problem = parse_epoch_line(line)
                if problem:  # not an epoch mle3 wrote: the check rule training.epochs-unreadable names it
                    continue
                self.epochs.append(metrics)
                events.append(("epoch", metrics))
        try:
            st = os.stat(self.directory / RUN_FILE)
            stamp = (st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp != self._record_stamp:
            self._record_stamp = stamp
            found = summarize(self.root, self.run_id)
            if found is not None:
                self.summary = found[1]
                events.append(("run", with_progress(self.summary)))
        elif self.summary and self.summary.get("status") == "in_progress":
            events.append(("tick", with_progress(self.summary)))
        log = self.directory / "train.log"
        try:
            st = os.stat(log)
            stamp = (st.st_size, st.st_mtime_ns)
            if stamp != self._log_stamp:
                self._log_stamp = stamp
                with open(log, "rb") as fh:
                    fh.seek(max(0, st.st_size - LOG_TAIL_BYTES))
                    self.log_tail = readable_log(fh.read().decode("utf-8", errors="replace"))
                events.append(("log", self.log_tail))
        except FileNotFoundError:
            pass
        return events
