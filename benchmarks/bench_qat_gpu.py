"""QAT on a GPU, twice in two processes: the first builds ModelOpt's CUDA extension (said,
timed, recorded), the second finds it in torch's extension cache.

    python benchmarks/bench_qat_gpu.py [WORKDIR]

Generates the demo's data (400 train images at 160 px), trains 3 epochs, then runs
`mle3 quantize --method qat --qat-epochs 1` twice, each as its own process, and prints
each run's wall time and its recorded `qat.cuda_extension`. Runs on a CPU too (then no
extension is needed, and the figures say so).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """training:
  id: GPU-TRAIN-001
  model_line: GPU-MODEL
  model: yolov8n.yaml
  dataset: GPU-DATA
  requirements: [REQ-PERF]
  epochs: 3
  batch_size: 32
  image_size: 160
  optimizer: {type: AdamW, lr: 0.002}
  hardware: {workers: 2}
  reproducibility: {seed: 0, deterministic: false}
"""
REQUIREMENTS = """requirements:
  - id: REQ-DATA
    type: ml_data
    title: Shapes
  - id: REQ-PERF
    type: performance
    title: Detector
"""


def mle3(root: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", PYTHONUNBUFFERED="1")
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", "from mle3.cli import run; run()", *args, "-w", str(root)],
        capture_output=True,
        text=True,
        env=env,
    )
    return time.time() - started, proc


def main() -> None:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    root = work / "ws"
    (root / "requirements").mkdir(parents=True, exist_ok=True)
    (root / "artifacts" / "training").mkdir(parents=True, exist_ok=True)
    (root / "mle3.yaml").write_text("project: gpu check\n")
    (root / "requirements" / "R.yaml").write_text(REQUIREMENTS)
    (root / "artifacts" / "training" / "T.yaml").write_text(CONFIG)
    from mle3.datasets.synthetic import generate

    data = generate(root / "data" / "signs", counts={"train": 400, "val": 80, "test": 80}, image_size=160, seed=0)
    seconds, proc = mle3(
        root, "dataset", "register", str(data), "--id", "GPU-DATA", "--version", "v1", "-r", "REQ-DATA"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seconds, proc = mle3(root, "train", "GPU-TRAIN-001", "--format", "json")
    trained = json.loads(proc.stdout)
    assert trained["status"] == "success", proc.stderr[-2000:]
    run = json.loads(mle3(root, "runs", "show", trained["run_id"], "--format", "json")[1].stdout)["run"]
    print(
        f"training: 3 epochs in {seconds:.1f} s on {run['environment'].get('gpus') or 'CPU'}; val mAP50 {trained['metrics']['validation'].get('mAP_50')}"
    )
    for attempt in (1, 2):
        seconds, proc = mle3(
            root, "quantize", trained["model_version"], "--method", "qat", "--qat-epochs", "1", "--format", "json"
        )
        result = json.loads(proc.stdout)
        record = json.loads(mle3(root, "runs", "show", result["run_id"], "--format", "json")[1].stdout)["run"]
        said = [line for line in proc.stderr.splitlines() if "CUDA extension" in line]
        print(
            f"QAT {attempt}: {result['status']} in {seconds:.1f} s; cuda_extension {json.dumps(record.get('qat', {}).get('cuda_extension'))}"
        )
        for line in said:
            print(f"  said: {line.strip()}")


if __name__ == "__main__":
    main()
