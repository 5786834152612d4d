"""The set-up the README recommends, at the seams: data below a data root outside the
workspace must work in every command that reads data (calibration, preview, reports)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
MODEL = "TINY-MODEL-v0.1.0"


def test_ptq_calibrates_on_data_below_a_root_and_records_root_relative_paths(rooted_ws, cli):
    ws, nas = rooted_ws
    code, out, err = cli(
        "quantize", MODEL, "--method", "ptq", "--calibration-images", "6", "-w", ws, "--format", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "success", result
    child = yaml.safe_load((ws / f"artifacts/models/{result['model_version']}.yaml").read_text())["model_version"]
    calibration = child["quantization"]["calibration"]
    assert calibration["images"] == 6
    listed = (ws / calibration["list"]).read_text().split()
    assert len(listed) == 6
    for path in listed:  # relative to the data set's root, never a machine path
        assert not path.startswith("/") and str(nas) not in path
        assert (nas / path).is_file(), path


def test_augment_preview_and_04_11_render_with_data_below_a_root(rooted_ws, cli, tmp_path):
    ws, nas = rooted_ws
    code, out, err = cli("augment", "preview", "TINY-TRAIN-001", "-w", ws, "-o", tmp_path / "p.png", "--format", "json")
    assert code == 0, err
    tiles = json.loads(out)["tiles"]
    assert tiles and all(not t["image"].startswith("/") and (nas / t["image"]).is_file() for t in tiles)
    code, out, err = cli("report", "04-11", "TINY-TRAIN-001", "-w", ws, "--to", "html", "-o", tmp_path / "r.html")
    assert code == 0, err
    assert "Traceback" not in err and (tmp_path / "r.html").stat().st_size > 1000


def test_qat_fine_tunes_on_data_below_a_root(rooted_ws, cli):
    ws, nas = rooted_ws
    code, out, err = cli("quantize", MODEL, "--method", "qat", "--qat-epochs", "1", "-w", ws, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "success", result


def test_the_release_package_renders_with_data_below_a_root(rooted_ws, cli, tmp_path):
    from conftest import require_weasyprint

    require_weasyprint()
    ws, nas = rooted_ws
    code, out, err = cli("report", "release", MODEL, "-w", ws, "-o", tmp_path / "release", "--format", "json")
    assert "Traceback" not in err and "is not in the subpath" not in err, err
    assert code == 0, err
    documents = json.loads(out)["documents"]
    assert {d["wp"] for d in documents} >= {"04-11", "11-07", "13-65"}
    assert all((tmp_path / "release" / "documents" / Path(d["file"]).name).is_file() for d in documents)
    # the data set's manifest lies beside the data, below the root: the bundle carries it, content-addressed
    index = json.loads((tmp_path / "release" / "release.json").read_text())
    assert all(d["manifest"] and (tmp_path / "release" / d["manifest"]).is_file() for d in index["datasets"]), index


PYTHON_REPR = re.compile(r"\[\s*'|\{\s*'|(?<![=\w])(True|False|None)\b")  # "cos_lr=True" is the runner's own argument


def visible_text(html: str) -> str:
    """What a reader sees: tags, styles, scripts and embedded images left out."""
    html = re.sub(r"(?s)<(style|script)\b.*?</\1>", " ", html)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize(
    "wp,item", [("04-11", "TINY-TRAIN-001"), ("11-07", "TINY-DATA-v1"), ("13-65", MODEL), ("11-06", MODEL)]
)
def test_work_products_show_no_python_reprs(rooted_ws, cli, tmp_path, wp, item):
    ws, nas = rooted_ws
    target = tmp_path / f"{wp}.html"
    code, out, err = cli("report", wp, item, "-w", ws, "--to", "html", "-o", target)
    assert code == 0, err
    text = visible_text(target.read_text())
    found = sorted({m.group(0) for m in PYTHON_REPR.finditer(text)})
    assert not found, [text[max(0, m.start() - 60) : m.end() + 60] for m in PYTHON_REPR.finditer(text)][:5]


def test_a_document_marks_a_workspace_with_changes_not_yet_committed(rooted_ws, cli, tmp_path):
    import subprocess

    from conftest import require_git

    require_git()
    ws, nas = rooted_ws
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    (ws / ".gitignore").write_text(".mle3/\n")
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    subprocess.run(["git", "add", "-A"], cwd=ws, check=True)
    subprocess.run([*git, "commit", "-qm", "all"], cwd=ws, check=True)

    def header() -> str:
        target = tmp_path / "13-65.html"
        code, _, err = cli("report", "13-65", MODEL, "-w", ws, "--to", "html", "-o", target)
        assert code == 0, err
        return visible_text(target.read_text())

    assert "modified" not in header()
    code, _, err = cli("approve", MODEL, "--role", "ml_lead", "--name", "Ann", "-w", ws)  # a new, untracked audit entry
    assert code == 0, err
    text = header()
    assert "modified: uncommitted changes" in text and "not yet added" in text


def test_the_run_record_names_no_machine_path_of_the_data(rooted_ws):
    ws, nas = rooted_ws
    records = list((ws / "artifacts/runs").glob("*/run.yaml"))
    assert records
    for record in records:
        text = record.read_text()
        assert str(nas) not in text, [line for line in text.splitlines() if str(nas) in line]
        assert "night_list: night.txt" in text  # the mapping records the list as the data.yaml names it


def test_the_04_11_shows_the_mapping_its_run_recorded(rooted_ws, cli, tmp_path):
    ws, nas = rooted_ws
    run = next((ws / "artifacts/runs").glob("*/run.yaml")).parent.name
    target = tmp_path / "0411.html"
    code, _, err = cli("report", "04-11", "TINY-TRAIN-001", "-w", ws, "--to", "html", "-o", target)
    assert code == 0, err
    assert f"Mapping as recorded by run {run} (success) at its start" in visible_text(target.read_text())
