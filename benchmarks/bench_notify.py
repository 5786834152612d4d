"""What a notification adds to `mle3 promote` when the mail server is down.

    python benchmarks/bench_notify.py [N]      (default 20 promotions per case)

A small workspace, one model version promoted draft -> training -> draft N times (each a
real promotion: gate, item write, audit entry) in-process, median per promotion:
- no inform rule (the baseline);
- inform rules (e-mail + webhook), ``deliver: background``, server down: a port with
  nothing listening;
- the same with a server that accepts and never answers;
- ``deliver: queue`` (outbox only).
The issue's bound: a notification adds < 100 ms. The detached deliverers are left to
finish (they give up after the configured timeout) before the workspace is removed.
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's mle3

FILES = {
    "requirements/R.yaml": """
        requirement:
          id: REQ-P
          title: perf
          type: performance
    """,
    "artifacts/data.yaml": """
        dataset:
          id: DATA
          version: v1
          requirements: [REQ-P]
          classes: [car]
          splits:
            train: {samples: 700, path: data/train}
            val: {samples: 150, path: data/val}
            test: {samples: 150, path: data/test}
    """,
    "artifacts/train.yaml": """
        training:
          id: TRAIN
          model: yolov8n.yaml
          dataset: DATA
          epochs: 10
    """,
    "artifacts/model.yaml": """
        model_version:
          id: MODEL-v1
          training_run: TRAIN
          training_data: {dataset_version: DATA-v1}
          traceability: {requirements: [REQ-P]}
          status: draft
    """,
}


def settings(deliver: str | None, smtp_port: int, hook_port: int) -> str:
    if deliver is None:
        return "project: bench\n"
    return textwrap.dedent(f"""
        project: bench
        notifications:
          deliver: {deliver}
          smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none, sender: mle3@example.com, timeout: 2}}
          webhooks: {{alm: {{url: "http://127.0.0.1:{hook_port}/hook", timeout: 2}}}}
          inform:
            - on: [promote.training, promote.draft]
              email: [safety@example.com]
              webhooks: [alm]
    """)


def workspace(base: Path, name: str, config: str) -> Path:
    root = base / name
    for rel, text in {**FILES, "mle3.yaml": config}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def promotions(root: Path, n: int, pause: float = 0.0) -> list[float]:
    from mle3.approvals import promote

    promote(root, "MODEL-v1", "training")  # warm: imports, caches
    promote(root, "MODEL-v1", "draft")
    times = []
    for i in range(n):
        start = time.perf_counter()
        gate = promote(root, "MODEL-v1", "training" if i % 2 == 0 else "draft")
        times.append(time.perf_counter() - start)
        assert gate.ok, gate.missing
        time.sleep(pause)
    return times


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    refused_port = refused.getsockname()[1]
    refused.close()  # nothing listens there now
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts, never answers
    silent_port = silent.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cases = {
            "no inform rule": settings(None, 0, 0),
            "background, server down (refused)": settings("background", refused_port, refused_port),
            "background, server accepts, never answers": settings("background", silent_port, silent_port),
            "queue (outbox only)": settings("queue", refused_port, refused_port),
        }
        medians = {}
        runs = [(name, config, 0.0) for name, config in cases.items()]
        runs += [(name + ", 1 s apart", config, 1.0) for name, config in cases.items() if "background" in name]
        for i, (name, config, pause) in enumerate(runs):
            root = workspace(base, f"ws{i}", config)
            times = promotions(root, n, pause)
            medians[name] = statistics.median(times)
            time.sleep(4)  # the detached deliverers of this case give up (timeout 2 s) before the next
            print(f"{name:55s} median {medians[name] * 1000:7.1f} ms   max {max(times) * 1000:7.1f} ms  (n={n})")
        baseline = medians["no inform rule"]
        for name, value in medians.items():
            if name != "no inform rule":
                print(f"added by notifications, {name:55s} {(value - baseline) * 1000:+7.1f} ms")
    silent.close()


if __name__ == "__main__":
    main()
