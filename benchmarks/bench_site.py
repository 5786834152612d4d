"""Time `mle3 site` on a synthetic workspace (issue: tools teams use).

python benchmarks/bench_site.py [N_ITEMS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_workspace import generate  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        generate(root, n)
        cmd = [sys.executable, "-c", "from mle3.cli import run; run()", "site", "-o", str(Path(tmp) / "site")]
        t = time.perf_counter()
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        wall = time.perf_counter() - t
        files = [p for p in (Path(tmp) / "site").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        print(f"mle3 site for {n} items: {wall:.2f} s, {len(files)} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
