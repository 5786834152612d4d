"""Per-trial overhead of `mle3 tune` over bare ultralytics with the same arguments.

    python benchmarks/bench_tune_overhead.py [--epochs 3] [--images 200] [--imgsz 128] [--trials 3]

Builds a workspace with a registered synthetic data set and a configuration whose tuning
space has one choice (so every trial trains with the same arguments), runs a study of
``--trials`` trials in one process, and times each trial from Optuna's record (start to
end of the trial: sampling, the data check, the recorded run, pruning reports, the study
record). Then bare ultralytics trains ``--trials`` times in one process with the
arguments a trial used (from its run record; no test split, as a trial). The first
training of each process pays one-off costs in both and is left out of the medians.
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
params, data, project, n = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
from ultralytics import YOLO
times = []
for i in range(n):  # one process, like a study's trials
    p = dict(params)
    t = time.perf_counter()
    model = YOLO(p.pop("model"))
    model.train(data=data, project=project, name=f"bare{i}", exist_ok=True, plots=False, val=True, **p)
    times.append(time.perf_counter() - t)
print(json.dumps(times))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _workspace import training_workspace

    with tempfile.TemporaryDirectory(prefix="mle3-tune-overhead-") as tmp:
        root = training_workspace(
            Path(tmp) / "ws",
            "TUN",
            (
                f"training:\n  id: TUN-TRAIN\n  model: yolov8n.yaml\n  dataset: TUN-DATA\n  epochs: {args.epochs}\n  batch_size: 16\n"
                f"  image_size: {args.imgsz}\n  optimizer: {{type: AdamW, lr: 0.002}}\n  hardware: {{workers: 2}}\n  reproducibility: {{seed: 0, deterministic: true}}\n"
                f"  tuning:\n    objective: {{metric: mAP_50}}\n    trials: {args.trials}\n    epochs_per_trial: {args.epochs}\n    pruner: none\n"
                f"    space:\n      optimizer.lr: {{choices: [0.002]}}\n"
            ),
            images=args.images,
            imgsz=args.imgsz,
        )
        cmd = [
            sys.executable,
            "-c",
            "from mle3.cli import run; run()",
            "tune",
            "TUN-TRAIN",
            "--study",
            "BENCH",
            "--format",
            "json",
        ]
        t = time.perf_counter()
        out = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout
        study_wall = time.perf_counter() - t
        record = yaml.safe_load((root / "artifacts" / "studies" / "BENCH.yaml").read_text())["study"]
        trial_times = [t["duration_s"] for t in record["trials"]]
        first = json.loads(out)["trials"][0]["run"]
        run_dir = root / "artifacts" / "runs" / first
        params = yaml.safe_load((run_dir / "run.yaml").read_text())["run"]["parameters"]
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                BARE,
                json.dumps(params),
                str(run_dir / "data.yaml"),
                str(Path(tmp) / "bare"),
                str(args.trials),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        bare_times = json.loads(out.strip().splitlines()[-1])
        # the first training of a process pays one-off costs (imports, label caches, first
        # kernels) in both: compare the others
        bare, trial = statistics.median(bare_times[1:]), statistics.median(trial_times[1:])
        print(
            f"{args.trials} trials of {args.epochs} epochs, {args.images} images at {args.imgsz} px, CPU; medians without the first of each process"
        )
        print(f"bare ultralytics, one process:          {bare:7.2f} s  {['%.2f' % x for x in bare_times]}")
        print(
            f"mle3 tune, one trial (Optuna's timing): {trial:7.2f} s  {['%.2f' % x for x in trial_times]}; whole study {study_wall:.2f} s"
        )
        print(f"overhead per trial: {trial - bare:+.2f} s = {(trial - bare) / bare:+.1%}")


if __name__ == "__main__":
    main()
