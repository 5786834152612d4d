"""Release bundles: how long one takes to write and to verify, and verify's throughput.

    python benchmarks/bench_bundle.py WORKSPACE MODEL     (e.g. a demo: mle3-demo/workspace DEMO-MODEL-001-v0.1.0)

On a copy of a released workspace (``mle3 demo`` makes one):
- the bundle of its model, weights included, written with ``--release`` (the issue's bound:
  under 10 s), and ``mle3 verify --key`` on it, as a new process (bound: under 3 s);
- the same model with a 250 MB weights file: ``mle3 verify`` against ``sha256sum`` over
  the same files, as throughput (bound: verify at 80 % or more of sha256sum's). Its
  approvals are stale then (the weights changed): the gate fails, the hashing is the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's mle3

SIZE = 250_000_000


def ec_key(folder: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "release.pem", folder / "release.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def timed(args: list[str], cwd: Path | None = None) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, proc.returncode


def main(workspace: Path, model: str) -> None:
    mle3 = [sys.executable, "-m", "mle3"]
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        base = Path(tmp)
        ws = base / "ws"
        shutil.copytree(workspace, ws, symlinks=True)
        private, public = ec_key(base)
        bundle = base / "bundle"
        build, code = timed(
            mle3 + ["report", "release", model, "-o", str(bundle), "--key", str(private), "--release", "-w", str(ws)]
        )
        assert code == 0, "the bundle was not written"
        files = [p for p in bundle.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        verify, code = timed(mle3 + ["verify", str(bundle), "--key", str(public)], cwd=base)
        print(f"bundle of {model}: {len(files)} files, {size / 1e6:.1f} MB, written in {build:.2f} s")
        print(f"mle3 verify --key on it: {verify:.2f} s (exit {code})")

        import json

        index = json.loads((bundle / "release.json").read_text())
        rel = next(a["path"] for a in index["artefacts"] if a["item"] == index["model"] and a["field"] == "weights")
        with open(ws / rel, "wb") as fh:
            for _ in range(SIZE // (1 << 20)):
                fh.write(os.urandom(1 << 20))
        large = base / "large"
        _, code = timed(mle3 + ["report", "release", model, "-o", str(large), "--key", str(private), "-w", str(ws)])
        assert code == 0
        files = sorted(str(p) for p in large.rglob("*") if p.is_file())
        size = sum(Path(p).stat().st_size for p in files)
        for _ in range(2):  # warm the page cache for both, as for the second reader of a bundle
            timed(["cat", *files])
        sums = min(timed(["sha256sum", *files])[0] for _ in range(3))
        runs = [timed(mle3 + ["verify", str(large), "--key", str(public)], cwd=base) for _ in range(3)]
        best = min(t for t, _ in runs)
        print(
            f"{size / 1e6:.0f} MB bundle: sha256sum {sums:.2f} s ({size / sums / 1e6:.0f} MB/s), mle3 verify "
            f"{best:.2f} s ({size / best / 1e6:.0f} MB/s, exit {runs[0][1]}: the approvals are stale): "
            f"{sums / best * 100:.0f} % of sha256sum's throughput"
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2])
