"""Fault injection: SIGKILL mle3 at random points while it writes run records, a model
version, a data set manifest, the audit log and the caches; afterwards nothing is
half-written, `check` agrees with a check from scratch, and `audit verify` passes."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import yaml

from conftest import BASE_FILES, write_files

from mle3 import audit
from mle3.datasets.manifest import read_manifest

WORKER = r"""
import sys, random
from pathlib import Path
from mle3 import audit
from mle3.datasets.manifest import Entry, encode_manifest, manifest_text
from mle3.datasets.storage import LocalStore
from mle3.itemfile import set_fields
from mle3.rules import check_workspace
from mle3.runs.records import RunRecord
from mle3.workspace import load_workspace

root = Path(sys.argv[1]); rng = random.Random(int(sys.argv[2]))
record = RunRecord.load(root, "RUN-FAULT") if (root / "artifacts/runs/RUN-FAULT/run.yaml").exists() else None
print("ready", flush=True)
for i in range(10_000):
    step = rng.randrange(5)
    if step == 0:
        audit.append(root, "fault.test", "MODEL-v1", {"i": i, "pad": "x" * rng.randrange(2000)}, actor="fault")
    elif step == 1 and record is not None:
        record.update(epochs_completed=i, note="y" * rng.randrange(3000))
        record.append_epoch({"epoch": i, "mAP50": rng.random()})
    elif step == 2:
        ws = load_workspace(root, use_cache=False)
        set_fields(ws, ws.get("MODEL-v1"), {("status",): rng.choice(["draft", "training"])})
    elif step == 3:
        entries = [Entry(f"f/{n}.jpg", n, 0, "%064x" % n) for n in range(rng.randrange(1, 3000))]
        # as register writes one
        LocalStore(root).write_bytes("artifacts/fault.manifest.gz", encode_manifest(manifest_text(entries)))
    else:
        check_workspace(root)
"""


def test_random_kills_never_leave_a_half_written_file(tmp_path):
    from mle3.runs.records import RunRecord

    root = write_files(tmp_path / "ws", dict(BASE_FILES))
    record = RunRecord.create(root, "TRAIN", status="in_progress")
    (root / "artifacts/runs" / record.id).rename(root / "artifacts/runs/RUN-FAULT")
    run_yaml = root / "artifacts/runs/RUN-FAULT/run.yaml"
    run_yaml.write_text(run_yaml.read_text().replace(record.id, "RUN-FAULT"))
    rng = random.Random(7)
    kills = 0
    for round_ in range(24):
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(root), str(round_)], stdout=subprocess.PIPE)
        # imports take 0.4 s on a quiet machine and several seconds on a loaded one: wait until
        # the worker is writing, then kill it somewhere in its loop
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(0.05 + rng.random() * 0.8)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        corrupt = []
        for path in list(root.rglob("*.yaml")):
            try:
                yaml.safe_load(path.read_text())
            except yaml.YAMLError:
                corrupt.append(path)
        run = yaml.safe_load(run_yaml.read_text())["run"]
        assert run["id"] == "RUN-FAULT"
        for line in (
            (root / "artifacts/runs/RUN-FAULT/epochs.jsonl").read_text().splitlines(keepends=True)
            if (root / "artifacts/runs/RUN-FAULT/epochs.jsonl").exists()
            else []
        ):
            if line.endswith("\n"):
                json.loads(line)
        if (root / "artifacts/fault.manifest.gz").exists():
            read_manifest(root / "artifacts/fault.manifest.gz")
        count, problems = audit.verify(root)
        assert problems == [], problems
        assert corrupt == []
    assert kills >= 20
    from mle3.rules import check_workspace

    cached = check_workspace(root)
    fresh = check_workspace(root, use_cache=False)
    assert [f.to_json() for f in cached.findings] == [f.to_json() for f in fresh.findings]
    assert audit.verify(root)[0] > 0
