"""Authenticated cache files: nothing read from ``.mle3/`` can run code or change a verdict.

Caches (parsed items, check results, data set states, the run index) live in the
workspace, where a branch can commit them (``git add -f``). They are therefore stored as
JSON (which cannot execute on load) behind a keyed MAC with a per-machine key kept
outside every repository: ``MLE3_CACHE_KEY`` or ``<user cache dir>/mle3/cache-key``
(created 0600 on first use). A file written on another machine, edited by hand, or
tracked by git (:mod:`mle3.tracked`) does not authenticate and is treated as absent:
the caller recomputes, as after a cold start. Without a usable key no cache is used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any
from collections.abc import Callable

from ._atomic import atomic_write_bytes

KEY_ENV = "MLE3_CACHE_KEY"
KEY_FILE = "cache-key"
MAGIC = b"mle3-sealed-1 "
_MAC_HEX = 64


def key_path() -> Path:
    """Where this user's cache key lives (``$XDG_CACHE_HOME/mle3`` or ``~/.cache/mle3``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mle3" / KEY_FILE


def cache_key() -> bytes | None:
    """This machine's cache key, created on first use; None when none can be had."""
    env = os.environ.get(KEY_ENV)
    if env:
        return hashlib.sha256(env.encode()).digest()
    return _file_key(str(key_path()))


@lru_cache(maxsize=8)
def _file_key(path_text: str) -> bytes | None:
    path = Path(path_text)
    for _ in range(2):
        try:
            data = path.read_bytes()
            return hashlib.sha256(data).digest() if len(data) >= 32 else None
        except FileNotFoundError:
            pass
        except OSError:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another process created it: read that one
        except OSError:
            return None
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return None


def _mac(key: bytes, kind: str, payload: bytes) -> bytes:
    h = hashlib.blake2b(key=key, digest_size=32, person=b"mle3-cache")
    h.update(kind.encode())
    h.update(b"\0")
    h.update(payload)
    return h.hexdigest().encode()


def seal(kind: str, payload: bytes) -> bytes | None:
    """``payload`` with a header that authenticates it for ``kind`` (None without a key)."""
    key = cache_key()
    if key is None:
        return None
    return MAGIC + _mac(key, kind, payload) + b"\n" + payload


def unseal(kind: str, data: bytes) -> bytes | None:
    """The payload of sealed ``data`` if it authenticates for ``kind``, else None."""
    key = cache_key()
    head = len(MAGIC)
    if key is None or not data.startswith(MAGIC) or data[head + _MAC_HEX : head + _MAC_HEX + 1] != b"\n":
        return None
    payload = data[head + _MAC_HEX + 1 :]
    return payload if hmac.compare_digest(data[head : head + _MAC_HEX], _mac(key, kind, payload)) else None


def write_bytes(path: Path, kind: str, payload: bytes) -> bool:
    """Write a sealed file atomically; False when there is no key or the write failed
    (a cache is never required)."""
    sealed = seal(kind, payload)
    if sealed is None:
        return False
    try:
        atomic_write_bytes(path, sealed)
    except OSError:
        return False
    return True


def read_bytes(path: Path, kind: str, root: Path | None = None) -> bytes | None:
    """The authenticated payload of ``path``, or None (absent, foreign, edited, or tracked
    by git in workspace ``root``)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    payload = unseal(kind, data)
    if payload is None:
        return None
    if root is not None:
        from .tracked import is_tracked

        if is_tracked(root, path):
            return None
    return payload


def write_json(path: Path, kind: str, obj: Any, *, default: Callable[[Any], Any] | None = None) -> bool:
    """Write ``obj`` as sealed compact JSON (False when it could not be written)."""
    try:
        payload = json.dumps(obj, separators=(",", ":"), default=default).encode()
    except (TypeError, ValueError):
        return False
    return write_bytes(path, kind, payload)


def read_json(path: Path, kind: str, root: Path | None = None) -> Any | None:
    """The authenticated JSON in ``path``, or None."""
    payload = read_bytes(path, kind, root)
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None
