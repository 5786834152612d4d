"""Benchmark data characteristics at the seed's scale (issue 24's numbers).

    python benchmarks/bench_characteristics.py [N_IMAGES] [--data DIR]

Builds (or, with ``--data``, reuses) a YOLO data set of N_IMAGES 8x8 PNGs (default
850,000: the seed's 700k + 150k), each with a label file of 0-7 boxes, 70/15/15 split,
and a per-image metadata table ``metadata.csv`` (time_of_day, weather, road_type,
sequence), below a data root outside the workspace. Then, page cache warm, it times:

  - the table read alone by pyarrow (``pyarrow.csv.read_csv``), best of 3;
  - the metadata work of a registration in-process on one scan's result: read +
    validation against the ODD + matching to the images + joint aggregation, against
    the same aggregation of the derived characteristics with no table;
  - ``mle3 dataset register`` end to end with and without the table (alternating, best of 2);
  - ``mle3 check`` warm and cold with a share, a coverage, a combination and a
    similarity criterion on the data set.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

MLE3 = [sys.executable, "-c", "from mle3.cli import run; run()"]
ODD = """odd:
  id: ODD-B
  characteristics:
    time_of_day: [day, dusk, night]
    weather: [clear, rain, fog, snow]
    road_type: [highway, urban, rural]
    sequence: {type: string, role: group}
"""
REQ = """requirement:
  id: REQ-D
  type: ml_data
  odd: ODD-B
  criteria:
    - {characteristic: time_of_day, split: train, share: {night: [0.1, 0.4]}}
    - {characteristic: weather, coverage: all, splits: [train, val, test], min_samples: 100}
    - {class: c1, where: {time_of_day: night}, split: train, min_samples: 1000}
    - {characteristic: time_of_day, similar: [train, test], max_tvd: 0.05}
"""


def _png(index: int) -> bytes:
    """An 8x8 grey PNG whose pixels encode ``index`` (every image distinct: no leakage)."""
    raw = b"".join(b"\x00" + struct.pack(">Q", index * 8 + row) for row in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def generate(target: Path, n: int) -> None:
    rng = random.Random(0)
    counts = {"train": int(n * 0.7), "val": int(n * 0.15)}
    counts["test"] = n - counts["train"] - counts["val"]
    rows = ["image,time_of_day,weather,road_type,sequence"]
    index = 0
    for split, count in counts.items():
        images, labels = target / "images" / split, target / "labels" / split
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            stem = f"{split}_{i:07d}"
            (images / f"{stem}.png").write_bytes(_png(index))
            boxes = [
                f"{rng.randrange(3)} {rng.uniform(0.3, 0.7):.4f} {rng.uniform(0.3, 0.7):.4f} "
                f"{rng.uniform(0.01, 0.5):.4f} {rng.uniform(0.01, 0.5):.4f}\n"
                for _ in range(rng.randrange(8))
            ]
            (labels / f"{stem}.txt").write_text("".join(boxes))
            tod = rng.choices(("day", "dusk", "night"), (0.6, 0.15, 0.25))[0]
            weather = rng.choices(("clear", "rain", "fog", "snow"), (0.6, 0.2, 0.1, 0.1))[0]
            road = rng.choice(("highway", "urban", "rural"))
            rows.append(f"images/{split}/{stem}.png,{tod},{weather},{road},{split}-{i // 200}")
            index += 1
    (target / "metadata.csv").write_text("\n".join(rows) + "\n")
    (target / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\ntest: images/test\nnames: [c0, c1, c2]\n"
    )


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def best(n: int, fn) -> float:
    return min(fn() for _ in range(n))


def in_process(data: Path, nas: Path, ws: Path) -> None:
    """The metadata work on one scan's result, apart from hashing."""
    import pyarrow.csv as pcsv

    from mle3.datasets.characterise import aggregate, images_of, shared_groups
    from mle3.datasets.metadata import MetadataSpec, load
    from mle3.datasets.store_local import LocalStore
    from mle3.workspace.schema import Odd
    import yaml

    store = LocalStore(nas, "nas:", "data root 'nas'")
    layout = store.layout(f"{data.name}/data.yaml")
    scanned, _ = store.scan(layout, len(layout.names))
    odd = Odd.model_validate(yaml.safe_load(ODD)["odd"])
    spec = MetadataSpec(f"{data.name}/metadata.csv")
    read = best(3, lambda: _clock(lambda: pcsv.read_csv(data / "metadata.csv")))

    def with_table() -> None:
        table = load(store, spec, odd, layout.root)
        images = images_of(scanned.rows, table, False)
        aggregate(images, layout.names)
        shared_groups(images)

    def without_table() -> None:
        aggregate(images_of(scanned.rows, None, False), layout.names)

    full = best(3, lambda: _clock(with_table))
    derived = best(3, lambda: _clock(without_table))
    print(f"table read alone (pyarrow.csv.read_csv):          {read:6.2f} s")
    print(f"read + validate + match + aggregate (with table): {full:6.2f} s  = {full / read:.2f}x the read")
    print(f"derived characteristics only (no table):          {derived:6.2f} s")
    print(
        f"what the table adds:                              {full - derived:6.2f} s  = {(full - derived) / read:.2f}x"
    )


def _clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", type=int, nargs="?", default=850_000)
    ap.add_argument(
        "--data",
        type=Path,
        help="a tree generated before (its folder holds data.yaml), or where to generate and keep it",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mle3-chars-bench-") as tmp:
        base = Path(tmp)
        data = args.data or base / "nas" / "bench"
        if not (data / "data.yaml").is_file():  # generated here (kept when --data names a new folder)
            start = time.perf_counter()
            generate(data, args.images)
            print(f"generated {args.images} images in {time.perf_counter() - start:.0f} s")
        data = data.resolve()
        nas = data.parent
        ws = base / "ws"
        (ws / "requirements").mkdir(parents=True)
        (ws / "mle3.yaml").write_text("project: characteristics benchmark\ndata_roots:\n  nas: null\n")
        (ws / "requirements" / "odd.yaml").write_text(ODD)
        (ws / "requirements" / "R.yaml").write_text(REQ)
        env = dict(os.environ, MLE3_DATA_ROOT_NAS=str(nas))
        subprocess.run(f"find {data} -type f -print0 | xargs -0 cat > /dev/null", shell=True, check=True)
        rows = sum(1 for _ in open(data / "metadata.csv")) - 1
        print(
            f"{rows} images, {(data / 'metadata.csv').stat().st_size / 1e6:.1f} MB metadata.csv; "
            f"cores: {os.cpu_count()}"
        )
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        in_process(data, nas, ws)
        register = MLE3 + [
            "dataset",
            "register",
            str(data / "data.yaml"),
            "--id",
            "B",
            "--version",
            "v1",
            "-r",
            "REQ-D",
        ]
        plain, table = [], []
        for _ in range(2):
            for out, extra in ((plain, []), (table, ["--metadata", str(data / "metadata.csv")])):
                for item in (ws / "artifacts" / "datasets").glob("B-v1.*.yaml"):
                    item.unlink()
                out.append(timed(register + extra, ws, env))
        print(f"register without the table:  {min(plain):6.2f} s  (runs {', '.join(f'{t:.2f}' for t in plain)})")
        print(f"register with the table:     {min(table):6.2f} s  (+{min(table) / min(plain) - 1:.0%})")
        cold = best(2, lambda: timed(MLE3 + ["check", "--no-cache"], ws, env))
        timed(MLE3 + ["check"], ws, env)
        warm = best(3, lambda: timed(MLE3 + ["check"], ws, env))
        print(f"check with 4 characteristic criteria: cold {cold:.2f} s, warm {warm:.2f} s")
        out = subprocess.run(MLE3 + ["check"], cwd=ws, env=env, capture_output=True, text=True).stdout
        print("\n".join(line for line in out.splitlines() if "criteria" in line) or "criteria: all met")


if __name__ == "__main__":
    main()
