"""Reading a YOLO-format data set (ultralytics ``data.yaml`` + images + label txt files)
and measuring it: samples and instances per split, image sizes, label quality."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import Mle3Error
from ..paths import inside_workspace
from ..vocab import IMAGE_SUFFIXES, SPLITS  # noqa: F401 (defined there, imported from here too)

#: tolerance for normalised box coordinates slightly outside [0, 1] (rounding in exports)
BOX_TOLERANCE = 0.01


@dataclass
class DataYaml:
    """An ultralytics data.yaml resolved against the place it lies in (the workspace or a
    data root)."""

    file: Path
    root: Path  # data set root directory
    splits: dict[str, Path]  # split -> image directory
    names: list[str]
    metadata: Any = None  # ``metadata:`` as written (the per-image table)


@dataclass
class DataLayout:
    """A data.yaml's paths relative to its place (posix): the same for a folder or a bucket."""

    file: str
    root: str
    splits: dict[str, str]
    names: list[str]
    #: the data.yaml's ``metadata:`` (the per-image table, relative to ``root``), as written
    metadata: Any = None
    #: measure the mean luma of every image (the ODD asks for ``luminance``)
    luminance: bool = False


def parse_data_yaml(text: str, label: str) -> tuple[str, list[str], dict[str, str], Any]:
    """(``path`` value, class names, split -> image folder as written, ``metadata:`` as
    written) of a data.yaml's text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise Mle3Error(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", file=label, line=mark.line + 1 if mark else None
        ) from None
    if not isinstance(data, dict):
        raise Mle3Error("a data.yaml must be a mapping with train, val and names", file=label)
    names_raw = data.get("names")
    if isinstance(names_raw, dict):
        names = [str(names_raw[k]) for k in sorted(names_raw)]
    elif isinstance(names_raw, list):
        names = [str(n) for n in names_raw]
    else:
        raise Mle3Error("'names' must list the class names", file=label, field="names")
    splits: dict[str, str] = {}
    for split in SPLITS:
        value = data.get(split)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Mle3Error(f"'{split}' must be one image directory", file=label, field=split)
        splits[split] = value
    for required in ("train", "val"):
        if required not in splits:
            raise Mle3Error(f"'{required}' split is missing", file=label, field=required)
    return str(data.get("path") or "."), names, splits, data.get("metadata")


def read_data_yaml(base: Path, data_yaml: Path, place: str = "the workspace") -> DataYaml:
    """Parse and resolve a local data.yaml; every path must stay inside ``base``."""
    rel = os.path.relpath(data_yaml.resolve(), base)
    if not inside_workspace(base, rel):
        raise Mle3Error(f"the data set must lie inside {place}", file=str(data_yaml))
    try:
        text = data_yaml.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Mle3Error("file not found", file=str(data_yaml)) from None
    path, names, raw, metadata = parse_data_yaml(text, rel)
    root = (data_yaml.resolve().parent / path).resolve()  # what training's data.yaml copy names
    if not inside_workspace(base, os.path.relpath(root, base)):
        raise Mle3Error(f"'path' leaves {place}", file=rel, field="path")
    if not root.is_dir():
        raise Mle3Error(
            f"'path' {path!r} names no folder: mle3 reads it relative to the data.yaml (tried {root}), as it trains "
            "with it; ultralytics would also look in the working directory and its datasets folder, so write it "
            "relative to this file",
            file=rel,
            field="path",
        )
    splits: dict[str, Path] = {}
    for split, value in raw.items():
        value = roboflow_split(value, lambda v: os.path.exists(os.path.normpath(root / v)))
        written = Path(os.path.normpath(root / value))
        directory = written.resolve()
        if not inside_workspace(base, os.path.relpath(directory, base)):
            raise Mle3Error(f"'{split}' leaves {place}", file=rel, field=split)
        if not directory.is_dir():
            raise Mle3Error(f"'{split}' image directory {value!r} does not exist", file=rel, field=split)
        split_problem(split, value, written, directory, root, rel)
        splits[split] = directory
    return DataYaml(data_yaml.resolve(), root, splits, names, metadata)


def _inside_is_dir(store: Any, directory: str) -> bool:
    """A folder of the store that lies below its root (never asked about one above it)."""
    return not (directory.startswith("..") or directory.startswith("/")) and bool(store.is_dir(directory))


def roboflow_split(value: str, exists: Any) -> str:
    """ultralytics' rule for a split folder that does not exist as written and starts with
    ``../``: the same path without it. Roboflow's exports write ``train: ../train/images``
    beside ``train/`` (the most common layout on the web), and ultralytics trains on it."""
    if value.startswith("../") and not exists(value) and exists(value[3:]):
        return value[3:]
    return value


def split_problem(split: str, value: str, written: Path, directory: Path, root: Path, label: str) -> None:
    """A split folder is scanned below the data set folder (``path``) and ultralytics reads
    it by the path as written: one outside that folder, or reached through a link (whose
    images would pair with other label files than the scanned ones), would be trained on
    without being fingerprinted."""
    if directory != written:
        raise Mle3Error(
            f"'{split}' image directory {value!r} is reached through a link; name the folder itself",
            file=label,
            field=split,
        )
    if directory != root and root not in directory.parents:
        raise Mle3Error(
            f"'{split}' image directory {value!r} lies outside the data set folder ('path'), which is what is "
            "fingerprinted",
            file=label,
            field=split,
        )


def layout_of(base: Path, data: DataYaml) -> DataLayout:
    base = base.resolve()

    def rel(p: Path) -> str:
        r = p.relative_to(base).as_posix()
        return "" if r == "." else r

    return DataLayout(
        rel(data.file), rel(data.root), {s: rel(d) for s, d in data.splits.items()}, data.names, data.metadata
    )


def read_remote_layout(store: Any, file: str) -> DataLayout:
    """A data.yaml in an object store (``file`` relative to the store's root)."""
    import posixpath

    path, names, raw, metadata = parse_data_yaml(
        store.read_bytes(file).decode("utf-8", errors="replace"), store.url(file)
    )
    root = posixpath.normpath(posixpath.join(posixpath.dirname(file), path))
    splits = {}
    for split, value in raw.items():
        value = roboflow_split(value, lambda v: _inside_is_dir(store, posixpath.normpath(posixpath.join(root, v))))
        directory = posixpath.normpath(posixpath.join(root, value))
        if directory.startswith("..") or posixpath.isabs(directory):
            raise Mle3Error(f"'{split}' leaves the data root", file=store.url(file), field=split)
        if root not in (".", directory) and not directory.startswith(root + "/"):
            raise Mle3Error(
                f"'{split}' image directory {value!r} lies outside the data set folder ('path'), which is what is "
                "fingerprinted",
                file=store.url(file),
                field=split,
            )
        if not store.is_dir(directory):
            raise Mle3Error(f"'{split}' image directory {value!r} does not exist", file=store.url(file), field=split)
        splits[split] = directory
    return DataLayout(file, "" if root == "." else root, splits, names, metadata)


def label_path(image: str) -> str:
    """ultralytics' convention: ``.../images/x.jpg`` -> ``.../labels/x.txt`` (posix paths;
    string operations, as this runs once per image of data sets with millions)."""
    head, sep, tail = ("/" + image).rpartition("/images/")
    if sep:
        image = (head + "/labels/" + tail)[1:]
    stem, dot, _ = image.rpartition(".")
    return (stem if dot and "/" not in image[len(stem) :] else image) + ".txt"


def summarise(splits: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Samples, share, instances per class and image sizes per split, from the
    :class:`~mle3.datasets.scan.SplitStats` a scan measured."""
    total = sum(st.samples for st in splits.values()) or 1
    out: dict[str, Any] = {}
    for split in SPLITS:
        st = splits.get(split)
        if st is None:
            continue
        sized = st.sized
        out[split] = {
            "samples": st.samples,
            "ratio": round(st.samples / total, 4),
            "instances": {names[k]: st.instances.get(k, 0) for k in range(len(names))},
            "image_size": {
                "min": [st.w_min, st.h_min] if sized else None,
                "max": [st.w_max, st.h_max] if sized else None,
                "mean": [round(st.w_sum / sized, 1), round(st.h_sum / sized, 1)] if sized else None,
            },
        }
    return out
