"""Slice evaluation against one ultralytics validation of the same images (issue 24).

    python benchmarks/bench_slices.py [--imgsz 320] [--images 1000] [--device cpu]

Generates a synthetic data set (IMAGES val and IMAGES test images), trains YOLOv8n for one
epoch on a fifth as many training images (a real float model; its accuracy does not matter
for timing), gives every val and test image 4 characteristics (3 to 4 values each) and
times, on val and test: plain ultralytics validation (``YOLO.val``), and
``evaluate_slices`` (one validation per split, split into the whole split, every value of
every characteristic and 3 combinations). The target: at most 1.3x the plain validation.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3, help="timings taken, the fastest reported")
    args = ap.parse_args()
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate

    mle3 = [sys.executable, "-c", "from mle3.cli import run; run()"]
    with tempfile.TemporaryDirectory(prefix="mle3-slices-bench-") as tmp:
        root = Path(tmp) / "ws"
        (root / "requirements").mkdir(parents=True)
        (root / "artifacts" / "training").mkdir(parents=True)
        (root / "mle3.yaml").write_text("project: S benchmark\n")
        (root / "requirements" / "r.yaml").write_text("requirement:\n  id: REQ-D\n  type: ml_data\n")
        (root / "artifacts" / "training" / "t.yaml").write_text(
            "training:\n  id: S-TRAIN\n  model_line: S-MODEL\n  model: yolov8n.yaml\n  dataset: S-DATA\n  "
            f"epochs: 1\n  batch_size: 16\n  image_size: {args.imgsz}\n  hardware: {{workers: 2}}\n"
        )
        counts = {"train": max(32, args.images // 5), "val": args.images, "test": args.images}
        register(root, generate(root / "data", counts=counts, image_size=args.imgsz), "S-DATA", "v1", ["REQ-D"])
        out = subprocess.run(
            mle3 + ["train", "S-TRAIN", "--device", args.device, "--format", "json"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        model = json.loads(out.stdout)["model_version"]
        weights = root / "models" / f"{model}.pt"
        data_yaml = next((root / "artifacts" / "runs").glob("*/data.yaml"))
        rng = random.Random(0)
        vocabulary = {
            "time_of_day": ["day", "dusk", "night"],
            "weather": ["clear", "rain", "fog", "snow"],
            "road_type": ["urban", "highway", "rural"],
            "camera": ["front", "rear", "side"],
        }
        conditions = {
            f"images/{split}/{image.name}": {name: rng.choice(values) for name, values in vocabulary.items()}
            for split in ("val", "test")
            for image in (root / "data" / "images" / split).iterdir()
        }
        wheres = [
            {"time_of_day": "night", "weather": "rain"},
            {"weather": ["fog", "snow"]},
            {"time_of_day": "night", "road_type": "urban", "camera": "front"},
        ]
        from ultralytics import YOLO

        from mle3.runner.slices import evaluate_slices

        kwargs = dict(imgsz=args.imgsz, batch=16, device=args.device, plots=False, verbose=False)
        for split in ("val", "test"):  # warm-up: label caches, model load, kernels
            YOLO(str(weights)).val(data=str(data_yaml), split=split, **kwargs)
        plain, sliced = [], []
        for _ in range(args.repeat):  # alternated, so a busy machine slows both alike
            t = time.perf_counter()
            for split in ("val", "test"):
                YOLO(str(weights)).val(data=str(data_yaml), split=split, **kwargs)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            results = evaluate_slices(
                weights, data_yaml, conditions, wheres, 30, imgsz=args.imgsz, device=args.device, batch=16
            )
            sliced.append(time.perf_counter() - t)
        from mle3.runner.slices import split_slices, validate_split

        stats = [validate_split(weights, data_yaml, split, args.imgsz, args.device, 16) for split in ("val", "test")]
        t = time.perf_counter()
        for one in stats:
            split_slices(one, conditions, wheres, 30)
        scoring = time.perf_counter() - t
        print(f"yolov8n at {args.imgsz} px, {args.images} val + {args.images} test images, {args.device}")
        best_plain, best_sliced = min(plain), min(sliced)
        print(f"plain ultralytics validation of val and test: {best_plain:.2f} s (runs: {plain})")
        print(
            f"evaluate_slices, 4 characteristics, {len(results)} slices: {best_sliced:.2f} s "
            f"({best_sliced / best_plain:.2f}x; runs: {sliced}), of which scoring the slices {scoring:.2f} s"
        )


if __name__ == "__main__":
    main()
