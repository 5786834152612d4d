"""The .mle3 caches are never stale and survive corruption."""

from __future__ import annotations

import os
import time

from conftest import check_json

from mle3.workspace.cache import CACHE_DIR, CACHE_FILE
from mle3.rules.result_cache import RESULT_FILE

MODEL = "artifacts/model.yaml"


def age_all(root, seconds=10):
    """Make every file look old, as if written well before the cache (no racy mtimes)."""
    past = time.time() - seconds
    for dirpath, _, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(dirpath, f), (past, past))


def test_warm_check_reuses_results_and_sees_an_edit(make_ws, cli):
    root = make_ws()
    age_all(root)
    assert check_json(cli, root)[0] == 0
    assert (root / CACHE_DIR / CACHE_FILE).exists() and (root / CACHE_DIR / RESULT_FILE).exists()
    assert check_json(cli, root)[0] == 0
    model = root / MODEL
    text = model.read_text().replace("training_run: TRAIN", "training_run: TRAIX")  # same size
    st = model.stat()
    model.write_text(text)
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same size, mtime 1 ms later
    code, doc = check_json(cli, root)
    assert code == 1 and any(f["rule"] == "trace.dangling-ref" for f in doc["findings"])


def test_racily_recent_file_is_parsed_again(make_ws, cli):
    root = make_ws()
    assert check_json(cli, root)[0] == 0  # files were written just now: cache must not trust them
    model = root / MODEL
    st = model.stat()
    model.write_text(model.read_text().replace("training_run: TRAIN", "training_run: TRAIX"))
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size AND same mtime as cached
    code, doc = check_json(cli, root)
    assert code == 1


def test_artifact_appearing_invalidates_result_cache(make_ws, cli):
    root = make_ws(
        {
            MODEL: "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics: {test: {mAP_50: 0.7}}\n  "
            "artifacts: {weights: models/w.pt}\n  training_data: {dataset_version: DATA-v1}\n  traceability: "
            "{requirements: [REQ-D, REQ-P]}\n  status: released\n",
            "mle3.yaml": "project: t\nexternal: ['SYS-*']\npolicy:\n  approvals: {validated: [], released: []}\n",
        }
    )
    age_all(root)
    assert check_json(cli, root)[0] == 1
    (root / "models").mkdir()
    (root / "models" / "w.pt").write_bytes(b"weights")
    code, doc = check_json(cli, root)
    assert code == 0, doc


def test_corrupt_or_foreign_cache_is_rebuilt(make_ws, cli):
    root = make_ws()
    age_all(root)
    check_json(cli, root)
    (root / CACHE_DIR / CACHE_FILE).write_bytes(b"\x80\x05garbage")
    (root / CACHE_DIR / RESULT_FILE).write_text("not a pickle")
    code, doc = check_json(cli, root)
    assert code == 0 and doc["summary"]["items"] == 6
    code, doc = check_json(cli, root)
    assert code == 0 and doc["summary"]["items"] == 6


def test_parallel_parse_matches_serial(make_ws):
    from mle3.workspace.load import discover, parse_many

    root = make_ws({f"requirements/many/R{i}.yaml": f"requirement:\n  id: R-{i}\n  type: other\n" for i in range(600)})
    paths = [p for p, _, _ in discover(root, ["requirements", "artifacts"])]
    assert [p.docs for p in parse_many(root, paths, jobs=2)] == [p.docs for p in parse_many(root, paths, jobs=1)]
