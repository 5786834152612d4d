"""The routes of ``mle3 serve``: methods of :class:`Endpoints`, which holds what they share
(the run index, the event hub, the token). Imported by :func:`.app.create_app` only, so
:mod:`mle3.serve.app` stays importable without Starlette."""

from __future__ import annotations

import asyncio
import hmac
import time
from pathlib import Path
from typing import Any
from collections.abc import AsyncIterator, Callable

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..ids import id_problem
from ..monitor.index import RunIndex
from ..monitor.live import RunFollower
from ..runs.records import RUN_FILE
from ..templating import bundled_templates, render_template
from ..workspace.layout import layout_at
from .app import CSP, PER_PAGE, STATUSES, Hub, _project, _public, _sse, run_detail


class SecurityHeaders(BaseHTTPMiddleware):
    """The Content-Security-Policy and its companions on every response."""

    async def dispatch(self, request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response


class Endpoints:
    """The application's state and one method per route."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.token = token
        self.index = RunIndex(root)
        self.index.save_cache()  # uvicorn ends the process on SIGTERM: keep the first scan now
        self.hub = Hub(root)
        self.refreshed = 0.0
        self.static = bundled_templates() / "serve"
        self.saved = time.monotonic()

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page_index),
            Route("/runs/{run_id}", self.page_run),
            Route("/api/runs", self.api_runs),
            Route("/api/runs/{run_id}", self.api_run),
            Route("/api/runs/{run_id}/events", self.api_events),
            Route("/api/runs/{run_id}/abort", self.api_abort, methods=["POST"]),
            Route("/api/runs/{run_id}/rerun", self.api_rerun, methods=["POST"]),
            Route("/static/{name}", self.asset),
        ]

    def fresh_index(self) -> RunIndex:
        """The run index, refreshed at most twice a second (its cache saved once a minute)."""
        if time.monotonic() - self.refreshed > 0.5:
            self.index.refresh()
            self.refreshed = time.monotonic()
            if self.refreshed - self.saved > 60:
                self.saved = self.refreshed
                self.index.save_cache()
        return self.index

    def run_id_of(self, request: Request) -> str | None:
        """The URL's run id when it names a recorded run (checked before any file is touched)."""
        run_id = request.path_params["run_id"]
        root = self.root
        if id_problem(run_id) is not None or not (root / layout_at(root).run_dir(run_id) / RUN_FILE).is_file():
            return None
        return run_id

    def authorized(self, request: Request) -> Response | None:
        """None when the request carries the token, else the 401/403 reply."""
        given = request.headers.get("x-mle3-token")
        if not given:
            return JSONResponse(
                {"error": "this action needs the X-MLE3-Token header (the token mle3 serve printed)"}, status_code=401
            )
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return JSONResponse({"error": "wrong token"}, status_code=403)
        return None

    async def page_index(self, request: Request) -> Response:
        root = self.root
        return HTMLResponse(
            render_template("serve/index.html.j2", str(root), statuses=STATUSES, project=_project(root))
        )

    async def page_run(self, request: Request) -> Response:
        root = self.root
        run_id = self.run_id_of(request)
        if run_id is None:
            return HTMLResponse(
                render_template("serve/missing.html.j2", str(root), what=request.path_params["run_id"]), status_code=404
            )
        return HTMLResponse(render_template("serve/run.html.j2", str(root), run_id=run_id, project=_project(root)))

    async def api_runs(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            return JSONResponse({"error": f"unknown status {status!r}"}, status_code=400)
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            return JSONResponse({"error": "page must be a number"}, status_code=400)
        total, runs = self.fresh_index().query(
            status=status, q=request.query_params.get("q"), page=page, per_page=PER_PAGE
        )
        return JSONResponse(
            {
                "schema": "mle3.serve-runs/1",
                "total": total,
                "page": page,
                "per_page": PER_PAGE,
                "runs": [_public(r) for r in runs],
            }
        )

    async def api_run(self, request: Request) -> Response:
        run_id = self.run_id_of(request)
        if run_id is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(run_detail(self.root, run_id))

    async def api_events(self, request: Request) -> Response:
        run_id = self.run_id_of(request)
        if run_id is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        follower, queue = self.hub.subscribe(run_id)
        stream = self._events(run_id, follower, queue)
        return StreamingResponse(stream, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    async def _events(self, run_id: str, follower: RunFollower, queue: asyncio.Queue) -> AsyncIterator[bytes]:
        """The run's server-sent events: a snapshot, then each change (keep-alives between)."""
        try:
            yield _sse("snapshot", run_detail(self.root, run_id, follower))
            while True:
                try:
                    kind, payload = await asyncio.wait_for(queue.get(), timeout=15)
                except asyncio.TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield _sse(kind, _public(payload) if kind == "run" else payload)
        finally:
            self.hub.unsubscribe(run_id, queue)

    async def run_action(
        self, request: Request, action: Callable[[Path, str], Any], reply: Callable[[str, Any], Any]
    ) -> Response:
        """A state-changing request: the token, a real run, then ``action(root, run_id)``."""
        denied = self.authorized(request)
        if denied is not None:
            return denied
        run_id = self.run_id_of(request)
        if run_id is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        from ..errors import Mle3Error

        try:
            result = await asyncio.to_thread(action, self.root, run_id)
        except Mle3Error as exc:
            return JSONResponse({"error": exc.message}, status_code=409)
        return JSONResponse(reply(run_id, result))

    async def api_abort(self, request: Request) -> Response:
        from ..runner.queue import abort

        return await self.run_action(
            request, abort, lambda run_id, was: {"run": run_id, "abort": "requested", "was": was}
        )

    async def api_rerun(self, request: Request) -> Response:
        from ..runner.queue import rerun

        return await self.run_action(
            request, rerun, lambda run_id, new: {"run": new, "status": "pending", "rerun_of": run_id}
        )

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("serve.js", "serve.css"):
            return Response(status_code=404)
        return FileResponse(self.static / name, media_type="text/javascript" if name.endswith(".js") else "text/css")
