"""The import contract: data flows one way (pyproject's ``[tool.importlinter]``).

``lint-imports`` checks the contracts; this file runs it and reads every import statement
itself too (module level and function-local, ``if TYPE_CHECKING:`` blocks aside), so the
layers hold even where a tool would miss a lazy import, and no module reaches into
another package's private names.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from importlinter.api import read_configuration

ROOT = Path(__file__).resolve().parents[2]


def _layers(pyproject: Path) -> list[list[str]]:
    """The layers contract's layers, top first, each a list of sibling names."""
    contracts = read_configuration(str(pyproject))["contracts_options"]
    contract = next(c for c in contracts if c["type"] == "layers")
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def _type_checking(node: ast.If) -> bool:
    test = node.test
    name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else None
    return name == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at module level, in functions, in classes."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    walk(other)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            walk(child)

    walk(tree)
    return found


def violations(package_dir: Path, layers: list[list[str]]) -> list[str]:
    """Imports of ``package_dir`` that run up or across the layers, or take another
    package's private name; and top-level modules in no layer."""
    package = package_dir.name
    layer_of = {name: i for i, layer in enumerate(layers) for name in layer}
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    problems = []
    for name in sorted({m.split(".")[1] for m in modules if "." in m} - set(layer_of)):
        problems.append(f"{package}.{name} is in no layer of the contract")
    for module, path in modules.items():
        if module == package:
            continue
        child = module.split(".")[1]
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [(alias.name, []) for alias in node.names]
            else:
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{alias.name}" for alias in node.names]
                names = [alias.name for alias, sub in zip(node.names, subs) if sub not in modules]
                targets = [(sub, []) for sub in subs if sub in modules] + ([(target, names)] if names else [])
            for target, names in targets:
                parts = target.split(".")
                if parts[0] != package or len(parts) < 2 or parts[1] == child:
                    continue
                where = f"{path.relative_to(package_dir.parent)}:{node.lineno}"
                other = parts[1]
                if other not in layer_of or child not in layer_of:
                    continue
                if layer_of[other] < layer_of[child]:
                    problems.append(f"{where}: {module} imports {target}, a layer above it")
                elif layer_of[other] == layer_of[child]:
                    problems.append(f"{where}: {module} imports {target}, a sibling in its layer")
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private:
                    taken = ", ".join(private)
                    problems.append(f"{where}: {module} takes {taken} from {target}: private to that package")
    return problems


#: ``lint-imports`` of the interpreter running the tests (the script may not be on PATH)
LINT_IMPORTS = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()", "--no-cache"]


def test_lint_imports_keeps_every_contract() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(LINT_IMPORTS, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_every_import_runs_down_the_layers() -> None:
    assert violations(ROOT / "mle3", _layers(ROOT / "pyproject.toml")) == []


def _write(base: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(textwrap.dedent(text), encoding="utf-8")


LAZY_UPWARD = {
    "pkg/__init__.py": "",
    "pkg/top.py": "def helper():\n    return 1\n",
    "pkg/bottom.py": """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from . import top  # never runs: allowed


        def lazy():
            from .top import helper, _secret  # runs: an upward import

            return helper()
        """,
}


def test_the_reading_catches_a_function_local_upward_import(tmp_path: Path) -> None:
    _write(tmp_path, LAZY_UPWARD)
    found = violations(tmp_path / "pkg", [["top"], ["bottom"]])
    assert found == [
        "pkg/bottom.py:8: pkg.bottom imports pkg.top, a layer above it",
        "pkg/bottom.py:8: pkg.bottom takes _secret from pkg.top: private to that package",
    ]
    private = "pkg/bottom.py:8: pkg.bottom takes _secret from pkg.top: private to that package"
    assert violations(tmp_path / "pkg", [["bottom"], ["top"]]) == [private]
    assert violations(tmp_path / "pkg", [["top"]]) == ["pkg.bottom is in no layer of the contract"]


def test_lint_imports_sees_function_local_imports(tmp_path: Path) -> None:
    """What the contract rests on: import-linter counts a lazy import like any other."""
    _write(
        tmp_path,
        {
            **LAZY_UPWARD,
            ".importlinter": """\
        [importlinter]
        root_package = pkg
        exclude_type_checking_imports = True

        [importlinter:contract:layers]
        name = layers
        type = layers
        layers =
            pkg.top
            pkg.bottom
        """,
        },
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(LINT_IMPORTS, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pkg.bottom -> pkg.top (l.8)" in done.stdout
