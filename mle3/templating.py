"""The jinja2 environment shared by work products, the matrix and the site.

Templates come from the workspace's own ``templates/`` first (a team may override any of
them), then from the bundled ones. Autoescaping is always on: workspace text is data.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

_PACKAGE = Path(__file__).resolve().parent


def bundled_templates() -> Path:
    """``mle3/templates`` in an installed wheel, ``templates/`` beside the package in a checkout."""
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("mle3 templates folder not found; reinstall mle3")


class ConfinedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that also refuses templates whose real path (links resolved)
    lies outside their search folder: a workspace template folder cannot reach out."""

    def get_source(self, environment: jinja2.Environment, template: str):
        source, filename, uptodate = super().get_source(environment, template)
        real = Path(filename).resolve()
        if not any(real.is_relative_to(Path(p).resolve()) for p in self.searchpath):
            raise jinja2.TemplateNotFound(template, f"{template} resolves outside the template folders")
        return source, filename, uptodate


def as_text(value: Any) -> Any:
    """How a value reads in a document an assessor opens: never a Python repr. ``None`` is
    a dash, booleans are yes/no, lists are comma-separated, mappings ``key: value`` pairs;
    strings (and markup) pass unchanged. Used as jinja's ``finalize``, so it holds for every
    ``{{ ... }}`` of every template, the workspace's own included."""
    if isinstance(value, str):
        return value
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {as_text(v)}" for k, v in value.items()) or "–"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return ", ".join(str(as_text(v)) for v in items) or "–"
    return value


def wrap_hash(value: Any, group: int = 16) -> Any:
    """A digest (``sha256:4911...``) with a line-break chance after its prefix and every
    ``group`` hex digits, so a narrow cell wraps it at a boundary a reader can follow
    instead of anywhere."""
    from markupsafe import Markup, escape

    if not isinstance(value, str) or not value:
        return as_text(value)
    prefix, sep, digest = value.rpartition(":")
    chunks = [escape(digest[i : i + group]) for i in range(0, len(digest), group)]
    return Markup(escape(prefix + sep) + Markup("<wbr>") + Markup("<wbr>").join(chunks))


@lru_cache(maxsize=8)
def environment(workspace_root: str | None = None) -> jinja2.Environment:
    search = [str(bundled_templates())]
    if workspace_root and (Path(workspace_root) / "templates").is_dir():
        search.insert(0, str(Path(workspace_root) / "templates"))
    env = jinja2.Environment(
        loader=ConfinedLoader(search),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=as_text,
    )
    env.filters["hash"] = wrap_hash
    return env


def render_template(name: str, workspace_root: str | None = None, **context: Any) -> str:
    from .errors import Mle3Error

    try:
        template = environment(workspace_root).get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise Mle3Error(
            f"template {name!r} not found, or it resolves outside the template folders ({exc.message or exc.name})"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise Mle3Error(f"template syntax: {exc.message}", file=exc.filename, line=exc.lineno) from None
    return template.render(**context)
