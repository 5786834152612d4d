"""The workspace's trace as LOBSTER files, so BMW's traceability evidence tool
(``lobster-report``, ``lobster-ci-report``, ``lobster-html-report``) can show MLE.3 coverage
beside the code and test traces it already collects.

Written into one folder (``mle3 lobster -o DIR``):

* ``requirements.lobster`` (``lobster-req-trace`` v4): every requirement, tag ``req <ID>``,
  with its ``type`` (LOBSTER's ``kind``), text, status and ``refs`` to its parents; a
  parent that is no item of the workspace (a system requirement in an ALM tool) is
  ``req system.<ID>``;
* ``system.lobster``: one placeholder per such external parent (replace it with your ALM
  tool's LOBSTER export that uses the same tags), only when there is one;
* ``implementation.lobster`` (``lobster-imp-trace`` v3): data set versions and training
  configurations, tag ``mle3 <key>``, tracing up to the requirements they name;
* ``activities.lobster`` (``lobster-act-trace`` v3): training runs and model versions,
  tracing up to the requirements they verify, ``status`` ``ok`` or ``fail`` from the
  requirements' metric criteria (a failed criterion, or a failed run, is also a message, so
  ``lobster-ci-report`` reports it);
* ``lobster.conf``: the policy: ML requirements are realised by data and configuration and
  verified by training (each requirement needs both), and trace to the system requirements.

The files name their sources relative to DIR: run the LOBSTER tools in DIR. mle3 writes the
JSON itself (LOBSTER is needed only to read it). It reads the workspace and the criteria.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__
from .._atomic import atomic_write_text
from ..rules.criteria import evaluate
from ..vocab import RUN_ENDED
from ..workspace import Workspace, item_key
from ..workspace.schema import MetricCriterion

GENERATOR = f"mle3 {__version__}"
SYSTEM_NAMESPACE = "system"
LEVEL_SYSTEM = "System Requirements"
LEVEL_REQUIREMENTS = "ML Requirements"
LEVEL_IMPLEMENTATION = "ML Data and Configuration"
LEVEL_ACTIVITIES = "ML Training and Verification"
FILES = {
    "requirements": "requirements.lobster",
    "system": "system.lobster",
    "implementation": "implementation.lobster",
    "activities": "activities.lobster",
    "config": "lobster.conf",
}
_SCHEMAS = {
    "req": ("lobster-req-trace", 4),
    "imp": ("lobster-imp-trace", 3),
    "act": ("lobster-act-trace", 3),
}


def req_tag(ws: Workspace, ref: str) -> str:
    """``req <ID>`` for a requirement of the workspace, ``req system.<ID>`` for a parent
    that is no item here (the system requirement it is derived from)."""
    target = ws.resolve(ref)
    if target is None:
        return f"req {SYSTEM_NAMESPACE}.{ref}"
    return f"req {item_key(target)}"


def _location(ws: Workspace, item: Any) -> dict[str, Any]:
    file = getattr(item, "_file", None)
    if not file:
        return {"kind": "void"}
    line = ws.line_of(item)
    return {
        "kind": "file",
        "file": str(file),
        "line": line if isinstance(line, int) and line >= 1 else None,
        "column": None,
    }


def _base(tag: str, name: str, location: dict[str, Any], refs: list[str], messages: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "tag": tag,
        "location": location,
        "name": name,
        "messages": messages,
        "just_up": [],
        "just_down": [],
        "just_global": [],
    }
    if refs:
        entry["refs"] = list(dict.fromkeys(refs))
    return entry


def external_parents(ws: Workspace) -> list[str]:
    """``derived_from`` ids that name no item of the workspace, sorted."""
    return sorted({p for r in ws.of_kind("requirement") for p in r.derived_from if ws.resolve(p) is None})


def requirement_items(ws: Workspace) -> list[dict[str, Any]]:
    out = []
    for req in sorted(ws.of_kind("requirement"), key=item_key):
        entry = _base(
            f"req {item_key(req)}",
            req.title or req.id,
            _location(ws, req),
            [req_tag(ws, p) for p in req.derived_from],
            [],
        )
        entry |= {"framework": "mle3", "kind": req.type, "text": req.text or req.title, "status": req.status}
        out.append(entry)
    return out


def system_items(ws: Workspace) -> list[dict[str, Any]]:
    """Placeholders for the external parents, so the report resolves the references."""
    out = []
    for parent in external_parents(ws):
        entry = _base(f"req {SYSTEM_NAMESPACE}.{parent}", parent, {"kind": "void"}, [], [])
        entry |= {"framework": "mle3", "kind": "system requirement", "text": None, "status": None}
        out.append(entry)
    return out


def implementation_items(ws: Workspace) -> list[dict[str, Any]]:
    out = []
    for kind, label in (("dataset", "data set"), ("training", "training configuration")):
        for item in sorted(ws.of_kind(kind), key=item_key):
            key = item_key(item)
            entry = _base(
                f"mle3 {key}",
                key,
                _location(ws, item),
                [req_tag(ws, r) for r in item.requirements],
                [],
            )
            entry |= {"language": "mle3", "kind": label}
            out.append(entry)
    return out


def model_verdict(ws: Workspace, model: Any) -> tuple[str | None, list[str]]:
    """``ok`` when every metric criterion of the requirements the model traces to passed,
    ``fail`` (with one message per failed criterion) when one failed, None when none could
    be evaluated."""
    passed, messages = 0, []
    for ref in model.traceability.requirements:
        req = ws.resolve(ref)
        if req is None or req.kind != "requirement":
            continue
        for c in req.criteria:
            if not isinstance(c, MetricCriterion):
                continue
            verdict = evaluate(c, model, ws=ws, requirement=req)
            if verdict.passed is True:
                passed += 1
            elif verdict.passed is False:
                messages.append(f"criterion of {req.id} not met: {verdict.text} (actual {verdict.actual})")
    if messages:
        return "fail", messages
    return ("ok" if passed else None), []


def activity_items(ws: Workspace) -> list[dict[str, Any]]:
    out = []
    for model in sorted(ws.of_kind("model_version"), key=item_key):
        key = item_key(model)
        status, messages = model_verdict(ws, model)
        entry = _base(
            f"mle3 {key}",
            key,
            _location(ws, model),
            [req_tag(ws, r) for r in model.traceability.requirements],
            messages,
        )
        entry |= {"framework": "mle3", "kind": "model version", "text": model.title or key, "status": status}
        out.append(entry)
    for run in sorted(ws.of_kind("run"), key=item_key):
        key = item_key(run)
        config = ws.resolve(run.config)
        reqs = list(config.requirements) if config is not None and config.kind == "training" else []
        messages = []
        if run.status == "success":
            model = ws.resolve(run.model_version) if run.model_version else None
            status, messages = (
                model_verdict(ws, model) if model is not None and model.kind == "model_version" else ("ok", [])
            )
            status = status or "ok"
        elif run.status in RUN_ENDED:  # failed, aborted, terminated, pruned, stale
            status = "fail"
            messages = [f"run {run.status}" + (f": {run.error}" if run.error else "")]
        else:
            status = None  # pending or running: no verdict yet
        entry = _base(f"mle3 {key}", key, _location(ws, run), [req_tag(ws, r) for r in reqs], messages)
        entry |= {"framework": "mle3", "kind": f"{run.run_kind} run", "text": run.title or key, "status": status}
        out.append(entry)
    return out


def trace_file(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    schema, version = _SCHEMAS[kind]
    return {"data": items, "generator": GENERATOR, "schema": schema, "version": version}


def config_text(with_system: bool) -> str:
    """The ``lobster.conf`` policy of the MLE.3 levels."""
    parts = []
    if with_system:
        parts.append(f'requirements "{LEVEL_SYSTEM}" {{\n  source: "{FILES["system"]}";\n}}\n')
    up = f'  trace to: "{LEVEL_SYSTEM}";\n' if with_system else ""
    parts.append(f'requirements "{LEVEL_REQUIREMENTS}" {{\n  source: "{FILES["requirements"]}";\n{up}}}\n')
    parts.append(
        f'implementation "{LEVEL_IMPLEMENTATION}" {{\n  source: "{FILES["implementation"]}";\n'
        f'  trace to: "{LEVEL_REQUIREMENTS}";\n}}\n'
    )
    parts.append(
        f'activity "{LEVEL_ACTIVITIES}" {{\n  source: "{FILES["activities"]}";\n'
        f'  trace to: "{LEVEL_REQUIREMENTS}";\n}}\n'
    )
    return "\n".join(parts)


def write(ws: Workspace, directory: Path) -> dict[str, Any]:
    """Write the LOBSTER files and the policy into ``directory``; returns what was written."""
    directory.mkdir(parents=True, exist_ok=True)
    system = system_items(ws)
    documents = {
        "requirements": trace_file("req", requirement_items(ws)),
        "implementation": trace_file("imp", implementation_items(ws)),
        "activities": trace_file("act", activity_items(ws)),
    }
    if system:
        documents["system"] = trace_file("req", system)
    written = []
    for name, document in documents.items():
        atomic_write_text(directory / FILES[name], json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        written.append(FILES[name])
    stale = directory / FILES["system"]
    if not system and stale.exists():  # a placeholder file of an earlier export would be read by nobody
        stale.unlink()
    atomic_write_text(directory / FILES["config"], config_text(bool(system)))
    written.append(FILES["config"])
    return {
        "directory": str(directory),
        "files": written,
        "requirements": len(documents["requirements"]["data"]),
        "implementation": len(documents["implementation"]["data"]),
        "activities": len(documents["activities"]["data"]),
        "external": [e["name"] for e in system],
        "failed": [e["name"] for e in documents["activities"]["data"] if e["status"] == "fail"],
    }
