"""The :class:`~mle3.datasets.storage.DataStore` of an object store, through fsspec
(``s3://`` with the ``s3`` extra, ``memory://``, any other fsspec backend installed).

Files are listed with their size and ETag (the fast path of ``verify``, as size and mtime
are locally), streamed in blocks while they are hashed, and read by parallel requests; no
object is ever held in memory whole unless it is small enough to inspect. Every failure of
the store becomes one line naming the URL (:func:`remote_errors`).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from collections.abc import Callable, Iterator

from ..errors import Mle3Error

#: objects up to this size are read whole (images, labels): inspected from the same bytes
INSPECT_LIMIT = 16 * 1024 * 1024
BLOCK = 8 * 1024 * 1024
#: parallel requests while hashing objects
REQUESTS = 16


class FsspecStore:
    """Files below a prefix of an fsspec file system; paths are posix, relative to it."""

    #: one request per file: ``check`` relies on the last ``verify`` instead of statting
    stats_are_cheap = False

    def __init__(self, fs: Any, prefix: str, label: str) -> None:
        self.fs = fs
        self.prefix = prefix.rstrip("/")
        self.label = label.rstrip("/")

    def _path(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if rel else self.prefix

    def url(self, rel: str = "") -> str:
        return f"{self.label}/{rel}" if rel else self.label

    def local_path(self, rel: str = "") -> Path | None:
        """None: an object store is no disk (:meth:`materialize` copies it to one)."""
        return None

    def read_bytes(self, rel: str) -> bytes:
        with remote_errors(self.url(rel)):
            return self.fs.cat_file(self._path(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        with remote_errors(self.url(rel)):
            if getattr(self.fs, "auto_mkdir", None) is False:  # real folders (fsspec's file://); never a bucket made
                self.fs.makedirs(self._path(rel).rpartition("/")[0], exist_ok=True)
            self.fs.pipe_file(self._path(rel), data)

    def open(self, rel: str) -> BinaryIO:
        with remote_errors(self.url(rel)):
            return self.fs.open(self._path(rel), "rb", block_size=BLOCK, cache_type="none")

    def exists(self, rel: str) -> bool:
        with remote_errors(self.url(rel)):
            return self.fs.isfile(self._path(rel))

    def is_dir(self, rel: str) -> bool:
        with remote_errors(self.url(rel)):
            return self.fs.isdir(self._path(rel))

    def stat(self, rel: str) -> tuple[int, Any]:
        """(size, ETag) of one object."""
        with remote_errors(self.url(rel)):
            info = self.fs.info(self._path(rel))
        if info.get("type", "file") != "file":
            raise Mle3Error(f"{self.url(rel)}: not a file")
        return int(info.get("size") or 0), stamp_of(info)

    def list_files(self, rel_dir: str) -> list[tuple[str, int, str]]:
        """(path relative to the store, size, ETag) of every object below ``rel_dir``."""
        with remote_errors(self.url(rel_dir)):
            self.fs.invalidate_cache()
            found = self.fs.find(self._path(rel_dir), detail=True)
        skip = len(self.prefix) + 1
        return sorted(
            (name[skip:], int(info.get("size") or 0), stamp_of(info))
            for name, info in found.items()
            if info.get("type", "file") == "file"
        )

    def walk(self, directory: str) -> Any:
        from .scan import list_remote

        return list_remote(self, directory)

    def layout(self, data_yaml: str) -> Any:
        from .yolo import read_remote_layout

        return read_remote_layout(self, data_yaml)

    def scan(
        self,
        layout: Any,
        n_classes: int,
        *,
        progress: Callable[[int], None] | None = None,
        total: Callable[[int], None] | None = None,
    ) -> tuple[Any, Any]:
        """Measure a data set: objects listed (sizes and ETags), then streamed by parallel requests."""
        from .scan import scan_remote

        listing = self.walk(layout.root)
        folder, _, name = layout.file.rpartition("/")
        if name not in listing.by_dir.get(folder, ()):  # a data.yaml outside its data folder (path: ..)
            listing.by_dir.setdefault(folder, []).append(name)
            listing.stamps[layout.file] = (0, "")
        if total:
            total(listing.count)
        scanned = scan_remote(self, listing, layout.splits, n_classes, progress=progress, luminance=layout.luminance)
        return scanned, listing

    def stamps(self, paths: list[str], listing: Any, observe: Any = None) -> list[tuple[int, Any, int | None] | None]:
        """(size, ETag, None) of each path from the listing (no request per object)."""
        known = listing.stamps if listing is not None else {}
        out: list[tuple[int, Any, int | None] | None] = []
        for path in paths:
            seen = known.get(path)
            out.append(None if seen is None else (seen[0], seen[1], None))
        return out

    def folders_moved(self, dirs: dict[str, int], observe: Any = None) -> bool:
        """False: an object store has no folder mtimes, so the last verification stands
        until ``mle3 dataset verify`` runs again."""
        return False

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

    def hash(self, rel: str) -> tuple[int, str]:
        """(size, sha256) of one object, streamed."""
        size, _, digest, _ = self.read(rel)
        return size, digest

    def hash_many(self, paths: list[str], progress: Callable[[int], None] | None = None) -> list[tuple[int, Any, str]]:
        """(size, ETag, sha256) of every path, in the order given, by parallel requests."""
        if not paths:
            return []
        with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            return [read[:3] for read in pool.map(self.read, paths)]

    def download(self, rel: str, target: Path) -> tuple[int, str]:
        """Copy one object to ``target`` while hashing it: (size, sha256)."""
        h = hashlib.sha256()
        size = 0
        with remote_errors(self.url(rel)):
            with (
                self.fs.open(self._path(rel), "rb", block_size=BLOCK, cache_type="none") as fh,
                open(target, "wb") as out,
            ):
                while block := fh.read(BLOCK):
                    h.update(block)
                    out.write(block)
                    size += len(block)
        return size, h.hexdigest()

    def materialize(self, root: Path, dataset: Any, *, echo: Callable[[str], None] | None = None) -> Path:
        """The data set's files checked into this machine's data cache (:mod:`.materialize`)."""
        from .materialize import materialize

        return materialize(root, self, dataset, echo=echo)


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
            raise Mle3Error(
                f"{url}: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); "
                "an S3-compatible store also needs AWS_ENDPOINT_URL"
            ) from None
        if name in (
            "EndpointConnectionError",
            "ClientConnectorError",
            "ConnectTimeoutError",
            "ServerDisconnectedError",
        ):
            raise Mle3Error(f"{url}: cannot reach the object store ({exc})") from None
        raise Mle3Error(f"{url}: {name}: {str(exc).splitlines()[0] if str(exc) else 'error'}") from None


def open_remote(url: str) -> FsspecStore:
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
        extra = (
            "pip install 'mle3[s3]'" if protocol in ("s3", "s3a") else f"install the fsspec backend for {protocol}://"
        )
        raise Mle3Error(
            f"{url}: no file system for {protocol}:// is installed ({exc.__class__.__name__}): {extra}"
        ) from None
    return FsspecStore(fs, path, url)
