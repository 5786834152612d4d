"""The review record (``review:``): a strict item kind, linked to what it reviewed (its
fingerprint, and so its approvals, cover the reviewed content), and the review rules."""

from __future__ import annotations

import json

import pytest

from mle3 import load_workspace, run_checks
from mle3.graph import build_graph
from mle3.ledger.fingerprint import Fingerprints

REVIEW_FILE = "requirements/reviews/REV-1.yaml"
REVIEW = """
review:
  id: REV-1
  title: semantic review of MODEL-v1
  reviews: [MODEL-v1, DATA-v1]
  reviewer: Ana Assessor
  date: 2026-01-02
  scope: semantic coherence of the trace of MODEL-v1
  checklist:
    - question: do the requirements state what the model must do?
      result: pass
    - item: is the data set representative of the ODD?
      result: n/a
      comment: no ODD yet
  sampled_links:
    - {source: MODEL-v1, relation: traces_to, target: REQ-P, result: consistent}
    - {source: DATA-v1, target: REQ-D, result: consistent, comment: any relation}
  result: passed
  findings: [none]
"""


def findings(root, rule_prefix=""):
    ws = load_workspace(root, use_cache=False)
    return [f for f in run_checks(ws).findings if f.rule.startswith(rule_prefix)]


def fingerprint(root, key):
    ws = load_workspace(root, use_cache=False)
    return Fingerprints(ws, build_graph(ws)).of(key)


def test_a_passing_review_loads_links_to_what_it_reviewed_and_fires_nothing(make_ws):
    root = make_ws({REVIEW_FILE: REVIEW})
    ws = load_workspace(root, use_cache=False)
    review = ws.by_key["REV-1"]
    assert review.kind == "review" and review.checklist[1].question.startswith("is the data set")
    graph = build_graph(ws)
    assert {(t, d["relation"]) for _, t, d in graph.out_edges("REV-1", data=True)} == {
        ("MODEL-v1", "reviews"),
        ("DATA-v1", "reviews"),
    }
    got = [f.one_line() for f in findings(root) if f.item == "REV-1" or f.file == REVIEW_FILE]
    assert got == [], got


def test_the_plural_key_holds_several_reviews(make_ws):
    one = "  - id: {}\n    reviews: MODEL-v1\n    reviewer: Ana\n    date: 2026-01-02\n    result: passed\n"
    root = make_ws({"requirements/reviews/all.yaml": "reviews:\n" + one.format("REV-1") + one.format("REV-2")})
    ws = load_workspace(root, use_cache=False)
    assert {r.id for r in ws.of_kind("review")} == {"REV-1", "REV-2"}, [f.one_line() for f in ws.findings]


@pytest.mark.parametrize(
    "edit, line, words",
    [
        (("      result: n/a\n", ""), 11, "result: required field is missing"),
        (("  result: passed\n", "  result: ok\n"), 17, "'passed', 'failed' or 'passed_with_findings'"),
        (("      result: pass\n", "      result: maybe\n"), 10, "'pass', 'fail' or 'n/a'"),
        (("  reviewer: Ana Assessor\n", "  reviewer: Ana Assessor\n  reviewr: Bob\n"), 6, "Extra inputs"),
        (("    - {source: MODEL-v1,", "    - {colour: red, source: MODEL-v1,"), 15, "colour"),
        (("  reviews: [MODEL-v1, DATA-v1]\n", "  reviews: []\n"), 4, "at least 1"),
        (("  reviewer: Ana Assessor\n", ""), 1, "reviewer: required field is missing"),
    ],
)
def test_a_bad_review_is_one_load_finding_with_file_and_line(make_ws, cli, edit, line, words):
    root = make_ws({REVIEW_FILE: REVIEW.replace(*edit)})
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=1)
    bad = [f for f in json.loads(out)["findings"] if f["rule"] == "load.schema"]
    assert len(bad) == 1 and bad[0]["file"] == REVIEW_FILE and bad[0]["line"] == line, bad
    assert words in bad[0]["message"], bad
    # a command that needs the item names the file and line in one line, exit 2
    code, _, err = cli("approve", "REV-1", "--role", "ml_lead", "-w", root, expect=2)
    assert f"{REVIEW_FILE}:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_review_of_no_item_is_a_dangling_reference(make_ws, cli):
    root = make_ws({REVIEW_FILE: REVIEW.replace("[MODEL-v1, DATA-v1]", "[MODEL-v1, MODEL-v9]")})
    code, out, _ = cli("check", "-w", root, expect=1)
    assert f"{REVIEW_FILE}" in out and "MODEL-v9" in out and "trace.dangling-ref" in out, out


def test_the_review_fingerprint_covers_what_it_reviewed(make_ws):
    root = make_ws({REVIEW_FILE: REVIEW})
    before = fingerprint(root, "REV-1")
    # a reviewed item changes: the review's fingerprint (that approvals bind) changes
    model = root / "artifacts/model.yaml"
    model.write_text(model.read_text().replace("mAP_50: 0.7", "mAP_50: 0.71"))
    after = fingerprint(root, "REV-1")
    assert after != before
    # an item it did not review (and that its reviewed items do not rest on) does not
    (root / "requirements/other.yaml").write_text("requirement:\n  id: REQ-OTHER\n  type: other\n")
    assert fingerprint(root, "REV-1") == after
    # promoting the reviewed model (status is life cycle, not content) does not either
    model.write_text(model.read_text().replace("status: draft", "status: validated"))
    assert fingerprint(root, "REV-1") == after


def test_a_review_of_a_bare_data_set_id_binds_to_the_version_it_resolved_to(make_ws):
    root = make_ws({REVIEW_FILE: REVIEW.replace("[MODEL-v1, DATA-v1]", "[DATA]")})
    before = fingerprint(root, "REV-1")
    data = root / "artifacts/data.yaml"
    (root / "artifacts/data2.yaml").write_text(data.read_text().replace("version: v1", "version: v2"))
    assert fingerprint(root, "REV-1") != before  # a new latest version is not what was reviewed


def test_approving_a_review_goes_stale_when_a_reviewed_item_changes(make_ws, cli):
    root = make_ws({REVIEW_FILE: REVIEW})
    cli("approve", "REV-1", "--role", "safety_assessor", "--name", "Sam <sam@x.org>", "-w", root)
    req = root / "requirements/REQ-P.yaml"
    req.write_text(req.read_text().replace("min: 0.5", "min: 0.6"))  # upstream of the reviewed model
    code, out, _ = cli("check", "-w", root, "--format", "json", expect=None)
    stale = [f for f in json.loads(out)["findings"] if f["item"] == "REV-1" and "stale" in f["rule"]]
    assert stale, out


def test_a_failed_review_is_an_error_while_the_model_it_covers_is_validated(make_ws):
    failed = REVIEW.replace("  result: passed\n", "  result: failed\n").replace(
        "result: consistent, comment: any relation", "result: inconsistent, comment: wrong data"
    )
    root = make_ws({REVIEW_FILE: failed})
    got = findings(root, "review.failed")
    assert sorted((f.severity, f.line) for f in got) == [("warning", 16), ("warning", 17)], got
    model = root / "artifacts/model.yaml"
    model.write_text(model.read_text().replace("status: draft", "status: validated"))
    got = findings(root, "review.failed")
    assert {f.severity for f in got} == {"error"} and all("MODEL-v1 is validated" in f.message for f in got), got


def test_a_failed_review_of_an_item_a_released_model_rests_on_is_an_error(make_ws):
    review = REVIEW.replace("[MODEL-v1, DATA-v1]", "[REQ-D]").replace("      result: pass\n", "      result: fail\n")
    root = make_ws({REVIEW_FILE: review})
    model = root / "artifacts/model.yaml"
    model.write_text(model.read_text().replace("status: draft", "status: released"))
    got = findings(root, "review.failed")
    assert len(got) == 1 and got[0].severity == "error" and got[0].line == 10, got
    assert "(the review nevertheless says passed)" in got[0].message


@pytest.mark.parametrize(
    "link, words",
    [
        (
            "{source: MODEL-v1, relation: uses_config, target: REQ-P, result: consistent}",
            "by traces_to, not uses_config",
        ),
        ("{source: REQ-P, relation: traces_to, target: MODEL-v1, result: consistent}", "REQ-P has no link to MODEL-v1"),
        ("{source: MODEL-v1, target: REQ-NONE, result: consistent}", "'REQ-NONE', which is no item"),
    ],
)
def test_a_sampled_link_that_is_no_edge_is_a_warning(make_ws, link, words):
    text = REVIEW.replace("{source: MODEL-v1, relation: traces_to, target: REQ-P, result: consistent}", link)
    got = findings(make_ws({REVIEW_FILE: text}), "review.sampled-link-unknown")
    assert len(got) == 1 and got[0].severity == "warning" and words in got[0].message and got[0].line == 15, got


def test_json_schema_of_the_review_kind(cli, tmp_path):
    assert cli("schema", "-o", tmp_path)[0] == 0
    schema = json.loads((tmp_path / "review.schema.json").read_text())
    props = schema["properties"]["review"]["properties"]
    assert {"reviews", "reviewer", "date", "checklist", "sampled_links", "result", "findings"} <= set(props)
    assert schema["properties"]["review"].get("additionalProperties") is False
    assert (tmp_path / "reviews.schema.json").exists()
