"""The assessment view: one evaluation of ASPICE 4.0 MLE.3 (and SUP.11) base practices and
outcomes, indicators with their reason, its JSON schema and its sphinx-needs needs.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conftest import TINY_FILES, write_files

MODEL = "TINY-MODEL-v1"

#: the needs.json schema sphinx-needs validates imports against (useblocks/sphinx-needs,
#: sphinx_needs/needsfile.json), restated here: the file must pass it
SPHINX_NEEDS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "created": {"type": "string"},
        "current_version": {"type": "string"},
        "project": {"type": "string"},
        "versions": {
            "type": "object",
            "patternProperties": {
                "^.*$": {
                    "type": "object",
                    "properties": {
                        "created": {"type": "string"},
                        "creator": {"type": "object"},
                        "needs": {
                            "patternProperties": {
                                "^.*$": {
                                    "type": "object",
                                    "properties": {
                                        "title": {"type": "string"},
                                        "id": {"type": "string"},
                                        "content": {"type": "string"},
                                    },
                                }
                            }
                        },
                        "needs_amount": {"type": "number"},
                    },
                }
            },
            "additionalProperties": False,
        },
    },
    "required": ["current_version", "project"],
}

APPROACH = """
approach:
  id: APPROACH-1
  title: Tiny training approach
  entry_criteria: {dataset_verified: false}
  exit_criteria:
    metric: {metric: mAP_50, min: 0.0}
    epoch_budget: 2
  tuning: {description: a study over the learning rate, studies: [STUDY-1]}
  data: {split_policy: by sequence, sources: [synthetic generator]}
  environment: {hardware: cpu, framework: ultralytics}
"""
STUDY = """
study:
  id: STUDY-1
  config: TINY-TRAIN-001
  status: complete
  objective: {metric: mAP_50, direction: maximize, split: val}
  trials:
    - {number: 0, run: RUN-T0, status: complete, value: 0.4, params: {optimizer.lr: 0.002}}
    - {number: 1, run: RUN-T1, status: complete, value: 0.5, params: {optimizer.lr: 0.001}}
  best: {number: 1, run: RUN-T1, status: complete, value: 0.5, params: {optimizer.lr: 0.001}}
"""
RUN = """
run:
  id: RUN-1
  config: TINY-TRAIN-001
  kind: training
  status: success
  dataset_version: TINY-DATA-v1
  model_version: TINY-MODEL-v1
"""
MODEL_YAML = """
model_version:
  id: TINY-MODEL-v1
  training_run: RUN-1
  training_config: TINY-TRAIN-001
  metrics:
    validation: {mAP_50: 0.5}
    test: {mAP_50: 0.5}
  training_data: {dataset_version: TINY-DATA-v1}
  traceability: {requirements: [REQ-PERF]}
  status: draft
"""


def _ws(root: Path, *, approach: bool = True, optimized: bool = True, criteria: bool = True) -> Path:
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate

    files = dict(TINY_FILES)
    reqs = files["requirements/R.yaml"]
    if criteria:
        reqs = reqs.replace(
            "title: Tiny shapes data\n",
            "title: Tiny shapes data\n    criteria:\n      - samples: train\n        min: 10\n",
        )
    files["requirements/R.yaml"] = reqs
    cfg = files["artifacts/training/TINY.yaml"]
    cfg += ("  approach: APPROACH-1\n" if approach else "") + ("  optimized_by: STUDY-1\n" if optimized else "")
    files["artifacts/training/TINY.yaml"] = cfg
    if approach:
        files["artifacts/approach.yaml"] = APPROACH
    files.update(
        {
            "artifacts/studies/STUDY-1.yaml": STUDY,
            "artifacts/runs/RUN-1/run.yaml": RUN,
            "artifacts/models/TINY-MODEL-v1.yaml": MODEL_YAML,
        }
    )
    write_files(root, files)
    data = generate(root / "data" / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)
    register(root, data, "TINY-DATA", "v1", ["REQ-DATA"])
    return root


def _context(root: Path, drop_rules: tuple[str, ...] = ("approach.",), extra: list | None = None):
    """The report context, with the findings of the ``approach`` family left out (another
    module writes those rules; each test says which findings it wants) and ``extra`` added."""
    from mle3 import build_graph, load_workspace
    from mle3.reports.products import Context
    from mle3.rules import run_checks

    ws = load_workspace(root, use_cache=False)
    graph = build_graph(ws)
    ctx = Context(ws, graph)
    report = run_checks(ws, graph)
    report.findings = [f for f in report.findings if not f.rule.startswith(drop_rules)] + list(extra or [])
    ctx._check = report
    return ctx


def _practices(evaluation: dict, process: str = "MLE.3") -> dict[str, dict]:
    proc = next(p for p in evaluation["processes"] if p["id"] == process)
    return {p["id"]: p for p in proc["practices"]}


def evaluate(root: Path, model: str | None = None, **kw):
    from mle3.reports.assessment import evaluate_workspace

    ctx = _context(root, **kw)
    return evaluate_workspace(ctx, ctx.ws.get(model) if model else None)


def test_a_bare_workspace_is_missing_everything_and_says_why(tmp_path):
    root = write_files(tmp_path / "ws", {"mle3.yaml": "project: bare\n"})
    e = evaluate(root)
    bps = _practices(e)
    assert {p["indicators"] for p in bps.values()} == {"missing"}
    assert "no approach (08-65) and no training configuration" in bps["MLE.3.BP1"]["reason"]
    assert "no registered data set" in bps["MLE.3.BP2"]["reason"]
    assert "no model version in scope" in bps["MLE.3.BP3"]["reason"]
    assert "no data set in scope" in bps["MLE.3.BP4"]["reason"]
    assert "no trained model version" in bps["MLE.3.BP5"]["reason"]
    assert [p["id"] for p in e["processes"]] == ["MLE.3"]  # no data managed: no SUP.11
    outcomes = e["processes"][0]["outcomes"]
    assert [o["id"] for o in outcomes] == [f"MLE.3.O{i}" for i in range(1, 6)]
    assert all(o["indicators"] == "missing" for o in outcomes)
    assert e["counts"] == {"present": 0, "partial": 0, "missing": 5}


def test_the_demo_like_workspace_reaches_present_with_the_evidence_named(tmp_path):
    root = _ws(tmp_path / "ws")
    bps = _practices(evaluate(root, MODEL))
    bp1 = bps["MLE.3.BP1"]
    assert bp1["indicators"] == "present", bp1["reason"]
    assert "approach APPROACH-1" in bp1["reason"] and "required hardware cpu" in bp1["reason"]
    assert any(ev["ref"] == "APPROACH-1" and ev["report"] == "08-65" for ev in bp1["evidence"])
    assert bps["MLE.3.BP2"]["indicators"] == "present", bps["MLE.3.BP2"]["reason"]
    assert bps["MLE.3.BP3"]["indicators"] == "present", bps["MLE.3.BP3"]["reason"]
    assert any(ev["ref"] == "STUDY-1" for ev in bps["MLE.3.BP3"]["evidence"])
    assert bps["MLE.3.BP4"]["indicators"] == "present", bps["MLE.3.BP4"]["reason"]
    assert "1/1 data criteria met" in bps["MLE.3.BP4"]["reason"]
    # nobody approved, nobody was informed: the summary alone is partial
    bp5 = bps["MLE.3.BP5"]
    assert bp5["indicators"] == "partial"
    assert "approvals missing for ml_lead, safety_assessor" in bp5["reason"]
    assert "no communication evidence (13-52) recorded" in bp5["reason"]
    # every evidence row names where it is
    assert all(ev["file"] for p in bps.values() for ev in p["evidence"] if ev["kind"] == "item")


def test_partial_says_what_lacks(tmp_path):
    root = _ws(tmp_path / "ws", approach=False, optimized=False, criteria=False)
    bps = _practices(evaluate(root, MODEL))
    assert bps["MLE.3.BP1"]["indicators"] == "partial"
    assert "a configuration is not the approach 08-65 asks for" in bps["MLE.3.BP1"]["reason"]
    assert bps["MLE.3.BP3"]["indicators"] == "partial"
    assert "no hyperparameter optimization recorded" in bps["MLE.3.BP3"]["reason"]
    assert bps["MLE.3.BP4"]["indicators"] == "partial"  # links alone are never present
    assert "links only: no data criterion states what consistency means" in bps["MLE.3.BP4"]["reason"]


def test_an_approach_finding_makes_bp1_partial_naming_it(tmp_path):
    from mle3.findings import Finding

    root = _ws(tmp_path / "ws")
    hit = Finding("approach.hardware-deviation", "warning", "run used cpu, approach requires 2x A100", item="RUN-1")
    bp1 = _practices(evaluate(root, MODEL, extra=[hit]))["MLE.3.BP1"]
    assert bp1["indicators"] == "partial"
    assert "approach.hardware-deviation on RUN-1" in bp1["reason"]
    unmet = Finding("approach.exit-unmet", "error", "exit criteria not met", item=MODEL)
    bps = _practices(evaluate(root, MODEL, extra=[unmet]))
    assert bps["MLE.3.BP1"]["indicators"] == "partial" and "approach.exit-unmet" in bps["MLE.3.BP1"]["reason"]
    assert "exit criteria of its approach not met" in bps["MLE.3.BP3"]["reason"]


def _communicate(ctx, key: str, delivered: bool, fingerprint: str | None = None) -> None:
    from mle3 import audit
    from mle3.vocab import AuditAction

    audit.append(
        ctx.ws.root,
        AuditAction.COMMUNICATION,
        key,
        {
            "event": "approval.11-06",
            "message": "msg-1",
            "channel": "email",
            "recipients": ["safety@example.com"],
            "subject": f"{key} approved",
            "message_sha256": "sha256:" + "0" * 64,
            "fingerprint": fingerprint or ctx.fingerprints.of(key),
            "report": None,
            "delivered": delivered,
            "attempt": 1,
            "error": None if delivered else "connection refused",
        },
    )


def test_bp5_is_present_only_when_a_communication_was_delivered(tmp_path, cli):
    root = _ws(tmp_path / "ws")
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", root)
    cli("approve", MODEL, "--role", "safety_assessor", "--name", "Sam Safety", "-w", root)
    ctx = _context(root)
    _communicate(ctx, MODEL, delivered=False)
    bp5 = _practices(evaluate(root, MODEL))["MLE.3.BP5"]
    assert bp5["indicators"] == "partial"
    assert "agreed by Lea Lead as ml_lead, Sam Safety as safety_assessor" in bp5["reason"]
    assert "nobody was informed (1 attempt(s) failed)" in bp5["reason"]
    assert any("not delivered (connection refused)" in (ev["detail"] or "") for ev in bp5["evidence"])
    _communicate(ctx, MODEL, delivered=True, fingerprint="sha256:" + "1" * 64)  # of other content
    bp5 = _practices(evaluate(root, MODEL))["MLE.3.BP5"]
    assert bp5["indicators"] == "partial" and "of another content" in bp5["reason"]
    _communicate(ctx, MODEL, delivered=True)
    bp5 = _practices(evaluate(root, MODEL))["MLE.3.BP5"]
    assert bp5["indicators"] == "present", bp5["reason"]
    assert "communicated to safety@example.com" in bp5["reason"]
    audit_ev = [ev for ev in bp5["evidence"] if ev["kind"] == "audit"]
    assert audit_ev and all(ev["file"] and (root / ev["file"]).is_file() for ev in audit_ev)


def test_workspace_scope_judges_agreed_models_and_sup11(tmp_path):
    root = _ws(tmp_path / "ws")
    e = evaluate(root)
    assert e["scope"] == {"kind": "workspace", "item": None}
    bps = _practices(e)
    assert "no model version is agreed (validated or released)" in bps["MLE.3.BP5"]["reason"]
    assert "draft model version(s) (none is validated or released)" in bps["MLE.3.BP3"]["reason"]
    sup = _practices(e, "SUP.11")
    assert list(sup) == [f"SUP.11.BP{i}" for i in range(1, 7)]
    assert sup["SUP.11.BP4"]["indicators"] == "present"
    assert "no git repository" in sup["SUP.11.BP1"]["reason"]
    assert sup["SUP.11.BP6"]["indicators"] == "missing"


def test_the_json_validates_against_its_declared_schema(tmp_path, cli):
    import mle3.cli.reports  # noqa: F401  (declares the shape)
    from mle3.cli.shapes import find

    root = _ws(tmp_path / "ws")
    out = tmp_path / "a.json"
    cli("report", "assessment", "-w", root, "--to", "json", "-o", out)
    data = json.loads(out.read_text())
    jsonschema.validate(data, find("mle3.assessment/1"))
    assert data["schema"] == "mle3.assessment/1"
    broken = dict(data, counts={"present": "many"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, find("mle3.assessment/1"))


def test_needs_json_matches_the_sphinx_needs_schema_and_links_to_score_ids(tmp_path, cli):
    from mle3.reports.assessment import SCORE_IDS

    root = _ws(tmp_path / "ws")
    out = tmp_path / "needs.json"
    cli("report", "assessment", "-w", root, "--to", "needs", "-o", out)
    text = out.read_text()
    data = json.loads(text)
    jsonschema.Draft7Validator(SPHINX_NEEDS_SCHEMA).validate(data)
    version = data["versions"][data["current_version"]]
    needs = version["needs"]
    assert version["needs_amount"] == len(needs) == 5 + 5 + 6 + 5  # MLE.3 and SUP.11: BPs and outcomes
    ids = [n["id"] for n in needs.values()]
    assert len(ids) == len(set(ids)) and all(key == n["id"] for key, n in needs.items())
    assert text.count('"id": "mle3_ev__MLE-3-BP1"') == 1
    for n in needs.values():
        assert {"id", "type", "title", "status", "links", "content"} <= set(n)
        assert n["status"] in ("present", "partial", "missing")
        for link in n["links"]:  # a real S-CORE id, or another need of this file
            assert link in SCORE_IDS.values() or link in needs, link
    assert "std_req__aspice_40__MLE-3-BP1" in needs["mle3_ev__MLE-3-BP1"]["links"]
    assert "std_req__aspice_40__iic-08-65" in needs["mle3_ev__MLE-3-BP1"]["links"]
    assert needs["mle3_ev__MLE-3-O5"]["links"][0] == "std_req__aspice_40__MLE-3-BP5"


def test_score_ids_are_spelled_as_in_the_s_core_text():
    """The ids as S-CORE writes them (process/standards/aspice_40/...): a typo would link nowhere."""
    import re

    from mle3.reports.assessment import PRACTICES, SCORE_IDS

    for bp, score in SCORE_IDS.items():
        if "BP" in bp:
            process, number = bp.rsplit(".BP", 1)
            assert score == f"std_req__aspice_40__{process.replace('.', '-')}-BP{number}"
        else:
            assert re.fullmatch(r"std_req__aspice_40__iic-\d\d-\d\d", score) and score.endswith(bp)
    named = {p for ps in PRACTICES.values() for p, _, _ in ps} | {
        i for ps in PRACTICES.values() for *_, ii in ps for i in ii
    }
    assert named == set(SCORE_IDS)


def test_report_usage_errors_exit_2(tmp_path, cli):
    root = _ws(tmp_path / "ws")
    code, _, err = cli("report", "13-65", "-w", root, expect=2)
    assert "needs the ITEM" in err and "Traceback" not in err
    code, _, err = cli("report", "11-06", MODEL, "--to", "json", "-w", root, expect=2)
    assert "--to json is for the assessment view" in err
    code, _, err = cli("report", "assessment", "TINY-TRAIN-001", "-w", root, expect=2)
    assert "is a training" in err


def test_html_view_names_each_practice_and_links_items(tmp_path, cli):
    root = _ws(tmp_path / "ws")
    out = root / "views" / "assessment.html"
    out.parent.mkdir()
    code, stdout, _ = cli("report", "assessment", "-w", root, "--to", "html", "-o", out)
    assert "a view, not under approval" in stdout
    html = out.read_text()
    assert 'class="watermark"' not in html and "not a work product" in html
    for bp in ("MLE.3.BP1", "MLE.3.BP5", "SUP.11.BP6", "std_req__aspice_40__MLE-3-BP4"):
        assert bp in html
    assert 'href="../artifacts/approach.yaml"' in html  # relative to the document's folder
    assert "evidenced" not in html
