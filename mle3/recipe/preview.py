"""``mle3 augment preview``: a contact sheet of augmented training images, where a reviewer
sees that "rain" looks like rain.

Tiles are training images of the configuration's data set (chosen with the seed) after
the albumentations part of the augmentation, with the boxes drawn as they come out of the
transforms and each tile's applied transforms named under it. The first tiles show each
transform alone and for sure ("forced"; headlight glare on a night image when the data
has one), since at the configured probabilities a rare one (rain at 0.1) may not appear;
the rest show the pipeline as training draws it. ultralytics' own mosaic,
mixup, HSV and flips are not drawn (they are its documented defaults). The same seed gives
the same sheet, byte for byte.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Mle3Error
from ..datasets.night import night_list_of
from ..vocab import PREVIEW_SUFFIXES
from .augment import Planned, build, plan
from .transforms import CURRENT_FILE

TILE = 224
LABEL = 30
COLORS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


@dataclass
class Sheet:
    png: bytes
    tiles: list[dict[str, Any]] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)


def _train_images(ws: Any, dataset: Any) -> tuple[list[Path], Path, Path]:
    """The training images of ``dataset`` on this machine, its data.yaml there, and the
    folder its paths are relative to (the workspace or a data root)."""
    from ..datasets.materialize import local_data_base
    from ..datasets.yolo import read_data_yaml

    base = local_data_base(ws.root, ws.config, dataset) if dataset is not None and dataset.data_yaml else None
    if base is None or not (base / dataset.data_yaml).is_file():
        raise Mle3Error(f"the training images of {getattr(dataset, 'key', 'the data set')} are not on this machine")
    source = base / dataset.data_yaml
    data = read_data_yaml(base, source)
    folder = data.splits.get("train")
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PREVIEW_SUFFIXES) if folder else []
    if not images:
        raise Mle3Error(f"no training images under {folder}")
    return images, source, base


def _data_path(path: Path, base: Path) -> str:
    """An image's path as the data set names it: relative to its base (the workspace or a
    data root), never this machine's absolute path."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:  # a link the data set's listing followed out of its base
        return path.name


def _labels(image: Path) -> list[tuple[int, list[float]]]:
    parts = list(image.parts)
    if "images" in parts:
        parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
    path = Path(*parts).with_suffix(".txt")
    out = []
    if path.is_file():
        for line in path.read_text().splitlines():
            values = line.split()
            if len(values) == 5:
                cls, *box = values
                out.append((int(float(cls)), [min(1.0, max(0.0, float(v))) for v in box]))
    return out


def _night_image(images: list[Path], planned: list[Planned], seed: int, data_yaml: Path) -> Path | None:
    """A training image dark enough for headlight glare (looked for among 200 at most)."""
    import numpy as np
    from PIL import Image

    from ..datasets.night import night_root
    from .transforms import luminance, night_images

    glare = next((p for p in planned if p.transform == "HeadlightGlare"), None)
    if glare is None:
        return None
    listed = (
        night_images(data_yaml.parent / glare.params["night_list"], night_root(data_yaml))
        if glare.params.get("night_list")
        else None
    )
    for path in random.Random(seed + 1).sample(images, min(200, len(images))):
        if (
            str(path.resolve()) in listed
            if listed is not None
            else luminance(np.asarray(Image.open(path).convert("RGB"))) < glare.params["night_luminance"]
        ):
            return path
    return None


def render(ws: Any, cfg: Any, *, n: int = 16, seed: int = 0, imgsz: int | None = None) -> Sheet:
    """The contact sheet of ``n`` augmented training images of configuration ``cfg``."""
    import albumentations as A
    import numpy as np
    from PIL import Image, ImageDraw

    aug = ws.resolve(cfg.augmentation) if cfg.augmentation else None
    if aug is None or aug.kind != "augmentation":
        raise Mle3Error(f"{cfg.id} names no augmentation configuration", file=cfg._file, field="augmentation")
    size = int(imgsz or (cfg.image_size if isinstance(cfg.image_size, int) else 640))
    dataset = ws.resolve(cfg.dataset) if cfg.dataset else None
    images, data_yaml, base = _train_images(ws, dataset)
    planned = plan(aug, size, night_list_of(data_yaml))
    names = dataset.class_names() if dataset is not None else []
    picked = (
        random.Random(seed).sample(images, min(n, len(images)))
        if len(images) >= n
        else [images[i % len(images)] for i in range(n)]
    )

    def compose(transforms: list[Any]) -> Any:
        return A.Compose(
            [A.Resize(size, size, p=1.0), *transforms],
            bbox_params=A.BboxParams(format="yolo", label_fields=["class_labels"], clip=True),
            seed=seed,
            save_applied_params=True,
        )

    pipeline = compose(build(planned, data_yaml))
    night = _night_image(images, planned, seed, data_yaml)
    # headlight glare is drawn alone only on a night image: on a day image it does nothing,
    # and a tile captioned "forced" would claim otherwise
    alone = [p for p in planned if p.transform != "HeadlightGlare" or night is not None]
    forced = [(p, compose(build([Planned(p.path, p.transform, p.params, 1.0)], data_yaml))) for p in alone][
        : len(picked)
    ]
    if night is not None:
        for i, (p, _) in enumerate(forced):
            if p.transform == "HeadlightGlare":
                picked[i] = night
    columns = max(1, math.ceil(len(picked) ** 0.5))
    rows = (len(picked) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * TILE, rows * (TILE + LABEL)), "white")
    draw = ImageDraw.Draw(sheet)
    tiles = []
    for index, path in enumerate(picked):
        labels = _labels(path)
        image = np.asarray(Image.open(path).convert("RGB"))
        chosen = forced[index][1] if index < len(forced) else pipeline
        token = CURRENT_FILE.set(str(path))
        try:
            out = chosen(image=image, bboxes=[b for _, b in labels], class_labels=[c for c, _ in labels])
        finally:
            CURRENT_FILE.reset(token)
        applied = [name for name, _ in out.get("applied_transforms", []) if name != "Resize"]
        if index < len(forced):
            applied = [f"{a} (forced)" for a in applied]
        tile = Image.fromarray(out["image"]).resize((TILE, TILE))
        tile_draw = ImageDraw.Draw(tile)
        for cls, (cx, cy, w, h) in zip(out["class_labels"], out["bboxes"]):
            color = COLORS[int(cls) % len(COLORS)]
            box = ((cx - w / 2) * TILE, (cy - h / 2) * TILE, (cx + w / 2) * TILE, (cy + h / 2) * TILE)
            tile_draw.rectangle(box, outline=color, width=2)
            tile_draw.text((box[0] + 2, box[1] + 1), names[int(cls)] if int(cls) < len(names) else str(cls), fill=color)
        x, y = (index % columns) * TILE, (index // columns) * (TILE + LABEL)
        sheet.paste(tile, (x, y))
        caption = ", ".join(applied) or "(no transform drawn)"
        draw.text((x + 4, y + TILE + 3), caption[:40], fill=(0, 0, 0))
        if len(caption) > 40:
            draw.text((x + 4, y + TILE + 15), caption[40:80], fill=(0, 0, 0))
        tiles.append({"image": _data_path(path, base), "transforms": applied, "boxes": len(out["bboxes"])})
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=False)
    return Sheet(buffer.getvalue(), tiles, planned)
