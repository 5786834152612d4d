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
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable, Iterator

from .yolo import BOX_TOLERANCE, IMAGE_SUFFIXES

#: below this many files (and bytes) one process is faster than starting workers
PARALLEL_MIN_FILES = 4000
PARALLEL_MIN_BYTES = 256 * 1024 * 1024
CHUNK_FILES = 2000

# (path, size, mtime_ns, sha256, info); info is an ImageHeader tuple, a LabelScan tuple or None
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
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
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
            cls, x, y, w, h = (float(v) for v in fields) if len(fields) == 5 else (None,) * 5
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


def _scan_chunk(args: tuple[str, list[str], int | None]) -> list[ScanRow]:
    root, paths, n_classes = args
    sha = hashlib.sha256
    out: list[ScanRow] = []
    append = out.append
    for rel in paths:
        fd = os.open(os.path.join(root, rel), os.O_RDONLY)
        try:
            st = os.fstat(fd)
            if st.st_size <= 16 * 1024 * 1024:
                data = os.read(fd, st.st_size + 1)
                while len(data) < st.st_size:  # short reads on some file systems
                    more = os.read(fd, st.st_size - len(data) + 1)
                    if not more:
                        break
                    data += more
                digest = sha(data).hexdigest()
            else:  # large file: stream it, inspect only its head and tail
                h = sha()
                head = os.read(fd, 1 << 20)
                h.update(head)
                tail = head
                while True:
                    block = os.read(fd, 8 << 20)
                    if not block:
                        break
                    h.update(block)
                    tail = block
                digest = h.hexdigest()
                data = head + tail[-16:] if tail is not head else head
        finally:
            os.close(fd)
        info = None
        if n_classes is not None:
            suffix = os.path.splitext(rel)[1].lower()
            if suffix in IMAGE_SUFFIXES:
                info = ("image", *image_header(data, suffix))
            elif suffix == ".txt" and "/labels/" in f"/{rel}":
                info = ("label", *scan_label(data, n_classes))
        append((rel, st.st_size, st.st_mtime_ns, digest, info))
    return out


def scan(root: str, paths: list[str], n_classes: int | None = None, *, progress: Callable[[int], None] | None = None, jobs: int | None = None) -> list[ScanRow]:
    """Scan files (relative to ``root``), sorted by path; ``n_classes`` None hashes only."""
    paths = sorted(paths)
    jobs = jobs or os.cpu_count() or 1
    chunks = [(root, paths[i : i + CHUNK_FILES], n_classes) for i in range(0, len(paths), CHUNK_FILES)]
    if jobs == 1 or (len(paths) < PARALLEL_MIN_FILES and _total_size(root, paths) < PARALLEL_MIN_BYTES):
        results: Iterator[list[ScanRow]] = map(_scan_chunk, chunks)
        return _collect(results, progress)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork")) as pool:
        return _collect(pool.map(_scan_chunk, chunks), progress)


def _collect(results: Iterator[list[ScanRow]], progress: Callable[[int], None] | None) -> list[ScanRow]:
    out: list[ScanRow] = []
    for part in results:
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
