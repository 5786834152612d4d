"""mypy is clean: pyproject's ``[tool.mypy]`` (files, per-module overrides for packages
without type information, ``check_untyped_defs``) run from the repository root.

An Optional used as if it were set, or an annotation that says something else than the
code does, fails here with mypy's own lines, before a user meets the ``AttributeError``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from conftest import require

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_reports_no_error() -> None:
    require("mypy (pip install mypy, in the test extra)", importlib.util.find_spec("mypy") is not None, "python3-mypy")
    # the interpreter running the tests (the mypy script may not be on PATH); its cache is
    # the default .mypy_cache of the repository (git-ignored), so a second run is quick
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"mypy found errors:\n{done.stdout}{done.stderr}"
    assert "Success: no issues found" in done.stdout, done.stdout
