"""The CLI reads the same everywhere: ``--format`` is the output format and refuses what a
command does not write, exit codes are named, old spellings still work with one line."""

from __future__ import annotations

import pytest

from mle3.cli import ExitCode

#: (command, a --format value it does not write): each must be refused, never ignored
REFUSED = [
    ("check", "pdf"),
    ("trace", "csv"),
    ("impact", "md"),
    ("matrix", "sarif"),
    ("rules", "yaml"),
    ("schema", "html"),
    ("runs", "csv"),
    ("runs show", "md"),
    ("doctor", "xml"),
    ("audit verify", "junit"),
    ("audit log", "csv"),
    ("report", "docx"),
    ("export", "engine"),
    ("export", "pdf"),
    ("report", "onnx"),
    ("tune run", "csv"),
    ("site", "pdf"),
]
ARGS = {
    "trace": ["X"],
    "impact": ["X"],
    "runs show": ["RUN-1"],
    "report": ["04-11", "X"],
    "export": ["M"],
    "tune run": ["C"],
}


@pytest.mark.parametrize(("command", "value"), REFUSED)
def test_a_format_the_command_does_not_write_is_exit_2_in_one_line(cli, command, value):
    code, out, err = cli(*command.split(), *ARGS.get(command, []), "--format", value, expect=ExitCode.USAGE)
    assert out == "" and err.count("\n") == 1 and err.startswith("mle3: error: ") and value in err


def test_exit_codes_are_named():
    assert (ExitCode.OK, ExitCode.FINDINGS, ExitCode.USAGE, ExitCode.INTERRUPTED) == (0, 1, 2, 130)


def test_usage_errors_are_one_line_naming_the_help(cli):
    code, out, err = cli("check", "--no-such-option", expect=ExitCode.USAGE)
    assert err.count("\n") == 1 and "mle3 check -h" in err


def test_a_group_without_a_command_still_shows_its_help(cli):
    code, out, err = cli("tune", expect=ExitCode.USAGE)
    assert "run" in out + err and "accept" in out + err


@pytest.mark.parametrize("command", ["export", "report", "train", "runs export", "tune run", "tune accept", "schema"])
def test_help_of_the_changed_commands(cli, command):
    _, out, _ = cli(*command.split(), "-h")
    assert "--format" in out or command == "schema"
    assert "--mlflow-uri" not in out and "--mlflow-at" not in out and "--json " not in out


def test_the_shared_options_are_defined_once():
    from pathlib import Path

    import mle3.cli as package

    sources = [p for p in Path(package.__file__).parent.glob("*.py") if p.name != "options.py"]
    assert not [p.name for p in sources if '"--workspace"' in p.read_text() or 'Option("--format"' in p.read_text()]
