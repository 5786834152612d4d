"""mkdocs hook: the reference pages are generated from the code at build time.

A page marks where a generated part goes with ``<!-- mle3:NAME -->`` (``rules``, ``cli``,
``settings``, ``items``, ``outputs``, ``layout``, ``readme-commands``);
:func:`on_page_markdown` replaces the marker with :func:`render` of that name. Nothing
generated is committed, so the reference cannot go stale: a rule, command, option or
field added to the code appears in the next build.
The renderers are plain functions so tests can call them without mkdocs.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- mle3:([a-z-]+) -->")
#: a JSON document mle3 writes names its shape and version in ``schema``
OUTPUT_ID = re.compile(r"^mle3\.[a-z][a-z-]*/[0-9]+$")


def on_config(config: Any) -> Any:
    """Import mle3 from the checkout the site is built from, not an installed copy."""
    sys.path.insert(0, str(Path(config.config_file_path).resolve().parent))
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return MARKER.sub(lambda m: render(m.group(1)), markdown)


def render(name: str) -> str:
    """The markdown of one generated part; an unknown name fails the build."""
    renderers: dict[str, Callable[[], str]] = {
        "rules": rules_reference,
        "cli": cli_reference,
        "settings": settings_reference,
        "items": items_reference,
        "outputs": outputs_reference,
        "layout": layout_reference,
        "readme-commands": readme_commands,
    }
    if name not in renderers:
        raise KeyError(f"no generated part named {name!r} (known: {', '.join(renderers)})")
    return renderers[name]()


# --- text -------------------------------------------------------------------------------

_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def md(text: str) -> str:
    """Prose from docstrings and help texts as safe markdown: code spans kept, markup
    characters outside them escaped (``MLE3_DATA_ROOT_<NAME>`` is no HTML tag)."""
    out, last = [], 0
    for m in _CODE.finditer(text):
        out.append(_escape(text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_escape(text[last:]))
    return "".join(out).replace("\n", " ").strip()


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\*_\[\]|])", r"\\\1", text)


def cell(text: str) -> str:
    """A table cell: also a code span may not hold a bare ``|``."""
    return md(text).replace("`|`", "`&#124;`")


def readme_commands() -> str:
    """The README's table of commands, so the home page shows the one copy there is
    (GitHub wants ``\\|`` inside a table's code span; Python-Markdown a bare ``|``)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| You want to | Command |")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(line.replace("\\|", "|") for line in lines[start:end]) + "\n"


# --- rules ------------------------------------------------------------------------------


def rules_reference() -> str:
    """Every registered rule, by family: id, default severity, what it checks, the fix."""
    from mle3.rules import RULES

    by_family: dict[str, list[Any]] = {}
    for r in sorted(RULES.values(), key=lambda r: r.id):
        by_family.setdefault(r.family, []).append(r)
    parts = [f"{len(RULES)} rules in {len(by_family)} families.\n"]
    for family, rules in sorted(by_family.items()):
        parts.append(f"## `{family}`\n")
        parts.append("| Rule | Default | Checks | Fix |\n|---|---|---|---|")
        parts.extend(f"| `{r.id}` | {r.severity} | {cell(r.summary)} | {cell(r.fix)} |" for r in rules)
        parts.append("")
    return "\n".join(parts)


# --- CLI --------------------------------------------------------------------------------


def cli_commands() -> Iterator[tuple[list[str], Any]]:
    """``(path, click command)`` of every visible command, groups first, in help order."""
    import typer.main

    from mle3.cli import app

    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        if getattr(cmd, "hidden", False):
            return
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), ["mle3"])


def _usage(path: list[str], cmd: Any) -> str:
    words = list(path)
    if any(p.param_type_name == "option" and not p.hidden for p in cmd.params):
        words.append("[OPTIONS]")
    for p in cmd.params:
        if p.param_type_name != "argument":
            continue
        word = (p.metavar or p.name or "").upper()
        word += "..." if p.nargs == -1 else ""
        words.append(word if p.required else f"[{word}]")
    if getattr(cmd, "commands", None):
        words.append("COMMAND [ARGS]...")
    return " ".join(words)


def _param_rows(cmd: Any, ctx: Any) -> list[str]:
    rows = []
    for p in cmd.params:
        if p.hidden:
            continue
        record = p.get_help_record(ctx) if p.param_type_name == "option" else None
        if p.param_type_name == "argument":
            name = (p.metavar or p.name or "").upper()
            help_text = getattr(p, "help", None) or ""
            if p.required:
                help_text += " (required)"
        else:
            name = ", ".join([*p.opts, *p.secondary_opts])
            help_text = record[1] if record else ""
        rows.append(f"| `{name}` | {cell(help_text)} |")
    return rows


def cli_reference() -> str:
    """One section per command: usage, help, and every argument and option (from click)."""
    import click

    parts = []
    for path, cmd in cli_commands():
        ctx = click.Context(cmd, info_name=path[-1])
        name = " ".join(path)
        parts.append(f"## `{name}`\n")
        parts.append(f"```\n{_usage(path, cmd)}\n```\n")
        help_text = inspect.cleandoc(cmd.help or "")
        if help_text:
            parts.append(md(help_text.split("\n\n")[0]) + "\n")
            for para in help_text.split("\n\n")[1:]:
                parts.append(md(para) + "\n")
        if getattr(cmd, "commands", None):
            subs = [(n, c) for n, c in cmd.commands.items() if not c.hidden]
            parts.append("| Command | Does |\n|---|---|")
            for n, c in subs:
                parts.append(f"| [`{name} {n}`](#{_anchor(f'{name} {n}')}) | {cell(c.get_short_help_str(200))} |")
            parts.append("")
        rows = _param_rows(cmd, ctx)
        if rows:
            parts.append("| Argument / option | Meaning |\n|---|---|")
            parts.extend(rows)
            parts.append("")
    return "\n".join(parts)


def _anchor(title: str) -> str:
    """The id mkdocs' toc gives a heading ``mle3 runs show`` (code span stripped)."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", title).strip().lower())


# --- mle3.yaml settings -----------------------------------------------------------------


def _comments(cls: type) -> dict[str, str]:
    """The ``#:`` comments above each field of a pydantic model (its source's docs)."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        m = re.match(r"([a-z_][a-z0-9_]*)\s*:", stripped)
        if m and pending:
            found[m.group(1)] = " ".join(pending)
        pending = []
    return found


def _type_name(annotation: Any) -> str:
    """``dict[str, tuple[float, float]]`` for an annotation (``Annotated`` constraints dropped)."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if hasattr(value, "model_dump"):
        return ""
    return f"`{_yaml_inline(value)}`"


def _yaml_inline(value: Any) -> str:
    import json

    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, dict):
        value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
    return json.dumps(value, ensure_ascii=False).replace("|", "&#124;")


def _model_rows(cls: Any, prefix: str) -> Iterator[str]:
    from pydantic import BaseModel

    comments = _comments(cls)
    for name, field in cls.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        text = field.description or comments.get(name, "")
        annotation = field.annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        kind = "mapping" if nested else _type_name(annotation)
        if nested and not text:
            text = inspect.cleandoc(annotation.__dict__.get("__doc__") or "")
        yield f"| `{key}` | `{kind}` | {_default(field)} | {cell(text)} |"
        if nested:
            yield from _model_rows(annotation, f"{key}.")
        elif getattr(annotation, "__origin__", None) is dict:
            value_type = annotation.__args__[1]
            if isinstance(value_type, type) and issubclass(value_type, BaseModel):
                yield from _model_rows(value_type, f"{key}.<key>.")


def settings_reference() -> str:
    """Every ``mle3.yaml`` setting from the pydantic model that validates it."""
    from mle3.workspace import ProjectConfig

    head = "| Setting | Type | Default | Meaning |\n|---|---|---|---|"
    return head + "\n" + "\n".join(_model_rows(ProjectConfig, "")) + "\n"


# --- item files -------------------------------------------------------------------------


def _schema_type(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in node:
        return "mapping"
    if "enum" in node:
        return ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " or ".join(dict.fromkeys(_schema_type(n, defs) for n in node[key]))
    kind = node.get("type", "any")
    if kind == "array":
        inner = node.get("items") or node.get("prefixItems", [{}])[0]
        return f"list of {_schema_type(inner, defs)}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"mapping to {_schema_type(node['additionalProperties'], defs)}"
    return "mapping" if kind == "object" else str(kind)


def _targets(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a field holds (directly, in a list, or among alternatives)."""
    if "$ref" in node:
        found = defs.get(node["$ref"].rsplit("/", 1)[-1])
        return [found] if found else []
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        return _targets(node["items"], defs)
    return [t for key in ("anyOf", "oneOf") for alt in node.get(key, []) for t in _targets(alt, defs)]


def _notes(title: str | None) -> dict[str, str]:
    """The ``#:`` comments of the model a schema was made from (and of its bases)."""
    from mle3.workspace import schema as models

    cls = getattr(models, title or "", None)
    found: dict[str, str] = {}
    for base in reversed(getattr(cls, "__mro__", ())):
        if getattr(base, "__module__", "").startswith("mle3."):
            found.update(_comments(base))
    return found


def _schema_rows(schema: dict[str, Any], defs: dict[str, Any], prefix: str, seen: tuple) -> Iterator[str]:
    required = set(schema.get("required", []))
    notes = _notes(schema.get("title"))
    for name, node in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        default = "required" if name in required else ""
        if "default" in node:
            default = f"`{_yaml_inline(node['default'])}`"
        text = node.get("description") or notes.get(name, "")
        yield f"| `{key}` | {_schema_type(node, defs)} | {default} | {cell(text)} |"
        targets = _targets(node, defs)
        for target in targets:
            title = target.get("title")
            if title in seen or len(seen) > 4:
                continue
            for row in _schema_rows(target, defs, f"{key}.", (*seen, title)):
                # several kinds of entry (criteria): say which one a field belongs to
                yield row.replace(" | ", f" (in {title}) | ", 1) if len(targets) > 1 else row


def items_reference() -> str:
    """Every field of every item file kind, from the JSON Schemas ``mle3 schema`` writes."""
    from mle3.workspace import KINDS, json_schemas

    schemas = json_schemas()
    keys_of: dict[Any, list[str]] = {}
    for key, (model, _plural) in KINDS.items():
        keys_of.setdefault(model, []).append(key)
    parts = []
    for keys in keys_of.values():
        schema = schemas[keys[0]]
        defs = schema.get("$defs", {})
        body = schema["properties"][keys[0]]
        item = body.get("items", body)
        item = defs.get(item["$ref"].rsplit("/", 1)[-1], item) if "$ref" in item else item
        parts.append("## " + " / ".join(f"`{k}`" for k in keys) + "\n")
        if item.get("description"):
            parts.append(md(item["description"]) + "\n")
        parts.append("| Field | Type | Default | Meaning |\n|---|---|---|---|")
        parts.extend(_schema_rows(item, defs, "", (item.get("title"),)))
        parts.append("")
    return "\n".join(parts)


# --- JSON output ------------------------------------------------------------------------


def output_ids() -> dict[str, list[str]]:
    """Every JSON document id (``mle3.check/1``) a string in mle3's code names, with the
    modules that name it: what the code publishes, found without running a command."""
    found: dict[str, list[str]] = {}
    package = ROOT / "mle3"
    for path in sorted(package.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and OUTPUT_ID.match(node.value):
                where = found.setdefault(node.value, [])
                if module not in where:
                    where.append(module)
    return dict(sorted(found.items()))


def outputs_reference() -> str:
    """The table of every JSON document id the code writes, and where it is made; then the
    fields of each document a command prints, from the schema it declares (``mle3 schema``)."""
    rows = [f"| `{sid}` | {', '.join(f'`{m}`' for m in modules)} |" for sid, modules in output_ids().items()]
    table = "| Document | Written by |\n|---|---|\n" + "\n".join(rows) + "\n"
    return table + "\n" + declared_shapes()


def _type_of(schema: dict[str, Any]) -> str:
    """A JSON Schema fragment in a few words (``string or null``, ``array of object``)."""
    if "const" in schema:
        return f"`{schema['const']}`"
    if "anyOf" in schema:
        return " or ".join(_type_of(part) for part in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    return str(kind) if kind else "any"


def declared_shapes() -> str:
    """One section per declared output document: its description and its top-level fields."""
    import mle3.cli  # noqa: F401  (importing the commands declares their shapes)
    from mle3.cli.shapes import SHAPES

    parts = ["## Fields of each document\n", "What `mle3 schema NAME` prints, in short: the top-level fields.\n"]
    for name, shape in SHAPES.items():
        required = set(shape.get("required", []))
        rows = []
        for field, schema in shape.get("properties", {}).items():
            note = schema.get("description", "")
            if schema.get("deprecated"):
                note = f"deprecated. {note}".strip()
            rows.append(
                f"| `{field}` | {cell(_type_of(schema))} | {'yes' if field in required else ''} | {cell(note)} |"
            )
        parts.append(f"### `{name}`\n\n{cell(shape.get('description', ''))}\n")
        parts.append("| Field | Type | Required | Notes |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


# --- code layout ------------------------------------------------------------------------


def _summary(path: Path) -> str:
    """The first sentence of a module's docstring, read without importing it."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except SyntaxError:
        return ""
    first = " ".join(doc.split("\n\n")[0].split())
    first = re.split(r"(?<=\.)\s", first)[0]
    return re.sub(r":(?:mod|class|func):", "", first)


def layout_reference() -> str:
    """One line per package of ``mle3/`` (and per top-level module), from their docstrings."""
    package = ROOT / "mle3"
    rows = []
    for path in sorted(package.iterdir()):
        if path.is_dir() and (path / "__init__.py").exists():
            modules = sorted(p.stem for p in path.glob("*.py") if p.stem != "__init__")
            rows.append(f"| `mle3/{path.name}/` | {cell(_summary(path / '__init__.py'))} | {', '.join(modules)} |")
        elif path.suffix == ".py" and path.stem != "__init__":
            rows.append(f"| `mle3/{path.name}` | {cell(_summary(path))} | |")
    return "| Where | What (its docstring) | Modules |\n|---|---|---|\n" + "\n".join(rows) + "\n"
