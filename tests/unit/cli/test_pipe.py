"""``mle3 rules | head -1`` exits 0, however much output fitted in the pipe."""

from __future__ import annotations

import subprocess
import sys

MLE3 = f"{sys.executable} -c 'from mle3.cli import run; run()'"


def test_rules_piped_into_head_always_exits_0():
    for _ in range(5):
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", f"{MLE3} rules | head -1"], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr and proc.stderr == ""


def test_json_piped_into_head_exits_0():
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{MLE3} rules --format json | head -c 10"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout == '{\n  "schem' and proc.stderr == ""


def test_a_broken_pipe_that_is_not_stdout_is_still_an_error(monkeypatch, capsys):
    """BrokenPipeError is an OSError: caught first, but only stdout's is "the reader went away"."""
    import mle3.cli as cli

    def boom(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "app", boom)
    assert cli.main(["rules"]) == cli.ExitCode.USAGE
    assert "pipe closed" in capsys.readouterr().err
