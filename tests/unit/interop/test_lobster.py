"""LOBSTER export: the files are read by the real ``lobster-report`` and
``lobster-ci-report`` (bmw-lobster-core, the ``test`` extra), which show covered
requirements as OK and a missing trace or a failed criterion as an issue."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import TINY_FILES, write_files

from mle3.cli.shapes import SHAPES

pytest.importorskip("lobster.common.report", reason="bmw-lobster-core (the test extra) is not installed")


def _tool(name: str) -> str:
    """The console script beside this interpreter (the installed package's), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} (bmw-lobster-core) is not on PATH")
    return found


def _report(out: Path) -> dict[str, dict]:
    """Run lobster-report in the export folder (the policy names its sources relative to it)."""
    done = subprocess.run([_tool("lobster-report")], cwd=out, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "report.lobster").read_text())
    return {item["tag"]: item | {"level": level["name"]} for level in report["levels"] for item in level["items"]}


def _ci(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_tool("lobster-ci-report"), "report.lobster"], cwd=out, capture_output=True, text=True, timeout=120
    )


def _with_parent(files: dict[str, str]) -> dict[str, str]:
    out = dict(files)
    out["requirements/R.yaml"] = out["requirements/R.yaml"].replace(
        "title: Tiny shapes data\n",
        "title: Tiny shapes data\n    text: The data holds shapes.\n"
        "    derived_from: [SYS-REQ-001]\n    status: agreed\n",
    )
    return out


def test_files_follow_the_lobster_schemas_and_the_report_reads_them(tmp_path, cli):
    root = write_files(tmp_path / "ws", _with_parent(TINY_FILES))
    out = tmp_path / "out"
    _, text, _ = cli("lobster", "-w", root, "-o", out, "--format", "json")
    result = json.loads(text)
    jsonschema.validate(result, SHAPES["mle3.lobster/1"])
    assert (result["requirements"], result["implementation"], result["activities"]) == (2, 1, 0)
    assert result["external"] == ["SYS-REQ-001"]
    reqs = json.loads((out / "requirements.lobster").read_text())
    assert (reqs["schema"], reqs["version"]) == ("lobster-req-trace", 4)
    data = {r["tag"]: r for r in reqs["data"]}
    assert data["req REQ-DATA"]["kind"] == "ml_data"
    assert data["req REQ-DATA"]["text"] == "The data holds shapes."
    assert data["req REQ-DATA"]["status"] == "agreed"
    assert data["req REQ-DATA"]["refs"] == ["req system.SYS-REQ-001"]
    imp = json.loads((out / "implementation.lobster").read_text())
    assert (imp["schema"], imp["version"]) == ("lobster-imp-trace", 3)
    assert imp["data"][0]["tag"] == "mle3 TINY-TRAIN-001" and imp["data"][0]["refs"] == ["req REQ-PERF"]
    act = json.loads((out / "activities.lobster").read_text())
    assert (act["schema"], act["version"]) == ("lobster-act-trace", 3)

    items = _report(out)
    assert items["req system.SYS-REQ-001"]["tracing_status"] == "OK"
    assert items["req REQ-DATA"]["ref_up"] == ["req system.SYS-REQ-001"]
    # REQ-PERF is derived from nothing and verified by nothing: both are issues
    assert "missing up reference" in items["req REQ-PERF"]["messages"]
    assert items["mle3 TINY-TRAIN-001"]["tracing_status"] == "OK"
    ci = _ci(out)
    assert ci.returncode == 1
    assert "requirements/R.yaml:2: lobster error: missing reference to ML Data and Configuration" in ci.stdout
    assert "missing reference to ML Training and Verification" in ci.stdout

    # trace --format json carries the requirement's type, text and external parents
    _, text, _ = cli("trace", "REQ-DATA", "-w", root, "--format", "json")
    item = json.loads(text)["item"]
    assert (item["type"], item["text"], item["external"]) == ("ml_data", "The data holds shapes.", ["SYS-REQ-001"])


def test_a_trained_model_verifies_its_requirement_and_a_failed_criterion_is_an_issue(trained_ws, cli):
    out = trained_ws / "lobster"
    _, text, _ = cli("lobster", "-w", trained_ws, "-o", out, "--format", "json")
    result = json.loads(text)
    assert result["external"] == [] and result["failed"] == []
    assert not (out / "system.lobster").exists()
    items = _report(out)
    activities = {t: i for t, i in items.items() if i["level"] == "ML Training and Verification"}
    assert {i["kind"] for i in activities.values()} == {"model version", "training run"}
    assert all(i["status"] == "ok" and "req REQ-PERF" in i["ref_up"] for i in activities.values())
    # configured (or registered), trained and verified: both requirements are covered
    assert items["req REQ-PERF"]["tracing_status"] == items["req REQ-DATA"]["tracing_status"] == "OK"
    assert items["mle3 TINY-DATA-v1"]["ref_up"] == ["req REQ-DATA"]
    assert _ci(out).returncode == 0

    reqs = trained_ws / "requirements" / "R.yaml"
    reqs.write_text(reqs.read_text().replace("min: 0.0", "min: 1.1"))
    _, text, _ = cli("lobster", "-w", trained_ws, "-o", out, "--format", "json")
    assert "TINY-MODEL-v0.1.0" in json.loads(text)["failed"]
    items = _report(out)
    failed = [i for i in items.values() if i["level"] == "ML Training and Verification" and i["status"] == "fail"]
    assert failed and all(i["tracing_status"] == "PARTIAL" for i in failed)
    ci = _ci(out)
    assert ci.returncode == 1
    assert "criterion of REQ-PERF not met: mAP_50 on test >= 1.1" in ci.stdout
