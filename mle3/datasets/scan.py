"""One pass over a data set's files: stat, sha256 and, from the same bytes, image headers
and label lines.

Each file is read once. Small files are handled in a tight loop (per-file Python
overhead, not hashing, limits small-file throughput: a thread pool per file was 6x slower
than coreutils' ``sha256sum``); many or large files are split into chunks over worker
processes. Images are checked structurally from their bytes (signature, header,
dimensions, end marker for JPEG and PNG; Pillow for other formats), which finds truncated
and foreign files without decoding every pixel.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from dataclasses import dataclass, field
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Iterator

from .yolo import BOX_TOLERANCE, IMAGE_SUFFIXES, label_path

#: below this many files (and bytes) one process is faster than starting workers
PARALLEL_MIN_FILES = 4000
PARALLEL_MIN_BYTES = 256 * 1024 * 1024
CHUNK_FILES = 2000

# (path, size, mtime_ns, sha256, split of an image or None)
ScanRow = tuple[str, int, int, str, Any]


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def image_header(data: bytes, suffix: str) -> tuple[int | None, int | None, str | None]:
    """(width, height, problem) from an image's bytes."""
    if data[:3] == b"\xff\xd8\xff":
        size = _jpeg_size(data)
        if size is None:
            return None, None, "JPEG without a frame header"
        if not data.endswith(b"\xff\xd9") and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            return size[0], size[1], "truncated JPEG (no end-of-image marker)"
        return size[0], size[1], None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None, None, "PNG without IHDR header"
        w, h = struct.unpack(">II", data[16:24])
        if not data.endswith(b"IEND\xaeB`\x82"):
            return w, h, "truncated PNG (no IEND chunk)"
        return w, h, None
    try:  # other formats: let Pillow identify and verify them
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            im.verify()
        return w, h, None
    except Exception as exc:  # any failure means the file is not a usable image
        return None, None, f"unreadable image ({type(exc).__name__})"


def scan_label(data: bytes, n_classes: int) -> tuple[dict[int, int], list[tuple[str, str, int | None, str]], bool]:
    """(instances per class id, problems (severity, kind, line, message), empty?)."""
    text = data.decode("utf-8", errors="replace")
    counts: dict[int, int] = {}
    problems: list[tuple[str, str, int | None, str]] = []
    if not text.strip():
        return counts, [("warning", "empty-label", None, "empty label file (background image)")], True
    lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls, x, y, w, h = map(float, fields) if len(fields) == 5 else (None,) * 5
        except ValueError:
            cls = None
        if cls is None:
            problems.append(("error", "malformed-line", number, f"expected 'class x y w h', got {line.strip()[:60]!r}"))
        elif cls != int(cls) or not 0 <= int(cls) < n_classes:
            problems.append(("error", "class-out-of-range", number, f"class id {fields[0]} not in 0..{n_classes - 1}"))
        elif w <= 0 or h <= 0 or x - w / 2 < lo or x + w / 2 > hi or y - h / 2 < lo or y + h / 2 > hi:
            problems.append(("error", "box-outside", number, f"box {x:g} {y:g} {w:g} {h:g} lies outside the image"))
        else:
            counts[int(cls)] = counts.get(int(cls), 0) + 1
    return counts, problems, False


def _read(root: str, rel: str) -> tuple[int, int, str, bytes]:
    """(size, mtime_ns, sha256, bytes for inspection) reading the file once. Files over
    16 MiB are streamed; their inspection bytes are the first MiB plus the last 16 bytes."""
    fd = os.open(root + "/" + rel, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        if st.st_size <= 16 * 1024 * 1024:
            data = os.read(fd, st.st_size + 1)
            while len(data) < st.st_size:  # short reads on some file systems
                more = os.read(fd, st.st_size - len(data) + 1)
                if not more:
                    break
                data += more
            return st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest(), data
        h = hashlib.sha256()
        head = tail = os.read(fd, 1 << 20)
        h.update(head)
        while block := os.read(fd, 8 << 20):
            h.update(block)
            tail = block
        return st.st_size, st.st_mtime_ns, h.hexdigest(), head + (tail[-16:] if tail is not head else b"")
    finally:
        os.close(fd)


def _hash_chunk(args: tuple[str, list[str]]) -> list[ScanRow]:
    root, paths = args
    out: list[ScanRow] = []
    for rel in paths:
        size, mtime, digest, _ = _read(root, rel)
        out.append((rel, size, mtime, digest, None))
    return out


@dataclass
class SplitStats:
    """What a worker measured of the images of one split in its chunk (mergeable)."""

    samples: int = 0
    instances: dict[int, int] = field(default_factory=dict)
    sized: int = 0
    w_min: int = 1 << 30
    h_min: int = 1 << 30
    w_max: int = 0
    h_max: int = 0
    w_sum: int = 0
    h_sum: int = 0

    def merge(self, other: "SplitStats") -> None:
        self.samples += other.samples
        for k, v in other.instances.items():
            self.instances[k] = self.instances.get(k, 0) + v
        self.sized += other.sized
        self.w_min, self.h_min = min(self.w_min, other.w_min), min(self.h_min, other.h_min)
        self.w_max, self.h_max = max(self.w_max, other.w_max), max(self.h_max, other.h_max)
        self.w_sum += other.w_sum
        self.h_sum += other.h_sum


# (severity, kind, file, line, message)
Problem = tuple[str, str, str, "int | None", str]


def _pairs_chunk(args: tuple[str, list[tuple[str, str, str | None]], int]) -> tuple[list[ScanRow], dict[str, SplitStats], list[Problem]]:
    """Images with their label files: manifest rows, per-split statistics, problems."""
    root, jobs, n_classes = args
    rows: list[ScanRow] = []
    stats: dict[str, SplitStats] = {}
    problems: list[Problem] = []
    for split, image, label in jobs:
        size, mtime, digest, data = _read(root, image)
        rows.append((image, size, mtime, digest, split))
        st = stats.get(split)
        if st is None:
            st = stats[split] = SplitStats()
        st.samples += 1
        w, h, problem = image_header(data, os.path.splitext(image)[1].lower())
        if problem:
            problems.append(("error", "corrupt-image", image, None, problem))
        if w:
            st.sized += 1
            st.w_min, st.h_min, st.w_max, st.h_max = min(st.w_min, w), min(st.h_min, h), max(st.w_max, w), max(st.h_max, h)
            st.w_sum += w
            st.h_sum += h
        if label is None:
            problems.append(("warning", "missing-label", image, None, f"no label file {label_path(image)} (treated as background)"))
            continue
        size, mtime, digest, data = _read(root, label)
        rows.append((label, size, mtime, digest, None))
        counts, label_problems, _ = scan_label(data, n_classes)
        for k, v in counts.items():
            st.instances[k] = st.instances.get(k, 0) + v
        problems.extend((sev, kind, label, line, msg) for sev, kind, line, msg in label_problems)
    return rows, stats, problems


@dataclass
class DatasetScan:
    rows: list[ScanRow]  # every file, sorted by path; the 5th field is the split of an image
    splits: dict[str, SplitStats]
    problems: list[Problem]


def scan_dataset(root: str, files: list[str], split_dirs: dict[str, str], n_classes: int, *, progress: Callable[[int], None] | None = None, jobs: int | None = None) -> DatasetScan:
    """Read every file of a data set once: hashes for the manifest; image sizes, label
    instances and problems for the statistics. ``split_dirs`` maps split -> image folder
    (relative, posix)."""
    fileset = set(files)
    pairs: list[tuple[str, str, str | None]] = []
    paired: set[str] = set()
    prefixes = [(split, d.rstrip("/") + "/") for split, d in split_dirs.items()]
    for rel in sorted(files):
        if os.path.splitext(rel)[1].lower() not in IMAGE_SUFFIXES:
            continue
        split = next((s for s, prefix in prefixes if rel.startswith(prefix)), None)
        if split is None:
            continue
        label = label_path(rel)
        label = label if label in fileset else None
        pairs.append((split, rel, label))
        paired.add(rel)
        if label:
            paired.add(label)
    others = sorted(fileset - paired)
    pair_chunks = [(root, pairs[i : i + CHUNK_FILES // 2], n_classes) for i in range(0, len(pairs), CHUNK_FILES // 2)]
    other_chunks = [(root, others[i : i + CHUNK_FILES]) for i in range(0, len(others), CHUNK_FILES)]
    result = DatasetScan([], {}, [])

    def take(rows: list[ScanRow], stats: dict[str, SplitStats] | None = None, problems: list[Problem] | None = None) -> None:
        result.rows.extend(rows)
        for split, st in (stats or {}).items():
            result.splits.setdefault(split, SplitStats()).merge(st)
        result.problems.extend(problems or ())
        if progress:
            progress(len(rows))

    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or (len(files) < PARALLEL_MIN_FILES and _total_size(root, files) < PARALLEL_MIN_BYTES):
        for chunk in pair_chunks:
            take(*_pairs_chunk(chunk))
        for chunk in other_chunks:
            take(_hash_chunk(chunk))
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
            for part in pool.map(_pairs_chunk, pair_chunks):
                take(*part)
            for rows in pool.map(_hash_chunk, other_chunks):
                take(rows)
    result.rows.sort()
    return result


def scan(root: str, paths: list[str], *, progress: Callable[[int], None] | None = None, jobs: int | None = None) -> list[ScanRow]:
    """Hash files (relative to ``root``); sorted by path."""
    paths = sorted(paths)
    jobs = jobs or os.cpu_count() or 1
    chunks = [(root, paths[i : i + CHUNK_FILES]) for i in range(0, len(paths), CHUNK_FILES)]
    out: list[ScanRow] = []
    if jobs == 1 or (len(paths) < PARALLEL_MIN_FILES and _total_size(root, paths) < PARALLEL_MIN_BYTES):
        parts: Iterator[list[ScanRow]] = map(_hash_chunk, chunks)
        for part in parts:
            out.extend(part)
            if progress:
                progress(len(part))
        return out
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
        for part in pool.map(_hash_chunk, chunks):
            out.extend(part)
            if progress:
                progress(len(part))
    return out


def _total_size(root: str, paths: list[str]) -> int:
    total = 0
    for rel in paths[:PARALLEL_MIN_FILES]:
        try:
            total += os.stat(os.path.join(root, rel)).st_size
        except OSError:
            pass
    return total
