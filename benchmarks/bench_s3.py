"""Registration and verification against an S3-compatible store on 127.0.0.1 (moto's server).

    python benchmarks/bench_s3.py [N_FILES] [--image-kb 60]

Uploads a YOLO data set of N_FILES objects (half JPEG-sized images of --image-kb KiB,
half label files) to a bucket on a local moto server, then times `mle3 dataset register
s3://...` (listing, streaming and hashing with 16 parallel requests, image and label
checks) and `mle3 dataset verify` (size + ETag; nothing re-hashed), and reports objects/s
and MB/s. moto is an in-process Python server: these figures bound mle3's client side
from below, a real store (MinIO, S3) answers faster.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", type=int, nargs="?", default=4000)
    ap.add_argument("--image-kb", type=int, default=60)
    args = ap.parse_args()
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_DEFAULT_REGION="us-east-1",
    )
    os.environ.update(env)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bench")
    images = args.files // 2
    rng = random.Random(0)
    header = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffc00011080020002003012200021101031101")
    tail = b"\xff\xd9"

    def put(i: int) -> int:
        split = "train" if i < images * 0.8 else "val"
        body = header + rng.randbytes(args.image_kb * 1024) + tail
        s3.put_object(Bucket="bench", Key=f"sets/signs/images/{split}/{i:06d}.jpg", Body=body)
        s3.put_object(Bucket="bench", Key=f"sets/signs/labels/{split}/{i:06d}.txt", Body=b"0 0.5 0.5 0.2 0.2\n")
        return len(body) + 18

    t = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        total = sum(pool.map(put, range(images)))
    s3.put_object(
        Bucket="bench",
        Key="sets/signs/data.yaml",
        Body=b"path: .\ntrain: images/train\nval: images/val\nnames: [sign]\n",
    )
    print(f"uploaded {images * 2 + 1} objects ({total / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        (ws / "requirements").mkdir()
        (ws / "mle3.yaml").write_text("project: s3 bench\ndata_roots:\n  lake: s3://bench/sets\n")
        (ws / "requirements" / "r.yaml").write_text("requirement:\n  id: REQ-D\n  type: ml_data\n")
        mle3 = [sys.executable, "-c", "from mle3.cli import run; run()"]
        t = time.perf_counter()
        subprocess.run(
            mle3
            + [
                "dataset",
                "register",
                "s3://bench/sets/signs/data.yaml",
                "--id",
                "S3",
                "--version",
                "v1",
                "-r",
                "REQ-D",
            ],
            cwd=ws,
            env=env,
            check=True,
            capture_output=True,
        )
        reg = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(mle3 + ["dataset", "verify", "S3"], cwd=ws, env=env, check=True, capture_output=True)
        ver = time.perf_counter() - t
    n = images * 2 + 1
    print(f"mle3 dataset register s3://: {reg:6.2f} s  {n / reg:7.0f} objects/s  {total / reg / 1e6:6.1f} MB/s")
    print(f"mle3 dataset verify (ETags): {ver:6.2f} s  {n / ver:7.0f} objects/s")
    server.stop()


if __name__ == "__main__":
    main()
