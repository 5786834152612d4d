"""Data set manifests: one line per file and a fingerprint over them.

The fingerprint is the sha256 of the sorted ``sha256  size  path`` lines, so it changes
with any added, removed, renamed or edited file and does not depend on mtimes (which a
fresh clone or copy changes). Hashing itself is in :mod:`.scan`.

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

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

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
    return "".join(f"{e.sha256}  {e.size}  {e.path}\n" for e in sorted(entries, key=lambda e: e.path))


def fingerprint(entries: Iterable[Entry]) -> str:
    return "sha256:" + hashlib.sha256(manifest_text(entries).encode()).hexdigest()


def manifest_name(fp: str) -> str:
    """The file name of the v2 manifest whose content hashes to ``fp``."""
    return fp.split(":", 1)[-1] + ".manifest.gz"


def encode_manifest(text: str) -> bytes:
    """gzip without a timestamp: the same manifest gives the same bytes everywhere."""
    return gzip.compress(text.encode(), compresslevel=1, mtime=0)


def gunzip(data: bytes) -> bytes:
    """All members of a gzip file (the register's workers write one member each;
    ``gzip.decompress`` walks members in Python, ~30x slower for hundreds of them)."""
    out = []
    while data:
        d = zlib.decompressobj(31)
        out.append(d.decompress(data))
        if not d.eof:
            raise OSError("truncated gzip data")
        data = d.unused_data
        while data[:1] == b"\x00":  # padding between members
            data = data[1:]
    return b"".join(out)


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
    try:
        raw = gunzip(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{source}: not a gzip manifest ({exc})") from None
    if fp is not None and "sha256:" + hashlib.sha256(raw).hexdigest() != fp:
        raise ValueError(f"{source}: content does not hash to the fingerprint {fp}")
    lines = raw.decode("utf-8").splitlines()
    try:
        digests, sizes, paths = zip(*(line.split("  ", 2) for line in lines)) if lines else ((), (), ())
        sizes_int = list(map(int, sizes))
    except ValueError:
        number = next(i for i, line in enumerate(lines, 1) if len(line.split("  ", 2)) != 3 or not line.split("  ", 2)[1].isdigit())
        raise ValueError(f"{source}:{number}: malformed manifest line") from None
    if any(len(d) != 64 for d in digests):
        number = next(i for i, d in enumerate(digests, 1) if len(d) != 64)
        raise ValueError(f"{source}:{number}: malformed manifest line")
    return Columns(list(paths), sizes_int, list(digests))


def decode_manifest(data: bytes, source: str, fp: str | None = None) -> list[Entry]:
    """Entries of a v2 manifest (mtime 0: unknown); see :func:`decode_columns`."""
    return decode_columns(data, source, fp).entries()


@dataclass
class DiskDiff:
    changed: list[str]
    removed: list[str]
    hashed: int


def compare_with_disk(root: Path, recorded: list[Entry], observe: Callable[[str, os.stat_result | None], None] | None = None) -> DiskDiff:
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
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4 or len(parts[3]) != 64:
                raise ValueError(f"{path}:{number}: malformed manifest line")
            entries.append(Entry(parts[0], int(parts[1]), int(parts[2]), parts[3]))
    return entries


def is_data_file(name: str) -> bool:
    """Hidden files and ultralytics' label caches (``labels/train.cache``, rewritten by
    every training) are not part of a data set."""
    return not name.startswith(".") and not name.endswith(".cache")
