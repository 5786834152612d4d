"""Shared fixtures: small workspaces written into tmp_path, and a CLI runner."""

from __future__ import annotations

import json
import os
import shutil
import time
import textwrap
from pathlib import Path
from collections.abc import Callable

import pytest
import yaml

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


def require(what: str, present: bool, packages: str, env: str = "MLE3_REQUIRE_TOOLS") -> None:
    """Skip a test whose system tool is missing, naming the packages that bring it; where
    ``env`` is 1 (``.ci/run`` sets it after installing them) the test fails instead, so a
    skip never hides a broken CI."""
    if present:
        return
    message = f"needs {what} (Debian: apt-get install {packages})"
    if os.environ.get(env) == "1" or os.environ.get("MLE3_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message}, and {env}=1 says it must be there")
    pytest.skip(message)


def require_git() -> None:
    import shutil

    require("git", shutil.which("git") is not None, "git")


def require_weasyprint() -> None:
    """PDF rendering needs weasyprint's system libraries (pango, harfbuzz)."""
    from mle3.optional import weasyprint_problem

    problem = weasyprint_problem()
    require(
        f"weasyprint's system libraries ({problem})",
        problem is None,
        "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core",
    )


REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

BASE_FILES: dict[str, str] = {
    "mle3.yaml": "project: test\nexternal: ['SYS-*']\n",
    "requirements/REQ-D.yaml": """
        requirement:
          id: REQ-D
          title: data
          type: ml_data
          derived_from: [SYS-1]
          criteria:
            - samples: train
              min: 100
            - class: car
              min_samples: 50
              split: train
            - split_ratio: {train: [0.6, 0.8], val: [0.1, 0.2], test: [0.1, 0.2]}
    """,
    "requirements/REQ-P.yaml": """
        requirement:
          id: REQ-P
          title: perf
          type: performance
          derived_from: [SYS-1]
          criteria:
            - metric: mAP_50
              split: test
              min: 0.5
    """,
    "requirements/ARCH.yaml": """
        architecture:
          id: ARCH-1
          requirements: [REQ-P]
    """,
    "artifacts/data.yaml": """
        dataset:
          id: DATA
          version: v1
          requirements: [REQ-D]
          classes: [car]
          splits:
            train: {samples: 700, path: data/train, instances: {car: 900}}
            val: {samples: 150, path: data/val}
            test: {samples: 150, path: data/test}
    """,
    "artifacts/train.yaml": """
        training:
          id: TRAIN
          model: yolov8n.yaml
          dataset: DATA
          epochs: 10
    """,
    "artifacts/model.yaml": """
        model_version:
          id: MODEL-v1
          training_run: TRAIN
          metrics:
            test: {mAP_50: 0.7}
          training_data:
            dataset_version: DATA-v1
            train_samples: 700
            val_samples: 150
          traceability:
            requirements: [REQ-D, REQ-P]
            architecture: ARCH-1
          status: draft
    """,
}


def write_files(root: Path, files: dict[str, str | None]) -> Path:
    for rel, text in files.items():
        path = root / rel
        if text is None:
            if path.exists():
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


@pytest.fixture
def make_ws(tmp_path: Path) -> Callable[..., Path]:
    """Write BASE_FILES with overrides (None deletes a file) and return the root."""

    def make(overrides: dict[str, str | None] | None = None, base: bool = True) -> Path:
        files = dict(BASE_FILES) if base else {}
        files.update(overrides or {})
        return write_files(tmp_path / "ws", files)

    return make


@pytest.fixture
def cli(capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process: returns (exit code, stdout, stderr). The exit code must be
    ``expect`` (0 unless told: a command that fails where a test did not look is a failure);
    ``expect=None`` leaves it to the test."""
    from mle3.cli import main

    def run(*args: object, expect: int | None = 0) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        if expect is not None:
            assert code == expect, f"mle3 {' '.join(map(str, args))}: exit {code}, expected {expect}\n{err[-2000:]}"
        return code, out, err

    return run


def dataset_record(root: Path, key: str, manifest: bool = False) -> Path:
    """The item file of a registered data set version (its name carries the fingerprint:
    ``artifacts/datasets/<key>.<fp8>.yaml``), or with ``manifest`` the manifest beside
    its data in the workspace."""
    found = list((root / "artifacts" / "datasets").glob(f"{key}.*.yaml"))
    assert len(found) == 1, found
    if manifest:
        return root / yaml.safe_load(found[0].read_text())["dataset"]["manifest"]
    return found[0]


def check_json(cli, root: Path, *extra: str) -> tuple[int, dict]:
    code, out, _ = cli("check", "-w", root, "--format", "json", *extra, expect=None)
    return code, json.loads(out)


TINY_FILES = {
    "mle3.yaml": "project: tiny\n",
    "requirements/R.yaml": (
        "requirements:\n"
        "  - id: REQ-DATA\n    type: ml_data\n    title: Tiny shapes data\n"
        "  - id: REQ-PERF\n    type: performance\n    title: Tiny detector quality\n"
        "    criteria:\n      - metric: mAP_50\n        split: test\n        min: 0.0\n"
    ),
    "artifacts/training/TINY.yaml": (
        "training:\n  id: TINY-TRAIN-001\n  model_line: TINY-MODEL\n  model: yolov8n.yaml\n  dataset: TINY-DATA\n"
        "  requirements: [REQ-PERF]\n  epochs: 2\n  batch_size: 8\n  image_size: 64\n  optimizer: {type: AdamW, lr: "
        "0.002}\n"
        '  early_stopping: {patience: 5, metric: "mAP@0.5"}\n'
        "  hardware: {workers: 0}\n  reproducibility: {seed: 1, deterministic: true}\n"
    ),
}


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory) -> Path:
    """One real tiny training (2 epochs, 64 px), shared read-only by report and approval tests."""
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate
    from mle3.runner import TrainOptions, train

    root = write_files(tmp_path_factory.mktemp("trained") / "ws", TINY_FILES)
    data_yaml = generate(root / "data" / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)
    register(root, data_yaml, "TINY-DATA", "v1", ["REQ-DATA"])
    # an id chosen by hand (--model-id), so tests can name it; drafts are named after their run otherwise
    result = train(root, "TINY-TRAIN-001", TrainOptions(model_id="TINY-MODEL-v0.1.0"), echo=lambda line: None)
    assert result.status == "success", result.error
    return root


@pytest.fixture
def trained_ws(trained_template, tmp_path) -> Path:
    """A private copy of the trained workspace (tests may change it)."""
    import shutil

    target = tmp_path / "trained"
    shutil.copytree(trained_template, target, symlinks=True, ignore=shutil.ignore_patterns(".mle3"))
    return target


ROOTED_FILES = {
    **TINY_FILES,
    "mle3.yaml": "project: tiny rooted\ndata_roots:\n  nas: null\n",
    "artifacts/training/TINY.yaml": TINY_FILES["artifacts/training/TINY.yaml"] + "  augmentation: aug_config_v2.yaml\n",
    "artifacts/aug_config_v2.yaml": (REPO / "artifacts/augmentation/aug_config_v2.yaml").read_text(),
}


@pytest.fixture(scope="session")
def rooted_trained_template(tmp_path_factory) -> tuple[Path, Path]:
    """The set-up the README recommends: the data below the data root ``nas``, outside the
    workspace, mapped by ``MLE3_DATA_ROOT_NAS``; one real tiny training on it."""
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate
    from mle3.runner import TrainOptions, train

    base = tmp_path_factory.mktemp("rooted")
    root, nas = write_files(base / "ws", ROOTED_FILES), base / "nas"
    data_yaml = generate(nas / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3)
    previous = os.environ.get("MLE3_DATA_ROOT_NAS")
    os.environ["MLE3_DATA_ROOT_NAS"] = str(nas)
    try:
        register(root, data_yaml, "TINY-DATA", "v1", ["REQ-DATA"])
        result = train(root, "TINY-TRAIN-001", TrainOptions(model_id="TINY-MODEL-v0.1.0"), echo=lambda line: None)
    finally:
        if previous is None:
            os.environ.pop("MLE3_DATA_ROOT_NAS", None)
        else:
            os.environ["MLE3_DATA_ROOT_NAS"] = previous
    assert result.status == "success", result.error
    return root, nas


@pytest.fixture
def rooted_ws(rooted_trained_template, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A private copy of the rooted workspace, its root mapped for this test."""
    import shutil

    root, nas = rooted_trained_template
    target = tmp_path / "rooted"
    shutil.copytree(root, target, symlinks=True, ignore=shutil.ignore_patterns(".mle3"))
    monkeypatch.setenv("MLE3_DATA_ROOT_NAS", str(nas))
    return target, nas


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    require(
        "Debian's chromium and chromedriver",
        os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
        "chromium chromium-driver",
        env="MLE3_REQUIRE_BROWSER",
    )
    os.environ["SE_OFFLINE"] = "true"  # selenium must never fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--allow-file-access-from-files",
        f"--user-data-dir={tmp_path / 'chrome'}",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


# ----------------------------------------------------------------- helpers shared by test files


def wait_for(predicate, timeout: float = 120.0) -> None:
    """Poll ``predicate`` until it holds (a background process reached a state)."""
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def queue_ws(root: Path) -> Path:
    """The tiny workspace with its data registered, for queued trainings (no early stop)."""
    from mle3.datasets import register
    from mle3.datasets.synthetic import generate

    files = dict(TINY_FILES)
    # patience 0: no early stop, so a long queued training is still running when it is aborted
    files["artifacts/training/TINY.yaml"] = files["artifacts/training/TINY.yaml"].replace("patience: 5", "patience: 0")
    write_files(root, files)
    register(
        root,
        generate(root / "data" / "tiny", counts={"train": 16, "val": 4, "test": 4}, image_size=64, seed=3),
        "TINY-DATA",
        "v1",
        ["REQ-DATA"],
    )
    return root


SEED_AUG = REPO / "artifacts/augmentation/aug_config_v2.yaml"


def with_seed_augmentation(root):
    shutil.copy(SEED_AUG, root / "artifacts/aug_config_v2.yaml")
    cfg = root / "artifacts/training/TINY.yaml"
    cfg.write_text(cfg.read_text() + "  augmentation: aug_config_v2.yaml\n")
    return root
