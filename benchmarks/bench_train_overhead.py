"""Wall-time overhead of `mle3 train` over bare ultralytics for the same training.

    python benchmarks/bench_train_overhead.py [--epochs 3] [--images 200] [--imgsz 128] [--repeat 2]

Builds a workspace with a registered synthetic data set, runs `mle3 train` once to get
the exact ultralytics arguments it uses (from the run record), then alternates, each in
a fresh process: bare ultralytics (`YOLO(model).train(**same args)` followed by the same
test-split evaluation) and `mle3 train`. Reports the medians and the overhead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BARE = r"""
import json, os, sys, time
os.environ.update(YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false")
params, data, project = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
from ultralytics import YOLO
model = YOLO(params.pop("model"))
model.train(data=data, project=project, name="bare", exist_ok=True, plots=False, val=True, **params)
best = os.path.join(model.trainer.save_dir, "weights", "best.pt")
YOLO(best).val(data=data, split="test", imgsz=params.get("imgsz"), batch=params.get("batch"), device=params.get("device"), plots=False, project=project, name="bare-test", exist_ok=True, verbose=False)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _workspace import training_workspace

    with tempfile.TemporaryDirectory(prefix="mle3-overhead-") as tmp:
        root = training_workspace(
            Path(tmp) / "ws",
            "OVH",
            (
                f"training:\n  id: OVH-TRAIN\n  model: yolov8n.yaml\n  dataset: OVH-DATA\n  epochs: {args.epochs}\n  batch_size: 16\n"
                f"  image_size: {args.imgsz}\n  hardware: {{workers: 2}}\n  reproducibility: {{seed: 0, deterministic: true}}\n"
            ),
            images=args.images,
            imgsz=args.imgsz,
        )
        mle3 = [sys.executable, "-c", "from mle3.cli import run; run()", "train", "OVH-TRAIN", "--format", "json"]
        subprocess.run(mle3, cwd=root, check=True, capture_output=True)  # warm-up; gives the exact arguments
        first = sorted((root / "artifacts" / "runs").iterdir())[0]
        params = yaml.safe_load((first / "run.yaml").read_text())["run"]["parameters"]
        run_data = str(first / "data.yaml")
        bare_times, mle3_times = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", BARE, json.dumps(params), run_data, str(Path(tmp) / "bare")],
                check=True,
                capture_output=True,
            )
            bare_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run(mle3, cwd=root, check=True, capture_output=True)
            mle3_times.append(time.perf_counter() - t)
        bare, ours = statistics.median(bare_times), statistics.median(mle3_times)
        print(
            f"training: {args.epochs} epochs, {args.images} images at {args.imgsz} px, CPU; {args.repeat} repeats (medians)"
        )
        print(f"bare ultralytics (train + test eval): {bare:7.2f} s  {['%.2f' % x for x in bare_times]}")
        print(f"mle3 train (recorded):                {ours:7.2f} s  {['%.2f' % x for x in mle3_times]}")
        print(f"overhead: {ours - bare:+.2f} s = {(ours - bare) / bare:+.1%}")


if __name__ == "__main__":
    main()
