"""CI formats of `mle3 check`: SARIF 2.1.0 and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mle3.rules import RULES

MODEL = "artifacts/model.yaml"
BROKEN = {
    MODEL: "model_version:\n  id: MODEL-v1\n  training_run: NOPE\n  metrics: {test: {mAP_50: 0.7}}\n  training_data: "
    "{dataset_version: DATA-v1}\n  traceability: {requirements: [REQ-D, REQ-P]}\n",
    "artifacts/train3.yaml": "training:\n  id: TRAIN-3\n  model: m\n  dataset: DATA\n  epochs: 3\n",
    "artifacts/bad.yaml": "dataset: [unclosed\n",
}


def sarif_errors(doc: dict) -> list[str]:
    """Schema violations of a SARIF log against the pinned SARIF 2.1.0 schema."""
    import jsonschema

    from conftest import FIXTURES

    schema = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return [e.message for e in sorted(validator.iter_errors(doc), key=str)]


def test_sarif_validates_against_the_sarif_2_1_0_schema(make_ws, cli):
    for files in (BROKEN, {}):
        code, out, _ = cli("check", "-w", make_ws(files), "--format", "sarif", expect=None)
        assert sarif_errors(json.loads(out)) == []


def test_sarif_uris_are_relative_to_the_git_root_when_the_workspace_is_a_subfolder(tmp_path, cli):
    import subprocess

    from conftest import BASE_FILES, require_git, write_files

    require_git()
    repo = tmp_path / "repo"
    ws = write_files(repo / "ml tools" / "ü", {**BASE_FILES, **BROKEN, "artifacts/my #1.yaml": "dataset: [\n"})
    subprocess.run(["git", "init", "-q", str(repo)], check=True, capture_output=True)
    code, out, _ = cli("check", "-w", ws, "--format", "sarif", expect=1)
    doc = json.loads(out)
    assert sarif_errors(doc) == []
    run = doc["runs"][0]
    assert list(run["originalUriBaseIds"]) == ["%SRCROOT%"] and "uri" not in run["originalUriBaseIds"]["%SRCROOT%"]
    assert str(tmp_path) not in out  # no absolute machine path leaks into the log
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"] if "locations" in r]
    assert locations and all(loc["uriBaseId"] == "%SRCROOT%" for loc in locations)
    uris = {loc["uri"] for loc in locations}
    assert "ml%20tools/%C3%BC/" + MODEL in uris and "ml%20tools/%C3%BC/artifacts/my%20%231.yaml" in uris
    # the same workspace at the top of the repository: no prefix, still the repository base
    top = write_files(tmp_path / "top", {**BASE_FILES, **BROKEN})
    subprocess.run(["git", "init", "-q", str(top)], check=True, capture_output=True)
    _, out, _ = cli("check", "-w", top, "--format", "sarif", expect=1)
    results = json.loads(out)["runs"][0]["results"]
    located = {r["ruleId"]: r["locations"][0]["physicalLocation"]["artifactLocation"] for r in results}
    assert located["trace.dangling-ref"] == {"uri": MODEL, "uriBaseId": "%SRCROOT%"}


def test_sarif_has_every_rule_and_a_located_result_per_finding(make_ws, cli):
    code, out, _ = cli("check", "-w", make_ws(BROKEN), "--format", "sarif", expect=1)
    doc = json.loads(out)
    assert code == 1 and doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == set(RULES)
    assert all(r["help"]["text"] and r["defaultConfiguration"]["level"] in ("error", "warning", "note") for r in rules)
    by_rule = {r["ruleId"]: r for r in run["results"]}
    dangling = by_rule["trace.dangling-ref"]
    assert dangling["level"] == "error" and rules[dangling["ruleIndex"]]["id"] == "trace.dangling-ref"
    loc = dangling["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": MODEL, "uriBaseId": "WORKSPACE"} and loc["region"]["startLine"] == 3
    assert set(run["originalUriBaseIds"]) == {"WORKSPACE"}  # not in git: relative to the workspace
    assert "uri" not in run["originalUriBaseIds"]["WORKSPACE"]  # SARIF: a base id's uri is absolute or absent
    syntax = by_rule["load.yaml-syntax"]["locations"][0]["physicalLocation"]["region"]
    assert syntax["startLine"] == 2 and syntax["startColumn"] >= 1
    assert by_rule["trace.config-unused"]["level"] == "warning"


def test_junit_fails_the_rule_and_item_cases_with_errors(make_ws, cli, tmp_path):
    target = tmp_path / "report.xml"
    code, _, _ = cli("check", "-w", make_ws(BROKEN), "--format", "junit", "-o", target, expect=1)
    root = ET.parse(target).getroot()
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert code == 1 and cases[("trace.dangling-ref", "MODEL-v1")].find("failure") is not None
    warning_case = cases[("trace.config-unused", "TRAIN-3")]
    assert warning_case.find("failure") is None and warning_case.find("system-out") is not None
    assert int(root.get("tests")) == len(cases) and int(root.get("failures")) == sum(
        c.find("failure") is not None for c in cases.values()
    )
    code, out, _ = cli("check", "-w", make_ws(BROKEN), "--format", "junit", "--strict", expect=None)
    strict = {(c.get("classname"), c.get("name")): c for c in ET.fromstring(out.split("\n", 1)[1]).iter("testcase")}
    assert strict[("trace.config-unused", "TRAIN-3")].find("failure") is not None


def test_pre_commit_hook_runs_for_real_in_a_git_repository(make_ws, tmp_path):
    import shutil
    import subprocess

    from conftest import REPO, require_git

    require_git()
    root = make_ws()
    run = lambda *a, **k: subprocess.run(list(a), cwd=root, capture_output=True, text=True, **k)  # noqa: E731
    run("git", "init", "-q")
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    hooks = tmp_path / "hooks-repo"
    # without .git: in a git worktree it is a file naming the shared git dir, and the commit
    # below would land on the checked-out branch
    shutil.copytree(
        REPO, hooks, ignore=shutil.ignore_patterns(".git", ".mle3", "*.egg-info", "__pycache__", "mle3-demo")
    )
    subprocess.run(["git", "init", "-q"], cwd=hooks, capture_output=True, check=True)
    subprocess.run(["git", "add", "-A"], cwd=hooks, capture_output=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hooks", "--allow-empty"],
        cwd=hooks,
        capture_output=True,
    )
    env = dict(__import__("os").environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    ok = run(sys_executable(), "-m", "pre_commit", "try-repo", str(hooks), "mle3-check-system", "--all-files", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "mle3 check (installed mle3)" in ok.stdout and "Passed" in ok.stdout
    (root / "artifacts/model.yaml").write_text(
        (root / "artifacts/model.yaml").read_text().replace("training_run: TRAIN", "training_run: NOPE")
    )
    run("git", "add", "-A")
    bad = run(sys_executable(), "-m", "pre_commit", "try-repo", str(hooks), "mle3-check-system", "--all-files", env=env)
    assert bad.returncode == 1 and "trace.dangling-ref" in bad.stdout


def sys_executable() -> str:
    import sys

    return sys.executable
