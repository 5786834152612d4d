"""Benchmark data set registration, verification and check at the seed's scale.

    python benchmarks/bench_datasets.py [N_FILES] [--data DIR] [--dvc]

Builds a YOLO data set of N_FILES small files (half 32x32 px JPEGs, half label files,
70/15/15 split) on a "NAS" folder outside the workspace, declared as the data root
``nas`` (``--data DIR`` reuses a tree generated before: generating 850,000 files takes
minutes). Then, with a warm page cache for everyone, it times:

  - the limit: a bare two-process read-and-hash of the same files, as coreutils
    (``find | xargs -P2 sha256sum``) and as the same loop in Python with hashlib;
  - ``mle3 dataset register`` end to end (hashing, image and label checks, manifest);
  - ``mle3 dataset verify`` with nothing changed;
  - ``mle3 check --no-cache`` with the data set and without it (same workspace, item
    removed), the whole-check result cache off: the data rule's own speed;
  - bytes the registration adds to git (the item file; the manifest lives beside the data);
  - peak memory of register and verify (max RSS);
  - with ``--dvc``: ``dvc add`` and ``dvc status`` on the same tree.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MLE3 = [sys.executable, "-c", "from mle3.cli import run; run()"]

HASH_LOOP = r"""
import hashlib, os, sys
from concurrent.futures import ProcessPoolExecutor
def chunk(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            hashlib.sha256(os.read(fd, os.fstat(fd).st_size + 1)).hexdigest()
        finally:
            os.close(fd)
    return len(paths)
if __name__ == "__main__":
    files = [os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs]
    with ProcessPoolExecutor(2) as ex:
        print(sum(ex.map(chunk, [files[i:i + 5000] for i in range(0, len(files), 5000)])))
"""


def timed(cmd: list[str] | str, cwd: Path, env: dict | None = None, ok=(0, 1)) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB of the command)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, shell=isinstance(cmd, str), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{cmd} failed: {proc.stderr[-2000:]}")
    return wall, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def best(n: int, fn) -> float:
    return min(fn()[0] for _ in range(n))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", type=int, nargs="?", default=100_000)
    ap.add_argument("--data", type=Path, help="an existing generated tree (its folder holds data.yaml)")
    ap.add_argument("--dvc", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mle3-data-bench-") as tmp:
        tmp = Path(tmp)
        data = args.data
        if data is None:
            from mle3.datasets.synthetic import generate

            images = args.files // 2
            counts = {"train": int(images * 0.7), "val": int(images * 0.15)}
            counts["test"] = images - counts["train"] - counts["val"]
            data = tmp / "nas" / "bench"
            t = time.perf_counter()
            generate(data, counts=counts, image_size=32, seed=0)
            print(f"generated in {time.perf_counter() - t:.0f} s")
        data = data.resolve()
        nas = data.parent
        shutil.rmtree(data / ".mle3-manifests", ignore_errors=True)
        ws = tmp / "ws"
        (ws / "requirements").mkdir(parents=True)
        (ws / "mle3.yaml").write_text("project: data benchmark\ndata_roots:\n  nas: null\n")
        (ws / "requirements" / "R.yaml").write_text("requirement:\n  id: REQ-D\n  type: ml_data\n")
        env = dict(os.environ, MLE3_DATA_ROOT_NAS=str(nas))
        subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
        subprocess.run(
            "git add -A && git -c user.name=b -c user.email=b@b commit -qm base", cwd=ws, shell=True, check=True
        )
        files = sum(len(fs) for _, _, fs in os.walk(data))
        total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs)
        print(f"{files} files, {total / 1e6:.1f} MB in {data}; cores: {os.cpu_count()}")
        timed(f"find {data} -type f -print0 | xargs -0 cat > /dev/null", ws)  # warm the page cache
        sha = best(2, lambda: timed(f"find {data} -type f -print0 | xargs -0 -P2 -n 5000 sha256sum > /dev/null", ws))
        loop = best(2, lambda: timed([sys.executable, "-c", HASH_LOOP, str(data)], ws))
        limit = min(sha, loop)
        reg, reg_rss = timed(
            MLE3 + ["dataset", "register", str(data / "data.yaml"), "--id", "BENCH", "--version", "v1", "-r", "REQ-D"],
            ws,
            env,
        )
        item = next((ws / "artifacts" / "datasets").glob("BENCH-v1.*.yaml"))
        manifest = next((data / ".mle3-manifests").glob("*.manifest.gz"))
        subprocess.run(
            "git add -A && git -c user.name=b -c user.email=b@b commit -qm register", cwd=ws, shell=True, check=True
        )
        added = int(
            subprocess.run(
                "git diff --shortstat HEAD~1 --stat=1000 >/dev/null; git cat-file -s HEAD:"
                + item.relative_to(ws).as_posix(),
                cwd=ws,
                shell=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        from mle3.datasets.scan import list_local, scan

        listing = list_local(str(nas), data.name)
        t = time.perf_counter()
        scan(str(nas), listing.paths())
        hash_only = time.perf_counter() - t
        verify, verify_rss = min(timed(MLE3 + ["dataset", "verify", "BENCH"], ws, env) for _ in range(2))
        check_with = best(3, lambda: timed(MLE3 + ["check", "--no-cache"], ws, env))
        moved = tmp / "item.yaml"
        shutil.move(item, moved)
        check_without = best(3, lambda: timed(MLE3 + ["check", "--no-cache"], ws, env))
        shutil.move(moved, item)
        print(f"limit, sha256sum (find | xargs -P2):  {sha:6.2f} s  {files / sha:9.0f} files/s")
        print(f"limit, hashlib loop (2 processes):    {loop:6.2f} s  {files / loop:9.0f} files/s")
        print(
            f"mle3 read-and-hash alone (in-process): {hash_only:5.2f} s  {files / hash_only:9.0f} files/s = {limit / hash_only:.0%} of the limit (no image or label checks)"
        )
        print(
            f"mle3 dataset register (end to end):   {reg:6.2f} s  {files / reg:9.0f} files/s = {limit / reg:.0%} of the limit; peak {reg_rss / 1024:.0f} MB"
        )
        print(f"mle3 dataset verify, unchanged:       {verify:6.2f} s  peak {verify_rss / 1024:.0f} MB")
        print(f"mle3 check --no-cache, with the set:  {check_with:6.2f} s  (without it: {check_without:.2f} s)")
        print(
            f"added to git: {added} bytes ({added / files:.4f} bytes per file); manifest beside the data: {manifest.stat().st_size / 1e6:.1f} MB ({manifest.stat().st_size / files:.0f} bytes per file)"
        )
        if args.dvc:
            if shutil.which("dvc") is None:
                print("dvc not installed (pip install dvc): skipped")
                return
            copy = tmp / "dvc"
            copy.mkdir()
            subprocess.run(
                ["cp", "-al", str(data), str(copy / "bench")], check=True
            )  # the same files (hard links), no copy of the bytes
            shutil.rmtree(copy / "bench" / ".mle3-manifests", ignore_errors=True)
            subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=copy, check=True)
            subprocess.run(["dvc", "config", "core.analytics", "false"], cwd=copy, check=True)
            subprocess.run(["dvc", "config", "cache.type", "hardlink"], cwd=copy, check=True)
            add, add_rss = timed(["dvc", "add", "-q", "bench"], copy, ok=(0,))
            status = best(2, lambda: timed(["dvc", "status", "-q"], copy, ok=(0,)))
            print(f"dvc add:                              {add:6.2f} s  peak {add_rss / 1024:.0f} MB")
            print(f"dvc status, unchanged:                {status:6.2f} s")


if __name__ == "__main__":
    main()
