"""Load on `mle3 serve`: the run list at 10,000 runs, SSE delay, and training with viewers.

    python benchmarks/bench_serve.py [--runs 10000] [--clients 50] [--epochs 6] [--repeat 2]

1. Writes N run records, starts `mle3 serve`, and times `GET /api/runs` (first call,
   then the median of 50 warm calls, with and without search and status filters) and a
   run recorded after start (through the change log).
2. SSE delay: appends epoch lines to a running run's epochs.jsonl and times until an
   SSE client receives each (median and max of 20).
3. Training slowdown: a real CPU training (tiny synthetic data) alone, then with the
   server and `--clients` SSE clients watching it; compares the sum of the epochs' own
   times from epochs.jsonl (start-up excluded), medians of `--repeat` trainings each.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

MLE3 = [sys.executable, "-c", "from mle3.cli import run; run()"]
ENV = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false", PYTHONUNBUFFERED="1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_runs(root: Path, n: int) -> None:
    base = root / "artifacts" / "runs"
    for i in range(n):
        run_id = f"RUN-20260101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-{i % 65536:04x}"
        folder = base / run_id
        folder.mkdir(parents=True)
        status = ("success", "failed", "terminated")[i % 3]
        (folder / "run.yaml").write_text(
            yaml.safe_dump(
                {
                    "run": {
                        "id": run_id,
                        "config": f"CFG-{i % 17:03d}",
                        "status": status,
                        "created": f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
                        "dataset_version": "DATA-v1",
                        "model_version": f"MODEL-{i}",
                        "epochs_completed": 10,
                        "parameters": {"epochs": 10, "batch": 16, "lr0": 0.01},
                        "mapping": [
                            {"field": f"f{j}", "value": j, "target": f"t{j}", "status": "applied"} for j in range(30)
                        ],
                    }
                }
            )
        )


def get(port: int, path: str) -> tuple[float, dict]:
    t = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return time.perf_counter() - t, json.loads(body)


def start_server(root: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        MLE3 + ["serve", "--port", str(port), "-w", str(root)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server.stdout.readline()
    for _ in range(100):
        try:
            get(port, "/api/runs?q=nothing-matches")
            break
        except OSError:
            time.sleep(0.1)
    return server


class SseClient(threading.Thread):
    def __init__(self, port: int, run_id: str) -> None:
        super().__init__(daemon=True)
        self.port, self.run_id = port, run_id
        self.events: list[tuple[float, str, str]] = []
        self.ready = threading.Event()
        self.stop = False

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        conn.request("GET", f"/api/runs/{self.run_id}/events")
        resp = conn.getresponse()
        self.ready.set()
        event = None
        while not self.stop:
            line = resp.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                self.events.append((time.perf_counter(), event, line[6:]))


def bench_list(root: Path, n: int) -> None:
    fake_runs(root, n)
    port = free_port()
    t = time.perf_counter()
    server = start_server(root, port)
    ready = time.perf_counter() - t
    try:
        first, doc = get(port, "/api/runs")
        warm = [get(port, "/api/runs")[0] for _ in range(50)]
        filtered = [get(port, "/api/runs?status=failed&q=cfg-003")[0] for _ in range(50)]
        print(
            f"{n} runs: server up and indexed in {ready:.2f} s (cold index, run.yaml parsed once); total listed "
            f"{doc['total']}"
        )
        print(
            f"GET /api/runs: first {first * 1000:.1f} ms; warm median {statistics.median(warm) * 1000:.1f} ms, max "
            f"{max(warm) * 1000:.1f} ms"
        )
        print(f"GET /api/runs?status=failed&q=cfg-003: median {statistics.median(filtered) * 1000:.1f} ms")
        folder = root / "artifacts" / "runs" / "RUN-20270101-000000-ffff"
        folder.mkdir()
        (folder / "run.yaml").write_text(
            yaml.safe_dump(
                {
                    "run": {
                        "id": folder.name,
                        "config": "LATE",
                        "status": "success",
                        "created": "2027-01-01T00:00:00+00:00",
                    }
                }
            )
        )
        from mle3.runs.records import note_change

        note_change(root, folder.name)
        t = time.perf_counter()
        while get(port, "/api/runs")[1]["runs"][0]["id"] != folder.name:
            time.sleep(0.05)
        print(
            f"a run recorded after start is listed after {(time.perf_counter() - t) * 1000:.0f} ms (change log; no "
            "rescan)"
        )
    finally:
        server.terminate()
        server.wait()
    t = time.perf_counter()
    server = start_server(root, port)
    print(f"restart with the index cache: up in {time.perf_counter() - t:.2f} s")
    server.terminate()
    server.wait()


def bench_sse_delay(root: Path) -> None:
    run_id = "RUN-20260601-000000-dddd"
    folder = root / "artifacts" / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "run.yaml").write_text(
        yaml.safe_dump(
            {
                "run": {
                    "id": run_id,
                    "config": "X",
                    "status": "in_progress",
                    "created": "2026-06-01T00:00:00+00:00",
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "parameters": {"epochs": 100},
                }
            }
        )
    )
    port = free_port()
    server = start_server(root, port)
    client = SseClient(port, run_id)
    client.start()
    client.ready.wait(10)
    time.sleep(0.5)
    delays = []
    try:
        for epoch in range(1, 21):
            before = len([e for e in client.events if e[1] == "epoch"])
            t = time.perf_counter()
            with open(folder / "epochs.jsonl", "a") as fh:
                fh.write(json.dumps({"epoch": epoch, "mAP50": epoch / 100}) + "\n")
            while len([e for e in client.events if e[1] == "epoch"]) == before:
                time.sleep(0.005)
            delays.append(time.perf_counter() - t)
            time.sleep(0.3)
        print(
            f"SSE: an epoch line reaches a client after median {statistics.median(delays) * 1000:.0f} ms, max "
            f"{max(delays) * 1000:.0f} ms (20 epochs; the poll is every 250 ms)"
        )
    finally:
        client.stop = True
        server.terminate()
        server.wait()


def training_time(root: Path, epochs: int, clients: int) -> float:
    """Sum of the epochs' own times of one training, with ``clients`` SSE viewers."""
    server = None
    viewers: list[SseClient] = []
    port = free_port()
    if clients:
        server = start_server(root, port)
    proc = subprocess.Popen(
        MLE3 + ["train", "BENCH-TRAIN", "--epochs", str(epochs), "--format", "json", "-w", str(root)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        if clients:
            run_id = None
            while run_id is None and proc.poll() is None:
                runs = get(port, "/api/runs?status=in_progress")[1]["runs"]
                run_id = runs[0]["id"] if runs else None
                time.sleep(0.1)
            for _ in range(clients):
                viewer = SseClient(port, run_id)
                viewer.start()
                viewers.append(viewer)
        out, _ = proc.communicate()
        run_id = json.loads(out)["run_id"]
    finally:
        for viewer in viewers:
            viewer.stop = True
        if server is not None:
            server.terminate()
            server.wait()
    if viewers:
        got = [len([e for e in v.events if e[1] == "epoch"]) for v in viewers]
        print(f"  {clients} viewers received {min(got)}-{max(got)} epoch events each")
    lines = (root / "artifacts" / "runs" / run_id / "epochs.jsonl").read_text().splitlines()
    return sum(json.loads(line)["epoch_time_s"] for line in lines)


def bench_training(root: Path, epochs: int, clients: int, repeat: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _workspace import training_workspace

    ws = training_workspace(
        root / "train-ws",
        "BENCH",
        (
            f"training:\n  id: BENCH-TRAIN\n  model: yolov8n.yaml\n  dataset: BENCH-DATA\n  epochs: {epochs}\n  "
            "batch_size: 16\n"
            "  image_size: 128\n  early_stopping: {patience: 0}\n  hardware: {workers: 2}\n  reproducibility: {seed: "
            "0, deterministic: true}\n"
        ),
        images=200,
        imgsz=128,
    )
    alone, watched = [], []
    for _ in range(repeat):
        alone.append(training_time(ws, epochs, 0))
        watched.append(training_time(ws, epochs, clients))
    a, w = statistics.median(alone), statistics.median(watched)
    print(f"training, {epochs} epochs of 200 images at 128 px on the CPU, sum of epoch times (medians of {repeat}):")
    print(
        f"  alone {a:.2f} s {[f'{x:.2f}' for x in alone]}; with the server and {clients} SSE viewers {w:.2f} s "
        f"{[f'{x:.2f}' for x in watched]}: {(w - a) / a:+.1%}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mle3-serve-bench-") as tmp:
        root = Path(tmp) / "ws"
        (root / "artifacts" / "runs").mkdir(parents=True)
        (root / "mle3.yaml").write_text("project: serve benchmark\n")
        bench_list(root, args.runs)
        bench_sse_delay(root)
        if not args.skip_training:
            bench_training(Path(tmp), args.epochs, args.clients, args.repeat)


if __name__ == "__main__":
    main()
