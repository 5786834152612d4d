"""`tune accept` checks that its new id is free and writes under one lock, on the workspace
as it is then: a caller's stale view cannot make two configurations with one id."""

from __future__ import annotations

import pytest

from mle3.errors import Mle3Error
from mle3.tuning.accept import accept
from mle3.workspace import load_workspace

STUDY = """
    study:
      id: TRAIN-TUNE-1
      config: TRAIN
      status: finished
      objective: {metric: mAP_50, direction: maximize}
      trials:
        - {number: 0, run: RUN-A, status: complete, value: 0.5, params: {epochs: 3}}
      best: {number: 0, run: RUN-A, value: 0.5, params: {epochs: 3}}
"""


def test_a_stale_workspace_cannot_accept_an_id_taken_since(make_ws):
    root = make_ws({"artifacts/studies/TRAIN-TUNE-1.yaml": STUDY})
    stale = load_workspace(root)
    first = accept(load_workspace(root), "TRAIN-TUNE-1", "TRAIN-TUNED")
    assert first["config"] == "TRAIN-TUNED" and (root / first["files"][0]).is_file()
    with pytest.raises(Mle3Error, match="TRAIN-TUNED already exists"):
        accept(stale, "TRAIN-TUNE-1", "TRAIN-TUNED")
    assert load_workspace(root).get("TRAIN-TUNED").epochs == 3


def test_a_file_in_the_way_is_refused_not_overwritten(make_ws):
    root = make_ws({"artifacts/studies/TRAIN-TUNE-1.yaml": STUDY, "artifacts/TRAIN-TUNED.yaml": "not: [an item"})
    with pytest.raises(Mle3Error, match="artifacts/TRAIN-TUNED.yaml exists"):
        accept(root, "TRAIN-TUNE-1", "TRAIN-TUNED")
    assert (root / "artifacts/TRAIN-TUNED.yaml").read_text() == "not: [an item"
