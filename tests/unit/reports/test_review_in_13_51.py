"""The 13-51 shows the review records of items of the trace (the semantic half of
consistency): reviewer, date, result, checklist, sampled links, and whether the review's
approvals still bind what it reviewed."""

from __future__ import annotations

import json

import jsonschema

from mle3.cli.shapes import find

MODEL = "TINY-MODEL-v0.1.0"
REVIEW_FILE = "requirements/reviews/REV-TINY.yaml"
REVIEW = f"""review:
  id: REV-TINY
  reviews: [{MODEL}, REQ-PERF]
  reviewer: Rita Reviewer
  date: 2026-01-05
  scope: semantic coherence of the trace of {MODEL}
  checklist:
    - {{question: the performance requirement fits the model's use, result: pass}}
    - {{question: the data set covers the classes of the requirement, result: n/a, comment: one class only}}
  sampled_links:
    - {{source: {MODEL}, relation: traces_to, target: REQ-PERF, result: consistent}}
    - {{source: {MODEL}, relation: implements, target: REQ-PERF, result: consistent, comment: typo}}
  result: passed_with_findings
  findings: [the ODD is not stated]
"""


def _json(cli, root, tmp_path):
    out = tmp_path / "c.json"
    cli("report", "13-51", MODEL, "--to", "json", "-o", out, "-w", root)
    data = json.loads(out.read_text())
    jsonschema.validate(data, find("mle3.consistency/1"))
    return data


def test_the_13_51_shows_a_review_and_its_approval_goes_stale(trained_ws, cli, tmp_path):
    (trained_ws / REVIEW_FILE).parent.mkdir(parents=True, exist_ok=True)
    (trained_ws / REVIEW_FILE).write_text(REVIEW)
    data = _json(cli, trained_ws, tmp_path)
    assert all(n["kind"] != "review" for n in data["nodes"])  # not a product of the model: its own section
    (review,) = data["reviews"]
    assert review["reviewer"] == "Rita Reviewer" and review["date"] == "2026-01-05"
    assert review["result"] == "passed_with_findings" and review["checklist_counts"] == {"pass": 1, "fail": 0, "n/a": 1}
    assert [x["in_graph"] for x in review["sampled_links"]] == [True, False]
    assert review["approvals"]["state"] == "unapproved" and data["consistent"] is True
    assert "review.sampled-link-unknown" in {f["rule"] for f in review["findings"]}

    cli("approve", "REV-TINY", "--role", "safety_assessor", "--name", "Sam <sam@x.org>", "-w", trained_ws)
    assert _json(cli, trained_ws, tmp_path)["reviews"][0]["approvals"]["state"] == "fresh"
    html = tmp_path / "c.html"
    cli("report", "13-51", MODEL, "--to", "html", "-o", html, "-w", trained_ws)
    text = html.read_text()
    assert "Reviews (semantic consistency)" in text and "Rita Reviewer" in text and "fresh" in text
    assert "no such link in the graph" in text and "the ODD is not stated" in text

    # a reviewed item changes: the approval of the review binds other content now
    req = next(trained_ws.glob("requirements/*.yaml"))
    req.write_text(req.read_text().replace("title: Tiny detector quality", "title: Tiny detector quality, v2"))
    assert "Tiny detector quality, v2" in req.read_text()
    review = _json(cli, trained_ws, tmp_path)["reviews"][0]
    assert review["approvals"]["state"] == "stale" and review["approvals"]["rows"][0]["stale"], review
    cli("report", "13-51", MODEL, "--to", "html", "-o", html, "-w", trained_ws)
    assert "stale" in html.read_text()


def test_a_failed_review_makes_the_13_51_inconsistent_and_blocks_its_release(trained_ws, cli, tmp_path):
    (trained_ws / REVIEW_FILE).parent.mkdir(parents=True, exist_ok=True)
    failed = REVIEW.replace("result: passed_with_findings", "result: failed")
    (trained_ws / REVIEW_FILE).write_text(failed)
    data = _json(cli, trained_ws, tmp_path)
    assert data["reviews"][0]["inconsistent"] is True and data["consistent"] is False

    from mle3 import load_workspace
    from mle3.graph import build_graph
    from mle3.reports.consistency import release_blockers
    from mle3.reports.products import Context

    ws = load_workspace(trained_ws, use_cache=False)
    ctx = Context(ws, build_graph(ws))
    blockers = release_blockers(ctx, ctx.ws.by_key[MODEL])
    assert any("review REV-TINY by Rita Reviewer" in b for b in blockers), blockers


def test_without_a_review_the_13_51_says_none_is_recorded(trained_ws, cli, tmp_path):
    assert _json(cli, trained_ws, tmp_path)["reviews"] == []
    html = tmp_path / "c.html"
    cli("report", "13-51", MODEL, "--to", "html", "-o", html, "-w", trained_ws)
    assert "No review record" in html.read_text()
