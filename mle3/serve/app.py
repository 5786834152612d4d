"""``mle3 serve``: watch training live in a browser; abort and rerun with the token.

A small Starlette application (run by uvicorn): the training page (runs with status,
progress, ETA and duration; search and status filter; newest first, 50 a page), a run
page whose charts grow while the run trains (server-sent events from the run's own
files), and the JSON API both use. Every asset is bundled (no CDN, no build step).

Security: loopback by default; state-changing requests need the header ``X-MLE3-Token``
with the token written to ``.mle3/serve.token`` (mode 0600) and printed at start (401
without it, 403 with a wrong one); every page carries a Content-Security-Policy that
allows scripts and styles from the server only; workspace text is escaped (Jinja
autoescape, ``textContent`` in the script); run ids from URLs are checked before any file
is touched; a request whose ``Host`` header is not the served address (or a name given
with ``--allow-host``) gets 421, so a DNS-rebinding page cannot read runs or log tails.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from ..monitor.live import RunFollower
from ..vocab import RUN_STATUSES_SHOWN
from ..workspace.layout import DEFAULT, layout_at

TOKEN_FILE = DEFAULT.serve_token
PER_PAGE = 50
#: an epoch reaches the page within this (plus the network)
POLL_S = 0.25
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATUSES = RUN_STATUSES_SHOWN


def write_token(root: Path) -> str:
    """A fresh token in ``.mle3/serve.token``, readable by its owner only."""
    token = secrets.token_urlsafe(24)
    path = root / layout_at(root).serve_token
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    return token


class Hub:
    """One follower per watched run, shared by all its viewers (50 viewers cost one poll)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.followers: dict[str, tuple[RunFollower, set[asyncio.Queue]]] = {}
        self.tasks: dict[str, asyncio.Task] = {}

    def subscribe(self, run_id: str) -> tuple[RunFollower, asyncio.Queue]:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        if run_id not in self.followers:
            follower = RunFollower(self.root, run_id)
            follower.poll()
            self.followers[run_id] = (follower, set())
            self.tasks[run_id] = asyncio.create_task(self._poll(run_id))
        follower, queues = self.followers[run_id]
        queues.add(queue)
        return follower, queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue) -> None:
        entry = self.followers.get(run_id)
        if entry is None:
            return
        entry[1].discard(queue)
        if not entry[1]:
            self.followers.pop(run_id, None)
            task = self.tasks.pop(run_id, None)
            if task is not None:
                task.cancel()

    async def _poll(self, run_id: str) -> None:
        last_tick = 0.0
        while run_id in self.followers:
            follower, queues = self.followers[run_id]
            events = follower.poll()
            now = time.monotonic()
            for kind, payload in events:
                if kind == "tick":  # progress and ETA of an unchanged record: once a second
                    if now - last_tick < 1.0:
                        continue
                    kind, last_tick = "run", now
                for queue in list(queues):
                    if not queue.full():
                        queue.put_nowait((kind, payload))
            await asyncio.sleep(POLL_S)


def create_app(
    root: Path, token: str, *, host: str = "127.0.0.1", port: int = 8000, allow_hosts: tuple[str, ...] = ()
) -> Any:
    """The application; requests whose ``Host`` is not ``host:port`` (its loopback
    equivalents) or one of ``allow_hosts`` get 421 (see :mod:`mle3.serve.hosts`)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from .endpoints import Endpoints, SecurityHeaders
    from .hosts import HostGuard, allowed_hosts

    endpoints = Endpoints(root, token)
    app = Starlette(
        routes=endpoints.routes(),
        middleware=[Middleware(HostGuard, allowed=allowed_hosts(host, port, allow_hosts)), Middleware(SecurityHeaders)],
    )
    app.state.index = endpoints.index
    return app


def _project(root: Path) -> str:
    try:
        from ..workspace.config import load_config

        return load_config(root).project
    except Exception:  # a broken mle3.yaml still lets people watch training
        return root.name


def _public(run: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of a run summary (no pid or host internals)."""
    keep = (
        "id",
        "kind",
        "config",
        "dataset_version",
        "model_version",
        "study",
        "rerun_of",
        "created",
        "started",
        "ended",
        "status",
        "effective_status",
        "epochs_completed",
        "epochs",
        "best_epoch",
        "progress",
        "eta_s",
        "duration_s",
        "error",
    )
    out = {k: run.get(k) for k in keep}
    out["epoch"] = run.get("epochs_completed")
    queue = run.get("queue")
    out["priority"] = queue.get("priority") if isinstance(queue, dict) else None
    return out


def run_detail(root: Path, run_id: str, follower: RunFollower | None = None) -> dict[str, Any]:
    """``GET /api/runs/{id}``: the summary, every epoch's metrics, best epoch and patience
    left, the log tail, the configuration's mapping to ultralytics, the fields not applied
    and the deviations."""
    from ..monitor.index import read_record, summary_of, with_progress

    if follower is None:
        follower = RunFollower(root, run_id)
        follower.poll()
    found = read_record(root, run_id)
    data = found[1] if found else {}
    summary: dict[str, Any] = with_progress(summary_of(data, run_id), root) if found else {"id": run_id}
    recorded = data.get("parameters")
    params = recorded if isinstance(recorded, dict) else {}
    patience = params.get("patience")
    best = summary.get("best_epoch")
    done = summary.get("epochs_completed") or 0
    return {
        **_public(summary),
        "metrics": follower.epochs,
        "patience": patience,
        "patience_left": max(0, patience - (done - best))
        if isinstance(patience, int) and isinstance(best, int)
        else None,
        "log_tail": follower.log_tail[-8000:],
        "deviations": data.get("deviations") or [],
        "not_applied": data.get("not_applied") or [],
        "mapping": [
            {k: row.get(k) for k in ("field", "value", "target", "status", "note")}
            for row in data.get("mapping") or []
            if isinstance(row, dict)
        ],
        "parameters": {
            k: params.get(k)
            for k in ("epochs", "batch", "imgsz", "lr0", "optimizer", "device", "patience", "seed")
            if k in params
        },
        "final_metrics": data.get("final_metrics") or {},
    }


def _sse(event: str, payload: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, default=str)}\n\n".encode()


def serve(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    allow_remote: bool = False,
    allow_hosts: tuple[str, ...] = (),
    echo: Any = print,
) -> None:
    """Run the app until Ctrl-C."""
    import ipaddress

    from ..errors import Mle3Error
    from ..optional import require

    require("starlette", "uvicorn")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise Mle3Error(
            f"--host {host} would let other machines reach mle3 serve; add --allow-remote if that is meant "
            "(state-changing requests still need the token)"
        )
    import uvicorn

    token = write_token(root)
    app = create_app(root, token, host=host, port=port, allow_hosts=allow_hosts)
    shown = f"[{host}]" if ":" in host else host
    echo(
        f"mle3 serve: http://{shown}:{port}/  (actions: http://{shown}:{port}/#token={token}; token also in "
        f"{layout_at(root).serve_token})"
    )
    # open event streams never end by themselves: give them a second on shutdown
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
