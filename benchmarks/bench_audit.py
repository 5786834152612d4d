"""Audit log speed at scale: `mle3 audit verify` and one append at N entries.

    python benchmarks/bench_audit.py [N]      (default 100000)

Builds a log of N entries (a main line with a merged side branch every 1,000 entries,
as parallel work leaves it), written in mle3's own entry format, then measures:
- the floor: reading every entry file once, no parsing (what any verifier must do);
- `audit.verify` in-process and `mle3 audit verify` end to end (a new process);
- appends: the first (rebuilds the heads index from the whole log, as after a fresh
  clone), then 20 more (index up to date), median;
- one append after a "pull" that added 100 entries to the log.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def entry_bytes(body: dict) -> tuple[str, bytes]:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    digest = hashlib.sha256(raw).hexdigest()
    return digest, raw[:-1] + f',"hash":"{digest}"}}\n'.encode()


def build(root: Path, n: int) -> list[str]:
    audit_dir = root / "artifacts" / "audit"
    heads: list[str] = []
    side: str | None = None
    for i in range(n):
        parents = sorted(heads)
        if i % 1000 == 500:  # a side branch forks here...
            side = heads[0] if heads else None
        body = {
            "time": f"2026-11-{1 + i // 86400:02d}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}+00:00",
            "actor": f"Person {i % 7} <p{i % 7}@example.com>",
            "host": "bench",
            "action": "approval" if i % 3 == 0 else "run.start",
            "item": f"ITEM-{i % 500}",
            "details": {"role": "ml_lead", "decision": "approved", "fingerprint": "sha256:" + "%064x" % i},
            "parents": parents,
        }
        digest, raw = entry_bytes(body)
        folder = audit_dir / digest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{digest}.json").write_bytes(raw)
        heads = [digest]
        if side is not None and i % 1000 == 999:  # ...and is merged back: a branch entry, then a join
            b_digest, b_raw = entry_bytes({**body, "action": "dataset.register", "parents": [side]})
            (audit_dir / b_digest[:2]).mkdir(exist_ok=True)
            (audit_dir / b_digest[:2] / f"{b_digest}.json").write_bytes(b_raw)
            heads = [digest, b_digest]
            side = None
    return heads


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    from mle3 import audit

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        (root / "artifacts").mkdir(parents=True)
        (root / "mle3.yaml").write_text("project: bench\n")
        t = time.perf_counter()
        build(root, n)
        print(f"built {n} entries in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        count = 0
        for shard in os.scandir(root / "artifacts" / "audit"):
            for f in os.scandir(shard.path):
                with open(f.path, "rb") as fh:
                    fh.read()
                count += 1
        floor = time.perf_counter() - t
        print(f"floor, read every entry file once: {floor:.2f} s ({count} files)")

        runs = []
        for _ in range(3):
            t = time.perf_counter()
            entries, problems = audit.verify(root)
            runs.append(time.perf_counter() - t)
            assert not problems
        print(f"audit.verify in-process, 3 runs: {', '.join(f'{r:.2f}' for r in runs)} s ({entries} entries)")

        runs = []
        for _ in range(3):
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", "from mle3.cli import run; run()", "audit", "verify", "-w", str(root)],
                capture_output=True,
                text=True,
            )
            runs.append(time.perf_counter() - t)
        print(
            f"mle3 audit verify end to end (new process), 3 runs: {', '.join(f'{r:.2f}' for r in runs)} s -> {proc.stdout.strip()}"
        )

        fork_point = audit.read(root).heads[0]  # where another clone's branch starts
        t = time.perf_counter()
        audit.append(root, "bench.append", None, actor="bench")
        first = time.perf_counter() - t
        times = []
        for _ in range(20):
            t = time.perf_counter()
            audit.append(root, "bench.append", None, actor="bench")
            times.append(time.perf_counter() - t)
        print(
            f"append at {n}: first (index rebuilt from the whole log) {first * 1000:.0f} ms; then median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
        )

        # a pull brings 100 entries from another branch
        parent = fork_point
        for i in range(100):
            digest, raw = entry_bytes(
                {
                    "time": "2026-12-01T00:00:00+00:00",
                    "actor": "other",
                    "host": "elsewhere",
                    "action": "approval",
                    "item": f"PULLED-{i}",
                    "details": {},
                    "parents": [parent],
                }
            )
            (root / "artifacts" / "audit" / digest[:2]).mkdir(exist_ok=True)
            (root / "artifacts" / "audit" / digest[:2] / f"{digest}.json").write_bytes(raw)
            parent = digest
        time.sleep(0.05)
        t = time.perf_counter()
        joined = audit.append(root, "after.pull", None, actor="bench")
        pulled = time.perf_counter() - t
        print(f"append after a pull of 100 entries: {pulled * 1000:.0f} ms; joins {len(joined['parents'])} heads")
        assert len(joined["parents"]) == 2


if __name__ == "__main__":
    main()
