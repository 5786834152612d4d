"""The jobs a scan hands to its workers: a split folder's images with their labels
(:class:`PairsJob`), or any other files (:class:`OthersJob`), about :data:`CHUNK_FILES` each."""

from __future__ import annotations

from typing import NamedTuple

from .listing import Listing
from .yolo import label_path

CHUNK_FILES = 2000


class PairsJob(NamedTuple):
    """Images of one split folder (sorted names), read with their label files in ``label_dir``."""

    split: str
    directory: str
    names: list[str]
    label_dir: str
    n_classes: int
    #: decode each image for its mean luma (the ``luminance`` characteristic, opt-in)
    luminance: bool = False


class OthersJob(NamedTuple):
    """Files no pairs job read, hashed as they are."""

    paths: list[str]


Job = PairsJob | OthersJob


def pairs_of(
    directory: str, names: list[str], split_dirs: dict[str, str], n_classes: int, luminance: bool = False
) -> list[PairsJob]:
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
    return [
        PairsJob(split, directory, names[i : i + half], label_dir, n_classes, luminance)
        for i in range(0, len(names), half)
    ]


def plan_pairs(listing: Listing, split_dirs: dict[str, str], n_classes: int, luminance: bool = False) -> list[PairsJob]:
    """Pair jobs over every listed split folder."""
    jobs: list[PairsJob] = []
    for directory, names in listing.by_dir.items():
        jobs += pairs_of(directory, names, split_dirs, n_classes, luminance)
    return jobs


def plan_others(listing: Listing, label_dirs: dict[str, str], labels_read: dict[str, set[str]]) -> list[OthersJob]:
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
    return [OthersJob(others[i : i + CHUNK_FILES]) for i in range(0, len(others), CHUNK_FILES)]
