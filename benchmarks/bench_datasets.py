"""Benchmark data set registration and verification (issue: data sets and runner).

    python benchmarks/bench_datasets.py [N_FILES] [--dvc]

Builds a YOLO data set of N_FILES small files (half images of 32x32 px, half label files,
70/15/15 split) inside a workspace, then times, with a warm page cache for everyone:
  - coreutils `sha256sum` over all files (find | xargs, the reference throughput),
  - mle3's threaded hashing alone (the manifest part of registration),
  - `mle3 dataset register` end to end (hashing + image and label checks + writing),
  - `mle3 dataset verify` with nothing changed, and after touching every file (worst
    case: every mtime differs, so every file is re-hashed),
  - optionally `dvc status` on the same tree after `dvc add`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mle3.datasets.manifest import hash_entries, list_files
from mle3.datasets.synthetic import generate


def timed(cmd: list[str], cwd: Path, shell: bool = False) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd if not shell else " ".join(cmd), cwd=cwd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {proc.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", type=int, nargs="?", default=100_000)
    ap.add_argument("--dvc", action="store_true")
    args = ap.parse_args()
    images = args.files // 2
    counts = {"train": int(images * 0.7), "val": int(images * 0.15)}
    counts["test"] = images - counts["train"] - counts["val"]
    mle3 = [sys.executable, "-c", "from mle3.cli import run; run()"]
    with tempfile.TemporaryDirectory(prefix="mle3-data-bench-") as tmp:
        root = Path(tmp) / "ws"
        (root / "requirements").mkdir(parents=True)
        (root / "mle3.yaml").write_text("project: data benchmark\n")
        (root / "requirements" / "R.yaml").write_text("requirement:\n  id: REQ-D\n  type: ml_data\n")
        t = time.perf_counter()
        generate(root / "data" / "bench", counts=counts, image_size=32, seed=0)
        files = list_files(root, root / "data" / "bench")
        total = sum((root / f).stat().st_size for f in files)
        print(f"generated {len(files)} files ({total / 1e6:.1f} MB) in {time.perf_counter() - t:.0f} s; cores: {os.cpu_count()}")
        timed(["find", "data", "-type", "f", "-print0", "|", "xargs", "-0", "cat", ">", "/dev/null"], root, shell=True)  # warm the cache
        sha = min(timed(["find", "data", "-type", "f", "-print0", "|", "xargs", "-0", "sha256sum", ">", "/dev/null"], root, shell=True) for _ in range(2))
        t = time.perf_counter()
        hash_entries(root, files)
        hashing = time.perf_counter() - t
        reg = timed(mle3 + ["dataset", "register", "data/bench/data.yaml", "--id", "BENCH", "--version", "v1", "-r", "REQ-D"], root)
        verify = min(timed(mle3 + ["dataset", "verify", "BENCH"], root) for _ in range(2))
        check = timed(mle3 + ["check", "--no-cache"], root)
        later = time.time() + 10
        for f in files:
            os.utime(root / f, (later, later))
        verify_touched = timed(mle3 + ["dataset", "verify", "BENCH"], root)
        print(f"sha256sum (find | xargs):           {sha:6.2f} s  {len(files) / sha:8.0f} files/s  {total / sha / 1e6:6.1f} MB/s")
        print(f"mle3 hashing (threads):             {hashing:6.2f} s  {len(files) / hashing:8.0f} files/s  = {sha / hashing:.0%} of sha256sum throughput")
        print(f"mle3 dataset register (end to end): {reg:6.2f} s  {len(files) / reg:8.0f} files/s  = {sha / reg:.0%} of sha256sum throughput")
        print(f"mle3 dataset verify, unchanged:     {verify:6.2f} s")
        print(f"mle3 check (data.changed rule):     {check:6.2f} s")
        print(f"mle3 dataset verify, all touched:   {verify_touched:6.2f} s (every file re-hashed)")
        if args.dvc:
            if shutil.which("dvc") is None:
                print("dvc not installed (pip install dvc): skipped")
                return
            for f in files:
                os.utime(root / f, None)
            subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=root, check=True)
            subprocess.run(["dvc", "config", "core.analytics", "false"], cwd=root, check=True)
            add = timed(["dvc", "add", "-q", "data/bench"], root)
            status = min(timed(["dvc", "status", "-q"], root) for _ in range(2))
            print(f"dvc add:                            {add:6.2f} s")
            print(f"dvc status, unchanged:              {status:6.2f} s  (mle3 verify / dvc status = {verify / status:.2f})")


if __name__ == "__main__":
    main()
