"""The code base stays as ruff wants it (configured in pyproject.toml), and the development
hooks in .pre-commit-config.yaml stay valid: CI runs these, so a change that skips the hooks
fails here instead of in review."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

PATHS = ["mle3", "tests", "benchmarks", "docs"]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", *args, *PATHS], cwd=REPO, capture_output=True, text=True)


def test_ruff_finds_nothing():
    proc = _ruff("check", "--no-cache", "--output-format", "concise")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_code_is_formatted():
    proc = _ruff("format", "--check", "--no-cache")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_development_hooks_are_a_valid_pre_commit_config():
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
