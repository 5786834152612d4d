"""Work products as a person sees them: PDF text, DRAFT watermark, approval block, release gate."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from pypdf import PdfReader

from conftest import REPO, require_weasyprint

MODEL = "TINY-MODEL-v0.1.0"


@pytest.fixture(autouse=True)
def _pdf_libraries():
    require_weasyprint()


def pdf_text(path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


@pytest.mark.parametrize(
    "wp,item",
    [("04-11", "TINY-TRAIN-001"), ("11-07", "TINY-DATA-v1"), ("13-51", MODEL), ("13-65", MODEL), ("11-06", MODEL)],
)
def test_each_work_product_renders_its_key_facts_as_draft(trained_ws, cli, wp, item):
    out = trained_ws / f"{wp}.pdf"
    code, stdout, err = cli("report", wp, item, "-o", out, "-w", trained_ws)
    assert code == 0, err
    text = pdf_text(out)
    assert wp in text and item in text and "DRAFT" in text
    reader = PdfReader(str(out))
    assert f"Page 1 of {len(reader.pages)}" in text
    from mle3 import build_graph, load_workspace
    from mle3.approvals import fingerprint_of

    ws = load_workspace(trained_ws)
    fp = fingerprint_of(ws, build_graph(ws), ws.get(item))
    assert fp.split(":")[1][:40] in text.replace("\n", "")


def test_training_report_shows_metrics_criteria_and_outcomes(trained_ws, cli):
    out = trained_ws / "1365.pdf"
    cli("report", "13-65", MODEL, "-o", out, "-w", trained_ws)
    text = pdf_text(out)
    import yaml

    run = yaml.safe_load(next((trained_ws / "artifacts/runs").glob("*/run.yaml")).read_text())["run"]
    assert run["id"] in text and "TINY-DATA-v1" in text and run["dataset_fingerprint"][7:30] in text.replace("\n", "")
    assert "Box, class and DFL loss" in text and "mAP50 and mAP50-95" in text
    assert "REQ-PERF" in text and "pass" in text
    for outcome in ("O1", "O2", "O3", "O4", "O5", "BP1", "BP5"):
        assert outcome in text
    # indicators, never a rating: a configuration is not the approach, links are not consistency
    flat = " ".join(text.split())
    assert "evidenced" not in flat and "partial" in flat and "is not the approach 08-65 asks for" in flat
    assert "no communication evidence (13-52)" in flat
    # the assessor's information items beside this project's work product id
    assert "ASPICE 4.0 information items" in flat and "13-51 Consistency evidence" in flat
    test_map = run["final_metrics"]["test"]["mAP_50"]
    assert f"{test_map:.3f}" in text


def test_approved_document_shows_who_approved_what(trained_ws, cli):
    cli("approve", "TINY-TRAIN-001", "--role", "ml_engineer", "--name", "Eve Engineer", "-w", trained_ws)
    out = trained_ws / "0411.pdf"
    code, stdout, _ = cli("report", "04-11", "TINY-TRAIN-001", "-o", out, "-w", trained_ws, "--release")
    assert code == 0 and "APPROVED" in stdout
    text = pdf_text(out)
    assert "APPROVED" in text and "Eve Engineer" in text and "ml_engineer" in text and "DRAFT" not in text


def test_release_flag_refuses_unapproved_documents(trained_ws, cli):
    out = trained_ws / "1106.pdf"
    code, _, err = cli("report", "11-06", MODEL, "-o", out, "-w", trained_ws, "--release", expect=1)
    assert code == 1 and "not approved" in err and "safety_assessor" in err
    assert not out.exists()


def test_stale_approval_sends_the_document_back_to_draft(trained_ws, cli):
    cli("approve", "TINY-TRAIN-001", "--role", "ml_engineer", "--name", "Eve Engineer", "-w", trained_ws)
    cfg = trained_ws / "artifacts/training/TINY.yaml"
    cfg.write_text(cfg.read_text().replace("lr: 0.002", "lr: 0.004"))
    out = trained_ws / "0411.pdf"
    cli("report", "04-11", "TINY-TRAIN-001", "-o", out, "-w", trained_ws)
    text = pdf_text(out)
    assert "DRAFT" in text and "Stale" in text


def test_draft_watermark_is_visible_on_every_page(trained_ws, cli, tmp_path):
    import pypdfium2

    out = trained_ws / "1365.pdf"
    cli("report", "13-65", MODEL, "-o", out, "-w", trained_ws)
    pages = len(PdfReader(str(out)).pages)
    pdf = pypdfium2.PdfDocument(str(out))
    assert len(pdf) == pages
    for number in range(len(pdf)):
        im = pdf[number].render(scale=30 / 72).to_pil().convert("RGB")  # 30 dpi, as a person glancing at the page
        # the watermark is translucent red on white: about (248, 226, 226)
        pinkish = sum(
            1
            for r, g, b in getattr(im, "get_flattened_data", im.getdata)()
            if r > 240 and 215 < g < 235 and abs(g - b) < 6
        )
        assert pinkish > 400, f"no DRAFT watermark on page {number + 1} ({pinkish} px)"


def test_model_history_lists_the_audit_entries_about_it(trained_ws, cli):
    cli("approve", MODEL, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    out = trained_ws / "1106.html"
    assert cli("report", "11-06", MODEL, "-o", out, "--to", "html", "-w", trained_ws)[0] == 0
    history = out.read_text().split("Status history", 1)[1]
    assert "approval" in history and "Lea Lead" in history


def test_release_bundle_has_all_documents_and_a_verifiable_manifest(trained_ws, cli):
    target = trained_ws.parent / "release"
    code, out, err = cli("report", "release", MODEL, "-o", target, "-w", trained_ws, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    docs = result["documents"]
    assert sorted(d["wp"] for d in docs) == ["04-11", "11-06", "11-07", "13-51", "13-52", "13-65"]
    assert result["signed"] is False and "unsigned" in err  # no release key: said, not hidden
    names = {p.name for p in target.iterdir()}
    assert {"index.html", "documents", "model", "workspace", "MANIFEST.sha256", "release.json"} <= names
    listed = 0
    for line in (target / "MANIFEST.sha256").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == digest
        listed += 1
    assert listed == sum(1 for p in target.rglob("*") if p.is_file()) - 1
    assert f'href="documents/13-65_{MODEL}.pdf"' in (target / "index.html").read_text()
    assert (target / "documents" / f"13-65_{MODEL}.html").is_file()


def test_html_report_escapes_workspace_text(trained_ws, cli):
    req = trained_ws / "requirements/R.yaml"
    req.write_text(
        req.read_text().replace(
            "title: Tiny detector quality", "title: '<script>alert(1)</script><img src=x onerror=alert(2)>'"
        )
    )
    out = trained_ws / "1106.html"
    assert cli("report", "11-06", MODEL, "-o", out, "--to", "html", "-w", trained_ws)[0] == 0
    html = out.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html and "&lt;script&gt;" in html
    assert "Content-Security-Policy" in html


def test_example_workspace_model_report_uses_seed_metrics(cli, tmp_path):
    ws = tmp_path / "example"
    shutil.copytree(REPO, ws, ignore=shutil.ignore_patterns(".git", ".mle3", "tests", "benchmarks", "*.egg-info"))
    out = tmp_path / "1106.pdf"
    code, stdout, err = cli("report", "11-06", "MLE-MODEL-001-v2.3.1", "-o", out, "-w", ws)
    assert code == 0, err
    text = pdf_text(out)
    assert "0.894" in text and "0.887" in text and "MLE-MODEL-001-v2.2.0" in text and "+0.025" in text
    assert "Dr. A. Keller" in text


def test_unknown_work_product_and_wrong_kind(trained_ws, cli):
    assert cli("report", "99-99", MODEL, "-w", trained_ws, expect=2)[0] == 2
    code, _, err = cli("report", "11-07", MODEL, "-w", trained_ws, expect=2)
    assert code == 2 and "data set" not in err or "dataset" in err


def test_the_readme_names_the_information_items_each_work_product_provides():
    from conftest import REPO

    from mle3.reports.products import WORK_PRODUCTS

    rows = {line.split("|")[1].strip().split()[0]: line for line in (REPO / "README.md").read_text().splitlines()
            if line.startswith("| ") and line.split("|")[1].strip()[:5] in WORK_PRODUCTS}  # fmt: skip
    for wp_id, wp in WORK_PRODUCTS.items():
        assert wp.information_items, wp_id
        for item_id, _ in wp.information_items:
            assert item_id in rows[wp_id], (wp_id, item_id)


def test_hyperparameters_show_description_initial_final_and_how_chosen(trained_ws, cli):
    """01-54: the initial value is what the first run trained with, the final one what the
    model's run trained with (the 04-11: the configuration now); descriptions overridable."""
    cfg = trained_ws / "artifacts/training/TINY.yaml"
    cfg.write_text(cfg.read_text().replace("lr: 0.002", "lr: 0.005"))
    config = trained_ws / "mle3.yaml"
    config.write_text(config.read_text() + "hyperparameters:\n  optimizer.lr: the step size our team tunes first\n")
    cli("report", "04-11", "TINY-TRAIN-001", "--to", "html", "-o", trained_ws / "0411.html", "-w", trained_ws)
    cli("report", "11-06", MODEL, "--to", "html", "-o", trained_ws / "1106.html", "-w", trained_ws)
    import re

    def row(page: str, name: str) -> list[str]:
        html = (trained_ws / page).read_text().split("Hyperparameters (01-54)", 1)[1]
        cells = re.search(rf'<td class="mono">{re.escape(name)}</td>(.*?)</tr>', html, re.S)
        assert cells, (page, name)
        return [re.sub("<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells.group(1), re.S)]

    assert row("0411.html", "optimizer.lr") == ["the step size our team tunes first", "0.002", "0.005", "set by hand"]
    assert row("1106.html", "optimizer.lr")[1:3] == ["0.002", "0.002"]  # the model trained with 0.002
    assert row("1106.html", "epochs")[0].startswith("training epochs")


def test_the_communication_evidence_is_a_record_never_a_draft(trained_ws, cli):
    out = trained_ws / "1352.html"
    code, stdout, _ = cli("report", "13-52", MODEL, "--to", "html", "-o", out, "-w", trained_ws)
    assert code == 0 and "a record, not under approval" in stdout
    body = out.read_text().split("<body>", 1)[1]
    assert '<div class="watermark"' not in body and "RECORD" in body and "DRAFT" not in body
    # and --release renders it: no approval makes a record more final
    assert cli("report", "13-52", MODEL, "--to", "html", "-o", out, "-w", trained_ws, "--release")[0] == 0


def test_the_output_name_chooses_the_document_format(trained_ws, cli):
    html = trained_ws / "model.html"
    assert cli("report", "11-06", MODEL, "-o", html, "-w", trained_ws)[0] == 0
    assert html.read_text().lstrip().startswith("<!DOCTYPE html>")
    data = trained_ws / "c.json"
    assert cli("report", "13-51", MODEL, "-o", data, "-w", trained_ws)[0] == 0
    assert json.loads(data.read_text())["schema"] == "mle3.consistency/1"


def test_the_training_report_says_which_split_each_decision_used(trained_ws, cli):
    out = trained_ws / "1365.html"
    assert cli("report", "13-65", MODEL, "--to", "html", "-o", out, "-w", trained_ws)[0] == 0
    html = out.read_text()
    decisions = html.split("Decisions and the split each used", 1)[1].split("</table>", 1)[0]
    # MLE.3 decides on val; the requirement's criterion on test is testing (MLE.4)
    assert "best checkpoint" in decisions and "<b>val</b>" in decisions and "early stopping" in decisions
    assert "criterion of REQ-PERF" in decisions and "<b>test</b>" in decisions and "MLE.4 (testing)" in decisions
    testing = html.split(". ML model testing evidence (MLE.4)</h2>", 1)[1].split("</table>", 1)[0]
    assert "the test split of TINY-DATA-v1" in testing and "no study tuned on the test split" in testing
    assert "mAP_50 on test &gt;= 0.0" in testing
