"""``mle3 promote MODEL --to STATUS``: the model life cycle, gated.

A model moves only along allowed transitions. To ``validated`` or ``released`` it must
have no errors in its trace (the model and everything upstream), meet every requirement
criterion, carry fresh approvals for every role the policy requires for that status, and
respect separation of duties (the person who ran the training may not approve its
release unless the policy allows it; one person may not fill two roles). A refusal lists
everything that is missing. On success ``status``, ``approver`` and ``approval_date``
are written into the model version file (other lines untouched) and the promotion is
logged.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from .. import audit
from ..itemfile import set_fields
from ..errors import Mle3Error
from ..graph import build_graph, upstream
from ..workspace import Workspace, item_key, load_workspace
from .fingerprint import Fingerprints
from .ledger import countable, fresh_approvals, recorded, role_status

TRANSITIONS: dict[str, set[str]] = {
    "draft": {"training", "validated", "rejected"},
    "training": {"draft", "validated", "rejected"},
    "validated": {"released", "draft", "rejected", "obsolete"},
    "released": {"obsolete"},
    "rejected": {"draft"},
    "obsolete": set(),
}
GATED = ("validated", "released")


@dataclass
class Gate:
    model: str
    current: str
    target: str
    missing: list[str] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing


def trainer_of(ws: Workspace, model: Any) -> str | None:
    """Who started the training run that produced the model (from the audit log)."""
    run = ws.resolve(model.training_run)
    if run is None or run.kind != "run":
        return None
    for _, entry, _ in audit.entries(ws.root):
        if entry and entry.get("action") == "run.start" and entry.get("item") == run.id:
            return entry.get("actor")
    return None


def evaluate_gate(ws: Workspace, ref: str, target: str) -> Gate:
    from ..rules import run_checks
    from ..rules.criteria import evaluate

    graph = build_graph(ws)
    model = ws.get(ref)
    if model.kind != "model_version":
        raise Mle3Error(f"{ref} is a {model.kind}; only model versions are promoted")
    key = item_key(model)
    gate = Gate(key, model.status, target)
    if target not in TRANSITIONS.get(model.status, set()):
        allowed = ", ".join(sorted(TRANSITIONS.get(model.status, set()))) or "none"
        gate.missing.append(f"transition {model.status} -> {target} is not allowed (from {model.status}: {allowed})")
        return gate
    if target not in GATED:
        return gate
    trace = {key} | upstream(graph, key)
    report = run_checks(ws, graph)
    for f in report.findings:
        if f.severity == "error" and f.item in trace and f.rule != "approval.missing":
            gate.missing.append(f"check error on {f.item}: {f.message} [{f.rule}] at {f.location()}")
    for req_id in model.traceability.requirements:
        req = ws.resolve(req_id)
        if req is None or req.kind != "requirement":
            continue
        for criterion in req.criteria:
            if not hasattr(criterion, "metric"):
                continue
            verdict = evaluate(criterion, model)
            if verdict.passed is not True:
                state = "not met" if verdict.passed is False else "not evaluable"
                gate.missing.append(f"criterion of {req.id} {state}: {verdict.text} (actual {verdict.actual})")
    fingerprint = Fingerprints(ws, graph).of(key)
    required = ws.config.policy.require_signatures
    approvals = countable(recorded(ws.root, verify_signatures=required), required)
    quantization = (model.model_extra or {}).get("quantization")
    if isinstance(quantization, dict) and quantization.get("passed") is False:
        waived = [a for a in fresh_approvals(approvals, key, fingerprint) if a.deviation == "quantization.drop"]
        if not waived:
            gate.missing.append(
                f"quantization gate failed (mAP50 drop {quantization.get('drop')} > {quantization.get('threshold')}) and no approved deviation: "
                f"mle3 approve {key} --role ROLE --deviation quantization.drop --comment WHY"
            )
    roles = ws.config.policy.approvals.get(target, [])
    statuses = role_status(approvals, key, fingerprint, roles)
    trainer = trainer_of(ws, model)
    people: dict[str, list[str]] = {}
    for st in statuses:
        valid = []
        for a in st.approved_by:
            if target == "released" and not ws.config.policy.trainer_may_approve_release and trainer and _same_person(a.name, trainer):
                gate.missing.append(f"separation of duties: {a.name} ran the training ({model.training_run}) and may not approve its release as {st.role}")
                continue
            valid.append(a)
            people.setdefault(a.name, []).append(st.role)
        if not valid:
            detail = f" ({len(st.stale)} stale: the model or something upstream changed since)" if st.stale else ""
            detail += f" (rejected by {', '.join(a.name for a in st.rejected_by)})" if st.rejected_by else ""
            gate.missing.append(f"fresh approval by role {st.role} for {target}{detail}: mle3 approve {key} --role {st.role}")
        gate.approvals.extend({"role": st.role, "name": a.name, "time": a.time, "fingerprint": a.fingerprint} for a in valid)
    if ws.config.policy.one_role_per_person:
        for person, person_roles in people.items():
            if len(set(person_roles)) > 1:
                gate.missing.append(f"separation of duties: {person} approved as {', '.join(sorted(set(person_roles)))}; one person may fill only one role")
    return gate


def _same_person(a: str, b: str) -> bool:
    """Compare 'Name <email>' forms: same email, or same name."""
    def parts(s: str) -> tuple[str, str]:
        m = re.match(r"^(.*?)\s*<([^>]*)>\s*$", s)
        return (m.group(1).strip().lower(), m.group(2).strip().lower()) if m else (s.strip().lower(), "")

    (na, ea), (nb, eb) = parts(a), parts(b)
    return bool(ea and ea == eb) or na == nb


def promote(root: Any, ref: str, target: str) -> Gate:
    ws = load_workspace(root)
    gate = evaluate_gate(ws, ref, target)
    if not gate.ok:
        return gate
    model = ws.get(ref)
    approvers = ", ".join(f"{a['name']} ({a['role']})" for a in gate.approvals) or None
    today = dt.date.today().isoformat()
    updates: dict[str, Any] = {"status": target}
    if target in GATED:
        updates.update(approver=approvers, approval_date=today)
    set_fields(ws, model, {(name,): value for name, value in updates.items()})
    audit.append(ws.root, "promote", gate.model, {"from": gate.current, "to": target, "approvals": gate.approvals})
    return gate
