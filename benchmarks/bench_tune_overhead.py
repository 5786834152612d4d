"""Per-trial overhead of `mle3 tune` over bare ultralytics with the same arguments.

    python benchmarks/bench_tune_overhead.py [--epochs 3] [--images 200] [--imgsz 128] [--trials 3]

Builds a workspace with a registered synthetic data set and a configuration whose tuning
space has one choice (so every trial trains with the same arguments), runs a study of
``--trials`` trials in one process, and times each trial from Optuna's record (start to
end of the trial: sampling, the recorded run, pruning reports, the study record). Then,
each in a fresh process, bare ultralytics trains with the arguments a trial used (from
its run record, no test split, as a trial). Reports medians and the overhead per trial.
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
import json, os, sys
os.environ.update(YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false")
params, data, project = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
from ultralytics import YOLO
model = YOLO(params.pop("model"))
model.train(data=data, project=project, name="bare", exist_ok=True, plots=False, val=True, **params)
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
        root = training_workspace(Path(tmp) / "ws", "TUN", (
            f"training:\n  id: TUN-TRAIN\n  model: yolov8n.yaml\n  dataset: TUN-DATA\n  epochs: {args.epochs}\n  batch_size: 16\n"
            f"  image_size: {args.imgsz}\n  optimizer: {{type: AdamW, lr: 0.002}}\n  hardware: {{workers: 2}}\n  reproducibility: {{seed: 0, deterministic: true}}\n"
            f"  tuning:\n    objective: {{metric: mAP_50}}\n    trials: {args.trials}\n    epochs_per_trial: {args.epochs}\n    pruner: none\n"
            f"    space:\n      optimizer.lr: {{choices: [0.002]}}\n"
        ), images=args.images, imgsz=args.imgsz)
        cmd = [sys.executable, "-c", "from mle3.cli import run; run()", "tune", "TUN-TRAIN", "--study", "BENCH", "--format", "json"]
        t = time.perf_counter()
        out = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout
        study_wall = time.perf_counter() - t
        record = yaml.safe_load((root / "artifacts" / "studies" / "BENCH.yaml").read_text())["study"]
        trial_times = [t["duration_s"] for t in record["trials"]]
        first = json.loads(out)["trials"][0]["run"]
        run_dir = root / "artifacts" / "runs" / first
        params = yaml.safe_load((run_dir / "run.yaml").read_text())["run"]["parameters"]
        bare_times = []
        for _ in range(args.trials):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", BARE, json.dumps(params), str(run_dir / "data.yaml"), str(Path(tmp) / "bare")], check=True, capture_output=True)
            bare_times.append(time.perf_counter() - t)
        bare, trial = statistics.median(bare_times), statistics.median(trial_times)
        # a bare process also pays interpreter and ultralytics start-up, which a trial does not
        # (trials share one process): report the trial against bare minus that start-up too
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import ultralytics"], check=True, capture_output=True)
        startup = time.perf_counter() - t
        print(f"{args.trials} trials of {args.epochs} epochs, {args.images} images at {args.imgsz} px, CPU (medians)")
        print(f"bare ultralytics, fresh process:       {bare:7.2f} s  {['%.2f' % x for x in bare_times]}  (python + import ultralytics: {startup:.2f} s)")
        print(f"mle3 tune, one trial (Optuna's timing): {trial:7.2f} s  {['%.2f' % x for x in trial_times]}; whole study {study_wall:.2f} s")
        print(f"overhead per trial: {trial - (bare - startup):+.2f} s = {(trial - (bare - startup)) / (bare - startup):+.1%} of bare training without start-up")


if __name__ == "__main__":
    main()
