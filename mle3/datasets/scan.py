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
import math
import os
import stat as stat_mode
import struct
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any
from collections.abc import Callable, Iterator, Sequence

from ..errors import Mle3Error
from ..formats import encode_manifest, manifest_line, split_manifest_line
from ..vocab import IMAGE_SUFFIXES
from .state import stamp_of
from .yolo import BOX_TOLERANCE, label_path

#: below this many files (and bytes) one process is faster than starting workers
PARALLEL_MIN_FILES = 4000
PARALLEL_MIN_BYTES = 256 * 1024 * 1024
CHUNK_FILES = 2000

# (path, size, stamp (:func:`.state.stamp_of`; 0 for a file that vanished), sha256, split of an image or None)
ScanRow = tuple[str, int, tuple[int, int, int] | int, str, Any]


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
    """(instances per class id, problems (severity, kind, line, message), empty?).

    The common case (every line five numbers, every box inside) is checked over whole
    columns; any doubt falls back to :func:`_scan_label_lines`, which names the line."""
    rows = [line.split() for line in data.splitlines()]
    rows = [r for r in rows if r]
    if not rows:
        return {}, [("warning", "empty-label", None, "empty label file (background image)")], True
    try:
        if any(len(r) != 5 for r in rows) or _odd_breaks(data):
            raise ValueError
        cls = [float(r[0]) for r in rows]
        x = [float(r[1]) for r in rows]
        y = [float(r[2]) for r in rows]
        w = [float(r[3]) for r in rows]
        h = [float(r[4]) for r in rows]
    except ValueError:
        return _scan_label_lines(data, n_classes)
    lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE
    if (
        not math.isfinite(sum(cls) + sum(x) + sum(y) + sum(w) + sum(h))
        or min(cls) < 0
        or max(cls) >= n_classes
        or any(c != int(c) for c in cls)
        or min(w) <= 0
        or min(h) <= 0
        or min(map(_low, x, w)) < lo
        or max(map(_high, x, w)) > hi
        or min(map(_low, y, h)) < lo
        or max(map(_high, y, h)) > hi
    ):
        return _scan_label_lines(data, n_classes)
    counts: dict[int, int] = {}
    for c in cls:
        counts[int(c)] = counts.get(int(c), 0) + 1
    return counts, [], False


def _odd_breaks(data: bytes) -> bool:
    """Vertical tab and form feed end a line for ultralytics (``str.splitlines``) but not
    for ``bytes.splitlines``: such files take the line-by-line path, which reads as it does."""
    return b"\x0b" in data or b"\x0c" in data


def _low(centre: float, extent: float) -> float:
    return centre - extent / 2


def _high(centre: float, extent: float) -> float:
    return centre + extent / 2


def _scan_label_lines(
    data: bytes, n_classes: int
) -> tuple[dict[int, int], list[tuple[str, str, int | None, str]], bool]:
    """Line by line, with a message per problem (the slow path of :func:`scan_label`)."""
    text = data.decode("utf-8-sig", errors="replace")  # ultralytics reads labels as utf-8-sig
    counts: dict[int, int] = {}
    problems: list[tuple[str, str, int | None, str]] = []
    lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        values: list[float] | None
        try:
            values = list(map(float, fields)) if len(fields) == 5 else None
        except ValueError:
            values = None
        if values is None:
            problems.append(("error", "malformed-line", number, f"expected 'class x y w h', got {line.strip()[:60]!r}"))
            continue
        cls, x, y, w, h = values
        if not all(map(math.isfinite, (cls, x, y, w, h))):
            problems.append(("error", "non-finite-value", number, f"not a finite number in {line.strip()[:60]!r}"))
        elif cls != int(cls) or not 0 <= int(cls) < n_classes:
            problems.append(("error", "class-out-of-range", number, f"class id {fields[0]} not in 0..{n_classes - 1}"))
        elif w <= 0 or h <= 0 or x - w / 2 < lo or x + w / 2 > hi or y - h / 2 < lo or y + h / 2 > hi:
            problems.append(("error", "box-outside", number, f"box {x:g} {y:g} {w:g} {h:g} lies outside the image"))
        else:
            counts[int(cls)] = counts.get(int(cls), 0) + 1
    return counts, problems, False


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


# (severity, kind, file, line, message)
Problem = tuple[str, str, str, "int | None", str]


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
        self.problems += part.problems


Reader = Callable[[str], tuple[int, Any, str, bytes]]


def _segment(paths: list[str], lines: list[str], stamps: list[Any]) -> Segment:
    text = "".join(lines)
    return Segment(paths[0], paths[-1], text, stamps, encode_manifest(text))


def _inspect_pairs(
    read: Reader, split: str, directory: str, names: list[str], label_dir: str, n_classes: int
) -> ChunkResult:
    """The files of one split folder (sorted names): images with their label files
    (``label_dir/<stem>.txt``), any other file hashed as it is."""
    prefix = f"{directory}/" if directory else ""
    out = ChunkResult()
    st = out.splits[split] = SplitStats()
    digests = out.images[split] = []
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
    counts, label_problems = check_labels(labels, n_classes)
    for k, v in counts.items():
        st.instances[k] = st.instances.get(k, 0) + v
    problems.extend(label_problems)
    return out


def check_labels(labels: list[tuple[str, bytes]], n_classes: int) -> tuple[dict[int, int], list[Problem]]:
    """Instances per class and problems of many label files at once: the common case (every
    line five numbers, every box inside) is checked over whole columns of the batch; a batch
    with any doubt is checked file by file with :func:`scan_label`, which names the line."""
    tokens: list[bytes] = []
    for _, data in labels:
        words = data.split()
        if len(words) != 5 * (data.count(b"\n") + (not data.endswith(b"\n"))) or not words or _odd_breaks(data):
            return _labels_one_by_one(labels, n_classes)
        tokens += words
    try:
        values = list(map(float, tokens))
    except ValueError:
        return _labels_one_by_one(labels, n_classes)
    cls, x, y, w, h = (values[i::5] for i in range(5))
    if not cls:
        return {}, []
    lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE
    if (
        not math.isfinite(sum(values))
        or min(cls) < 0
        or max(cls) >= n_classes
        or not all(map(float.is_integer, cls))
        or min(w) <= 0
        or min(h) <= 0
        or min(map(_low, x, w)) < lo
        or max(map(_high, x, w)) > hi
        or min(map(_low, y, h)) < lo
        or max(map(_high, y, h)) > hi
    ):
        return _labels_one_by_one(labels, n_classes)
    counts: dict[int, int] = {}
    for c, n in Counter(cls).items():
        counts[int(c)] = n
    return counts, []


def _labels_one_by_one(labels: list[tuple[str, bytes]], n_classes: int) -> tuple[dict[int, int], list[Problem]]:
    counts: dict[int, int] = {}
    problems: list[Problem] = []
    for path, data in labels:
        found, label_problems, _ = scan_label(data, n_classes)
        for k, v in found.items():
            counts[k] = counts.get(k, 0) + v
        problems.extend((sev, kind, path, line, msg) for sev, kind, line, msg in label_problems)
    return counts, problems


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


def _local_job(job: tuple) -> ChunkResult:
    base, kind, *args = job
    read = _local_reader(base)
    return _inspect_pairs(read, *args) if kind == "pairs" else _inspect_others(read, *args)


@dataclass
class Listing:
    """The files of a data set folder, grouped by folder (names sorted), and the folders' mtimes."""

    by_dir: dict[str, list[str]] = field(default_factory=dict)
    dir_mtimes: dict[str, int] = field(default_factory=dict)
    stamps: dict[str, tuple[int, Any]] = field(default_factory=dict)  # remote listings: path -> (size, ETag)
    #: entries that cannot be part of a data set (links out of its place, dangling links,
    #: links to folders, FIFOs, devices), path -> why; listed too, so verify reports them
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.by_dir.values())

    def paths(self) -> list[str]:
        return sorted(f"{d}/{n}" if d else n for d, names in self.by_dir.items() for n in names)


def walk_local(base: str, directory: str, out: Listing) -> Iterator[tuple[str, list[str]]]:
    """Fill ``out`` with every data file below ``directory`` (relative to ``base``),
    yielding each folder (relative path, sorted names) as soon as it is listed.

    The files are those ultralytics' loader globs (``**/*.*``): hidden files and folders
    are not part of a data set, nor are ultralytics' ``.cache`` files. A link to a file
    inside ``base`` is a data file with its target's content (what ultralytics reads);
    any other link, and anything that is not a file or folder, is listed and recorded in
    ``out.refused``: registering refuses it, verify reports it."""
    prefix = len(base.rstrip("/")) + 1
    real_base = os.path.realpath(base)

    def walk(path: str) -> Iterator[tuple[str, list[str]]]:
        rel = path[prefix:].replace(os.sep, "/")
        names = []
        folders = []
        with os.scandir(path) as it:
            for entry in it:
                name = entry.name
                if name[0] == ".":
                    continue
                if entry.is_file(follow_symlinks=False):
                    if not name.endswith(".cache"):
                        names.append(name)
                elif entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                else:
                    why = _link_problem(entry.path, real_base) if entry.is_symlink() else "not a regular file"
                    if why == "cache":
                        continue
                    names.append(name)
                    if why:
                        out.refused[f"{rel}/{name}" if rel else name] = why
        names.sort()
        out.by_dir[rel] = names
        out.dir_mtimes[rel] = os.stat(path).st_mtime_ns
        yield rel, names
        for folder in sorted(folders):
            yield from walk(folder)

    yield from walk(os.path.join(base, directory) if directory else base.rstrip("/"))


def _link_problem(path: str, real_base: str) -> str | None:
    """Why the link ``path`` cannot be a data file (None: a link to a file inside
    ``real_base``, read as that file; "cache": a link named like ultralytics' cache)."""
    target = os.path.realpath(path)
    if not os.path.exists(path):
        return "a link whose target does not exist"
    if target != real_base and not target.startswith(real_base.rstrip("/") + "/"):
        return f"a link to {target}, outside the data's place (data must stay inside the workspace or its data root)"
    if os.path.isdir(target):
        return "a link to a folder (ultralytics would read its files under other paths than the scanned ones)"
    if not os.path.isfile(target):
        return "a link to something that is not a regular file"
    return "cache" if path.endswith(".cache") else None


def refuse_links(listing: Listing) -> None:
    """Registering refuses a data set with entries that are not data files (one line, the first)."""
    if listing.refused:
        path = min(listing.refused)
        more = f" (and {len(listing.refused) - 1} more)" if len(listing.refused) > 1 else ""
        raise Mle3Error(
            f"{listing.refused[path]}{more}: not registered; copy the file into the data set or remove the link",
            file=path,
        )


def list_local(base: str, directory: str) -> Listing:
    out = Listing()
    for _ in walk_local(base, directory, out):
        pass
    return out


def list_remote(store: Any, directory: str) -> Listing:
    """The same listing over an object store (sizes and ETags come with it)."""
    out = Listing()
    skip = len(directory.rstrip("/")) + 1 if directory else 0
    for path, size, stamp in store.list_files(directory):
        if any(part.startswith(".") for part in path[skip:].split("/")) or path.endswith(".cache"):
            continue
        d, _, n = path.rpartition("/")
        out.by_dir.setdefault(d, []).append(n)
        out.stamps[path] = (size, stamp)
    for names in out.by_dir.values():
        names.sort()
    return out


IMAGE_ENDINGS = tuple(IMAGE_SUFFIXES)


def pairs_of(directory: str, names: list[str], split_dirs: dict[str, str], n_classes: int) -> list[tuple]:
    """Jobs of about :data:`CHUNK_FILES` files for one folder when it is a split folder
    (images are paired with labels by ultralytics' images/labels convention in the
    workers), else none."""
    split = next(
        (s for s, p in split_dirs.items() if directory == p.rstrip("/") or directory.startswith(p.rstrip("/") + "/")),
        None,
    )
    if split is None or not names:
        return []
    label_dir = label_path(f"{directory}/x.jpg").rpartition("/")[0]
    half = CHUNK_FILES // 2
    return [("pairs", split, directory, names[i : i + half], label_dir, n_classes) for i in range(0, len(names), half)]


def plan_pairs(listing: Listing, split_dirs: dict[str, str], n_classes: int) -> list[tuple]:
    """Pair jobs over every listed split folder."""
    jobs: list[tuple] = []
    for directory, names in listing.by_dir.items():
        jobs += pairs_of(directory, names, split_dirs, n_classes)
    return jobs


def plan_others(listing: Listing, label_dirs: dict[str, str], labels_read: dict[str, set[str]]) -> list[tuple]:
    """Every file the split folders' jobs did not read, in jobs of :data:`CHUNK_FILES`
    (``label_dirs``: label folder -> its split folder)."""
    others: list[str] = []
    split_folders = set(label_dirs.values())
    for directory, names in listing.by_dir.items():
        if directory in split_folders:
            continue
        read = labels_read.get(directory)
        if read is None:
            others.extend(f"{directory}/{n}" if directory else n for n in names)
        elif len(read) < len(names):
            others.extend(f"{directory}/{n}" if directory else n for n in names if n not in read)
    others.sort()
    return [("others", others[i : i + CHUNK_FILES]) for i in range(0, len(others), CHUNK_FILES)]


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


def _merge(results: Iterator[ChunkResult], progress: Callable[[int], None] | None) -> DatasetScan:
    total = ChunkResult()
    for part in results:
        total.absorb(part)
        if progress:
            progress(part.files)
    text, stamps, packed = _assemble(total.segments)
    return DatasetScan(text, stamps, packed, total.files, total.bytes, total.splits, total.images, total.problems)


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

    planned: list[tuple] = []
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
            for job in pairs_of(d, names, split_dirs, n_classes):
                planned.append(job)
                if pool is not None:
                    futures.append(pool.submit(_local_job, (base, *job)))
            if pool is None and jobs > 1 and (listed >= PARALLEL_MIN_FILES or listed_bytes >= PARALLEL_MIN_BYTES):
                # big enough for worker processes: start them and hand over what is planned
                pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("fork"))
                futures = [pool.submit(_local_job, (base, *job)) for job in planned]
        add_extra()
        if pool is None:
            return _merge(_waves(lambda todo: map(_local_job, [(base, *j) for j in todo]), planned, out), progress), out
        first = (f.result() for f in futures)
        return _merge(
            _waves(lambda todo: pool.map(_local_job, [(base, *j) for j in todo]), planned, out, first), progress
        ), out
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _waves(
    run_map: Callable[[list[tuple]], Iterator[ChunkResult]],
    pairs: list[tuple],
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
    yield from run_map(plan_others(listing, {job[4]: job[2] for job in pairs}, labels_read))


def scan_remote(
    store: Any,
    listing: Listing,
    split_dirs: dict[str, str],
    n_classes: int,
    *,
    progress: Callable[[int], None] | None = None,
    requests: int = 16,
) -> DatasetScan:
    """The same measurement over an object store: objects streamed by parallel requests
    (small jobs keep every request slot busy)."""
    from concurrent.futures import ThreadPoolExecutor

    def read(rel: str) -> tuple[int, Any, str, bytes]:
        if rel not in listing.stamps:
            raise FileNotFoundError(rel)
        return store.read(rel)

    def run(job: tuple) -> ChunkResult:
        kind, *args = job
        return _inspect_pairs(read, *args) if kind == "pairs" else _inspect_others(read, *args)

    def run_map(planned: list[tuple]) -> Iterator[ChunkResult]:
        small: list[tuple] = []
        for job in planned:
            if job[0] == "pairs":
                _, split, directory, names, label_dir, n = job
                small.extend(
                    ("pairs", split, directory, names[i : i + 8], label_dir, n) for i in range(0, len(names), 8)
                )
            else:
                small.extend(("others", job[1][i : i + 8]) for i in range(0, len(job[1]), 8))
        return pool.map(run, small)

    pairs = plan_pairs(listing, split_dirs, n_classes)
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
