"""Data set manifests: one line per file and a fingerprint over them.

The fingerprint is the sha256 of the sorted ``sha256  size  path`` lines, so it changes
with any added, removed, renamed or edited file and does not depend on mtimes (which a
fresh clone or copy changes). Hashing itself is in :mod:`.scan`; the byte formats (line,
text, gzip encoding, fingerprint) are defined once in :mod:`mle3.formats`.

Two formats:

- v2 (written now): exactly those lines, gzip-compressed, named after the fingerprint
  (``<hex>.manifest.gz``): content-addressed, so the data set item needs only its
  fingerprint, and a manifest is checked by hashing what it decompresses to. It lives next
  to the data (``.mle3-manifests/`` beside the data.yaml, on the NAS or in the bucket) and
  is copied to ``.mle3/manifests/`` as a local cache; nothing of it goes into git unless
  the data does. mtimes are a per-machine cache (:mod:`.state`), not part of it.
- v1 (read only): a TSV with mtimes in ``artifacts/datasets/``, committed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterable

from .. import formats
from ..formats import encode_manifest, gunzip, manifest_name  # noqa: F401 (defined there, used from here)
from ..hashing import sha256_file

#: beside the data.yaml, in the data's own place (hidden: never part of the data set)
MANIFEST_DIR = ".mle3-manifests"


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the workspace root, posix separators
    size: int
    mtime_ns: int
    sha256: str


def manifest_text(entries: Iterable[Entry]) -> str:
    """The v2 manifest's content and the fingerprint's input: ``sha256  size  path`` lines sorted by path."""
    return formats.manifest_text((e.path, e.size, e.sha256) for e in entries)


def fingerprint(entries: Iterable[Entry]) -> str:
    return formats.dataset_fingerprint(manifest_text(entries))


@dataclass
class Columns:
    """A manifest as parallel lists (850k Entry objects cost seconds; lists do not)."""

    paths: list[str]
    sizes: list[int]
    digests: list[str]

    def entries(self) -> list[Entry]:
        return [Entry(p, s, 0, d) for p, s, d in zip(self.paths, self.sizes, self.digests)]


def decode_columns(data: bytes, source: str, fp: str | None = None) -> Columns:
    """A v2 manifest's columns; with ``fp``, raise ValueError unless the content hashes to
    it (a manifest is trusted only as its fingerprint)."""
    return Columns(*formats.decode_manifest(data, source, fp))


def decode_manifest(data: bytes, source: str, fp: str | None = None) -> list[Entry]:
    """Entries of a v2 manifest (mtime 0: unknown); see :func:`decode_columns`."""
    return decode_columns(data, source, fp).entries()


@dataclass
class DiskDiff:
    changed: list[str]
    removed: list[str]
    hashed: int


def compare_with_disk(
    root: Path, recorded: list[Entry], observe: Callable[[str, os.stat_result | None], None] | None = None
) -> DiskDiff:
    """Which recorded files changed or vanished: size and mtime first, then sha256 for a
    file whose mtime changed but not its size (touched but equal is unchanged).
    ``observe`` sees every stat (the check's result cache records them)."""
    changed: list[str] = []
    removed: list[str] = []
    suspects: list[Entry] = []
    for e in recorded:
        try:
            st = os.stat(root / e.path)
        except OSError:
            st = None
        if observe is not None:
            observe(e.path, st)
        if st is None:
            removed.append(e.path)
        elif st.st_size != e.size:
            changed.append(e.path)
        elif st.st_mtime_ns != e.mtime_ns:
            suspects.append(e)
    changed.extend(e.path for e in suspects if sha256_file(root / e.path) != e.sha256)
    return DiskDiff(sorted(changed), sorted(removed), len(suspects))


def read_manifest(path: Path) -> list[Entry]:
    """Read a manifest (v2 ``.gz`` or v1 TSV); raises ValueError naming the line of a malformed entry."""
    if str(path).endswith(".gz"):
        return decode_manifest(Path(path).read_bytes(), str(path))
    entries = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            row = formats.parse_manifest_v1_line(line, str(path), number)
            if row is not None:
                entries.append(Entry(*row))
    return entries


def is_data_file(name: str) -> bool:
    """Hidden files and ultralytics' label caches (``labels/train.cache``, rewritten by
    every training) are not part of a data set."""
    return not name.startswith(".") and not name.endswith(".cache")
