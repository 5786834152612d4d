"""Several mle3 processes at once on one workspace: a training, data set registrations
and approvals. No audit entry, record or model version is lost or corrupted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from conftest import check_json, dataset_record

from mle3 import audit

pytestmark = pytest.mark.slow


def start(root, *args):
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false")
    return subprocess.Popen(
        [sys.executable, "-c", "from mle3.cli import run; run()", *args, "-w", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_training_registrations_and_approvals_at_once(trained_ws, cli):
    before = audit.verify(trained_ws)[0]
    data_yaml = str(trained_ws / "data/tiny/data.yaml")
    procs = [start(trained_ws, "train", "TINY-TRAIN-001", "--epochs", "1")]
    procs += [
        start(trained_ws, "dataset", "register", data_yaml, "--id", "TINY-DATA", "--version", f"v{n}", "-r", "REQ-DATA")
        for n in (2, 3)
    ]
    procs += [
        start(trained_ws, "approve", "TINY-MODEL-v0.1.0", "--role", role, "--name", name)
        for role, name in (("ml_lead", "Lea"), ("safety_assessor", "Sam"), ("data_owner", "Dora"))
    ]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    count, problems = audit.verify(trained_ws)
    assert problems == [] and count == before + 2 + 2 + 3  # run.start/end, two registrations, three approvals
    actions = [e["action"] for e in audit.history(trained_ws)][before:]
    assert sorted(actions) == sorted(
        ["run.start", "run.end", "dataset.register", "dataset.register", "approval", "approval", "approval"]
    )
    for version in ("v2", "v3"):
        item = yaml.safe_load(dataset_record(trained_ws, f"TINY-DATA-{version}").read_text())["dataset"]
        assert item["registered"]["files"] > 0
    drafts = [p.name for p in (trained_ws / "artifacts/models").glob("TINY-MODEL-RUN-*.yaml")]
    assert len(drafts) == 1, drafts  # the new draft is named after its run
    code, doc = check_json(cli, trained_ws, "--no-cache")
    assert not [f for f in doc["findings"] if f["rule"].startswith(("load.", "approval.audit"))], doc["findings"]
