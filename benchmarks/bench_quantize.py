"""PTQ and QAT figures of the quantization issue, on this machine.

    python benchmarks/bench_quantize.py [--imgsz 320] [--train 300] [--calib 200]

Generates a synthetic data set at IMGSZ, trains YOLOv8n for 2 epochs (a real float model;
its accuracy does not matter for timing), then runs `mle3 quantize --method ptq` with
CALIB training images and `--method qat` for 1 epoch, and prints: PTQ time (ONNX Runtime
static quantization alone, and the whole command), INT8/float file size, CPU latency float
vs INT8 (ONNX Runtime, batch 1, median), and the QAT epoch time against a float epoch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--calib", type=int, default=200)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _workspace import training_workspace

    mle3 = [sys.executable, "-c", "from mle3.cli import run; run()"]
    with tempfile.TemporaryDirectory(prefix="mle3-quant-bench-") as tmp:
        root = training_workspace(
            Path(tmp) / "ws",
            "Q",
            (
                f"training:\n  id: Q-TRAIN\n  model_line: Q-MODEL\n  model: yolov8n.yaml\n  dataset: Q-DATA\n  epochs: 2\n  batch_size: 16\n"
                f"  image_size: {args.imgsz}\n  hardware: {{workers: 2}}\n  reproducibility: {{seed: 0, deterministic: true}}\n"
            ),
            images=args.train,
            imgsz=args.imgsz,
        )
        out = subprocess.run(
            mle3 + ["train", "Q-TRAIN", "--format", "json"], cwd=root, capture_output=True, text=True, check=True
        )
        model = json.loads(out.stdout)["model_version"]
        float_run = next(p for p in (root / "artifacts" / "runs").iterdir())
        float_epochs = [json.loads(line) for line in (float_run / "epochs.jsonl").read_text().splitlines()]
        results = {}
        for method, extra in (("ptq", ["--calibration-images", str(args.calib)]), ("qat", ["--qat-epochs", "1"])):
            t = time.perf_counter()
            proc = subprocess.run(
                mle3 + ["quantize", model, "--method", method, "--format", "json", *extra],
                cwd=root,
                capture_output=True,
                text=True,
            )
            results[method] = (json.loads(proc.stdout), time.perf_counter() - t)
        ptq, ptq_wall = results["ptq"]
        qat, qat_wall = results["qat"]
        ptq_run = yaml.safe_load((root / "artifacts" / "runs" / ptq["run_id"] / "run.yaml").read_text())["run"]
        qat_epochs = [
            json.loads(line)
            for line in (root / "artifacts" / "runs" / qat["run_id"] / "epochs.jsonl").read_text().splitlines()
        ]
        float_row, ptq_row = ptq["table"]
        qat_row = qat["table"][1]
        float_epoch = max(e["epoch_time_s"] for e in float_epochs)
        print(f"yolov8n at {args.imgsz} px, {args.train} training images, CPU")
        print(
            f"PTQ with {args.calib} calibration images: ONNX Runtime quantize_static {ptq_run['quantize_seconds']:.1f} s; whole `mle3 quantize` {ptq_wall:.1f} s (export, 2x2 evaluations, latency, records)"
        )
        for name, row in (("float ONNX", float_row), ("INT8 PTQ", ptq_row), ("INT8 QAT", qat_row)):
            print(
                f"  {name:<10} {row['bytes'] / 1e6:6.2f} MB  ({row['bytes'] / float_row['bytes']:.2f}x)  latency {row['latency_ms']:6.1f} ms  val mAP50 {row['val'].get('mAP_50', 0):.3f}  test mAP50 {row['test'].get('mAP_50', 0):.3f}"
            )
        print(
            f"latency INT8/float: PTQ {ptq_row['latency_ms'] / float_row['latency_ms']:.2f}x, QAT {qat_row['latency_ms'] / float_row['latency_ms']:.2f}x"
        )
        print(
            f"QAT epoch {qat_epochs[0]['epoch_time_s']:.1f} s vs float epoch {float_epoch:.1f} s = {qat_epochs[0]['epoch_time_s'] / float_epoch:.2f}x; whole QAT command {qat_wall:.1f} s"
        )


if __name__ == "__main__":
    main()
