"""Reading and writing a data set's files where they live: a local folder (the workspace or
a mounted root) or an object store through fsspec (``s3://`` with the ``s3`` extra, any
other fsspec backend that is installed).

Remote files are listed with their size and ETag (the fast path of ``verify``, as size
and mtime are locally), streamed in blocks while they are hashed, and read by parallel
requests; no object is ever held in memory whole unless it is small enough to inspect.
Every failure of the store becomes one line naming the URL (:func:`remote_errors`).
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .._atomic import atomic_write_bytes
from ..errors import Mle3Error
from .roots import DataRoot, RootUnavailable, data_root

#: objects up to this size are read whole (images, labels): inspected from the same bytes
INSPECT_LIMIT = 16 * 1024 * 1024
BLOCK = 8 * 1024 * 1024
#: parallel requests while hashing objects
REQUESTS = 16


class LocalStore:
    remote = False

    def __init__(self, path: Path, label: str | None = None) -> None:
        self.path = path
        self.label = label or str(path)

    def read_bytes(self, rel: str) -> bytes:
        try:
            return (self.path / rel).read_bytes()
        except FileNotFoundError:
            raise Mle3Error("file not found", file=str(self.path / rel)) from None

    def write_bytes(self, rel: str, data: bytes) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)

    def exists(self, rel: str) -> bool:
        return (self.path / rel).is_file()


class RemoteStore:
    remote = True

    def __init__(self, fs: Any, prefix: str, label: str) -> None:
        self.fs = fs
        self.prefix = prefix.rstrip("/")
        self.label = label.rstrip("/")

    def _path(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if rel else self.prefix

    def url(self, rel: str) -> str:
        return f"{self.label}/{rel}"

    def read_bytes(self, rel: str) -> bytes:
        with remote_errors(self.url(rel)):
            return self.fs.cat_file(self._path(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        with remote_errors(self.url(rel)):
            self.fs.pipe_file(self._path(rel), data)

    def exists(self, rel: str) -> bool:
        with remote_errors(self.url(rel)):
            return self.fs.isfile(self._path(rel))

    def is_dir(self, rel: str) -> bool:
        with remote_errors(self.url(rel)):
            return self.fs.isdir(self._path(rel))

    def list_files(self, rel_dir: str) -> list[tuple[str, int, str]]:
        """(path relative to the store, size, ETag) of every object below ``rel_dir``."""
        with remote_errors(self.url(rel_dir)):
            self.fs.invalidate_cache()
            found = self.fs.find(self._path(rel_dir), detail=True)
        skip = len(self.prefix) + 1
        return sorted((name[skip:], int(info.get("size") or 0), stamp_of(info)) for name, info in found.items() if info.get("type", "file") == "file")

    def read(self, rel: str) -> tuple[int, str, str, bytes]:
        """(size, ETag, sha256, bytes to inspect), streaming the object in blocks."""
        with remote_errors(self.url(rel)):
            with self.fs.open(self._path(rel), "rb", block_size=BLOCK, cache_type="none") as fh:
                info = getattr(fh, "details", None) or self.fs.info(self._path(rel))
                h = hashlib.sha256()
                head = b""
                size = 0
                while block := fh.read(BLOCK):
                    h.update(block)
                    if size < INSPECT_LIMIT:
                        head += block
                    size += len(block)
        return size, stamp_of(info), h.hexdigest(), head if size <= INSPECT_LIMIT else head[: 1 << 20]

    def download(self, rel: str, target: Path) -> tuple[int, str]:
        """Copy one object to ``target`` while hashing it: (size, sha256)."""
        h = hashlib.sha256()
        size = 0
        with remote_errors(self.url(rel)):
            with self.fs.open(self._path(rel), "rb", block_size=BLOCK, cache_type="none") as fh, open(target, "wb") as out:
                while block := fh.read(BLOCK):
                    h.update(block)
                    out.write(block)
                    size += len(block)
        return size, h.hexdigest()


def stamp_of(info: dict[str, Any]) -> str:
    """What says an object changed without reading it: its ETag (or the backend's
    modification time when it has no ETag)."""
    for key in ("ETag", "etag", "md5", "mtime", "LastModified", "last_modified"):
        if info.get(key):
            return str(info[key]).strip('"')
    return ""


@contextmanager
def remote_errors(url: str) -> Iterator[None]:
    """One line for everything an object store can answer, naming the URL."""
    try:
        yield
    except Mle3Error:
        raise
    except FileNotFoundError:
        raise Mle3Error(f"{url}: not found (wrong bucket, prefix or key?)") from None
    except PermissionError as exc:
        raise Mle3Error(f"{url}: access denied ({exc})") from None
    except Exception as exc:  # botocore/aiohttp errors are not OSError subclasses
        name = type(exc).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            raise Mle3Error(f"{url}: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); "
                            "an S3-compatible store also needs AWS_ENDPOINT_URL") from None
        if name in ("EndpointConnectionError", "ClientConnectorError", "ConnectTimeoutError", "ServerDisconnectedError"):
            raise Mle3Error(f"{url}: cannot reach the object store ({exc})") from None
        raise Mle3Error(f"{url}: {name}: {str(exc).splitlines()[0] if str(exc) else 'error'}") from None


def open_remote(url: str) -> RemoteStore:
    """An fsspec file system for a URL; a missing backend names its extra."""
    try:
        import fsspec
    except ImportError:
        raise Mle3Error("reading data from object storage needs fsspec: pip install 'mle3[s3]'") from None
    protocol = url.split("://", 1)[0]
    try:
        # a new instance per command: credentials come from the environment as it is now
        fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    except (ImportError, ValueError) as exc:
        extra = "pip install 'mle3[s3]'" if protocol in ("s3", "s3a") else f"install the fsspec backend for {protocol}://"
        raise Mle3Error(f"{url}: no file system for {protocol}:// is installed ({exc.__class__.__name__}): {extra}") from None
    return RemoteStore(fs, path, url)


def store_of_root(root: DataRoot) -> LocalStore | RemoteStore:
    if root.remote:
        return open_remote(root.location)
    root.check_available()
    return LocalStore(root.path, f"{root.name}:")


def store_for(root: Path, config: Any, root_name: str | None) -> LocalStore | RemoteStore:
    """The store a data set's paths are relative to: the workspace, or its data root
    (raises :class:`RootUnavailable` with the way to map it)."""
    if not root_name:
        return LocalStore(root, "workspace")
    return store_of_root(data_root(root, config, root_name))


__all__ = ["LocalStore", "RemoteStore", "RootUnavailable", "open_remote", "remote_errors", "store_for", "store_of_root"]
