"""The :class:`~mle3.datasets.storage.DataStore` of a folder on this machine's disk: the
workspace or a mounted data root.

It keeps the fast paths that make registering 850k files quick: listing overlaps hashing,
files are read by a C-level call each, and big data sets are split over worker processes
(:mod:`.scan`); a change is found by stat (size, mtime, ctime, inode) without reading.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO
from collections.abc import Callable

from .._atomic import atomic_write_bytes
from ..errors import Mle3Error


class LocalStore:
    """Files below a local folder; paths are posix, relative to it."""

    #: a stat is cheap: ``check`` stats every file of small data sets
    stats_are_cheap = True

    def __init__(self, path: Path, label: str | None = None, place: str = "the workspace") -> None:
        self.path = path
        self.label = label or str(path)
        #: how messages name the folder ("the workspace", "data root 'nas'")
        self.place = place

    def url(self, rel: str = "") -> str:
        return str(self.path / rel) if rel else str(self.path)

    def local_path(self, rel: str = "") -> Path | None:
        """The file (or folder) on this disk, read in place."""
        return self.path / rel if rel else self.path

    def read_bytes(self, rel: str) -> bytes:
        try:
            return (self.path / rel).read_bytes()
        except FileNotFoundError:
            raise Mle3Error("file not found", file=str(self.path / rel)) from None

    def write_bytes(self, rel: str, data: bytes) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)

    def open(self, rel: str) -> BinaryIO:
        try:
            return open(self.path / rel, "rb")
        except FileNotFoundError:
            raise Mle3Error("file not found", file=str(self.path / rel)) from None

    def exists(self, rel: str) -> bool:
        return (self.path / rel).is_file()

    def is_dir(self, rel: str) -> bool:
        return (self.path / rel).is_dir()

    def stat(self, rel: str) -> tuple[int, Any]:
        """(size, stamp) of one file; the stamp is mtime, ctime and inode."""
        from .state import stamp_of

        try:
            st = os.stat(self.path / rel)
        except FileNotFoundError:
            raise Mle3Error("file not found", file=str(self.path / rel)) from None
        return st.st_size, stamp_of(st)

    def walk(self, directory: str) -> Any:
        """The :class:`~.scan.Listing` of every data file below ``directory``."""
        from .scan import list_local

        return list_local(str(self.path), directory)

    def read(self, rel: str) -> tuple[int, Any, str, bytes]:
        """(size, stamp, sha256, bytes to inspect) of one file read once, as the scan reads it."""
        from .chunks import _read

        return _read(str(self.path).rstrip("/") + "/", rel)

    def layout(self, data_yaml: str) -> Any:
        """The :class:`~.yolo.DataLayout` a data.yaml describes; its paths must stay in this folder."""
        from .yolo import layout_of, read_data_yaml

        return layout_of(self.path, read_data_yaml(self.path, self.path / data_yaml, self.place))

    def scan(
        self,
        layout: Any,
        n_classes: int,
        *,
        progress: Callable[[int], None] | None = None,
        total: Callable[[int], None] | None = None,
    ) -> tuple[Any, Any]:
        """Measure a data set in one pass (worker processes when it is big; listing overlaps hashing)."""
        from .scan import scan_local

        return scan_local(
            str(self.path),
            layout.root,
            layout.splits,
            n_classes,
            progress=progress,
            extra=[layout.file],
            luminance=layout.luminance,
        )

    def stamps(
        self, paths: list[str], listing: Any = None, observe: Callable[[str, os.stat_result | None], None] | None = None
    ) -> list[tuple[int, Any, int | None] | None]:
        """(size, stamp, mtime) of each path now, None where it is gone; ``observe`` sees every stat."""
        from .state import stamp_of

        prefix = str(self.path) + "/"
        stat = os.stat
        out: list[tuple[int, Any, int | None] | None] = []
        append = out.append
        for path in paths:
            try:
                st = stat(prefix + path)
            except OSError:
                st = None
            if observe is not None:
                observe(prefix + path, st)
            append(None if st is None else (st.st_size, stamp_of(st), st.st_mtime_ns))
        return out

    def folders_moved(
        self, dirs: dict[str, int], observe: Callable[[str, os.stat_result | None], None] | None = None
    ) -> bool:
        """Whether any folder's mtime differs from ``dirs`` (a file added, removed or renamed
        moves it); ``observe`` sees every folder's lstat."""
        moved = False
        for directory, mtime in dirs.items():
            path = self.path / directory
            try:
                seen = os.lstat(path)
            except OSError:
                seen = None
            if observe is not None:
                observe(str(path), seen)
            moved = moved or seen is None or os.stat(path).st_mtime_ns != mtime
        return moved

    def hash(self, rel: str) -> tuple[int, str]:
        """(size, sha256) of one file."""
        from ..hashing import sha256_file

        try:
            return (self.path / rel).stat().st_size, sha256_file(self.path / rel)
        except FileNotFoundError:
            raise Mle3Error("file not found", file=str(self.path / rel)) from None

    def hash_many(self, paths: list[str], progress: Callable[[int], None] | None = None) -> list[tuple[int, Any, str]]:
        """(size, mtime, sha256) of every path, in the order given (worker processes when many)."""
        from .scan import scan

        if not paths:
            return []
        by_path = {
            path: (size, mtime, digest)
            for path, size, mtime, digest, _ in scan(str(self.path), paths, progress=progress)
        }
        return [by_path[p] for p in paths]

    def download(self, rel: str, target: Path) -> tuple[int, str]:
        """Copy one file to ``target`` while hashing it: (size, sha256)."""
        import hashlib

        h = hashlib.sha256()
        size = 0
        with open(self.path / rel, "rb") as fh, open(target, "wb") as out:
            while block := fh.read(1 << 20):
                h.update(block)
                out.write(block)
                size += len(block)
        return size, h.hexdigest()

    def materialize(self, root: Path, dataset: Any, *, echo: Callable[[str], None] | None = None) -> Path:
        """The folder itself: local data is trained on where it lies."""
        return self.path
