"""Time the assessment view (`mle3 report assessment`) of a workspace with N items.

    python benchmarks/bench_assessment.py [--items 5000] [--repeat 3] [--drafts]

Writes the synthetic workspace of gen_workspace.py (groups of ten items), adds an approach
(08-65) that every configuration follows, marks the last model version of each group
validated (unless --drafts: then every model is a draft and all of them are judged) and
records a delivered communication for a tenth of those. Times the evaluation alone (the
workspace loaded and checked once) and `mle3 report assessment --to html` and `--to json`
end to end in a new process. The target is under 3 s.
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

APPROACH = """approach:
  id: APPROACH-BENCH
  entry_criteria: {dataset_verified: false}
  exit_criteria: {metric: {metric: mAP_50, min: 0.5}}
  tuning: {description: by hand}
  data: {split_policy: random 70/15/15}
  environment: {hardware: "1x NVIDIA A100, amp"}
"""


def prepare(root: Path, items: int, drafts: bool) -> None:
    from gen_workspace import generate

    from mle3 import audit
    from mle3.vocab import AuditAction

    generate(root, items)
    (root / "artifacts" / "approach.yaml").write_text(APPROACH)
    for cfg in root.glob("artifacts/g*/TRAIN-*.yaml"):
        cfg.write_text(cfg.read_text() + "  approach: APPROACH-BENCH\n")
    if drafts:
        return
    validated = sorted(root.glob("artifacts/g*/MODEL-*-v1.5.0.yaml"))
    for i, path in enumerate(validated):
        path.write_text(path.read_text().replace("status: draft", "status: validated"))
        if i % 10 == 0:
            audit.append(
                root,
                AuditAction.COMMUNICATION,
                path.stem,
                {
                    "event": "promote.validated",
                    "channel": "email",
                    "recipients": ["qa@example.com"],
                    "delivered": True,
                    "fingerprint": "sha256:" + "0" * 64,
                    "message": f"m{i}",
                    "attempt": 1,
                },
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--drafts", action="store_true")
    args = ap.parse_args()
    from mle3 import build_graph, load_workspace
    from mle3.reports.assessment import evaluate_workspace
    from mle3.reports.products import Context

    with tempfile.TemporaryDirectory(prefix="mle3-assessment-bench-") as tmp:
        root = Path(tmp) / "ws"
        prepare(root, args.items, args.drafts)
        ws = load_workspace(root)
        graph = build_graph(ws)
        ctx = Context(ws, graph)
        ctx.check  # noqa: B018  (checked once, as the command does)
        alone = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            evaluation = evaluate_workspace(Context(ws, graph) if alone else ctx)
            alone.append(time.perf_counter() - t)
        print(f"{len(ws.items)} items; counts {evaluation['counts']}")
        print(f"evaluation alone: median {statistics.median(alone):.2f} s (first with check cached)")
        cmd = [sys.executable, "-c", "import sys; from mle3.cli import main; sys.exit(main(sys.argv[1:]))"]
        for to in ("html", "json"):
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                subprocess.run(
                    cmd + ["report", "assessment", "-w", str(root), "--to", to, "-o", str(Path(tmp) / f"a.{to}")],
                    check=True,
                    capture_output=True,
                )
                times.append(time.perf_counter() - t)
            print(f"mle3 report assessment --to {to}: median {statistics.median(times):.2f} s (new process)")


if __name__ == "__main__":
    main()
