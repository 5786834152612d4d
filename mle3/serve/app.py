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
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator

from ..ids import id_problem
from ..monitor.index import RunIndex
from ..monitor.live import RunFollower
from ..runs.records import RUN_FILE
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
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from ..templating import bundled_templates, render_template

    index = RunIndex(root)
    index.save_cache()  # uvicorn ends the process on SIGTERM: keep the first scan now
    hub = Hub(root)
    refreshed = [0.0]
    static = bundled_templates() / "serve"

    saved = [time.monotonic()]

    def fresh_index() -> RunIndex:
        if time.monotonic() - refreshed[0] > 0.5:
            index.refresh()
            refreshed[0] = time.monotonic()
            if refreshed[0] - saved[0] > 60:
                saved[0] = refreshed[0]
                index.save_cache()
        return index

    class Headers(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Response:
            response = await call_next(request)
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
            return response

    def run_id_of(request: Request) -> str | None:
        run_id = request.path_params["run_id"]
        if id_problem(run_id) is not None or not (root / layout_at(root).run_dir(run_id) / RUN_FILE).is_file():
            return None
        return run_id

    def authorized(request: Request) -> Response | None:
        given = request.headers.get("x-mle3-token")
        if not given:
            return JSONResponse(
                {"error": "this action needs the X-MLE3-Token header (the token mle3 serve printed)"}, status_code=401
            )
        if not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"error": "wrong token"}, status_code=403)
        return None

    async def page_index(request: Request) -> Response:
        return HTMLResponse(
            render_template("serve/index.html.j2", str(root), statuses=STATUSES, project=_project(root))
        )

    async def page_run(request: Request) -> Response:
        run_id = run_id_of(request)
        if run_id is None:
            return HTMLResponse(
                render_template("serve/missing.html.j2", str(root), what=request.path_params["run_id"]), status_code=404
            )
        return HTMLResponse(render_template("serve/run.html.j2", str(root), run_id=run_id, project=_project(root)))

    async def api_runs(request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            return JSONResponse({"error": f"unknown status {status!r}"}, status_code=400)
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            return JSONResponse({"error": "page must be a number"}, status_code=400)
        total, runs = fresh_index().query(status=status, q=request.query_params.get("q"), page=page, per_page=PER_PAGE)
        return JSONResponse(
            {
                "schema": "mle3.serve-runs/1",
                "total": total,
                "page": page,
                "per_page": PER_PAGE,
                "runs": [_public(r) for r in runs],
            }
        )

    async def api_run(request: Request) -> Response:
        run_id = run_id_of(request)
        if run_id is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(run_detail(root, run_id))

    async def api_events(request: Request) -> Response:
        run_id = run_id_of(request)
        if run_id is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        follower, queue = hub.subscribe(run_id)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield _sse("snapshot", run_detail(root, run_id, follower))
                while True:
                    try:
                        kind, payload = await asyncio.wait_for(queue.get(), timeout=15)
                    except asyncio.TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield _sse(kind, _public(payload) if kind == "run" else payload)
            finally:
                hub.unsubscribe(run_id, queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    async def run_action(request: Request, action: Any, reply: Any) -> Response:
        """A state-changing request: the token, a real run, then ``action(root, run_id)``."""
        denied = authorized(request)
        if denied is not None:
            return denied
        run_id = run_id_of(request)
        if run_id is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        from ..errors import Mle3Error

        try:
            result = await asyncio.to_thread(action, root, run_id)
        except Mle3Error as exc:
            return JSONResponse({"error": exc.message}, status_code=409)
        return JSONResponse(reply(run_id, result))

    async def api_abort(request: Request) -> Response:
        from ..runner.queue import abort

        return await run_action(request, abort, lambda run_id, was: {"run": run_id, "abort": "requested", "was": was})

    async def api_rerun(request: Request) -> Response:
        from ..runner.queue import rerun

        return await run_action(
            request, rerun, lambda run_id, new: {"run": new, "status": "pending", "rerun_of": run_id}
        )

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("serve.js", "serve.css"):
            return Response(status_code=404)
        return FileResponse(static / name, media_type="text/javascript" if name.endswith(".js") else "text/css")

    routes = [
        Route("/", page_index),
        Route("/runs/{run_id}", page_run),
        Route("/api/runs", api_runs),
        Route("/api/runs/{run_id}", api_run),
        Route("/api/runs/{run_id}/events", api_events),
        Route("/api/runs/{run_id}/abort", api_abort, methods=["POST"]),
        Route("/api/runs/{run_id}/rerun", api_rerun, methods=["POST"]),
        Route("/static/{name}", asset),
    ]
    from .hosts import HostGuard, allowed_hosts

    app = Starlette(
        routes=routes,
        middleware=[Middleware(HostGuard, allowed=allowed_hosts(host, port, allow_hosts)), Middleware(Headers)],
    )
    app.state.index = index
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
