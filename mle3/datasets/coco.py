"""COCO detection input: one annotation JSON per split with its image folder, converted to
the YOLO layout ultralytics trains on, with every conversion recorded.

Checks in COCO terms (each a label-quality finding naming the JSON file and the id):
unknown category id, box outside the image, zero-area box, duplicate annotation id, image
entry without a file (errors), image file without an entry (warning: not trained on).
Annotations that fail a check are not converted. Classes are the categories sorted by id.

ultralytics' ``convert_coco`` was not reused: it writes into fixed ``coco_converted``
folders, maps 91 to 80 classes by default and checks nothing; the conversion itself is a
few lines (``[x, y, w, h]`` in pixels to normalised centre and size).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Mle3Error
from ..hashing import sha256_file
from .yolo import IMAGE_SUFFIXES

MARKER = ".mle3-coco"


@dataclass
class CocoSplit:
    split: str
    annotations: Path
    images: Path


@dataclass
class Conversion:
    data_yaml: Path
    record: dict[str, Any]
    problems: list[tuple] = field(default_factory=list)  # (severity, kind, file, line, message)


def parse_spec(text: str) -> CocoSplit:
    """``SPLIT=ANNOTATIONS.json:IMAGE_FOLDER`` from the command line."""
    split, eq, rest = text.partition("=")
    json_path, colon, images = rest.rpartition(":")
    if not eq or not colon or split not in ("train", "val", "test") or not json_path or not images:
        raise Mle3Error(f"--coco {text!r}: expected SPLIT=ANNOTATIONS.json:IMAGE_FOLDER with SPLIT train, val or test", field="--coco")
    return CocoSplit(split, Path(json_path), Path(images))


def _load(spec: CocoSplit) -> dict[str, Any]:
    try:
        data = json.loads(spec.annotations.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Mle3Error("file not found", file=str(spec.annotations)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Mle3Error(f"not JSON: {exc}", file=str(spec.annotations), line=getattr(exc, "lineno", None)) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise Mle3Error("not COCO detection JSON: it needs the lists images, annotations and categories", file=str(spec.annotations))
    for key, needed in (("images", ("id", "file_name", "width", "height")), ("annotations", ("id", "image_id", "category_id", "bbox")), ("categories", ("id", "name"))):
        for i, entry in enumerate(data[key]):
            if not isinstance(entry, dict) or any(k not in entry for k in needed):
                raise Mle3Error(f"not COCO detection JSON: {key}[{i}] needs {', '.join(needed)}", file=str(spec.annotations), field=f"{key}[{i}]")
    if not spec.images.is_dir():
        raise Mle3Error(f"image folder {spec.images} does not exist", field="--coco")
    return data


def convert(specs: list[CocoSplit], out: Path) -> Conversion:
    """Check and convert; writes ``out`` (replacing an earlier conversion there) only
    after every JSON was read."""
    from .. import __version__

    if not specs:
        raise Mle3Error("--coco needs at least the train and val splits", field="--coco")
    splits = {s.split for s in specs}
    if not {"train", "val"} <= splits or len(splits) != len(specs):
        raise Mle3Error("--coco needs each of train and val once (test optional)", field="--coco")
    loaded = [(spec, _load(spec)) for spec in specs]
    categories: dict[int, str] = {}
    for spec, data in loaded:
        for cat in data["categories"]:
            if categories.get(cat["id"], cat["name"]) != cat["name"]:
                raise Mle3Error(f"category id {cat['id']} is {categories[cat['id']]!r} in one file and {cat['name']!r} in another", file=str(spec.annotations))
            categories[cat["id"]] = str(cat["name"])
    index = {cid: i for i, cid in enumerate(sorted(categories))}
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise Mle3Error(f"{out} exists and was not written by a COCO conversion; choose another --coco-out", field="--coco-out")
    staging = out.with_name(out.name + ".converting")
    shutil.rmtree(staging, ignore_errors=True)
    problems: list[tuple] = []
    inputs = []
    try:
        for spec, data in loaded:
            problems += _convert_split(spec, data, index, staging)
            inputs.append({"split": spec.split, "annotations": spec.annotations.as_posix(), "sha256": sha256_file(spec.annotations),
                           "images": len(data["images"]), "annotations_count": len(data["annotations"])})
        names = [categories[cid] for cid in sorted(categories)]
        record = {"from": "coco", "tool": "mle3.datasets.coco", "version": __version__, "inputs": inputs,
                  "categories": {int(cid): i for cid, i in index.items()}}
        (staging / MARKER).write_text(json.dumps(record, indent=1) + "\n")
        data_yaml = {"path": ".", **{spec.split: f"images/{spec.split}" for spec, _ in loaded}, "names": dict(enumerate(names))}
        (staging / "data.yaml").write_text("# converted from COCO by mle3 (see .mle3-coco)\n" + yaml.safe_dump(data_yaml, sort_keys=False))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Conversion(out / "data.yaml", record, problems)


def _convert_split(spec: CocoSplit, data: dict[str, Any], index: dict[int, int], staging: Path) -> list[tuple]:
    problems: list[tuple] = []
    source = str(spec.annotations)

    def problem(severity: str, kind: str, message: str) -> None:
        problems.append((severity, kind, source, None, message))

    images = {}
    for image in data["images"]:
        images[image["id"]] = image
    seen_ids: set[Any] = set()
    lines: dict[Any, list[str]] = {i: [] for i in images}
    for ann in data["annotations"]:
        if ann["id"] in seen_ids:
            problem("error", "coco-duplicate-annotation-id", f"annotation id {ann['id']} appears more than once")
            continue
        seen_ids.add(ann["id"])
        image = images.get(ann["image_id"])
        if image is None:
            problem("error", "coco-unknown-image", f"annotation {ann['id']} names image id {ann['image_id']}, which is not listed")
            continue
        if ann["category_id"] not in index:
            problem("error", "coco-unknown-category", f"annotation {ann['id']} has category id {ann['category_id']}, which is not listed")
            continue
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (TypeError, ValueError):
            problem("error", "coco-malformed-bbox", f"annotation {ann['id']}: bbox must be [x, y, width, height]")
            continue
        width, height = float(image["width"]), float(image["height"])
        if w <= 0 or h <= 0:
            problem("error", "coco-zero-area-box", f"annotation {ann['id']} has a zero-area box {ann['bbox']}")
            continue
        if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1 or width <= 0 or height <= 0:
            problem("error", "coco-box-outside", f"annotation {ann['id']} box {ann['bbox']} lies outside its image ({width:g}x{height:g}, {image['file_name']})")
            continue
        lines[image["id"]].append(f"{index[ann['category_id']]} {(x + w / 2) / width:.6f} {(y + h / 2) / height:.6f} {w / width:.6f} {h / height:.6f}\n")
    listed = set()
    for image_id, image in images.items():
        name = str(image["file_name"]).replace("\\", "/").lstrip("/")
        if ".." in name.split("/"):
            problem("error", "coco-image-without-file", f"image {image_id} file_name {name!r} leaves the image folder")
            continue
        listed.add(name)
        src = spec.images / name
        if not src.is_file():
            problem("error", "coco-image-without-file", f"image {image_id} ({name}) has no file in {spec.images}")
            continue
        dst = staging / "images" / spec.split / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)  # same bytes, no copy (a copy where links cannot be made)
        except OSError:
            shutil.copy2(src, dst)
        label = staging / "labels" / spec.split / (name.rsplit(".", 1)[0] + ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(lines[image_id]))
    for folder, _, names in os.walk(spec.images):
        for n in names:
            rel = os.path.relpath(os.path.join(folder, n), spec.images).replace(os.sep, "/")
            if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES and rel not in listed:
                problem("warning", "coco-file-without-entry", f"image file {rel} in {spec.images} has no entry in the JSON (not trained on)")
    (staging / "images" / spec.split).mkdir(parents=True, exist_ok=True)
    return problems
