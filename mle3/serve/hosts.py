"""Refuse requests whose ``Host`` header is not an address ``mle3 serve`` serves.

A page on ``evil.example`` whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) can
make the browser send requests to the server, same-origin from the browser's point of
view; only the ``Host`` header (``evil.example:8000``) gives it away. Starlette's
``TrustedHostMiddleware`` compares names without the port (and splits ``[::1]:8000`` at
the first colon), so this small ASGI guard compares ``host:port`` itself.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from collections.abc import Iterable

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def _bracketed(host: str) -> str:
    """``::1`` -> ``[::1]``, the form an IPv6 address takes in a Host header."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """Every ``Host`` header value (lower case) a request may carry.

    The bound address with its port; the loopback names when bound to loopback or to every
    interface (``0.0.0.0``/``::``, where the machine's other names must be allowed with
    ``--allow-host``); each allowed name as given, and with the port when it has none.
    Without a port a name is accepted as well when the port is 80 (browsers leave it out)."""
    names: list[str] = [_bracketed(host.lower())]
    if is_loopback(host) or host in ("0.0.0.0", "::"):
        names.extend(LOOPBACK_NAMES)
    values: set[str] = set()
    for name in names:
        values.add(f"{name}:{port}")
        if port == 80:
            values.add(name)
    for name in extra:
        name = name.strip().lower()
        if not name:
            continue
        if name.startswith("[") and "]:" in name or (not name.startswith("[") and name.count(":") == 1):
            values.add(name)  # given with its port
            continue
        name = _bracketed(name)
        values.update((name, f"{name}:{port}"))
    return frozenset(values)


class HostGuard:
    """ASGI middleware: 421 Misdirected Request for a ``Host`` outside ``allowed``."""

    def __init__(self, app: Any, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(a.lower() for a in allowed)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            host = ""
            for key, value in scope.get("headers") or ():
                if key == b"host":
                    host = value.decode("latin-1").strip().lower()
                    break
            if host not in self.allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = b"mle3 serve: unknown Host header (start mle3 serve with --allow-host NAME to allow a name)\n"
                await send(
                    {
                        "type": "http.response.start",
                        "status": 421,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
