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

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
SPLITS = ("train", "val", "test")
#: tolerance for normalised box coordinates slightly outside [0, 1] (rounding in exports)
BOX_TOLERANCE = 0.01


@dataclass
class DataYaml:
    """An ultralytics data.yaml resolved against the workspace."""

    file: Path
    root: Path  # data set root directory
    splits: dict[str, Path]  # split -> image directory
    names: list[str]


def read_data_yaml(workspace: Path, data_yaml: Path) -> DataYaml:
    """Parse and resolve a data.yaml; every path must stay inside the workspace."""
    rel = os.path.relpath(data_yaml.resolve(), workspace)
    if not inside_workspace(workspace, rel):
        raise Mle3Error("the data set must lie inside the workspace", file=str(data_yaml))
    try:
        data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Mle3Error("file not found", file=str(data_yaml)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise Mle3Error(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=rel, line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise Mle3Error("a data.yaml must be a mapping with train, val and names", file=rel)
    base = data_yaml.parent / str(data.get("path") or ".")
    names_raw = data.get("names")
    if isinstance(names_raw, dict):
        names = [str(names_raw[k]) for k in sorted(names_raw)]
    elif isinstance(names_raw, list):
        names = [str(n) for n in names_raw]
    else:
        raise Mle3Error("'names' must list the class names", file=rel, field="names")
    splits: dict[str, Path] = {}
    for split in SPLITS:
        value = data.get(split)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Mle3Error(f"'{split}' must be one image directory", file=rel, field=split)
        directory = (base / value).resolve()
        if not inside_workspace(workspace, os.path.relpath(directory, workspace)):
            raise Mle3Error(f"'{split}' leaves the workspace", file=rel, field=split)
        if not directory.is_dir():
            raise Mle3Error(f"'{split}' image directory {value!r} does not exist", file=rel, field=split)
        splits[split] = directory
    for required in ("train", "val"):
        if required not in splits:
            raise Mle3Error(f"'{required}' split is missing", file=rel, field=required)
    return DataYaml(data_yaml.resolve(), base.resolve(), splits, names)


def label_path(image: str) -> str:
    """ultralytics' convention: ``.../images/x.jpg`` -> ``.../labels/x.txt`` (posix paths;
    string operations, as this runs once per image of data sets with millions)."""
    head, sep, tail = ("/" + image).rpartition("/images/")
    if sep:
        image = (head + "/labels/" + tail)[1:]
    stem, dot, _ = image.rpartition(".")
    return (stem if dot and "/" not in image[len(stem):] else image) + ".txt"


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
