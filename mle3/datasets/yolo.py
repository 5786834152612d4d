"""Reading a YOLO-format data set (ultralytics ``data.yaml`` + images + label txt files)
and measuring it: samples and instances per split, image sizes, label quality."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
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


def label_path(image: Path) -> Path:
    """ultralytics' convention: .../images/... -> .../labels/..., suffix .txt."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def list_images(directory: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, files in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(Path(dirpath) / f for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES)
    return sorted(out)


def inspect_image(workspace: Path, image: Path, split: str, n_classes: int) -> ImageInfo:
    """Image header and integrity, and every label line checked."""
    from PIL import Image, UnidentifiedImageError

    rel = image.relative_to(workspace).as_posix()
    info = ImageInfo(rel, split)
    try:
        with Image.open(image) as im:
            info.width, info.height = im.size
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        info.problems.append(LabelProblem("error", "corrupt-image", rel, None, f"unreadable image: {exc}"))
    labels = label_path(image)
    lrel = labels.relative_to(workspace).as_posix()
    if not labels.is_file():
        info.problems.append(LabelProblem("warning", "missing-label", rel, None, f"no label file {lrel} (treated as background)"))
        return info
    text = labels.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        info.problems.append(LabelProblem("warning", "empty-label", lrel, None, "empty label file (background image)"))
        return info
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            values = [float(v) for v in fields]
        except ValueError:
            values = []
        if len(fields) != 5 or not values:
            info.problems.append(LabelProblem("error", "malformed-line", lrel, number, f"expected 'class x y w h', got {line.strip()[:60]!r}"))
            continue
        cls, x, y, w, h = values
        if cls != int(cls) or not 0 <= int(cls) < n_classes:
            info.problems.append(LabelProblem("error", "class-out-of-range", lrel, number, f"class id {fields[0]} not in 0..{n_classes - 1}"))
            continue
        lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE
        if w <= 0 or h <= 0 or x - w / 2 < lo or x + w / 2 > hi or y - h / 2 < lo or y + h / 2 > hi:
            info.problems.append(LabelProblem("error", "box-outside", lrel, number, f"box {x:g} {y:g} {w:g} {h:g} lies outside the image"))
            continue
        info.classes[int(cls)] += 1
    return info


def inspect_split_images(workspace: Path, data: DataYaml, *, progress=None, threads: int | None = None) -> list[ImageInfo]:
    jobs = [(img, split) for split, directory in data.splits.items() for img in list_images(directory)]
    n = len(data.names)
    workers = threads or min(16, (os.cpu_count() or 1) * 4)
    out: list[ImageInfo] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, info in enumerate(pool.map(lambda job: inspect_image(workspace, job[0], job[1], n), jobs, chunksize=32), 1):
            out.append(info)
            if progress and i % 64 == 0:
                progress(64)
    if progress:
        progress(len(out) % 64)
    return out


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
