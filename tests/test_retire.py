"""A data set version can be retired (rejected or obsolete) with a reason: recorded, its
record kept, a bare id skips it, check reports what still uses it, training refuses it."""

from __future__ import annotations

import json

from conftest import check_json


def test_a_retired_version_is_recorded_skipped_by_a_bare_id_and_reported(make_ws, cli):
    root = make_ws(
        {
            "artifacts/data2.yaml": "dataset:\n  id: DATA\n  version: v2\n  requirements: [REQ-D]\n  classes: [car]\n"
            "  splits:\n    train: {samples: 700, path: data/train2, instances: {car: 900}}\n"
            "    val: {samples: 150, path: data/val2}\n    test: {samples: 150, path: data/test2}\n"
        }
    )
    from mle3 import audit, load_workspace

    assert load_workspace(root, use_cache=False).resolve("DATA").key == "DATA-v2"
    code, out, err = cli(
        "dataset",
        "retire",
        "DATA-v2",
        "--status",
        "rejected",
        "--reason",
        "labels of batch 7 are wrong",
        "-w",
        root,
        "--format",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "rejected"
    text = (root / "artifacts/data2.yaml").read_text()
    assert "status: rejected" in text and "status_reason: labels of batch 7 are wrong" in text
    assert load_workspace(root, use_cache=False).resolve("DATA").key == "DATA-v1"  # the latest version still in use
    assert [e["item"] for e in audit.history(root) if e["action"] == "dataset.retire"] == ["DATA-v2"]
    code, doc = check_json(cli, root, "--no-cache")
    assert not [f for f in doc["findings"] if f["rule"] == "data.retired"], doc["findings"]
    code, _, _ = cli("dataset", "retire", "DATA-v1", "--status", "obsolete", "--reason", "superseded", "-w", root)
    code, doc = check_json(cli, root, "--no-cache")
    retired = sorted((f["item"], f["severity"]) for f in doc["findings"] if f["rule"] == "data.retired")
    assert retired == [("MODEL-v1", "warning"), ("TRAIN", "warning")], doc["findings"]
    assert any("superseded" in f["message"] for f in doc["findings"] if f["rule"] == "data.retired")
    code, _, err = cli("train", "TRAIN", "-w", root, expect=2)  # nothing is trained on a retired version
    assert code == 2 and "is rejected (labels of batch 7 are wrong): it is not trained on" in err, err


def test_retire_refuses_a_bare_id_a_missing_reason_and_other_kinds(make_ws, cli):
    root = make_ws()
    for args, message in (
        (["DATA", "--status", "obsolete", "--reason", "x"], "name the version to retire"),
        (["DATA-v1", "--status", "obsolete", "--reason", " "], "--reason is required"),
        (["TRAIN", "--status", "obsolete", "--reason", "x"], "not a data set version"),
    ):
        code, _, err = cli("dataset", "retire", *args, "-w", root, expect=2)
        assert code == 2 and message in err, (args, err)
