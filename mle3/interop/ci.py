"""Check results for CI systems: SARIF 2.1.0 (GitHub code scanning) and JUnit XML
(GitLab, Jenkins test reports).

SARIF: one result per finding with rule id, level, message and the file/line region;
the rule table becomes ``tool.driver.rules`` with help text, so code scanning shows the
finding on the YAML line with the fix next to it. Inside a git repository the uris are
relative to the repository root (base id ``%SRCROOT%``), which is what code scanning
resolves them against when the workspace is a subfolder; elsewhere relative to the
workspace (``WORKSPACE``). JUnit: one test case per rule and
item; findings of severity error (or warning, with ``strict``) are failures.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..rules import RULES, CheckReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SRCROOT = "%SRCROOT%"


def repo_prefix(root: Path | None) -> str | None:
    """The workspace's path inside its git working tree ("" at the top, "ml/" in a
    subfolder), or None outside git: code scanning resolves uris against the repository
    root, not the folder holding mle3.yaml."""
    if root is None:
        return None
    try:
        import git
    except ImportError:  # gitpython present but no git executable
        return None
    try:
        with git.Repo(root, search_parent_directories=True) as repo:
            top = repo.working_tree_dir
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if top is None:  # bare repository: no working tree to be relative to
        return None
    try:
        inside = Path(root).resolve().relative_to(Path(top).resolve())
    except ValueError:
        return None
    return "" if inside == Path() else inside.as_posix() + "/"


def sarif(report: CheckReport, root: Path | None = None) -> dict[str, Any]:
    """SARIF 2.1.0 log; ``root`` (the workspace) places the uris in its git repository."""
    prefix = repo_prefix(root)
    base = "WORKSPACE" if prefix is None else SRCROOT
    rules = sorted(RULES.values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": _LEVEL[f.severity],
            "message": {"text": f.message + (f" [{f.field}]" if f.field else "") + (f" ({f.item})" if f.item else "")},
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        if f.file:
            region: dict[str, int] = {"startLine": max(1, f.line or 1)}
            if f.column:
                region["startColumn"] = f.column
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri((prefix or "") + f.file), "uriBaseId": base},
                        "region": region,
                    }
                }
            ]
        if f.item:
            result["properties"] = {"item": f.item}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mle3",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/mle3/",
                        "rules": [
                            {
                                "id": r.id,
                                "name": r.id.replace(".", "-"),
                                "shortDescription": {"text": r.summary},
                                "fullDescription": {"text": r.summary},
                                "help": {
                                    "text": f"{r.summary}\nFix: {r.fix}",
                                    "markdown": f"{r.summary}\n\n**Fix:** {r.fix}",
                                },
                                "defaultConfiguration": {"level": _LEVEL[r.severity]},
                                "properties": {"family": r.family},
                            }
                            for r in rules
                        ],
                    }
                },
                "originalUriBaseIds": (
                    # SARIF wants a base id's own uri absolute, or none: the reader knows where it checked out
                    {"WORKSPACE": {"description": {"text": "The workspace root (the folder holding mle3.yaml)"}}}
                    if prefix is None
                    # no uri: the checkout's absolute path is the reader's, not this machine's
                    else {SRCROOT: {"description": {"text": "The root of the git repository"}}}
                ),
                "results": results,
            }
        ],
    }


def _uri(path: str) -> str:
    """A relative URI reference: SARIF uris are RFC 3986, so spaces, non-ASCII and
    reserved characters (``#``, ``?``, ``%``, ``:``) are percent-encoded (UTF-8)."""
    return quote(path, safe="/")


def junit(report: CheckReport, strict: bool = False) -> str:
    """One <testsuite> per rule family, one <testcase> per rule and item."""
    failing = {"error", "warning"} if strict else {"error"}
    by_case: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for f in report.findings:
        by_case[(f.rule, f.item or f.file or "workspace")].append(f)
    suites = ET.Element("testsuites", name="mle3 check", tests="0", failures="0")
    families: dict[str, ET.Element] = {}
    totals = {"tests": 0, "failures": 0}
    for rule in sorted(RULES.values(), key=lambda r: r.id):
        cases = sorted(k for k in by_case if k[0] == rule.id) or [(rule.id, "workspace")]
        suite = families.get(rule.family)
        if suite is None:
            suite = families[rule.family] = ET.SubElement(
                suites, "testsuite", name=f"mle3.{rule.family}", tests="0", failures="0"
            )
        for _, subject in cases:
            case = ET.SubElement(suite, "testcase", classname=rule.id, name=subject)
            findings = by_case.get((rule.id, subject), [])
            bad = [f for f in findings if f.severity in failing]
            suite.set("tests", str(int(suite.get("tests", "0")) + 1))
            totals["tests"] += 1
            if bad:
                failure = ET.SubElement(case, "failure", message=bad[0].message, type=bad[0].severity)
                failure.text = "\n".join(f.one_line() for f in bad) + f"\nFix: {rule.fix}"
                suite.set("failures", str(int(suite.get("failures", "0")) + 1))
                totals["failures"] += 1
            elif findings:
                out = ET.SubElement(case, "system-out")
                out.text = "\n".join(f.one_line() for f in findings)
    suites.set("tests", str(totals["tests"]))
    suites.set("failures", str(totals["failures"]))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render(report: CheckReport, fmt: str, strict: bool = False, root: Path | None = None) -> str:
    """The CI format ``fmt``; ``root`` is the workspace, for SARIF's repository-relative uris."""
    if fmt == "sarif":
        return json.dumps(sarif(report, root), indent=2)
    if fmt == "junit":
        return junit(report, strict)
    raise ValueError(fmt)
