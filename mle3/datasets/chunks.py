"""What a worker does with one job: each file read once (stat, sha256 and, from the same
bytes, image headers and label lines), measured into a compact, mergeable
:class:`ChunkResult`."""

from __future__ import annotations

import hashlib
import os
import stat as stat_mode
from array import array
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from collections.abc import Callable

from ..formats import encode_manifest, manifest_line
from ..vocab import IMAGE_SUFFIXES
from .image_check import image_header, mean_luma
from .label_check import Problem, check_labels
from .scan_jobs import Job, PairsJob
from .state import stamp_of

# (path, size, stamp (:func:`.state.stamp_of`; 0 for a file that vanished), sha256, split of an image or None)
ScanRow = tuple[str, int, tuple[int, int, int] | int, str, Any]
IMAGE_ENDINGS = tuple(IMAGE_SUFFIXES)


def _read(root: str, rel: str) -> tuple[int, tuple[int, int, int], str, bytes]:
    """(size, stamp (:func:`.state.stamp_of`), sha256, bytes for inspection) reading the file once. Files over
    16 MiB are streamed; their inspection bytes are the first MiB plus the last 16 bytes.
    ``root`` ends with a slash. Anything but a regular file (a folder, a FIFO, which
    O_NONBLOCK keeps from hanging the open) is absent: ultralytics' ``isfile`` says so too."""
    fd = os.open(root + rel, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat_mode.S_ISREG(st.st_mode):
            raise FileNotFoundError(f"{rel}: not a regular file")
        if st.st_size <= 16 * 1024 * 1024:
            data = os.read(fd, st.st_size + 1)
            while len(data) < st.st_size:  # short reads on some file systems
                more = os.read(fd, st.st_size - len(data) + 1)
                if not more:
                    break
                data += more
            return st.st_size, stamp_of(st), hashlib.sha256(data).hexdigest(), data
        h = hashlib.sha256()
        head = tail = os.read(fd, 1 << 20)
        h.update(head)
        while block := os.read(fd, 8 << 20):
            h.update(block)
            tail = block
        return st.st_size, stamp_of(st), h.hexdigest(), head + (tail[-16:] if tail is not head else b"")
    finally:
        os.close(fd)


def _hash_chunk(args: tuple[str, list[str]]) -> list[ScanRow]:
    root, paths = args
    root = root.rstrip("/") + "/"
    out: list[ScanRow] = []
    for rel in paths:
        mtime: tuple[int, int, int] | int
        try:
            size, mtime, digest, _ = _read(root, rel)
        except OSError:  # vanished, or no longer a file: no digest matches ""
            size, mtime, digest = -1, 0, ""
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

    def merge(self, other: SplitStats) -> None:
        self.samples += other.samples
        for k, v in other.instances.items():
            self.instances[k] = self.instances.get(k, 0) + v
        self.sized += other.sized
        self.w_min, self.h_min = min(self.w_min, other.w_min), min(self.h_min, other.h_min)
        self.w_max, self.h_max = max(self.w_max, other.w_max), max(self.h_max, other.h_max)
        self.w_sum += other.w_sum
        self.h_sum += other.h_sum


@dataclass
class ImageRows:
    """Per image of one split, in scan order: what its data characteristics are derived
    from (path, size, boxes) and, per box, ``class * 3 + size class``. Compact arrays: they
    are pickled back from the workers for every image of the data set."""

    paths: list[str] = field(default_factory=list)
    width: array = field(default_factory=lambda: array("I"))
    height: array = field(default_factory=lambda: array("I"))
    boxes: array = field(default_factory=lambda: array("I"))
    codes: array = field(default_factory=lambda: array("H"))
    #: mean luma 0..255 per image (255 + 1 = unknown is not representable: 0 when undecodable);
    #: empty when luminance was not asked for
    luma: array = field(default_factory=lambda: array("B"))

    def extend(self, other: ImageRows) -> None:
        self.paths += other.paths
        self.width += other.width
        self.height += other.height
        self.boxes += other.boxes
        self.codes += other.codes
        self.luma += other.luma


@dataclass
class Segment:
    """Manifest lines of files sorted by path (``sha256  size  path``), with their stamps
    (mtime_ns locally, ETag remotely) in the same order."""

    first: str
    last: str
    text: str
    stamps: list[Any]
    packed: bytes = b""  # the text as a gzip member (members concatenate to one gzip file)


@dataclass
class ChunkResult:
    """What one worker measured: manifest segments, bytes, per-split statistics and image
    digests, problems. Compact on purpose: it is pickled back to the main process."""

    segments: list[Segment] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    splits: dict[str, SplitStats] = field(default_factory=dict)
    images: dict[str, list[str]] = field(default_factory=dict)  # split -> sha256 of each image
    problems: list[Problem] = field(default_factory=list)
    rows: dict[str, ImageRows] = field(default_factory=dict)  # split -> per-image data
    label_dir: str = ""  # the label folder of a pairs job
    labels_read: list[str] = field(default_factory=list)  # names in that folder the job read

    def absorb(self, part: ChunkResult) -> None:
        """Add another chunk's results to this one."""
        self.segments += part.segments
        self.files += part.files
        self.bytes += part.bytes
        for split, st in part.splits.items():
            self.splits.setdefault(split, SplitStats()).merge(st)
        for split, digests in part.images.items():
            self.images.setdefault(split, []).extend(digests)
        for split, rows in part.rows.items():
            self.rows.setdefault(split, ImageRows()).extend(rows)
        self.problems += part.problems


Reader = Callable[[str], tuple[int, Any, str, bytes]]


def _segment(paths: list[str], lines: list[str], stamps: list[Any]) -> Segment:
    text = "".join(lines)
    return Segment(paths[0], paths[-1], text, stamps, encode_manifest(text))


def _inspect_pairs(
    read: Reader,
    split: str,
    directory: str,
    names: list[str],
    label_dir: str,
    n_classes: int,
    luminance: bool = False,
) -> ChunkResult:
    """The files of one split folder (sorted names): images with their label files
    (``label_dir/<stem>.txt``), any other file hashed as it is."""
    prefix = f"{directory}/" if directory else ""
    out = ChunkResult()
    st = out.splits[split] = SplitStats()
    digests = out.images[split] = []
    rows = out.rows[split] = ImageRows()
    label_of: list[int] = []  # per image: its index in ``labels``, -1 without a label file
    problems = out.problems
    lines: list[str] = []
    stamps: list[Any] = []
    label_names: list[str] = []
    label_lines: list[str] = []
    label_stamps: list[Any] = []
    labels: list[tuple[str, bytes]] = []
    total = 0
    samples = 0
    for name in names:
        image = prefix + name
        size, stamp, digest, data = read(image)
        lines.append(manifest_line(digest, size, image))
        stamps.append(stamp)
        total += size
        dot = name.rfind(".")
        if not name.lower().endswith(IMAGE_ENDINGS):
            continue
        samples += 1
        digests.append(digest)
        w, h, problem = image_header(data, name[dot:].lower())
        if problem:
            problems.append(("error", "corrupt-image", image, None, problem))
        rows.paths.append(image)
        rows.width.append(w or 0)
        rows.height.append(h or 0)
        if luminance:
            rows.luma.append(0 if problem else mean_luma(data))
        label_of.append(-1)
        if w and h is not None:  # image_header gives both sizes or neither
            st.sized += 1
            if w < st.w_min:
                st.w_min = w
            if w > st.w_max:
                st.w_max = w
            if h < st.h_min:
                st.h_min = h
            if h > st.h_max:
                st.h_max = h
            st.w_sum += w
            st.h_sum += h
        label_name = name[:dot] + ".txt"
        label = f"{label_dir}/{label_name}"
        try:
            size, stamp, digest, data = read(label)
        except FileNotFoundError:
            problems.append(("warning", "missing-label", image, None, f"no label file {label} (treated as background)"))
            continue
        label_of[-1] = len(labels)
        label_names.append(label_name)
        label_lines.append(manifest_line(digest, size, label))
        label_stamps.append(stamp)
        total += size
        labels.append((label, data))
    st.samples = samples
    out.files = len(names) + len(label_names)
    out.bytes = total
    out.label_dir, out.labels_read = label_dir, label_names
    if names:
        out.segments.append(_segment([prefix + names[0], prefix + names[-1]], lines, stamps))
    if label_names:
        out.segments.append(
            _segment([f"{label_dir}/{label_names[0]}", f"{label_dir}/{label_names[-1]}"], label_lines, label_stamps)
        )
    per_file = array("I")
    counts, label_problems = check_labels(labels, n_classes, rows.codes, per_file)
    rows.boxes.extend(per_file[i] if i >= 0 else 0 for i in label_of)
    for k, v in counts.items():
        st.instances[k] = st.instances.get(k, 0) + v
    problems.extend(label_problems)
    return out


def _inspect_others(read: Reader, paths: list[str]) -> ChunkResult:
    out = ChunkResult()
    lines, stamps = [], []
    for path in paths:
        size, stamp, digest, _ = read(path)
        lines.append(manifest_line(digest, size, path))
        stamps.append(stamp)
        out.bytes += size
    out.files = len(paths)
    if paths:
        out.segments.append(_segment(paths, lines, stamps))
    return out


def _local_reader(base: str) -> Reader:
    return partial(_read, base.rstrip("/") + "/")  # a C-level call per file, not a closure


def run_job(read: Reader, job: Job) -> ChunkResult:
    """The result of one job, its files read with ``read``."""
    if isinstance(job, PairsJob):
        return _inspect_pairs(read, *job)
    return _inspect_others(read, job.paths)


def _local_job(base: str, job: Job) -> ChunkResult:
    """A job in a worker process, its files below ``base``."""
    return run_job(_local_reader(base), job)
