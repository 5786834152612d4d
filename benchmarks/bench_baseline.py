"""`mle3 baseline` and `mle3 check` against a baseline of N approved items (issue 26: under 1 s warm).

    python benchmarks/bench_baseline.py [N_ITEMS] [--repeat 3]

Builds the synthetic workspace of benchmarks/gen_workspace.py (N items), approves every
item (approval entries in mle3's own format, bound to each item's fingerprint, written
straight into the audit DAG as `mle3 approve` would: a chain), commits it to git, then
measures, each in a new process:
- `mle3 baseline B1` (git state, counted approvals, fingerprints, tag, audit entries);
- `mle3 check` cold (no .mle3/), warm (nothing changed: the result cache), after one
  item file changed (every rule runs again, item cache warm), and the same change
  without any baseline, so the difference is what the baseline rules cost;
- in-process: the `baseline.*` rules alone on a loaded workspace, with the approvals
  (fingerprints, counted approvals) they share computed by the approvals rules first.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_workspace import generate  # noqa: E402

MLE3 = [sys.executable, "-c", "from mle3.cli import run; run()"]


def timed(cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0, 1)) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, proc.stdout


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def approve_all(root: Path) -> int:
    """One approval per item, as `mle3 approve` records it (a linear chain of entries)."""
    import hashlib

    from mle3 import audit, load_workspace
    from mle3.graph import build_graph
    from mle3.ledger.fingerprint import FINGERPRINT_VERSION, Fingerprints

    ws = load_workspace(root, use_cache=False)
    prints = Fingerprints(ws, build_graph(ws))
    folder = root / ws.layout.audit_dir
    parent: list[str] = []
    for n, key in enumerate(sorted(ws.by_key)):
        body = {
            "action": "approval",
            "actor": "Lea Lead <lea@example.com>",
            "details": {
                "comment": None,
                "decision": "approved",
                "fingerprint": prints.of(key),
                "fingerprint_version": FINGERPRINT_VERSION,
                "kind": ws.by_key[key].kind,
                "name": "Lea Lead <lea@example.com>",
                "role": "ml_lead",
            },
            "host": "bench",
            "item": key,
            "parents": parent,
            "time": f"2026-11-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
        }
        raw = audit.canonical_body(body)
        digest = hashlib.sha256(raw).hexdigest()
        (folder / digest[:2]).mkdir(parents=True, exist_ok=True)
        (folder / digest[:2] / f"{digest}.json").write_bytes(raw[:-1] + f',"hash":"{digest}"}}\n'.encode())
        parent = [digest]
    return len(ws.by_key)


def in_process(root: Path) -> dict[str, float]:
    code = (
        "import json, sys, time\n"
        "from mle3 import load_workspace\n"
        "from mle3.graph import build_graph\n"
        "from mle3.rules import run_checks, RULES\n"
        "ws = load_workspace(sys.argv[1]); g = build_graph(ws)\n"
        "approval = {r for r in RULES if r.startswith('approval.')}\n"
        "base = {r for r in RULES if r.startswith('baseline.')}\n"
        "t = time.perf_counter(); run_checks(ws, g, only=approval); t_approval = time.perf_counter() - t\n"
        "t = time.perf_counter(); r = run_checks(ws, g, only=approval | base); t_both = time.perf_counter() - t\n"
        "assert any(f.rule == 'baseline.changed' for f in r.findings)\n"
        "print(json.dumps({'approval rules': t_approval, 'approval + baseline rules': t_both}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("items", type=int, nargs="?", default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mle3-bench-baseline-") as tmp:
        root = Path(tmp) / "ws"
        generate(root, args.items)
        (root / ".gitignore").write_text(".mle3/\n")
        t = time.perf_counter()
        approved = approve_all(root)
        print(f"{approved} items approved (audit entries written) in {time.perf_counter() - t:.1f} s")
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.name", "Bench")
        git(root, "config", "user.email", "bench@example.com")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "approved")
        wall, out = timed(MLE3 + ["baseline", "B1", "--format", "json"], root, ok=(0,))
        recorded = json.loads(out)["baseline"]
        assert recorded["items"] == approved, recorded
        print(f"mle3 baseline B1: {wall:.2f} s ({recorded['items']} fingerprints)")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "baseline")
        cold, warm, changed, unbaselined = [], [], [], []
        target = next((root / "artifacts").rglob("MODEL-*.yaml"))
        for i in range(args.repeat):
            shutil.rmtree(root / ".mle3", ignore_errors=True)
            cold.append(timed(MLE3 + ["check"], root)[0])
            time.sleep(2.1)  # past the racy-mtime margin, as for a user between runs
            timed(MLE3 + ["check"], root)
            warm.append(timed(MLE3 + ["check"], root)[0])
            target.write_text(re.sub(r'gpu: "[^"]*"', f'gpu: "NVIDIA A100 #{i}"', target.read_text()))
            wall, out = timed(MLE3 + ["check", "--format", "json"], root)
            changed.append(wall)
            rules = {f["rule"] for f in json.loads(out)["findings"]}
            assert "baseline.changed" in rules, rules
        # the same change without a baseline: what the baseline rules add
        entry = root / recorded["file"]
        saved = entry.read_bytes()
        entry.unlink()
        for i in range(args.repeat):
            target.write_text(re.sub(r'gpu: "[^"]*"', f'gpu: "NVIDIA H100 #{i}"', target.read_text()))
            unbaselined.append(timed(MLE3 + ["check"], root)[0])
        entry.write_bytes(saved)
        figures = in_process(root)
        med = statistics.median
        print(f"mle3 check, {args.items} items, baseline of {approved} approved items (median of {args.repeat}):")
        print(f"  cold (no .mle3/)          {med(cold):6.2f} s")
        print(f"  warm (nothing changed)    {med(warm):6.2f} s")
        print(f"  one item file changed     {med(changed):6.2f} s   (every rule runs again)")
        print(f"  same, no baseline         {med(unbaselined):6.2f} s")
        for name, value in figures.items():
            print(f"  in-process, {name:27s} {value:6.2f} s")


if __name__ == "__main__":
    main()
