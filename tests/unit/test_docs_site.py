"""The documentation site: ``mkdocs build --strict`` passes, and the references it generates
follow the code (every rule, command, option, setting, item kind and JSON document), so the
docs fail here the moment they drift."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from mle3.cli import app
from mle3.rules import RULES
from mle3.workspace import KINDS, ProjectConfig

REPO = Path(__file__).resolve().parents[2]


def _hooks():
    spec = importlib.util.spec_from_file_location("mle3_docs_hooks", REPO / "docs" / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(cmd=None, path=("mle3",)):
    """Every visible command, walked here rather than by the generator under test."""
    cmd = cmd or typer.main.get_command(app)
    if getattr(cmd, "hidden", False):
        return
    yield list(path), cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(REPO / "mkdocs.yml"), "-d", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out


def _page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_site_builds_strict_and_every_marker_is_replaced(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    left = [str(p.relative_to(site)) for p in pages if "<!-- mle3:" in p.read_text(encoding="utf-8")]
    assert not left, f"generated parts not expanded: {left}"


def test_rule_reference_lists_every_registered_rule(site):
    html = _page(site, "reference/rules")
    missing = [r for r in RULES if f"<code>{r}</code>" not in html]
    assert not missing, f"rules missing from the rule reference: {missing}"
    assert len(RULES) > 40


def test_cli_reference_lists_every_command_and_option(site):
    html = _page(site, "reference/cli")
    missing = []
    for path, command in _commands():
        anchor = "-".join(path).lower()
        if f'id="{anchor}"' not in html:
            missing.append(" ".join(path))
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            opts = [opt for opt in getattr(param, "opts", []) if opt.startswith("--")]
            missing.extend(f"{' '.join(path)} {opt}" for opt in opts if opt not in html)
    assert not missing, f"missing from the command-line reference: {missing}"


def test_settings_and_item_references_list_every_setting_and_kind(site):
    settings = _page(site, "workspace/settings")
    missing = [name for name in ProjectConfig.model_fields if f"<code>{name}</code>" not in settings]
    items = _page(site, "reference/items")
    missing += [kind for kind in KINDS if f"<code>{kind}</code>" not in items]
    assert not missing, missing


def test_json_reference_describes_every_document_the_code_writes():
    hooks = _hooks()
    ids = hooks.output_ids()
    assert "mle3.check/1" in ids and "mle3.rules/1" in ids, ids  # the scanner finds them
    written = hooks.MARKER.sub("", (REPO / "docs" / "reference" / "json.md").read_text(encoding="utf-8"))
    missing = [sid for sid in ids if f"`{sid}`" not in written]
    assert not missing, f"JSON documents the code writes but docs/reference/json.md does not describe: {missing}"


def test_rule_reference_is_generated_not_written_by_hand():
    """The table lives in the registry; a hand-written copy in a page would go stale."""
    hooks = _hooks()
    assert "<!-- mle3:rules -->" in (REPO / "docs" / "reference" / "rules.md").read_text(encoding="utf-8")
    table = hooks.render("rules")
    assert all(f"| `{r}` |" in table for r in RULES)
    for page in (REPO / "docs").rglob("*.md"):
        row = r"^\| `[a-z]+\.[a-z0-9-]+` \| (error|warning|info) \|"
        assert not re.search(row, page.read_text(encoding="utf-8"), re.MULTILINE), page
    with pytest.raises(KeyError):
        hooks.render("no-such-part")


def test_markup_in_help_texts_is_escaped():
    hooks = _hooks()
    assert hooks.md("set MLE3_DATA_ROOT_<NAME> or `a|b <c>`") == r"set MLE3\_DATA\_ROOT\_&lt;NAME&gt; or `a|b <c>`"


def test_readme_links_into_the_docs_resolve():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) > 10
    missing = [link for link in links if not (REPO / link).is_file()]
    assert not missing, missing


def test_readme_command_table_names_real_commands_and_options():
    """The README's table is hand-written: every `mle3 ...` in it must be a command, and
    every `--option` one of that command's (a renamed option fails here)."""
    root = typer.main.get_command(app)
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| You want to | Command |")
    wrong = []
    for row in lines[start + 2 :]:
        if not row.startswith("|"):
            break
        command = None
        for span in re.findall(r"`([^`]+)`", row.split("|", 2)[2]):
            words = span.replace("\\|", "|").split()
            if words[0] == "mle3":
                command, path = root, ["mle3"]
                for word in words[1:]:
                    sub = getattr(command, "commands", {}).get(word)
                    if sub is None:
                        break
                    command, path = sub, [*path, word]
                if path == ["mle3"]:
                    wrong.append(span)
                    continue
            if command is None:
                continue
            known = {o for p in command.params for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
            named = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", span)
            wrong.extend(f"{' '.join(path)} {w}" for w in named if w not in known)
    assert not wrong, f"the README's command table names what the CLI does not have: {wrong}"
