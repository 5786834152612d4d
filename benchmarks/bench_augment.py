"""Training loader throughput with the seed's augmentation against ultralytics' defaults.

    python benchmarks/bench_augment.py [IMAGES] [IMGSZ]      (default 300 images at 640 px)

Builds ultralytics' own training dataset and loader (mosaic, perspective, HSV, flips,
2 worker processes, batch 16) over the demo's generated data, once with ultralytics'
default albumentations list and once with the seed's augmentation (aug_config_v2.yaml
through ``augmentations=``), and reports images/s (best of 3 passes each). Then the cost
of each seed transform alone (forced, p=1) in ms per image on one core, and its expected
cost at its configured probability.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
REPO = Path(__file__).resolve().parent.parent


def loader_rate(data_yaml: Path, imgsz: int, augmentations, cache_dir: Path) -> float:
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    from mle3.recipe.environment import label_caches_under

    label_caches_under(cache_dir)
    overrides = {"imgsz": imgsz, "batch": 16, "workers": 2}
    if augmentations is not None:
        overrides["augmentations"] = augmentations
    cfg = get_cfg(overrides=overrides)
    data = check_det_dataset(str(data_yaml))
    dataset = build_yolo_dataset(cfg, data["train"], 16, data, mode="train")
    best = 0.0
    for _ in range(3):
        loader = build_dataloader(dataset, 16, 2, shuffle=True)
        start, count = time.perf_counter(), 0
        for batch in loader:
            count += len(batch["img"])
        best = max(best, count / (time.perf_counter() - start))
        del loader
    return best


def main() -> None:
    images = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    imgsz = int(sys.argv[2]) if len(sys.argv) > 2 else 640
    import numpy as np
    from PIL import Image

    from mle3.datasets.synthetic import generate
    from mle3.recipe.augment import Planned, build, plan
    from mle3.workspace import load_workspace

    aug = load_workspace(REPO).resolve("aug_config_v2.yaml")
    planned = plan(aug, imgsz)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tmp) / "ultralytics"))
        data_yaml = generate(Path(tmp) / "data", counts={"train": images, "val": 8}, image_size=imgsz, seed=0)
        data_yaml.write_text(data_yaml.read_text().replace("path: .", f"path: {data_yaml.parent}"))
        default = loader_rate(data_yaml, imgsz, None, Path(tmp) / "cache")
        seed = loader_rate(data_yaml, imgsz, build(planned), Path(tmp) / "cache")
        print(f"loader, {images} images at {imgsz} px, 2 workers, batch 16 (best of 3 passes):")
        print(f"  ultralytics defaults: {default:.1f} images/s")
        print(f"  seed augmentation:    {seed:.1f} images/s ({(1 - seed / default) * 100:+.1f} % cost)")
        samples = [
            np.asarray(Image.open(p).convert("RGB"))
            for p in sorted((Path(tmp) / "data" / "images" / "train").glob("*.jpg"))[:40]
        ]
        print("each transform alone, forced (p=1), one core, ms per image; expected at its probability:")
        for item in planned:
            transform = build([Planned(item.path, item.transform, item.params, 1.0)])[0]
            times = []
            for img in samples:
                start = time.perf_counter()
                transform(image=img)
                times.append((time.perf_counter() - start) * 1000)
            ms = statistics.median(times)
            print(f"  {item.transform:<26} {ms:7.2f} ms  x p={item.p:<4} = {ms * item.p:6.2f} ms  ({item.path})")


if __name__ == "__main__":
    main()
