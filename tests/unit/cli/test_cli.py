"""The CLI contract: exit codes, JSON documents, one-line errors, no torch on import."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

from conftest import REPO, check_json

from mle3.rules import RULES


def test_check_json_schema_ok(make_ws, cli):
    code, doc = check_json(cli, make_ws())
    assert code == 0
    assert doc["schema"] == "mle3.check/1" and doc["ok"] is True
    assert set(doc["summary"]) == {"errors", "warnings", "infos", "items", "files", "ignored"}
    assert doc["summary"]["items"] == 6 and doc["findings"] == []


def test_check_json_findings_fields_and_exit_1(make_ws, cli):
    root = make_ws(
        {
            "artifacts/model.yaml": "model_version:\n  id: MODEL-v1\n  training_run: NOPE\n  training_data: "
            "{dataset_version: DATA-v1}\n  traceability: {requirements: [REQ-P]}\n  metrics: {test: {mAP_50: 0.9}}\n"
        }
    )
    code, doc = check_json(cli, root)
    assert code == 1 and doc["ok"] is False
    f = next(f for f in doc["findings"] if f["rule"] == "trace.dangling-ref")
    assert set(f) == {"rule", "severity", "item", "message", "file", "line", "column", "field"}
    assert (f["file"], f["line"], f["item"], f["field"]) == ("artifacts/model.yaml", 3, "MODEL-v1", "training_run")


def test_strict_fails_on_warnings(make_ws, cli):
    root = make_ws({"artifacts/train3.yaml": "training:\n  id: TRAIN-3\n  model: m\n  dataset: DATA\n  epochs: 3\n"})
    assert cli("check", "-w", root)[0] == 0
    assert cli("check", "-w", root, "--strict", expect=1)[0] == 1


def test_text_output_grouped_by_file_with_summary(make_ws, cli):
    root = make_ws({"artifacts/bad.yaml": "dataset: [unclosed\n"})
    code, out, _ = cli("check", "-w", root, expect=1)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "artifacts/bad.yaml"
    assert "load.yaml-syntax" in lines[1] and lines[-1].startswith("FAILED: 1 error")


def test_no_workspace_is_exit_2_one_line(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("check", expect=2)
    assert code == 2 and err.count("\n") == 1 and "no mle3.yaml" in err


def test_broken_mle3_yaml_is_exit_2_with_line(make_ws, cli):
    root = make_ws({"mle3.yaml": "project: x\nrules: [unclosed\n"})
    code, _, err = cli("check", "-w", root, expect=2)
    assert code == 2 and err.startswith("mle3: error: mle3.yaml:") and "Traceback" not in err


def test_usage_error_is_exit_2(cli):
    assert cli("check", "--format", "yaml", expect=2)[0] == 2
    assert cli("no-such-command", expect=2)[0] == 2


def test_unknown_item_is_exit_2_with_suggestion(make_ws, cli):
    code, _, err = cli("trace", "MODEL-v2", "-w", make_ws(), expect=2)
    assert code == 2 and "MODEL-v1" in err


def test_trace_json_both_directions(make_ws, cli):
    code, out, _ = cli("trace", "DATA", "-w", make_ws(), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "mle3.trace/1" and doc["item"]["id"] == "DATA-v1"
    assert [(n["relation"], n["id"]) for n in doc["upstream"]] == [("satisfies", "REQ-D")]
    down = {(n["relation"], n["id"]) for n in doc["downstream"]}
    assert down == {("uses_dataset", "MODEL-v1"), ("uses_dataset", "TRAIN")}


def test_trace_down_only_and_text(make_ws, cli):
    code, out, _ = cli("trace", "REQ-D", "--down", "-w", make_ws(), "--format", "json")
    doc = json.loads(out)
    assert "upstream" not in doc and {n["id"] for n in doc["downstream"]} >= {"DATA-v1", "MODEL-v1"}
    code, out, _ = cli("trace", "MODEL-v1", "-w", make_ws())
    assert code == 0 and "trained_by: TRAIN (training)" in out


def test_impact_lists_everything_downstream(make_ws, cli):
    code, out, _ = cli("impact", "REQ-D", "-w", make_ws(), "--format", "json")
    doc = json.loads(out)
    ids = {d["id"]: d["distance"] for d in doc["impacted"]}
    assert ids == {"DATA-v1": 1, "MODEL-v1": 1, "TRAIN": 2}
    # the performance requirement is downstream of the system requirement both derive from, with the architecture
    code, out, _ = cli("impact", "REQ-P", "-w", make_ws(), "--format", "json")
    ids = {d["id"]: d["distance"] for d in json.loads(out)["impacted"]}
    assert ids["ARCH-1"] == 1 and ids["MODEL-v1"] == 1
    assert all(d["via"][0] == "REQ-D" and d["via"][-1] == d["id"] for d in doc["impacted"])


def test_matrix_formats_and_gaps(make_ws, cli, tmp_path):
    root = make_ws({"requirements/REQ-X.yaml": "requirement:\n  id: REQ-X\n  type: ml_data\n"})
    code, out, _ = cli("matrix", "-w", root, "--format", "json")
    rows = {r["requirement"]: r for r in json.loads(out)["rows"]}
    assert rows["REQ-D"]["datasets"] == ["DATA-v1"] and rows["REQ-D"]["model_versions"] == ["MODEL-v1"]
    assert rows["REQ-D"]["configurations"] == ["TRAIN"] and rows["REQ-D"]["gaps"] == []
    assert "no data set" in rows["REQ-X"]["gaps"]
    code, out, _ = cli("matrix", "-w", root, "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["requirement"] for r in table] == ["REQ-D", "REQ-P", "REQ-X"]
    code, out, _ = cli("matrix", "-w", root, "--format", "md")
    assert "| REQ-X" in out and "**no data set" in out
    target = tmp_path / "m.html"
    assert cli("matrix", "-w", root, "--format", "html", "-o", target)[0] == 0
    html = target.read_text()
    assert 'class="gap"' in html and "REQ-X" in html


def test_matrix_html_escapes_workspace_text(make_ws, cli, tmp_path):
    root = make_ws(
        {"requirements/REQ-X.yaml": "requirement:\n  id: REQ-X\n  title: '<script>alert(1)</script>'\n  type: other\n"}
    )
    code, out, _ = cli("matrix", "-w", root, "--format", "html")
    assert "<script>alert" not in out and "&lt;script&gt;" in out


def test_rules_lists_every_rule(cli):
    code, out, _ = cli("rules", "--format", "json")
    doc = json.loads(out)
    assert {r["id"] for r in doc["rules"]} == set(RULES)
    assert all(r["fix"] and r["summary"] and r["severity"] in ("error", "warning", "info") for r in doc["rules"])


def test_schema_writes_valid_json_schemas(cli, tmp_path):
    out = tmp_path / "schemas"
    assert cli("schema", "-o", out)[0] == 0
    names = sorted(p.name for p in out.iterdir())
    assert "model_version.schema.json" in names and "training.schema.json" in names
    schema = json.loads((out / "training.schema.json").read_text())
    props = schema["properties"]["training"]["properties"]
    assert {"epochs", "optimizer", "early_stopping", "reproducibility"} <= set(props)


def test_init_creates_a_git_workspace_whose_check_lists_the_next_steps(cli, tmp_path):
    """No item with invented counts or metrics: check names what is still to be done."""
    from conftest import require_git

    require_git()
    target = tmp_path / "new-ws"
    assert cli("init", target)[0] == 0
    assert (target / ".git").is_dir() and ".mle3/" in (target / ".gitignore").read_text()
    code, out, _ = cli("check", "-w", target, "--format", "json", expect=None)
    rules = sorted(f["rule"] for f in json.loads(out)["findings"])
    assert rules == ["trace.config-no-dataset", "trace.config-unused", "trace.requirement-uncovered"], out
    assert not list(target.glob("artifacts/datasets/*")) and not list(target.glob("artifacts/models/*"))
    nested = target / "requirements" / "inner"
    assert cli("init", nested)[0] == 0 and not (nested / ".git").exists()  # inside a repository already
    assert (target / "schemas" / "requirement.schema.json").exists()
    first = (target / "requirements" / "REQ-DATA-001.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/requirement.schema.json"
    assert cli("init", target, expect=2)[0] == 2  # refuses to overwrite


def test_init_sets_up_git_lfs_for_weights_on_request(cli, tmp_path):
    assert cli("init", tmp_path / "lfs", "--lfs")[0] == 0
    lines = (tmp_path / "lfs" / ".gitattributes").read_text().splitlines()
    assert {
        "*.pt filter=lfs diff=lfs merge=lfs -text",
        "*.onnx filter=lfs diff=lfs merge=lfs -text",
        "*.engine filter=lfs diff=lfs merge=lfs -text",
    } <= set(lines)
    assert cli("init", tmp_path / "plain", "--no-lfs")[0] == 0
    assert not (tmp_path / "plain" / ".gitattributes").exists()


def test_importing_cli_does_not_import_torch():
    code = (
        "import sys, mle3.cli, mle3; mle3.cli.app; print(sorted(m for m in ('torch', 'ultralytics', 'weasyprint') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_console_script_runs_as_subprocess():
    proc = subprocess.run(
        [sys.executable, "-c", "from mle3.cli import run; run()", "check", "-w", str(REPO), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"] is True


def test_readme_starts_with_the_two_commands_ci_runs():
    lines = (REPO / "README.md").read_text().splitlines()
    block = lines[lines.index("```") + 1 : lines.index("```") + 3]
    assert block == ["pip install -e '.[train]' && mle3 demo", "pip install -e '.[train,test]' && pytest"]
    assert "pip install -e '.[train,test]' && pytest" in (REPO / ".ci" / "run").read_text()


def test_exit_codes_do_not_change_when_the_reader_closes_the_pipe(make_ws):
    """`mle3 rules | head -1`: the command's own exit code, however much output fitted in
    the pipe before the reader went away (click made it 1 at the first failed write)."""
    import os

    broken = make_ws({"artifacts/train.yaml": "training:\n  id: TRAIN\n  model: m\n  dataset: NOPE\n  epochs: 3\n"})
    for args, expected in ((["rules"], 0), (["check", "-w", str(broken)], 1)):
        for _ in range(3):
            read, write = os.pipe()
            os.close(read)  # the reader is gone before mle3 writes its first byte
            proc = subprocess.run(
                [sys.executable, "-c", "from mle3.cli import run; run()", *args],
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
            )
            os.close(write)
            assert proc.returncode == expected, (args, proc.returncode, proc.stderr)
            assert "Traceback" not in proc.stderr


def test_help_names_every_option_in_full_at_80_columns(cli, monkeypatch):
    import typer.main

    monkeypatch.setenv("COLUMNS", "80")
    group = typer.main.get_command(__import__("mle3.cli", fromlist=["app"]).app)

    def commands(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from commands(sub, [*path, name])

    for path, command in commands(group, []):
        code, out, _ = cli(*path, "--help")
        assert code == 0, path
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in out, (path, opt)
