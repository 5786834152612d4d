"""Time the 13-51 consistency evidence (`mle3 report 13-51 MODEL`) in a workspace of N items.

    python benchmarks/bench_consistency.py [--items 5000] [--repeat 3]

Writes the synthetic workspace of gen_workspace.py (groups of ten items) and the approach
of bench_assessment.py that every configuration follows, then times the builder alone (the
workspace loaded and checked once) and `mle3 report 13-51 --to html` and `--to pdf` end to
end in a new process, for the last model version of the last group. The target is under 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from bench_assessment import prepare

    from mle3 import build_graph, load_workspace
    from mle3.reports.consistency import build_consistency
    from mle3.reports.products import Context

    with tempfile.TemporaryDirectory(prefix="mle3-consistency-bench-") as tmp:
        root = Path(tmp) / "ws"
        prepare(root, args.items, drafts=False)
        ws = load_workspace(root)
        graph = build_graph(ws)
        model = sorted(ws.of_kind("model_version"), key=lambda m: m.id)[-1]
        ctx = Context(ws, graph)
        ctx.check  # noqa: B018  (checked once, as the command does)
        alone = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            data = build_consistency(ctx, model)
            alone.append(time.perf_counter() - t)
        print(f"{len(ws.items)} items; {model.id}: {len(data['links'])} links, counts {data['counts']}")
        print(f"builder alone: median {statistics.median(alone) * 1000:.0f} ms (check cached)")
        cmd = [sys.executable, "-c", "import sys; from mle3.cli import main; sys.exit(main(sys.argv[1:]))"]
        for to in ("html", "pdf"):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                subprocess.run(
                    cmd + ["report", "13-51", model.id, "-w", str(root), "--to", to, "-o", str(Path(tmp) / f"c.{to}")],
                    check=True,
                    capture_output=True,
                )
                times.append(time.perf_counter() - t)
            print(f"mle3 report 13-51 --to {to}: median {statistics.median(times):.2f} s (new process)")


if __name__ == "__main__":
    main()
