"""The assessment view as a sphinx-needs ``needs.json``, so a team whose process
documentation is written with sphinx-needs (the Eclipse S-CORE process description, for
example) can import this workspace's evidence (``needimport``, ``needs_external_needs``)
and link to it.

The file follows the format sphinx-needs' ``needs`` builder writes and its ``needimport``
directive reads (``project``, ``current_version``, ``created``, ``versions`` ->
``{version: {created, creator, needs_amount, needs: {id: need}}}``). Every base practice
and outcome of the evaluation is one need of type ``mle3_ev``: its ``status`` is the
indicator (present, partial, missing), its ``content`` the reason and the evidence, and its
``links`` name the S-CORE ids of the base practice and of the information items
(``std_req__aspice_40__MLE-3-BP1``, ``std_req__aspice_40__iic-08-65``). An outcome has no id
of its own in S-CORE: its need links to the base practices that achieve it.

It reads the evaluation (a JSON-shaped mapping) only; it imports nothing above it.
"""

from __future__ import annotations

import re
from typing import Any

from .. import __version__

NEED_TYPE = "mle3_ev"
ID_PREFIX = "mle3_ev__"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def need_id(scope_item: str | None, element: str) -> str:
    """``mle3_ev__MLE-3-BP1`` (workspace) or ``mle3_ev__<MODEL>__MLE-3-BP1`` (one model)."""
    name = _UNSAFE.sub("-", element.replace(".", "-"))
    return ID_PREFIX + (f"{_UNSAFE.sub('_', scope_item)}__" if scope_item else "") + name


def _content(reason: str, evidence: list[dict[str, Any]]) -> str:
    lines = [reason, ""]
    for e in evidence:
        where = f" ({e['file']})" if e.get("file") else ""
        detail = f": {e['detail']}" if e.get("detail") else ""
        lines.append(f"* {e['label']}{where}{detail}")
    return "\n".join(lines).strip()


def _need(
    nid: str, title: str, status: str, tags: list[str], links: list[str], content: str, sections: list[str]
) -> dict[str, Any]:
    """One need of mle3's evidence type (``content`` is also its ``description``)."""
    return {
        "id": nid,
        "type": NEED_TYPE,
        "type_name": "mle3 evidence",
        "title": title,
        "status": status,
        "tags": tags,
        "links": links,
        "content": content,
        "description": content,
        "sections": sections,
    }


def to_needs(evaluation: dict[str, Any], version: str = "1.0") -> dict[str, Any]:
    """The needs.json document of an evaluation (``mle3.reports.assessment``)."""
    scope_item = (evaluation.get("scope") or {}).get("item")
    needs: dict[str, dict[str, Any]] = {}
    for process in evaluation["processes"]:
        family = process["id"].lower().replace(".", "")
        sections = [process["id"], process["name"]]
        for p in process["practices"]:
            nid = need_id(scope_item, p["id"])
            needs[nid] = _need(
                nid,
                f"{p['id']} {p['title']}: indicators {p['indicators']}",
                p["indicators"],
                ["mle3", family, p["indicators"]],
                [p["score_id"]] + [i["score_id"] for i in p["information_items"]],
                _content(p["reason"], p["evidence"]),
                sections,
            )
        for o in process["outcomes"]:
            nid = need_id(scope_item, o["id"])
            needs[nid] = _need(
                nid,
                f"{process['id']} outcome {o['number']}: indicators {o['indicators']}",
                o["indicators"],
                ["mle3", family, "outcome", o["indicators"]],
                list(o["score_ids"]) + [need_id(scope_item, b) for b in o["practices"]],
                f"{o['text']}\n\n{o['reason']}",
                sections,
            )
    created = str(evaluation.get("generated") or "")
    return {
        "created": created,
        "current_version": version,
        "project": str(evaluation.get("project") or "mle3"),
        "versions": {
            version: {
                "created": created,
                "creator": {"program": "mle3", "version": __version__},
                "needs_amount": len(needs),
                "needs": needs,
            }
        },
    }
