"""Time to sign and to verify one approval (ssh-keygen -Y with an ed25519 key).

python benchmarks/bench_signing.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    from conftest import BASE_FILES, write_files

    from mle3 import build_graph, load_workspace
    from mle3.approvals import approve
    from mle3.ledger.approvals import recorded

    with tempfile.TemporaryDirectory() as tmp:
        root = write_files(Path(tmp) / "ws", dict(BASE_FILES))
        key = Path(tmp) / "k"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        pub = (Path(tmp) / "k.pub").read_text().split()[:2]
        (root / "allowed_signers").write_text(
            f'lea@example.com namespaces="mle3-approval" {" ".join(pub)} roles=ml_lead\n'
        )
        ws = load_workspace(root)
        graph = build_graph(ws)
        signed, unsigned = [], []
        for _ in range(n):
            t = time.perf_counter()
            approve(ws, graph, "MODEL-v1", "ml_lead", "Lea <lea@example.com>", sign=True, key=key)
            signed.append(time.perf_counter() - t)
            t = time.perf_counter()
            approve(ws, graph, "MODEL-v1", "ml_lead", "Lea <lea@example.com>")
            unsigned.append(time.perf_counter() - t)
        t = time.perf_counter()
        approvals = recorded(root, verify_signatures=True)
        verify_all = time.perf_counter() - t
        assert sum(a.verified for a in approvals) == n
        print(
            f"approve, signed:   median {statistics.median(signed) * 1000:.1f} ms; unsigned {statistics.median(unsigned) * 1000:.1f} ms (signing adds {(statistics.median(signed) - statistics.median(unsigned)) * 1000:.1f} ms)"
        )
        print(
            f"verify: {verify_all / n * 1000:.1f} ms per signed approval ({n} verified, {len(approvals) - n} unsigned skipped)"
        )


if __name__ == "__main__":
    main()
