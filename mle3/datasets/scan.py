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

import os
from dataclasses import dataclass
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from typing import Any
from collections.abc import Callable, Iterator, Sequence

from ..formats import encode_manifest, split_manifest_line

# the parts of a scan, imported from here too
from .chunks import (  # noqa: F401
    ChunkResult,
    ImageRows,
    ScanRow,
    Segment,
    SplitStats,
    _hash_chunk,
    _local_job,
    _read,
    _segment,
    run_job,
)
from .image_check import image_header  # noqa: F401
from .label_check import Problem, check_labels, scan_label  # noqa: F401
from .listing import Listing, list_local, list_remote, refuse_links, walk_local  # noqa: F401
from .scan_jobs import CHUNK_FILES, Job, OthersJob, PairsJob, pairs_of, plan_others, plan_pairs  # noqa: F401

#: below this many files (and bytes) one process is faster than starting workers
PARALLEL_MIN_FILES = 4000
PARALLEL_MIN_BYTES = 256 * 1024 * 1024


@dataclass
class DatasetScan:
    text: str  # the manifest: every file's line, sorted by path
    stamps: list[Any]  # in manifest order
    packed: bytes  # the manifest gzip-compressed (compressed by the workers)
    files: int
    bytes: int
    splits: dict[str, SplitStats]
    images: dict[str, list[str]]
    problems: list[Problem]
    rows: dict[str, ImageRows]  # split -> per-image data (the derived characteristics)


def _merge(results: Iterator[ChunkResult], progress: Callable[[int], None] | None) -> DatasetScan:
    total = ChunkResult()
    for part in results:
        total.absorb(part)
        if progress:
            progress(part.files)
    text, stamps, packed = _assemble(total.segments)
    return DatasetScan(
        text, stamps, packed, total.files, total.bytes, total.splits, total.images, total.problems, total.rows
    )


def _assemble(segments: list[Segment]) -> tuple[str, list[Any], bytes]:
    """The manifest from sorted segments: segments whose path ranges overlap (files beside
    sub-folders, e.g. ``data.yaml`` next to ``images/``) are split into lines first."""
    segments.sort(key=lambda seg: seg.first)
    overlapping = {i for i, (a, b) in enumerate(zip(segments, segments[1:])) if a.last >= b.first}
    overlapping |= {i + 1 for i in overlapping}
    if overlapping:
        kept = [seg for i, seg in enumerate(segments) if i not in overlapping]
        for i in overlapping:
            seg = segments[i]
            for line, stamp in zip(seg.text.splitlines(keepends=True), seg.stamps):
                path = split_manifest_line(line)[2].rstrip("\n")
                kept.append(Segment(path, path, line, [stamp]))
        kept.sort(key=lambda seg: seg.first)
        segments = kept
    stamps: list[Any] = []
    packed: list[bytes] = []
    loose: list[str] = []  # lines of split segments, compressed together
    for seg in segments:
        stamps.extend(seg.stamps)
        if seg.packed:
            if loose:
                packed.append(encode_manifest("".join(loose)))
                loose = []
            packed.append(seg.packed)
        else:
            loose.append(seg.text)
    if loose:
        packed.append(encode_manifest("".join(loose)))
    return "".join(seg.text for seg in segments), stamps, b"".join(packed)


def scan_local(
    base: str,
    directory: str,
    split_dirs: dict[str, str],
    n_classes: int,
    *,
    listing: Listing | None = None,
    progress: Callable[[int], None] | None = None,
    jobs: int | None = None,
    extra: Sequence[str] = (),
    luminance: bool = False,
) -> tuple[DatasetScan, Listing]:
    """Read every file of a local data set once, in worker processes when it is big:
    hashes for the manifest; image sizes, label instances and problems for the statistics.
    Folders are handed to the workers as they are listed (listing overlaps hashing).
    ``extra``: files outside ``directory`` that belong to the data set (its data.yaml)."""
    jobs = jobs or os.cpu_count() or 1
    out = listing or Listing()
    folders = walk_local(base, directory, out) if listing is None else iter(listing.by_dir.items())

    def add_extra() -> None:
        for path in extra:
            d, _, n = path.rpartition("/")
            if n not in out.by_dir.get(d, ()):
                out.by_dir.setdefault(d, []).append(n)

    planned: list[PairsJob] = []
    listed = listed_bytes = 0
    pool = None
    futures = []
    if listing is not None:
        refuse_links(listing)
    try:
        for d, names in folders:
            refuse_links(out)  # before any of the folder's files is read
            if pool is None and listed < PARALLEL_MIN_FILES:  # few files may still be many bytes (large images)
                listed_bytes += _total_size(
                    base, [f"{d}/{n}" if d else n for n in names[: PARALLEL_MIN_FILES - listed]]
                )
            listed += len(names)
            for job in pairs_of(d, names, split_dirs, n_classes, luminance):
                planned.append(job)
                if pool is not None:
                    futures.append(pool.submit(_local_job, base, job))
            if pool is None and jobs > 1 and (listed >= PARALLEL_MIN_FILES or listed_bytes >= PARALLEL_MIN_BYTES):
                # big enough for worker processes: start them and hand over what is planned
                pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork"))
                futures = [pool.submit(_local_job, base, job) for job in planned]
        add_extra()
        if pool is None:
            return _merge(_waves(lambda todo: map(partial(_local_job, base), todo), planned, out), progress), out
        first = (f.result() for f in futures)
        return _merge(
            _waves(lambda todo: pool.map(partial(_local_job, base), todo), planned, out, first), progress
        ), out
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _waves(
    run_map: Callable[[Sequence[Job]], Iterator[ChunkResult]],
    pairs: list[PairsJob],
    listing: Listing,
    first: Iterator[ChunkResult] | None = None,
) -> Iterator[ChunkResult]:
    """Results of the pair jobs (already running, or run now; any number of results),
    then of every other file."""
    labels_read: dict[str, set[str]] = {}
    for part in first if first is not None else run_map(pairs):
        if part.label_dir:
            labels_read.setdefault(part.label_dir, set()).update(part.labels_read)
        yield part
    yield from run_map(plan_others(listing, {job.label_dir: job.directory for job in pairs}, labels_read))


def scan_remote(
    store: Any,
    listing: Listing,
    split_dirs: dict[str, str],
    n_classes: int,
    *,
    progress: Callable[[int], None] | None = None,
    requests: int = 16,
    luminance: bool = False,
) -> DatasetScan:
    """The same measurement over an object store: objects streamed by parallel requests
    (small jobs keep every request slot busy)."""
    from concurrent.futures import ThreadPoolExecutor

    def read(rel: str) -> tuple[int, Any, str, bytes]:
        if rel not in listing.stamps:
            raise FileNotFoundError(rel)
        return store.read(rel)

    def run_map(planned: Sequence[Job]) -> Iterator[ChunkResult]:
        small: list[Job] = []
        for job in planned:
            if isinstance(job, PairsJob):
                small.extend(job._replace(names=job.names[i : i + 8]) for i in range(0, len(job.names), 8))
            else:
                small.extend(OthersJob(job.paths[i : i + 8]) for i in range(0, len(job.paths), 8))
        return pool.map(partial(run_job, read), small)

    pairs = plan_pairs(listing, split_dirs, n_classes, luminance)
    with ThreadPoolExecutor(max_workers=requests) as pool:
        return _merge(_waves(run_map, pairs, listing), progress)


def scan(
    root: str, paths: list[str], *, progress: Callable[[int], None] | None = None, jobs: int | None = None
) -> list[ScanRow]:
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
