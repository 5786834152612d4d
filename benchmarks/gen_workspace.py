"""Write a synthetic workspace of N items (one file each) in mle3's format.

Groups of ten items: two requirements (one ML data, one performance), a data set version,
a training configuration and six model versions chained by previous_version. The result
passes `mle3 check`, so the benchmark measures a realistic full run.

    python benchmarks/gen_workspace.py /tmp/ws50k 50000
"""

from __future__ import annotations

import sys
from pathlib import Path

REQ_DATA = """requirement:
  id: REQ-D-{g:05d}
  title: Data for function {g}
  type: ml_data
  derived_from: [REQ-P-{g:05d}]
  text: The data shall contain at least 1000 training samples for function {g}.
  criteria:
    - samples: train
      min: 1000
"""
REQ_PERF = """requirement:
  id: REQ-P-{g:05d}
  title: Performance for function {g}
  type: performance
  text: mAP@0.5 on test at least 0.5.
  criteria:
    - metric: mAP_50
      split: test
      min: 0.5
"""
DATASET = """dataset:
  id: DATA-{g:05d}
  version: v1.0
  requirements: [REQ-D-{g:05d}]
  classes: [pedestrian, vehicle]
  splits:
    train: {{samples: 7000, instances: {{pedestrian: 3000, vehicle: 9000}}}}
    val: {{samples: 1500}}
    test: {{samples: 1500}}
"""
TRAINING = """training:
  id: TRAIN-{g:05d}
  model: YOLOv8-nano
  dataset: DATA-{g:05d}
  epochs: 300
  batch_size: 64
  image_size: [640, 384]
  optimizer: {{type: AdamW, lr: 0.001, weight_decay: 0.0005, momentum: 0.937}}
  scheduler: {{type: cosine, warmup_epochs: 3}}
  early_stopping: {{patience: 50, metric: "mAP@0.5", mode: max}}
  reproducibility: {{seed: 42, deterministic: true}}
"""
MODEL = """model_version:
  id: MODEL-{g:05d}-v1.{m}.0
  created: "2024-06-14T09:12:00Z"
  training_run: TRAIN-{g:05d}
  metrics:
    validation: {{mAP_50: 0.71, precision: 0.8, recall: 0.77}}
    test: {{mAP_50: 0.7{m}, precision: 0.79, recall: 0.75}}
  training_data:
    dataset_version: DATA-{g:05d}-v1.0
    train_samples: 7000
    val_samples: 1500
  training_params: {{epochs: 120, best_epoch: 100, training_time: "2h 10m", gpu: "NVIDIA A100"}}
  dependencies: {{pytorch: "2.1.0", ultralytics: "8.0.200"}}
  traceability:
    requirements: [REQ-D-{g:05d}, REQ-P-{g:05d}]
{prev}  status: draft
"""


def generate(root: Path, n_items: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mle3.yaml").write_text("project: synthetic benchmark\n")
    groups = -(-n_items // 10)
    written = 0
    for g in range(groups):
        d = root / "artifacts" / f"g{g // 500:03d}"
        r = root / "requirements" / f"g{g // 500:03d}"
        d.mkdir(parents=True, exist_ok=True)
        r.mkdir(parents=True, exist_ok=True)
        files = [
            (r / f"REQ-D-{g:05d}.yaml", REQ_DATA.format(g=g)),
            (r / f"REQ-P-{g:05d}.yaml", REQ_PERF.format(g=g)),
            (d / f"DATA-{g:05d}.yaml", DATASET.format(g=g)),
            (d / f"TRAIN-{g:05d}.yaml", TRAINING.format(g=g)),
        ]
        for m in range(6):
            prev = f"    previous_version: MODEL-{g:05d}-v1.{m - 1}.0\n" if m else ""
            files.append((d / f"MODEL-{g:05d}-v1.{m}.0.yaml", MODEL.format(g=g, m=m, prev=prev)))
        for path, text in files:
            if written >= n_items:
                return
            path.write_text(text)
            written += 1


if __name__ == "__main__":
    generate(Path(sys.argv[1]), int(sys.argv[2]))
