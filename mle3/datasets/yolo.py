"""Reading a YOLO-format data set (ultralytics ``data.yaml`` + images + label txt files)
and measuring it: samples and instances per split, image sizes, label quality."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
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


@dataclass
class LabelProblem:
    severity: str  # error | warning
    kind: str  # missing-label, empty-label, malformed-line, class-out-of-range, box-outside, corrupt-image
    file: str
    line: int | None
    message: str


@dataclass
class ImageInfo:
    path: str
    split: str
    width: int | None = None
    height: int | None = None
    classes: Counter = field(default_factory=Counter)
    problems: list[LabelProblem] = field(default_factory=list)


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


def image_infos(workspace: Path, data: DataYaml, rows: list) -> list[ImageInfo]:
    """Join scanned images with their scanned label files (see :mod:`.scan`)."""
    by_path = {row[0]: row for row in rows}
    split_dirs = [(split, directory.relative_to(workspace).as_posix() + "/") for split, directory in data.splits.items()]
    infos: list[ImageInfo] = []
    for rel, _, _, _, info in rows:
        if not info or info[0] != "image":
            continue
        split = next((s for s, prefix in split_dirs if rel.startswith(prefix)), None)
        if split is None:
            continue
        _, width, height, problem = info
        image = ImageInfo(rel, split, width, height)
        if problem:
            image.problems.append(LabelProblem("error", "corrupt-image", rel, None, problem))
        label_rel = label_path(rel)
        label = by_path.get(label_rel)
        if label is None or not label[4] or label[4][0] != "label":
            image.problems.append(LabelProblem("warning", "missing-label", rel, None, f"no label file {label_rel} (treated as background)"))
        else:
            _, counts, problems, _empty = label[4]
            image.classes.update(counts)
            image.problems.extend(LabelProblem(sev, kind, label_rel, line, msg) for sev, kind, line, msg in problems)
        infos.append(image)
    return infos


def summarise(images: list[ImageInfo], names: list[str]) -> dict[str, Any]:
    """Samples, instances per class, ratios and image size statistics per split."""
    splits: dict[str, dict[str, Any]] = {}
    for info in images:
        s = splits.setdefault(info.split, {"samples": 0, "instances": Counter(), "widths": [], "heights": []})
        s["samples"] += 1
        s["instances"].update(info.classes)
        if info.width:
            s["widths"].append(info.width)
            s["heights"].append(info.height)
    total = sum(s["samples"] for s in splits.values()) or 1
    out: dict[str, Any] = {}
    for split in SPLITS:
        if split not in splits:
            continue
        s = splits[split]
        ws, hs = s["widths"], s["heights"]
        out[split] = {
            "samples": s["samples"],
            "ratio": round(s["samples"] / total, 4),
            "instances": {names[k]: s["instances"].get(k, 0) for k in range(len(names))},
            "image_size": {
                "min": [min(ws), min(hs)] if ws else None,
                "max": [max(ws), max(hs)] if ws else None,
                "mean": [round(sum(ws) / len(ws), 1), round(sum(hs) / len(hs), 1)] if ws else None,
            },
        }
    return out
