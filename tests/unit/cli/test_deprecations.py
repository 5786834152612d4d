"""Old spellings users have in scripts keep working for one release, with one line on stderr."""

from __future__ import annotations

import json

from conftest import TINY_FILES, write_files

from mle3.cli import ExitCode


def _deprecations(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("mle3: deprecated: ")]


def test_tune_config_still_runs_a_study(cli, tmp_path):
    root = write_files(tmp_path / "ws", TINY_FILES)
    code, _, err = cli("tune", "NO-SUCH-CONFIG", "--trials", "1", "-w", root, expect=ExitCode.USAGE)
    assert len(_deprecations(err)) == 1 and "mle3 tune run NO-SUCH-CONFIG" in err
    assert "NO-SUCH-CONFIG" in err.splitlines()[-1]  # it went on as `tune run`: the config is looked up
    code, _, err = cli("tune", "run", "NO-SUCH-CONFIG", "-w", root, expect=ExitCode.USAGE)
    assert not _deprecations(err)


def test_tune_accept_is_a_subcommand(cli, tmp_path):
    root = write_files(tmp_path / "ws", TINY_FILES)
    code, _, err = cli("tune", "accept", "NO-STUDY", "-w", root, expect=None)
    assert code != 0 and not _deprecations(err) and "usage" not in err.lower()


def test_export_format_onnx_and_json_flag_mean_to_and_format(cli, tmp_path):
    root = write_files(tmp_path / "ws", TINY_FILES)
    _, _, err = cli("export", "NO-MODEL", "--format", "onnx", "-w", root, expect=ExitCode.USAGE)
    assert len(_deprecations(err)) == 1 and "--to onnx" in err and "is not one of" not in err
    _, _, err = cli("export", "NO-MODEL", "--json", "-w", root, expect=ExitCode.USAGE)
    assert len(_deprecations(err)) == 1 and "--format json" in err


def test_report_format_html_means_to_html(cli, make_ws):
    _, _, err = cli("report", "04-11", "NO-SUCH", "--format", "html", "-w", make_ws(), expect=ExitCode.USAGE)
    assert len(_deprecations(err)) == 1 and "--to html" in err


def test_train_mlflow_is_one_option_and_mlflow_uri_still_works(cli, tmp_path):
    root = write_files(tmp_path / "ws", TINY_FILES)
    queued = "--mlflow is not available with --queue"
    for args, deprecations in (
        (["TINY-TRAIN-001", "--mlflow=file:./x"], 0),
        (["--mlflow", "TINY-TRAIN-001"], 0),
        (["TINY-TRAIN-001", "--mlflow-uri", "file:./x"], 1),
    ):
        _, _, err = cli("train", *args, "--queue", "-w", root, expect=ExitCode.USAGE)
        assert queued in err and len(_deprecations(err)) == deprecations, (args, err)


def test_runs_export_reads_its_mlflow_uri(cli, tmp_path):
    root = write_files(tmp_path / "ws", TINY_FILES)
    uri = (tmp_path / "mlruns").as_uri()
    for args, deprecations in (([f"--mlflow={uri}"], 0), (["--mlflow-uri", uri], 1)):
        _, out, err = cli("runs", "export", *args, "-w", root, "--format", "json")
        assert json.loads(out)["uri"] == uri and len(_deprecations(err)) == deprecations


def test_bare_schema_still_writes_schemas_and_now_lists_them(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, out, err = cli("schema")
    assert (tmp_path / "schemas" / "training.schema.json").is_file()
    assert len(_deprecations(err)) == 1 and "mle3 schema -o schemas" in err
    assert "mle3.check/1" in out
    _, out, err = cli("schema", "-o", tmp_path / "other")
    assert not _deprecations(err) and (tmp_path / "other" / "training.schema.json").is_file()


def test_the_engine_hint_names_a_command_that_exists():
    from pathlib import Path

    import mle3

    text = (Path(mle3.__file__).parent / "runner" / "quantize.py").read_text()
    assert "export --format engine" not in text
