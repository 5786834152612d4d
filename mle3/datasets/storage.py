"""The one way mle3 reaches a data set's files: a :class:`DataStore`.

A data set lies in the workspace, below a mounted data root, or in an object store; each
is a store with the same interface (list, stat, open, hash, materialize), so register,
verify, ``check``, training, calibration, the augmentation preview and the reports never
ask which kind they hold. Two implementations: :class:`~.store_local.LocalStore` (a folder
on this disk, with the process-pool fast paths of :mod:`.scan`) and
:class:`~.store_fsspec.FsspecStore` (any fsspec file system: ``s3://``, ``memory://``...).

:func:`store_for` is the one place a data set's root name becomes a store: data roots in
``mle3.yaml`` and this machine's mapping (``MLE3_DATA_ROOT_<NAME>``, ``.mle3/local.yaml``:
:mod:`.roots`). Code that needs files on a disk (ultralytics) asks the store for them:
:meth:`DataStore.local_path` (None when the store is no disk) or
:meth:`DataStore.materialize` (a checked local copy where needed).

Paths given to a store are posix and relative to its root. Stamps are what says a file
changed without reading it (mtime, ctime and inode locally; the ETag in an object store).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable
from collections.abc import Callable

from .roots import DataRoot, RootUnavailable, data_root
from .store_fsspec import BLOCK, INSPECT_LIMIT, REQUESTS, FsspecStore, open_remote, remote_errors, stamp_of
from .store_local import LocalStore

#: the earlier name of :class:`FsspecStore`
RemoteStore = FsspecStore
#: (size, stamp, mtime in ns or None) of a file as :meth:`DataStore.stamps` sees it
Seen = tuple[int, Any, "int | None"]
Observer = Callable[[str, "os.stat_result | None"], None]


@runtime_checkable
class DataStore(Protocol):
    """Where a data set's files are: read, listed, hashed and (for training) made local."""

    #: names the store in messages and keys this machine's verification state
    label: str
    #: whether statting every file is cheap enough for every ``check`` (a disk) or not
    #: (an object store: one request per file; ``check`` relies on the last ``verify``)
    stats_are_cheap: bool

    def url(self, rel: str = "") -> str:
        """What a person reads for a path: a local path or the object's URL."""

    def local_path(self, rel: str = "") -> Path | None:
        """The path on this machine's disk, read in place; None when the store is no disk."""

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` is a file."""

    def is_dir(self, rel: str) -> bool:
        """Whether ``rel`` is a folder (a prefix with objects below it)."""

    def stat(self, rel: str) -> tuple[int, Any]:
        """(size, stamp) of one file."""

    def open(self, rel: str) -> BinaryIO:
        """A binary file object, read in blocks."""

    def read_bytes(self, rel: str) -> bytes:
        """A small file whole (data.yaml, manifest)."""

    def read(self, rel: str) -> tuple[int, Any, str, bytes]:
        """(size, stamp, sha256, bytes to inspect) of one file read once, as the scan reads it."""

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a file (the manifest beside the data); atomic where the store allows."""

    def walk(self, directory: str) -> Any:
        """The :class:`~.scan.Listing` of every data file below ``directory``."""

    def layout(self, data_yaml: str) -> Any:
        """The :class:`~.yolo.DataLayout` of the data.yaml at ``data_yaml``."""

    def scan(
        self,
        layout: Any,
        n_classes: int,
        *,
        progress: Callable[[int], None] | None = None,
        total: Callable[[int], None] | None = None,
    ) -> tuple[Any, Any]:
        """Every file of a data set read once: (:class:`~.scan.DatasetScan`, :class:`~.scan.Listing`).
        ``total`` hears the number of files when the store knows it before reading."""

    def stamps(self, paths: list[str], listing: Any, observe: Observer | None = None) -> list[Seen | None]:
        """What each path looks like now, None where it is gone (from ``listing`` where
        the store listed stamps with it; ``observe`` sees every local stat)."""

    def folders_moved(self, dirs: dict[str, int], observe: Observer | None = None) -> bool:
        """Whether a folder changed since its mtime in ``dirs`` was recorded (False where
        the store has no folder mtimes)."""

    def hash(self, rel: str) -> tuple[int, str]:
        """(size, sha256) of one file."""

    def hash_many(self, paths: list[str], progress: Callable[[int], None] | None = None) -> list[tuple[int, Any, str]]:
        """(size, stamp, sha256) of every path, in the order given, read in parallel."""

    def download(self, rel: str, target: Path) -> tuple[int, str]:
        """Copy one file to ``target`` while hashing it: (size, sha256)."""

    def materialize(self, root: Path, dataset: Any, *, echo: Callable[[str], None] | None = None) -> Path:
        """A folder on this disk holding the data set's files under their recorded paths:
        the store's own folder, or a copy checked against the manifest as it lands."""


def store_of_root(root: DataRoot) -> DataStore:
    """The store of a mapped data root (a local root must be available: :class:`RootUnavailable`)."""
    if root.remote:
        return open_remote(root.location)
    root.check_available()
    return LocalStore(root.path, f"{root.name}:", f"data root {root.name!r}")


def store_for(root: Path, config: Any, root_name: str | None) -> DataStore:
    """The store a data set's paths are relative to: the workspace, or its data root
    (raises :class:`RootUnavailable` with the way to map it)."""
    if not root_name:
        return LocalStore(root, "workspace")
    return store_of_root(data_root(root, config, root_name))


__all__ = [
    "BLOCK",
    "DataStore",
    "FsspecStore",
    "INSPECT_LIMIT",
    "LocalStore",
    "REQUESTS",
    "RemoteStore",
    "RootUnavailable",
    "open_remote",
    "remote_errors",
    "stamp_of",
    "store_for",
    "store_of_root",
]
