"""Time the 13-65 ML training report (PDF) for a run of 300 epochs.

    python benchmarks/bench_report.py [--epochs 300] [--repeat 3]

Trains a real tiny model (1 epoch) to get a complete workspace and run record, then
extends the run's per-epoch record to N epochs (a smooth synthetic curve: this is
benchmark input, not product output) and times `mle3 report 13-65` end to end (new
process: imports, workspace load, check, charts, PDF) and the PDF step alone.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from conftest import TINY_FILES, write_files

    from mle3.datasets import register
    from mle3.datasets.synthetic import generate
    from mle3.runner import TrainOptions, train

    with tempfile.TemporaryDirectory(prefix="mle3-report-bench-") as tmp:
        root = write_files(Path(tmp) / "ws", TINY_FILES)
        data_yaml = generate(root / "data" / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)
        register(root, data_yaml, "TINY-DATA", "v1", ["REQ-DATA"])
        result = train(root, "TINY-TRAIN-001", TrainOptions(epochs=1), echo=lambda line: None)
        run_dir = root / "artifacts" / "runs" / result.run_id
        lines = []
        for e in range(1, args.epochs + 1):
            t = e / args.epochs
            lines.append(
                json.dumps(
                    {
                        "epoch": e,
                        "epochs": args.epochs,
                        "train_box_loss": 3 * math.exp(-3 * t) + 0.8,
                        "train_cls_loss": 2.5 * math.exp(-4 * t) + 0.5,
                        "train_dfl_loss": 2 * math.exp(-2 * t) + 0.9,
                        "val_box_loss": 3 * math.exp(-2.5 * t) + 1.0,
                        "val_cls_loss": 2.6 * math.exp(-3 * t) + 0.7,
                        "val_dfl_loss": 2.1 * math.exp(-2 * t) + 1.0,
                        "precision": 0.9 * (1 - math.exp(-5 * t)),
                        "recall": 0.85 * (1 - math.exp(-4 * t)),
                        "mAP50": 0.88 * (1 - math.exp(-4 * t)),
                        "mAP50_95": 0.6 * (1 - math.exp(-3 * t)),
                        "lr": 0.002 * (1 - t) + 2e-5,
                        "fitness": 0.88 * (1 - math.exp(-4 * t)),
                        "best_epoch": e,
                    }
                )
            )
        (run_dir / "epochs.jsonl").write_text("\n".join(lines) + "\n")
        cmd = [
            sys.executable,
            "-c",
            "from mle3.cli import run; run()",
            "report",
            "13-65",
            result.model_version,
            "-o",
            "r.pdf",
        ]
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=root, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        from mle3 import build_graph, load_workspace
        from mle3.reports.products import Context
        from mle3.reports.render import html_to_pdf, render_html

        ws = load_workspace(root)
        ctx = Context(ws, build_graph(ws))
        html, _ = render_html(ctx, "13-65", result.model_version)
        html_to_pdf(html, ws)  # warm fonts
        t0 = time.perf_counter()
        pdf = html_to_pdf(html, ws)
        pdf_only = time.perf_counter() - t0
        from pypdf import PdfReader
        import io

        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        print(f"13-65 for a run of {args.epochs} epochs: {pages} pages, {len(pdf) / 1e3:.0f} kB")
        print(
            f"mle3 report 13-65 end to end (new process): median {statistics.median(times):.2f} s  {['%.2f' % t for t in times]}"
        )
        print(f"HTML -> PDF step alone (weasyprint, warm):  {pdf_only:.2f} s")


if __name__ == "__main__":
    main()
