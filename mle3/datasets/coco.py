"""COCO detection input: one annotation JSON per split with its image folder, converted to
the YOLO layout ultralytics trains on, with every conversion recorded.

Checks in COCO terms (each a label-quality finding naming the JSON file and the id):
unknown category id, box outside the image, zero-area box, duplicate annotation id, image
entry without a file (errors), image file without an entry (warning: not trained on).
Annotations that fail a check are not converted. Classes are the categories that some
annotation (in any split) names, sorted by id and numbered densely: an unused category
(Roboflow's placeholder category 0, named like the superclass or like a real class) is
dropped and the drop recorded. Two kept categories of one name are refused: criteria name
classes, and one name for two classes makes them ambiguous. Ids are integers (a string or
a list is refused in one line naming the entry), as ultralytics' own converter requires.
Paths in the record are the ones the data set record uses (below the workspace, or
``ROOT:path`` below a data root), never a machine's absolute path.

ultralytics' ``convert_coco`` was not reused: it writes into fixed ``coco_converted``
folders, maps 91 to 80 classes by default and checks nothing; the conversion itself is a
few lines (``[x, y, w, h]`` in pixels to normalised centre and size).
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import yaml

from ..errors import Mle3Error
from ..hashing import sha256_file
from ..vocab import IMAGE_SUFFIXES
from .yolo import BOX_TOLERANCE

MARKER = ".mle3-coco"
#: why a category is left out of the classes (the record's ``dropped_categories``)
UNUSED = "no annotations"


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
        raise Mle3Error(
            f"--coco {text!r}: expected SPLIT=ANNOTATIONS.json:IMAGE_FOLDER with SPLIT train, val or test",
            field="--coco",
        )
    return CocoSplit(split, Path(json_path), Path(images))


def _load(spec: CocoSplit) -> dict[str, Any]:
    """The JSON, its structure checked (one line naming the file and the entry otherwise):
    what is wrong with a value of an annotation is a label finding later."""
    source = str(spec.annotations)
    try:
        data = json.loads(spec.annotations.read_bytes())
    except FileNotFoundError:
        raise Mle3Error("file not found", file=source) from None
    except OSError as exc:
        raise Mle3Error(f"cannot be read ({exc.strerror or exc})", file=source) from None
    except RecursionError:
        raise Mle3Error("not COCO detection JSON: nested too deeply", file=source) from None
    except json.JSONDecodeError as exc:
        raise Mle3Error(f"not JSON: {exc.msg}", file=source, line=exc.lineno) from None
    except ValueError as exc:  # bad UTF-8, or an integer of more digits than Python converts
        raise Mle3Error(f"not JSON: {str(exc)[:120]}", file=source) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise Mle3Error("not COCO detection JSON: it needs the lists images, annotations and categories", file=source)
    for key, needed in (
        ("images", ("id", "file_name", "width", "height")),
        ("annotations", ("id", "image_id", "category_id", "bbox")),
        ("categories", ("id", "name")),
    ):
        for i, entry in enumerate(data[key]):
            if not isinstance(entry, dict) or any(k not in entry for k in needed):
                raise Mle3Error(
                    f"not COCO detection JSON: {key}[{i}] needs {', '.join(needed)}", file=source, field=f"{key}[{i}]"
                )
    for i, cat in enumerate(data["categories"]):
        _integer_id(source, "categories", i, cat, "id")
        if not isinstance(cat["name"], str):
            raise Mle3Error(
                "not COCO detection JSON: a category needs an integer id and a name",
                file=source,
                field=f"categories[{i}]",
            )
    for i, image in enumerate(data["images"]):
        _integer_id(source, "images", i, image, "id")
        if not isinstance(image["file_name"], str):
            raise Mle3Error(
                "not COCO detection JSON: an image needs an integer id and a file_name",
                file=source,
                field=f"images[{i}]",
            )
        for key in ("width", "height"):
            if not _is_number(image[key]) or not 0 < image[key] < 1e9:
                raise Mle3Error(
                    f"image {_short(image['id'])}: {key} {_short(image[key])} is not a positive number of pixels",
                    file=source,
                    field=f"images[{i}].{key}",
                )
    for i, ann in enumerate(data["annotations"]):
        for key in ("id", "image_id", "category_id"):
            _integer_id(source, "annotations", i, ann, key)
    if not spec.images.is_dir():
        raise Mle3Error(f"image folder {spec.images} does not exist", field="--coco")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer_id(source: str, key: str, i: int, entry: dict[str, Any], name: str) -> None:
    """COCO ids are integers: a string id that matches nothing would turn every box of its
    image into a finding (and ultralytics' converter fails on it), so it is refused."""
    if not _is_int(entry[name]):
        raise Mle3Error(
            f"not COCO detection JSON: {key}[{i}].{name} is {_short(entry[name])}, not an integer id",
            file=source,
            field=f"{key}[{i}].{name}",
        )


def _is_number(value: Any) -> bool:
    """A finite JSON number (not a string, a boolean, NaN, Infinity or beyond a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def convert(specs: list[CocoSplit], out: Path, where: Callable[[Path], str] = Path.as_posix) -> Conversion:
    """Check and convert; writes ``out`` (replacing an earlier conversion there) only
    after every JSON was read and the classes are unambiguous. ``where``: how a path is
    written into the record and the findings (the CLI gives the workspace- or
    data-root-relative form the data set record uses)."""
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
                raise Mle3Error(
                    f"category id {cat['id']} is {categories[cat['id']]!r} in one file and {cat['name']!r} in another",
                    file=str(spec.annotations),
                )
            categories[cat["id"]] = str(cat["name"])
    kept, dropped = _classes(loaded, categories)
    index = {cid: i for i, cid in enumerate(kept)}
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise Mle3Error(
            f"{out} exists and was not written by a COCO conversion; choose another --coco-out", field="--coco-out"
        )
    staging = out.with_name(out.name + ".converting")
    shutil.rmtree(staging, ignore_errors=True)
    problems: list[tuple] = []
    inputs = []
    try:
        for spec, data in loaded:
            problems += _convert_split(spec, data, index, staging, where)
            inputs.append(
                {
                    "split": spec.split,
                    "annotations": where(spec.annotations),
                    "image_folder": where(spec.images),
                    "sha256": sha256_file(spec.annotations),
                    "images": len(data["images"]),
                    "annotations_count": len(data["annotations"]),
                }
            )
        names = [categories[cid] for cid in kept]
        record: dict[str, Any] = {
            "from": "coco",
            "tool": "mle3.datasets.coco",
            "version": __version__,
            "inputs": inputs,
            "categories": {int(cid): i for cid, i in index.items()},
            **({"dropped_categories": dropped} if dropped else {}),
        }
        (staging / MARKER).write_text(json.dumps(record, indent=1) + "\n")
        data_yaml = {
            "path": ".",
            **{spec.split: f"images/{spec.split}" for spec, _ in loaded},
            "names": dict(enumerate(names)),
        }
        (staging / "data.yaml").write_text(
            "# converted from COCO by mle3 (see .mle3-coco)\n" + yaml.safe_dump(data_yaml, sort_keys=False)
        )
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Conversion(out / "data.yaml", record, problems)


def _classes(
    loaded: list[tuple[CocoSplit, dict[str, Any]]], categories: dict[int, str]
) -> tuple[list[int], list[dict[str, Any]]]:
    """(category ids kept, in id order; the ``dropped_categories`` record): a category no
    annotation of any split names is dropped, two kept ones of one name are refused."""
    used = {ann["category_id"] for _, data in loaded for ann in data["annotations"]}
    kept = [cid for cid in sorted(categories) if cid in used]
    if not kept and categories:
        raise Mle3Error(
            "no annotation names a listed category: there is nothing to train on",
            file=str(loaded[0][0].annotations),
            field="--coco",
        )
    first: dict[str, int] = {}
    for cid in kept:
        other = first.setdefault(categories[cid], cid)
        if other != cid:
            declared = next(
                spec.annotations for spec, data in loaded if any(cat["id"] == cid for cat in data["categories"])
            )
            raise Mle3Error(
                f"categories {other} and {cid} are both named {categories[cid]!r}: two classes of one name make "
                "criteria ambiguous (rename or merge one)",
                file=str(declared),
                field="categories",
            )
    dropped = [{"id": cid, "name": categories[cid], "reason": UNUSED} for cid in sorted(categories) if cid not in used]
    return kept, dropped


def _convert_split(
    spec: CocoSplit, data: dict[str, Any], index: dict[int, int], staging: Path, where: Callable[[Path], str]
) -> list[tuple]:
    problems: list[tuple] = []
    source = where(spec.annotations)

    def problem(severity: str, kind: str, message: str) -> None:
        problems.append((severity, kind, source, None, message))

    images: dict[Any, dict[str, Any]] = {}
    for image in data["images"]:
        if image["id"] in images:
            problem(
                "error",
                "coco-duplicate-image-id",
                f"image id {_short(image['id'])} appears more than once (only the first is converted)",
            )
            continue
        images[image["id"]] = image
    seen_ids: set[Any] = set()
    lines: dict[Any, list[str]] = {i: [] for i in images}
    for ann in data["annotations"]:
        aid = _short(ann["id"])
        if ann["id"] in seen_ids:
            problem("error", "coco-duplicate-annotation-id", f"annotation id {aid} appears more than once")
            continue
        seen_ids.add(ann["id"])
        image = images.get(ann["image_id"])
        if image is None:
            problem(
                "error",
                "coco-unknown-image",
                f"annotation {aid} names image id {_short(ann['image_id'])}, which is not listed",
            )
            continue
        if ann["category_id"] not in index:
            problem(
                "error",
                "coco-unknown-category",
                f"annotation {aid} has category id {_short(ann['category_id'])}, which is not listed",
            )
            continue
        bbox = ann["bbox"]
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(map(_is_number, bbox)):
            problem(
                "error",
                "coco-malformed-bbox",
                f"annotation {aid}: bbox {_short(bbox)} must be [x, y, width, height], four finite numbers",
            )
            continue
        x, y, w, h = (float(v) for v in bbox)
        width, height = float(image["width"]), float(image["height"])
        if w <= 0 or h <= 0:
            problem("error", "coco-zero-area-box", f"annotation {aid} has a zero-area box {_short(bbox)}")
            continue
        lo, hi = -BOX_TOLERANCE, 1 + BOX_TOLERANCE  # as the converted label is checked (and ultralytics reads it)
        if x / width < lo or y / height < lo or (x + w) / width > hi or (y + h) / height > hi:
            problem(
                "error",
                "coco-box-outside",
                f"annotation {aid} box {_short(bbox)} lies outside its image ({width:g}x{height:g}, "
                f"{_short(image['file_name'])})",
            )
            continue
        lines[image["id"]].append(
            f"{index[ann['category_id']]} {(x + w / 2) / width:.6f} {(y + h / 2) / height:.6f} {w / width:.6f} "
            f"{h / height:.6f}\n"
        )
    listed = set()
    labels: set[str] = set()
    for image_id, image in images.items():
        name = posixpath.normpath(image["file_name"].replace("\\", "/").lstrip("/") or ".")
        stem = name.rsplit(".", 1)[0]
        if ".." in name.split("/") or "\x00" in name:
            problem(
                "error",
                "coco-image-without-file",
                f"image {_short(image_id)} file_name {_short(name)} leaves the image folder",
            )
            continue
        if (
            any(part.startswith(".") for part in name.split("/"))
            or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES
        ):
            problem(
                "error",
                "coco-not-an-image",
                f"image {_short(image_id)} ({_short(name)}) is hidden or has no image suffix: ultralytics would not "
                "train on it",
            )
            continue
        if "images" in name.split("/")[:-1]:
            problem(
                "error",
                "coco-not-an-image",
                f"image {_short(image_id)} ({_short(name)}) lies in a folder named 'images': ultralytics would look "
                "for its label elsewhere",
            )
            continue
        if name in listed or stem in labels:
            problem(
                "error",
                "coco-duplicate-file-name",
                f"image {_short(image_id)} ({_short(name)}): another image entry has this file or label name (not "
                "converted)",
            )
            continue
        listed.add(name)
        src = spec.images / name
        if not os.path.isfile(src):
            problem(
                "error",
                "coco-image-without-file",
                f"image {_short(image_id)} ({_short(name)}) has no file in {where(spec.images)}",
            )
            continue
        labels.add(stem)
        dst = staging / "images" / spec.split / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        _place(spec.images, src, dst)
        label = staging / "labels" / spec.split / (stem + ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(lines[image_id]))
    for folder, _, names in os.walk(spec.images):
        for n in names:
            rel = os.path.relpath(os.path.join(folder, n), spec.images).replace(os.sep, "/")
            if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES and rel not in listed:
                problem(
                    "warning",
                    "coco-file-without-entry",
                    f"image file {rel} in {where(spec.images)} has no entry in the JSON (not trained on)",
                )
    (staging / "images" / spec.split).mkdir(parents=True, exist_ok=True)
    return problems


def _place(folder: Path, src: Path, dst: Path) -> None:
    """The converted image: a hard link to the input (same bytes, no copy), or a copy of
    its bytes where the input is reached through a link (``os.link`` would hard-link the
    link itself, which then points outside the converted data set) or links cannot be made."""
    real = os.path.realpath(src)
    if real == os.path.join(os.path.realpath(folder), os.path.relpath(src, folder)):
        try:
            os.link(src, dst, follow_symlinks=False)
            return
        except OSError:
            pass
    shutil.copyfile(real, dst)
