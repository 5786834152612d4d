"""``mle3 runs watch``: the live view of one run in a terminal (for people on SSH).

A progress bar (epoch of epochs, ETA), the recent epochs' metrics, a sparkline of val
mAP50 and the best epoch with the early-stopping patience left; refreshed twice a second
from the run's own files until the run ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import Mle3Error
from ..runs.records import RUN_FILE
from ..vocab import RUN_ENDED
from ..workspace.layout import layout_at
from .index import RunIndex, read_record
from .live import RunFollower

BARS = "▁▂▃▄▅▆▇█"
ENDED = RUN_ENDED


def sparkline(values: list[float | None], width: int = 40) -> str:
    shown = [v for v in values if v is not None][-width:]
    if not shown:
        return ""
    lo, hi = min(shown), max(shown)
    span = hi - lo or 1.0
    return "".join(BARS[min(len(BARS) - 1, int((v - lo) / span * (len(BARS) - 1) + 0.5))] for v in shown)


def pick_run(root: Path, run_id: str | None) -> str:
    if run_id:
        from ..ids import check_id

        check_id(run_id, "run id")
        if not (root / layout_at(root).run_dir(run_id) / RUN_FILE).is_file():
            raise Mle3Error(f"no run {run_id}")
        return run_id
    index = RunIndex(root)
    for status in ("in_progress", "pending"):
        _, runs = index.query(status=status, per_page=1)
        if runs:
            return runs[0]["id"]
    raise Mle3Error("no running or pending run to watch (name one: mle3 runs watch RUN)")


def render(follower: RunFollower, patience: int | None) -> Any:
    from rich.console import Group, RenderableType
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    from .index import with_progress

    run = with_progress(follower.summary) if follower.summary else {}
    done, total = run.get("epochs_completed") or 0, run.get("epochs") or 0
    eta = f", ETA {int(run['eta_s']) // 60} min {int(run['eta_s']) % 60:02d} s" if run.get("eta_s") else ""
    head = Text(
        f"{follower.run_id}  {run.get('config', '')}  {run.get('effective_status', '?')}  epoch "
        f"{done}/{total or '?'}{eta}",
        style="bold",
    )
    bar = ProgressBar(total=float(total or 1), completed=float(done), width=60)
    table = Table(box=None, pad_edge=False)
    for column in ("epoch", "box", "cls", "dfl", "val box", "P", "R", "mAP50", "mAP50-95"):
        table.add_column(column, justify="right")
    for e in follower.epochs[-8:]:
        table.add_row(
            str(e.get("epoch")),
            *(
                f"{e[k]:.3f}" if isinstance(e.get(k), (int, float)) else "–"
                for k in (
                    "train_box_loss",
                    "train_cls_loss",
                    "train_dfl_loss",
                    "val_box_loss",
                    "precision",
                    "recall",
                    "mAP50",
                    "mAP50_95",
                )
            ),
        )
    maps = [e.get("mAP50") for e in follower.epochs]
    best = follower.epochs[-1].get("best_epoch") if follower.epochs else None
    left = (
        f"; early-stopping patience left {max(0, patience - (done - best))} of {patience}"
        if patience and best is not None
        else ""
    )
    tail = Text(f"mAP50 {sparkline(maps)}  best epoch {best if best is not None else '–'}{left}")
    parts: list[RenderableType] = [head, bar, table, tail]
    if run.get("error"):
        parts.append(Text(f"error: {run['error']}", style="red"))
    return Group(*parts)


def watch(root: Path, run_id: str | None, *, once: bool = False) -> int:
    from rich.console import Console
    from rich.live import Live

    run_id = pick_run(root, run_id)
    follower = RunFollower(root, run_id)
    follower.poll()
    patience = _patience(root, run_id)
    console = Console()
    if once or not console.is_terminal:
        console.print(render(follower, patience))
        return 0
    with Live(render(follower, patience), console=console, refresh_per_second=4) as live:
        while True:
            if follower.poll():
                live.update(render(follower, patience))
            if follower.summary.get("status") in ENDED:
                break
            time.sleep(0.5)
    return 0 if follower.summary.get("status") == "success" else 1


def _patience(root: Path, run_id: str) -> int | None:
    found = read_record(root, run_id)
    return (found[1].get("parameters") or {}).get("patience") if found else None
