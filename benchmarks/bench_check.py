"""Benchmark `mle3 check` / `trace` on a synthetic workspace (issue: foundation speed).

    python benchmarks/bench_check.py [N_ITEMS] [--repeat 3] [--doorstop]

Prints, for N item files (one item each): the time PyYAML's C loader alone needs to parse
them (one process), `mle3 check` cold (no .mle3 cache), warm (nothing changed), after one
file changed, `mle3 trace` of one item, peak memory of each, and whether importing the CLI
imports torch. With --doorstop, also times `doorstop` on the same number of linked items.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_workspace import generate  # noqa: E402


def run_timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) of the child, exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {proc.stderr[-2000:]}")
    return wall, max(peak, before) / 1024, proc.returncode


def yaml_baseline(root: Path) -> float:
    code = (
        "import os, sys, time, yaml\n"
        "paths = [os.path.join(d, f) for base in ('requirements', 'artifacts') for d, _, fs in os.walk(base) for f in fs if f.endswith('.yaml')]\n"
        "t = time.perf_counter()\n"
        "for p in paths:\n"
        "    with open(p, 'rb') as fh: yaml.load(fh.read(), Loader=yaml.CSafeLoader)\n"
        "print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("items", type=int, nargs="?", default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--doorstop", action="store_true")
    args = ap.parse_args()
    mle3 = [sys.executable, "-c", "from mle3.cli import run; run()"]
    with tempfile.TemporaryDirectory(prefix="mle3-bench-") as tmp:
        root = Path(tmp) / "ws"
        t = time.perf_counter()
        generate(root, args.items)
        print(f"generated {args.items} items in {time.perf_counter() - t:.1f} s")
        base, cold, warm, one, trace = [], [], [], [], []
        peaks = {"cold": 0.0, "warm": 0.0, "trace": 0.0}
        for _ in range(args.repeat):
            base.append(yaml_baseline(root))
            shutil.rmtree(root / ".mle3", ignore_errors=True)
            wall, peak, code = run_timed(mle3 + ["check"], root)
            assert code == 0, "synthetic workspace must pass"
            cold.append(wall)
            peaks["cold"] = max(peaks["cold"], peak)
            time.sleep(2.1)  # let the racy-mtime margin pass, as for a user between runs
            wall, peak, _ = run_timed(mle3 + ["check"], root)
            warm.append(wall)
            wall, peak, _ = run_timed(mle3 + ["check"], root)
            warm.append(wall)
            changed = next((root / "artifacts").rglob("MODEL-*.yaml"))
            changed.write_text(changed.read_text().replace("status: draft", "status: draft  # touched"))
            wall, _, _ = run_timed(mle3 + ["check"], root)
            one.append(wall)
            wall, peak, _ = run_timed(mle3 + ["trace", "MODEL-00000-v1.5.0"], root)
            trace.append(wall)
        load_only = run_timed(mle3 + ["trace", "--depth", "1", "REQ-D-00000"], root)[0]
        in_process = subprocess.run(
            [
                sys.executable,
                "-c",
                (
                    "import time, json, sys\n"
                    "from mle3 import load_workspace, build_graph\n"
                    "from mle3.trace import trace, impact\n"
                    "t = time.perf_counter(); ws = load_workspace(sys.argv[1]); t_load = time.perf_counter() - t\n"
                    "t = time.perf_counter(); g = build_graph(ws); t_graph = time.perf_counter() - t\n"
                    "t = time.perf_counter(); trace(ws, g, 'MODEL-00000-v1.5.0'); t_trace = time.perf_counter() - t\n"
                    "t = time.perf_counter(); impact(ws, g, 'REQ-D-00000'); t_impact = time.perf_counter() - t\n"
                    "print(json.dumps([t_load, t_graph, t_trace, t_impact]))\n"
                ),
                str(root),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        t_load, t_graph, t_trace, t_impact = json.loads(in_process.stdout)
        torch = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, mle3.cli; print('torch' in sys.modules or 'ultralytics' in sys.modules)",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
        print(f"items: {args.items}, cores: {os.cpu_count()}, repeats: {args.repeat} (medians)")
        print(f"PyYAML CSafeLoader alone, one process: {median(base):6.2f} s")
        print(
            f"mle3 check cold (no cache):            {median(cold):6.2f} s  = {median(cold) / median(base):.2f}x the parse-only time  (peak RSS {peaks['cold']:.0f} MiB)"
        )
        print(f"mle3 check warm (nothing changed):     {median(warm):6.2f} s")
        print(f"mle3 check after one file changed:     {median(one):6.2f} s")
        print(f"mle3 trace (load + trace one item):    {median(trace):6.2f} s; trace --depth 1 {load_only:.2f} s")
        print(
            f"in one process: load {t_load:.2f} s (warm parse cache), graph {t_graph:.2f} s, trace one item {t_trace * 1000:.1f} ms, impact of one requirement {t_impact * 1000:.1f} ms"
        )
        print(f"importing the CLI imports torch/ultralytics: {torch}")
        if args.doorstop:
            doorstop_compare(Path(tmp), args.items)


def doorstop_compare(tmp: Path, n: int) -> None:
    """Time `doorstop` (its own check of links) on n linked items in two documents."""
    if shutil.which("doorstop") is None:
        print("doorstop not installed (pip install doorstop) - skipped")
        return
    root = tmp / "ds"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["doorstop", "create", "REQ", "reqs", "-d", "5"], cwd=root, check=True, capture_output=True)
    subprocess.run(
        ["doorstop", "create", "TST", "tests", "--parent", "REQ", "-d", "5"], cwd=root, check=True, capture_output=True
    )
    half = n // 2
    for i in range(1, half + 1):
        (root / "reqs" / f"REQ{i:05d}.yml").write_text(
            f"active: true\nderived: false\nheader: ''\nlevel: 1.{i}\nlinks: []\nnormative: true\nref: ''\nreviewed: null\ntext: |\n  Requirement {i}\n"
        )
        (root / "tests" / f"TST{i:05d}.yml").write_text(
            f"active: true\nderived: false\nheader: ''\nlevel: 1.{i}\nlinks:\n- REQ{i:05d}: null\nnormative: true\nref: ''\nreviewed: null\ntext: |\n  Test {i}\n"
        )
    start = time.perf_counter()
    proc = subprocess.run(["doorstop"], cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(f"doorstop on {2 * half} linked items: {wall:6.2f} s (exit {proc.returncode})")


if __name__ == "__main__":
    main()
