"""A missing optional part gives one line with the command that installs it, never a
traceback, and nothing is recorded (each part simulated missing in a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HIDE = """
import sys
class _Hide:
    def __init__(self, names, error):
        self.names, self.error = names, error
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in self.names:
            if self.error == 'oserror':
                raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
for _name in list(sys.modules):
    if _name.split('.')[0] in __NAMES__:
        del sys.modules[_name]
sys.meta_path.insert(0, _Hide(__NAMES__, __ERROR__))
from mle3.cli import run
run()
"""


def run_without(names: set[str], *args: str, error: str = "missing") -> subprocess.CompletedProcess:
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false")
    code = HIDE.replace("__NAMES__", repr(set(names))).replace("__ERROR__", repr(error))
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env)


def runs_of(root):
    folder = root / "artifacts/runs"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "module, command, extra",
    [
        ("torch", ("train", "TINY-TRAIN-001"), "train"),
        ("ultralytics", ("export", "TINY-MODEL-v0.1.0"), "train"),
        ("onnxruntime", ("quantize", "TINY-MODEL-v0.1.0", "--method", "ptq"), "train"),
        ("modelopt", ("quantize", "TINY-MODEL-v0.1.0", "--method", "qat"), "train"),
        ("mlflow", ("runs", "export", "--mlflow"), "mlflow"),
        ("reqif", ("reqif", "export", "-o", "x.reqif"), "reqif"),
    ],
)
def test_missing_python_part_names_its_extra(trained_ws, module, command, extra):
    before = runs_of(trained_ws)
    proc = run_without({module}, *command, "-w", trained_ws)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"pip install 'mle3[{extra}]'" in lines[0], lines[0]
    assert runs_of(trained_ws) == before


def test_missing_pdf_libraries_name_the_system_packages(trained_ws, tmp_path):
    proc = run_without(
        {"weasyprint"},
        "report",
        "13-65",
        "TINY-MODEL-v0.1.0",
        "-o",
        tmp_path / "r.pdf",
        "-w",
        trained_ws,
        error="oserror",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "apt-get install libpango-1.0-0" in line and "--to html" in line
    assert not (tmp_path / "r.pdf").exists()
    proc = run_without(
        {"weasyprint"},
        "report",
        "13-65",
        "TINY-MODEL-v0.1.0",
        "-o",
        tmp_path / "r.html",
        "--to",
        "html",
        "-w",
        trained_ws,
        error="oserror",
    )
    assert proc.returncode == 0 and (tmp_path / "r.html").exists()  # HTML needs no system library


def test_doctor_reports_each_part_with_its_fix(trained_ws):
    import json

    proc = run_without(set(), "doctor", "--format", "json", "-w", trained_ws)
    report = json.loads(proc.stdout)
    assert report["schema"] == "mle3.doctor/1"
    names = {c["name"]: c for c in report["checks"]}
    assert {
        "python",
        "torch",
        "ultralytics",
        "onnxruntime",
        "modelopt",
        "weasyprint",
        "fonts",
        "git",
        "ssh-keygen",
        "chromium",
        "free disk",
    } <= set(names)
    assert proc.returncode == (0 if report["ok"] else 1)
    proc = run_without({"torch", "onnxruntime"}, "doctor", "--format", "json", "-w", trained_ws)
    report = json.loads(proc.stdout)
    names = {c["name"]: c for c in report["checks"]}
    assert proc.returncode == 1 and report["ok"] is False
    assert names["torch"]["status"] == "missing" and names["torch"]["fix"] == "pip install 'mle3[train]'"
    assert names["onnxruntime"]["status"] == "missing" and names["onnxruntime"]["needed"] is True
    text = run_without({"weasyprint"}, "doctor", "-w", trained_ws, error="oserror")
    assert (
        text.returncode == 1
        and "MISSING  weasyprint" in text.stdout
        and "apt-get install libpango-1.0-0" in text.stdout
    )


def test_missing_albumentations_stops_training_early_and_the_04_11_says_why(trained_ws, tmp_path):
    from conftest import with_seed_augmentation

    root = with_seed_augmentation(trained_ws)
    before = runs_of(root)
    proc = run_without({"albumentations"}, "train", "TINY-TRAIN-001", "--epochs", "1", "-w", root)
    assert proc.returncode == 2 and "pip install 'mle3[train]'" in proc.stderr and "Traceback" not in proc.stderr
    assert runs_of(root) == before
    out = tmp_path / "0411.html"
    proc = run_without({"albumentations"}, "report", "04-11", "TINY-TRAIN-001", "-o", out, "--to", "html", "-w", root)
    import html

    assert (
        proc.returncode == 0
        and "No preview here: the Python package 'albumentations' is not installed" in html.unescape(out.read_text())
    )
