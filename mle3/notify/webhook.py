"""POST one JSON message to a webhook (standard library only)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from ..workspace.config import Webhook
from .smtp import SendError, one_line


def public_url(url: str) -> str:
    """``scheme://host/path`` without query or fragment (they may carry a key): what the
    audit log records as the recipient."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib API
        return None  # a redirect is an answer, not a delivery: the attempt fails with its status


def post(hook: Webhook, data: bytes) -> int:
    """Deliver ``data`` (JSON); the HTTP status on success (2xx), else :class:`SendError`."""
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "mle3-notify"}
    if hook.token_env:
        token = os.environ.get(hook.token_env)
        if token is None:
            raise SendError(f"the environment variable {hook.token_env} (token_env of the webhook) is not set")
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(hook.url, data=data, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=hook.timeout) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        raise SendError(f"HTTP {exc.code} {exc.reason}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None)
        raise SendError(one_line(reason if isinstance(reason, BaseException) else exc)) from None
    if not 200 <= status < 300:
        raise SendError(f"HTTP {status}")
    return status
