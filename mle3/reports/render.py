"""Render work products to HTML or PDF, and the release package of a model version.

PDF comes from weasyprint (imported only here). Its URL fetcher only serves ``data:``
URLs and files inside the template folders: nothing a workspace writes can make a
document fetch from the network or read files elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from .._atomic import atomic_write_bytes, atomic_write_text
from ..errors import Mle3Error
from ..templating import bundled_templates, render_template
from ..workspace import Workspace, item_key
from .products import WORK_PRODUCTS, Context, work_product


class NotApproved(Mle3Error):
    """``--release`` asked for a document whose required approvals are missing."""

    exit_code = 1


@dataclass
class Rendered:
    wp: str
    item: str
    path: Path
    approved: bool
    missing_roles: list[str]
    fingerprint: str
    #: a record (the 13-52), which no approval makes more or less final
    record: bool = False


def render_html(ctx: Context, wp_id: str, ref: str) -> tuple[str, dict[str, Any]]:
    wp = work_product(wp_id)
    item = ctx.ws.get(ref)
    if item.kind not in wp.kinds:
        raise Mle3Error(f"{wp.id} {wp.name} is written for a {' or '.join(wp.kinds)}; {ref} is a {item.kind}")
    doc = ctx.document(wp, item)
    body = wp.build(ctx, item, doc)
    html = render_template(wp.template, str(ctx.ws.root), doc=doc, **body)
    return html, doc


def _fetcher(allowed: list[Path]):
    from weasyprint.urls import URLFetcher

    roots = [p.resolve() for p in allowed]

    class WorkspaceFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None):  # noqa: D401 - weasyprint API
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith("file://"):
                from urllib.parse import unquote, urlparse

                path = Path(unquote(urlparse(url).path)).resolve()
                if any(path == r or r in path.parents for r in roots):
                    return super().fetch(url, headers)
            raise ValueError(f"mle3 documents do not fetch {url[:80]}")

    return WorkspaceFetcher(allowed_protocols={"data", "file"})


def html_to_pdf(html: str, ws: Workspace) -> bytes:
    from ..optional import load_weasyprint

    weasyprint = load_weasyprint()

    templates = [bundled_templates()] + ([ws.root / "templates"] if (ws.root / "templates").is_dir() else [])
    return weasyprint.HTML(string=html, base_url=str(bundled_templates()), url_fetcher=_fetcher(templates)).write_pdf()


def refuse_release(ctx: Context, docs: list[tuple[str, dict[str, Any]]]) -> None:
    """Raise :class:`NotApproved` listing every reason (ledger.gates.release_refusal)
    any of ``docs`` may not be released; nothing is written then."""
    from ..ledger.gates import release_refusal
    from ..graph import upstream

    lines: list[str] = []
    for wp_id, doc in docs:
        trace = {doc["item"]} | upstream(ctx.graph, doc["item"])
        reasons = release_refusal(doc, ctx.check.findings, ctx.counted, trace)
        blockers = WORK_PRODUCTS[wp_id].release_blockers
        if blockers is not None:
            reasons += blockers(ctx, ctx.ws.by_key[doc["item"]])
        lines.extend(f"{wp_id} for {doc['item']}: {reason}" for reason in reasons)
    if lines:
        raise NotApproved("not rendered for release:\n  " + "\n  ".join(lines))


def render_document(
    ws: Workspace,
    graph: nx.MultiDiGraph,
    wp_id: str,
    ref: str,
    fmt: str,
    output: Path,
    *,
    release: bool = False,
    ctx: Context | None = None,
) -> Rendered:
    ctx = ctx or Context(ws, graph)
    html, doc = render_html(ctx, wp_id, ref)
    if release:
        refuse_release(ctx, [(wp_id, doc)])
    if fmt == "pdf":
        atomic_write_bytes(output, html_to_pdf(html, ws))
    else:
        atomic_write_text(output, html)
    return Rendered(
        wp_id, doc["item"], output, doc["approved"], doc["missing_roles"], doc["fingerprint"], bool(doc.get("record"))
    )


def render_pair(ctx: Context, wp_id: str, ref: str, pdf: Path, *, release: bool = False) -> Rendered:
    """A work product as PDF and, beside it, the same rendering as HTML (one render)."""
    html, doc = render_html(ctx, wp_id, ref)
    if release:
        refuse_release(ctx, [(wp_id, doc)])
    atomic_write_bytes(pdf, html_to_pdf(html, ctx.ws))
    atomic_write_text(pdf.with_suffix(".html"), html)
    return Rendered(
        wp_id, doc["item"], pdf, doc["approved"], doc["missing_roles"], doc["fingerprint"], bool(doc.get("record"))
    )


def release_subjects(ws: Workspace, model: Any) -> list[tuple[str, Any]]:
    """(work product, item or None) of a model version's release: the approach its
    configuration follows, the configuration, the data set, and the model's own."""
    run = ws.resolve(model.training_run)
    cfg = ws.resolve(run.config) if run is not None and run.kind == "run" else run
    dataset = ws.resolve(model.training_data.dataset_version)
    approach = ws.resolve(cfg.approach) if cfg is not None and cfg.kind == "training" and cfg.approach else None
    return [
        ("08-65", approach),
        ("04-11", cfg),
        ("11-07", dataset),
        ("13-51", model),
        ("13-65", model),
        ("11-06", model),
        ("13-52", model),
    ]


def render_release_documents(
    ctx: Context, model: Any, out_dir: Path, *, release: bool = False
) -> tuple[list[Rendered], list[str]]:
    """The work products of a model version's release (PDF and HTML) and the traceability
    matrix, in ``out_dir/documents/``; and what could not be included, and why. With
    ``release`` every document's gate is evaluated first: a refusal writes nothing."""
    from ..matrix import build_matrix, render_matrix

    ws = ctx.ws
    key = item_key(model)
    subjects = release_subjects(ws, model)
    present = [(wp_id, s) for wp_id, s in subjects if s is not None and s.kind in WORK_PRODUCTS[wp_id].kinds]
    if release:
        refuse_release(ctx, [(wp_id, ctx.document(WORK_PRODUCTS[wp_id], s)) for wp_id, s in present])
    folder = out_dir / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    rendered: list[Rendered] = []
    skipped: list[str] = []
    for wp_id, subject in subjects:
        if subject is None or subject.kind not in WORK_PRODUCTS[wp_id].kinds:
            skipped.append(f"{wp_id}: no {'/'.join(WORK_PRODUCTS[wp_id].kinds)} in the trace of {key}")
            continue
        pdf = folder / f"{wp_id}_{item_key(subject)}.pdf"
        rendered.append(render_pair(ctx, wp_id, item_key(subject), pdf, release=release))
    atomic_write_text(
        folder / "traceability-matrix.html", render_matrix(build_matrix(ws, ctx.graph), "html", ws.config.project)
    )
    return rendered, skipped
