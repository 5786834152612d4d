"""The 13-51 consistency evidence: each link of a model's trace judged by the facts behind it."""

from __future__ import annotations

from pathlib import Path

import yaml

MODEL = "TINY-MODEL-v0.1.0"


def evidence(root: Path) -> dict:
    from mle3 import build_graph, load_workspace
    from mle3.reports.consistency import build_consistency
    from mle3.reports.products import Context

    ws = load_workspace(root)
    ctx = Context(ws, build_graph(ws))
    return build_consistency(ctx, ws.get(MODEL))


def link(data: dict, source_kind: str, relation: str, target: str | None = None) -> dict:
    found = [
        x
        for x in data["links"]
        if x["source_kind"] == source_kind and x["relation"] == relation and target in (None, x["target"])
    ]
    assert len(found) == 1, [(x["source"], x["relation"]) for x in data["links"]]
    return found[0]


def run_file(root: Path) -> Path:
    return next((root / "artifacts/runs").glob("*/run.yaml"))


def test_a_freshly_trained_model_is_consistent_by_facts_not_by_links(trained_ws):
    data = evidence(trained_ws)
    assert data["consistent"] and data["counts"]["inconsistent"] == 0, data["links"]
    trained = link(data, "model_version", "trained_by")
    assert trained["verdict"] == "consistent"
    assert any("hashes to the recorded sha256" in f for f in trained["facts"]), trained
    data_link = link(data, "model_version", "uses_dataset")
    assert any("the registered one" in f for f in data_link["facts"]) and any(
        "as registered" in f for f in data_link["facts"]
    )
    criteria = link(data, "model_version", "traces_to", "REQ-PERF")
    assert criteria["target"] == "REQ-PERF" and any(
        f.startswith("met: mAP_50 on test") and "actual" in f for f in criteria["facts"]
    )
    # a link with nothing to compare says so, it does not pass
    satisfied = link(data, "dataset", "satisfies")
    assert satisfied["verdict"] == "linked" and "no criterion" in satisfied["check"]
    model_node = next(n for n in data["nodes"] if n["key"] == MODEL)
    assert {r["for"] for r in model_node["approvals"]["rows"]} >= {"11-06", "13-65", "13-51"}
    assert all(r["state"] == "missing" for r in model_node["approvals"]["rows"])


def test_weights_changed_on_disk_make_the_training_link_inconsistent(trained_ws):
    model = yaml.safe_load((trained_ws / f"artifacts/models/{MODEL}.yaml").read_text())["model_version"]
    weights = trained_ws / model["artifacts"]["weights"]
    weights.write_bytes(weights.read_bytes() + b"tampered")
    data = evidence(trained_ws)
    trained = link(data, "model_version", "trained_by")
    assert trained["verdict"] == "inconsistent" and not data["consistent"]
    assert any("the record says" in p for p in trained["problems"]), trained


def test_a_run_that_recorded_other_data_is_inconsistent_with_the_registered_version(trained_ws):
    path = run_file(trained_ws)
    doc = yaml.safe_load(path.read_text())
    doc["run"]["dataset_fingerprint"] = "sha256:" + "0" * 64
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    data = evidence(trained_ws)
    used = link(data, "run", "uses_dataset")
    assert used["verdict"] == "inconsistent" and "recorded data fingerprint sha256:00000" in used["problems"][0]


def test_an_unmet_criterion_shows_its_actual_value(trained_ws):
    req = trained_ws / "requirements/R.yaml"
    req.write_text(req.read_text().replace("min: 0.0", "min: 0.999"))
    criteria = link(evidence(trained_ws), "model_version", "traces_to", "REQ-PERF")
    assert criteria["verdict"] == "inconsistent"
    assert criteria["problems"][0].startswith("not met: mAP_50 on test >= 0.999: actual ")
    assert any(f["rule"] == "criteria.unmet" for f in criteria["findings"])


def test_a_reference_to_nothing_is_named(trained_ws):
    path = trained_ws / f"artifacts/models/{MODEL}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["model_version"]["traceability"]["requirements"].append("REQ-GONE")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    data = evidence(trained_ws)
    assert [d["target"] for d in data["dangling"]] == ["REQ-GONE"] and data["dangling"][0]["verdict"] == "inconsistent"
    assert not data["consistent"]


def test_approvals_show_fresh_by_whom_then_stale(trained_ws, cli):
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Sam Safety", "-w", trained_ws)
    node = next(n for n in evidence(trained_ws)["nodes"] if n["key"] == MODEL)
    fresh = [r for r in node["approvals"]["rows"] if r["for"] == "13-51"]
    assert fresh[0]["state"] == "fresh" and fresh[0]["by"][0].startswith("Sam Safety at ")
    req = trained_ws / "requirements/R.yaml"
    req.write_text(req.read_text().replace("Tiny detector quality", "Tiny detector quality (edited)"))
    node = next(n for n in evidence(trained_ws)["nodes"] if n["key"] == MODEL)
    stale = [r for r in node["approvals"]["rows"] if r["for"] == "13-51"]
    assert stale[0]["state"] == "stale" and "Sam Safety" in stale[0]["stale"][0]


def test_the_document_renders_and_names_what_is_inconsistent(trained_ws, cli):
    model = yaml.safe_load((trained_ws / f"artifacts/models/{MODEL}.yaml").read_text())["model_version"]
    weights = trained_ws / model["artifacts"]["weights"]
    weights.write_bytes(b"not the weights")
    out = trained_ws / "1351.html"
    code, _, err = cli("report", "13-51", MODEL, "--to", "html", "-o", out, "-w", trained_ws)
    assert code == 0, err
    html = out.read_text()
    assert "13-51" in html and "INCONSISTENT" in html and "the record says" in html and "DRAFT" in html
    assert "Check result" in html and "ASPICE 4.0 information items" in html
    # a data set version is no model version: usage error, one line
    code, _, err = cli("report", "13-51", "TINY-DATA-v1", "-o", out, "-w", trained_ws, expect=2)
    assert "13-51" in err and "Traceback" not in err


def test_the_evidence_as_json_is_the_published_shape(trained_ws, cli, tmp_path):
    import json

    import jsonschema

    from mle3.cli.shapes import find

    out = tmp_path / "c.json"
    code, stdout, err = cli("report", "13-51", MODEL, "--to", "json", "-o", out, "-w", trained_ws)
    assert code == 0 and "consistent" in stdout, err
    data = json.loads(out.read_text())
    jsonschema.validate(data, find("mle3.consistency/1"))
    assert data["model"] == MODEL and data["consistent"] is True and data["git"]["commit"] is None
    assert {x["relation"] for x in data["links"]} >= {"trained_by", "uses_dataset", "traces_to", "uses_config"}
    # json is the 13-51's and the assessment view's only: another work product says so
    code, _, err = cli("report", "11-06", MODEL, "--to", "json", "-o", out, "-w", trained_ws, expect=2)
    assert "pdf or html" in err


def test_weights_swapped_with_their_hash_are_not_the_runs_best_checkpoint(trained_ws):
    import hashlib

    path = trained_ws / f"artifacts/models/{MODEL}.yaml"
    doc = yaml.safe_load(path.read_text())
    weights = trained_ws / doc["model_version"]["artifacts"]["weights"]
    weights.write_bytes(b"other weights")  # and the model file edited to match: only the run record disagrees
    doc["model_version"]["weights_sha256"] = hashlib.sha256(b"other weights").hexdigest()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    trained = link(evidence(trained_ws), "model_version", "trained_by")
    assert trained["verdict"] == "inconsistent" and any("not the run's best.pt" in p for p in trained["problems"])


def test_a_run_that_names_no_model_does_not_vouch_for_one(trained_ws):
    path = run_file(trained_ws)
    doc = yaml.safe_load(path.read_text())
    del doc["run"]["model_version"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    trained = link(evidence(trained_ws), "model_version", "trained_by")
    assert trained["verdict"] == "inconsistent" and "names no model version" in trained["problems"][0]


def test_an_edited_configuration_snapshot_is_caught_by_the_hash_the_run_recorded(trained_ws):
    snapshot = run_file(trained_ws).parent / "config.yaml"
    snapshot.write_text(snapshot.read_text().replace("epochs: 2", "epochs: 3"))
    used = link(evidence(trained_ws), "run", "uses_config")
    assert used["verdict"] == "inconsistent" and "edited afterwards" in used["problems"][0]


def test_quantization_drops_are_judged_against_their_threshold():
    from types import SimpleNamespace

    from mle3.reports.consistency import Link, _Checker

    def judged(drop, threshold):
        link = Link("C", "model_version", "previous_version", "P", "model_version", "down", "")
        _Checker._drops(link, SimpleNamespace(drop=drop, threshold=threshold, passed=True))
        return link

    assert judged({"val": 0.01, "test": 0.02}, 0.03).verdict == "consistent"
    assert "exceeds the threshold" in judged({"val": 0.5}, 0.03).problems[0]
    on_test = judged({"val": 0.01, "test": 0.5}, 0.03)  # the gate decides on val; test is MLE.4 evidence
    assert on_test.verdict == "consistent" and any("testing evidence (MLE.4)" in f for f in on_test.facts)
    assert "is not a number" in judged({"val": float("nan")}, 0.03).problems[0]
    assert "not a number" in judged({"val": 0.01}, "none").problems[0]
    assert judged("big", 0.03).verdict == "inconsistent"


def test_an_inconsistent_trace_keeps_an_approved_13_51_out_of_a_release(trained_ws, cli):
    path = run_file(trained_ws)
    doc = yaml.safe_load(path.read_text())
    doc["run"]["dataset_fingerprint"] = "sha256:" + "1" * 64
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Sam Safety", "-w", trained_ws)
    out = trained_ws / "1351.html"
    code, _, err = cli("report", "13-51", MODEL, "-o", out, "-w", trained_ws, "--release", expect=1)
    assert "inconsistent link" in err and "uses_dataset" in err and not out.exists()


def test_a_finding_about_another_requirement_is_not_this_links(trained_ws):
    req = trained_ws / "requirements/R.yaml"
    req.write_text(
        req.read_text()
        + "  - id: REQ-PERF2\n    type: performance\n    title: stricter\n"
        + "    criteria:\n      - metric: mAP_50\n        split: test\n        min: 0.999\n"
    )
    path = trained_ws / f"artifacts/models/{MODEL}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["model_version"]["traceability"]["requirements"].append("REQ-PERF2")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    data = evidence(trained_ws)
    assert link(data, "model_version", "traces_to", "REQ-PERF")["verdict"] == "consistent"
    assert link(data, "model_version", "traces_to", "REQ-PERF2")["verdict"] == "inconsistent"
