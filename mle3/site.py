"""``mle3 site -o DIR``: a static traceability site that works from ``file://``.

Everything is bundled (no CDN, no fonts, no network): one HTML page per item, the
overview, the matrix with filters, the run list and a client-side search over ids and
titles. The only script is one small file, ``site.js``; every page carries a
Content-Security-Policy that allows scripts from the site itself and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
import networkx as nx

from .findings import Finding
from .graph import relations
from .reports.conditions import data_characteristics, slice_section
from .reports.products import epoch_charts, flatten, quantization_rows
from .runs.records import list_runs
from .workspace.records import run_epochs
from .reports.optimization import optimization_of, study_summary
from .templating import bundled_templates, render_template
from .workspace import Workspace, item_key

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _write(path: Path, text: str) -> None:
    """Pages are written into a private build folder that is renamed into place when
    complete, so per-file fsync (thousands of pages) is not needed for crash safety."""
    path.write_text(text, encoding="utf-8")


def page_name(key: str) -> str:
    """A file name for an item page (ids may hold characters unsafe in paths)."""
    return "items/" + _SAFE.sub("_", key) + ".html"


@dataclass
class SiteResult:
    directory: Path
    pages: int
    bytes: int


def build_site(ws: Workspace, graph: nx.MultiDiGraph, out: Path) -> SiteResult:
    from .matrix import build_matrix
    from .rules import run_checks

    report = run_checks(ws, graph)
    by_item: dict[str, list[Finding]] = {}
    for f in report.findings:
        if f.item:
            by_item.setdefault(f.item, []).append(f)
    final = out
    out = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "items").mkdir(exist_ok=True)
    shutil.copyfile(bundled_templates() / "site" / "site.js", out / "site.js")
    shutil.copyfile(bundled_templates() / "site" / "site.css", out / "site.css")
    keys = sorted(ws.by_key.keys() & {item_key(i) for i in ws.items})
    common = {"project": ws.config.project}
    from .reports.products import Context

    products = Context(ws, graph)
    documents = sorted(p.name for p in (ws.root / "reports").glob("*.pdf")) if (ws.root / "reports").is_dir() else []
    pages = 0
    for key in keys:
        item = ws.by_key[key]
        context = {
            **common,
            "root": "../",
            "item": item,
            "key": key,
            "fields": flatten({k: v for k, v in (item._raw or {}).items()}),
            "up": [(rel, other, ws.by_key[other].kind, page_name(other)) for rel, other in relations(graph, key, "up")],
            "down": [
                (rel, other, ws.by_key[other].kind, page_name(other)) for rel, other in relations(graph, key, "down")
            ],
            "findings": by_item.get(key, []),
            "charts": [],
            "quantization": [],
            "documents": [],
            "study": None,
            "characteristics": None,
            "slices": None,
            "page_name": page_name,
        }
        if item.kind == "model_version":
            run = ws.resolve(item.training_run)
            if run is not None and run.kind == "run":
                context["charts"] = epoch_charts(run_epochs(ws.root, run.id), run.best_epoch, run.early_stop_epoch)
            context["quantization"] = quantization_rows(products, item)
            context["documents"] = [d for d in documents if d.endswith(f"_{key}.pdf")]
            context["slices"] = slice_section(products, item)
        if item.kind == "dataset":
            data = data_characteristics(ws, item)
            # absent, not an empty box, when nothing was registered (the 11-07 says how to give it)
            context["characteristics"] = data if data["present"] or data["metadata"] else None
        if item.kind == "study":
            context["study"] = study_summary(item)
        elif item.kind == "training" and item.optimized_by:
            context["study"] = optimization_of(ws, item)
        _write(out / page_name(key), render_template("site/item.html.j2", str(ws.root), **context))
        pages += 1
    rows = build_matrix(ws, graph)
    _write(
        out / "matrix.html",
        render_template("site/matrix.html.j2", str(ws.root), **common, root="", rows=rows, page_name=page_name),
    )
    runs = list_runs(ws.root)
    _write(
        out / "runs.html",
        render_template(
            "site/runs.html.j2", str(ws.root), **common, root="", runs=runs, page_name=page_name, known=set(keys)
        ),
    )
    kinds: dict[str, int] = {}
    for key in keys:
        kinds[ws.by_key[key].kind] = kinds.get(ws.by_key[key].kind, 0) + 1
    covered = sum(1 for r in rows if not r.gaps)
    _write(
        out / "index.html",
        render_template(
            "site/index.html.j2",
            str(ws.root),
            **common,
            root="",
            kinds=sorted(kinds.items()),
            report=report,
            page_name=page_name,
            coverage=(covered, len(rows)),
            items=[(k, ws.by_key[k].kind, getattr(ws.by_key[k], "title", None) or "", page_name(k)) for k in keys],
        ),
    )
    search = [
        {"id": k, "kind": ws.by_key[k].kind, "title": getattr(ws.by_key[k], "title", None) or "", "url": page_name(k)}
        for k in keys
    ]
    # the index is data, loaded as a script that only assigns it (JSON escaped for <script>)
    payload = (
        json.dumps(search, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
    _write(out / "search-index.js", f"window.MLE3_INDEX = {payload};\n")
    pages += 4
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    # built aside, then swapped in: readers see the old site or the new one, never half
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
        out.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        out.rename(final)
    return SiteResult(final, pages, size)
