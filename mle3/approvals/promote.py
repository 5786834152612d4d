"""``mle3 promote MODEL --to STATUS``: the model life cycle, gated.

A model moves only along allowed transitions. To ``validated`` or ``released`` it must
have no errors in its trace (the model and everything upstream), meet every requirement
criterion, carry fresh approvals for every role the policy requires for that status, and
respect separation of duties (the person who ran the training may not approve its
release unless the policy allows it; one person may not fill two roles), with no
unsettled approve/reject conflict from two branches. A refusal lists everything that is
missing. On success ``status``, ``approver`` and ``approval_date`` are written into the
model version file (other lines untouched) and the promotion is logged. Promotion to
``validated`` also gives a model named after its run its semantic version (the next
minor version of its line, or ``--version``): written as ``version:``, recorded in the
audit log, and from then on the model is also found as ``<line>-<version>``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .. import audit
from ..itemfile import set_fields
from ..errors import Mle3Error
from ..graph import build_graph, upstream
from ..vocab import AuditAction
from ..workspace import Workspace, item_key
from ..workspace.layout import PROMOTE_LOCK
from ..workspace.load import locked
from ..ledger.fingerprint import Fingerprints
from ..notify.events import on_promote
from ..workspace.versions import SEMVER, model_line_of, next_release, version_of
from ..ledger.duties import label, trainer_of, violations
from ..ledger.gates import verified_approvals
from ..ledger.approvals import conflicts, fresh_approvals, role_status

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
    #: the semantic version this promotion gives the model (to validated), if any, and
    #: the name it is then also found by (``<line>-<version>``)
    version: str | None = None
    alias: str | None = None
    #: what the gate did not ask for and why (e.g. an upstream work product the policy names no role for)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing


def _upstream_work_products(ws: Workspace, model: Any) -> list[tuple[str, Any]]:
    """(work product, item) of what a model's release rests on: the 04-11 of the
    configuration its run used, the 08-65 of the approach that configuration follows and the
    11-07 of the data set version it was trained on."""
    out: list[tuple[str, Any]] = []
    run = ws.resolve(model.training_run)
    config = ws.resolve(run.config) if run is not None and run.kind == "run" else run
    if config is not None and config.kind == "training":
        out.append(("04-11", config))
        approach = ws.resolve(config.approach) if config.approach else None
        if approach is not None and approach.kind == "approach":
            out.append(("08-65", approach))
    dataset = ws.resolve(model.training_data.dataset_version)
    if dataset is not None and dataset.kind == "dataset":
        out.append(("11-07", dataset))
    return out


def _require_work_product(
    ws: Workspace, gate: Gate, approvals: list, fingerprints: Fingerprints, wp: str, item: Any
) -> None:
    """A release needs the fresh approvals the policy names for an upstream work product,
    or says the policy names none."""
    roles = ws.config.policy.approvals.get(wp, [])
    item_id = item_key(item)
    if not roles:
        gate.notes.append(
            f"the {wp} of {item_id} needs no approval: policy.approvals in mle3.yaml names no role for {wp}"
        )
        return
    for st in role_status(approvals, item_id, fingerprints.of(item_id), roles):
        if not st.approved_by:
            detail = f" ({len(st.stale)} stale: it changed since)" if st.stale else ""
            gate.missing.append(
                f"the {wp} of {item_id} needs a fresh approval by role {st.role} before the release{detail}: "
                f"mle3 approve {item_id} --role {st.role}"
            )


def evaluate_gate(
    ws: Workspace,
    ref: str,
    target: str,
    version: str | None = None,
    *,
    findings: list[Any] | None = None,
    again: bool = False,
    fingerprints: Fingerprints | None = None,
) -> Gate:
    """The gate of promoting ``ref`` to ``target``. ``again`` evaluates the gate a model
    already passed, as ``mle3 verify`` does on a release bundle: no transition is asked
    for, and ``findings`` (the check result recorded at the release) stand in for a check
    of a workspace that holds only the model's trace."""
    from ..rules import run_checks
    from ..rules.criteria import evaluate

    graph = build_graph(ws)
    model = ws.get(ref)
    if model.kind != "model_version":
        raise Mle3Error(f"{ref} is a {model.kind}; only model versions are promoted")
    key = item_key(model)
    gate = Gate(key, model.status, target)
    if target == "validated" and not again:
        gate.version = _release_version(ws, model, version, gate)
        gate.alias = f"{model_line_of(model)}-{gate.version}" if gate.version else None
    if not again and target not in TRANSITIONS.get(model.status, set()):
        allowed = ", ".join(sorted(TRANSITIONS.get(model.status, set()))) or "none"
        gate.missing.append(f"transition {model.status} -> {target} is not allowed (from {model.status}: {allowed})")
        return gate
    if target not in GATED:
        return gate
    trace = {key} | upstream(graph, key)
    for f in findings if findings is not None else run_checks(ws, graph).findings:
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
    if target == "validated":
        from ..rules.approach import model_exit_verdict

        ended = model_exit_verdict(ws, model)
        if ended is not None and not ended.met:
            gate.missing.append(
                f"its training did not meet the exit criteria of approach {ended.approach} "
                f"({ended.run or 'no run record'}): {ended.summary} [approach.exit-unmet]"
            )
    fingerprints = fingerprints or Fingerprints(ws, graph)
    fingerprint = fingerprints.of(key)
    required = ws.config.policy.require_signatures
    log = audit.read(ws.root)
    releasing = target == "released"
    upstream_products = _upstream_work_products(ws, model) if releasing else []
    counted = verified_approvals(
        ws.root,
        log=log,
        fingerprints=fingerprints,
        require_signatures=required,
        items={key} | {item_key(item) for _, item in upstream_products},
    )
    approvals = counted.approvals
    for c in conflicts(approvals, log):
        if c.item == key:
            gate.missing.append(c.message)
    quantization = model.quantization
    if quantization is not None and quantization.passed is False:
        waived = [a for a in fresh_approvals(approvals, key, fingerprint) if a.deviation == "quantization.drop"]
        if not waived:
            gate.missing.append(
                f"quantization gate failed (mAP50 drop {quantization.drop} > {quantization.threshold}) "
                "and no approved deviation: "
                f"mle3 approve {key} --role ROLE --deviation quantization.drop --comment WHY"
            )
    roles = ws.config.policy.approvals.get(target, [])
    statuses = role_status(approvals, key, fingerprint, roles)
    fresh = [a for st in statuses for a in st.approved_by]
    for wp, item in upstream_products:
        _require_work_product(ws, gate, approvals, fingerprints, wp, item)
    broken = violations(ws, model, key, fresh, trainer_of(ws, model, log) if releasing else None, releasing=releasing)
    gate.missing.extend(v.message for v in broken)
    trainer_approvals = {id(a) for v in broken if v.kind == "trainer" for a in v.approvals}
    for st in statuses:
        valid = [a for a in st.approved_by if id(a) not in trainer_approvals]
        if not valid and st.approved_by:  # only the trainer approved: another person must, in that role
            names = ", ".join(sorted({label(a) for a in st.approved_by}))
            gate.missing.append(
                f"fresh approval by role {st.role} for {target} by someone other than {names}, who ran the training: "
                f"they run `mle3 approve {key} --role {st.role}`; withdraw yours with "
                f"`mle3 approve {key} --role {st.role} --reject --comment WHY`"
            )
        elif not valid:
            detail = f" ({len(st.stale)} stale: the model or something upstream changed since)" if st.stale else ""
            detail += f" (rejected by {', '.join(a.name for a in st.rejected_by)})" if st.rejected_by else ""
            gate.missing.append(
                f"fresh approval by role {st.role} for {target}{detail}: mle3 approve {key} --role {st.role}"
            )
        gate.approvals.extend(
            {
                "role": st.role,
                "name": label(a),
                "time": a.time,
                "fingerprint": a.fingerprint,
                **({"signer": a.signer} if a.signer else {}),
            }
            for a in valid
        )
    if gate.missing:  # say which recorded decisions were left out, and why
        gate.missing.extend(d.message for d in counted.dropped_for(key))
    return gate


def _variant_version(ws: Workspace, model: Any, gate: Gate) -> str | None:
    """A quantized child takes its float model's version, marked: ``v2.4.0-int8-ptq``."""
    method = model.quantization.method if model.quantization is not None else None
    parent = ws.resolve(model.traceability.previous_version)
    parent_version = version_of(parent) if parent is not None else None
    if parent_version is None:
        gate.missing.append(
            f"its float model {model.traceability.previous_version} has no version yet: validate that first, or give "
            "one with --version"
        )
        return None
    return f"{parent_version}-int8-{method or 'q'}"


def _release_version(ws: Workspace, model: Any, wanted: str | None, gate: Gate) -> str | None:
    """The semantic version a model gets at validation: kept if it has one, else ``wanted``
    or the next minor version of its line; a version already taken is refused."""
    current = version_of(model)
    if current:
        if wanted and wanted != current:
            gate.missing.append(f"{model.id} already has version {current}")
        return None
    line = model_line_of(model)
    if line is None:
        if wanted:
            gate.missing.append(
                f"{model.id} belongs to no model line (set model_line:), so it cannot be given version {wanted}"
            )
        return None
    siblings = [m for m in ws.of_kind("model_version") if m is not model and model_line_of(m) == line]
    taken = {v for m in siblings if (v := version_of(m)) is not None}
    chosen = wanted or (_variant_version(ws, model, gate) if model.quantized else next_release(taken))
    if chosen is None:
        return None
    if not SEMVER.match(chosen):
        gate.missing.append(f"version {chosen!r} is not a semantic version like v1.2.0")
    elif chosen in taken or ws.resolve(f"{line}-{chosen}") not in (None, model):
        gate.missing.append(f"version {chosen} of {line} is already taken; choose another with --version")
    return chosen


def promote(root: Any, ref: str, target: str, version: str | None = None) -> Gate:
    """Evaluate the gate and, when it passes, write the new status, all under the
    workspace's promote lock: two promotions (two shells, two CI jobs) never both pass a
    gate the other one's write would fail (a version taken twice, a transition from a
    status that is gone). ``root`` is the loaded workspace (read again under the lock,
    and current after the write) or its path."""
    with locked(root, PROMOTE_LOCK) as ws:
        gate = _promote_locked(ws, ref, target, version)
    if gate.ok and isinstance(root, Workspace):
        root.reload()
    return gate


def _promote_locked(ws: Workspace, ref: str, target: str, version: str | None) -> Gate:
    gate = evaluate_gate(ws, ref, target, version)
    if not gate.ok:
        return gate
    model = ws.get(ref)
    approvers = ", ".join(f"{a['name']} ({a['role']})" for a in gate.approvals) or None
    today = dt.date.today().isoformat()
    updates: dict[str, Any] = {"status": target}
    if target in GATED:
        updates.update(approver=approvers, approval_date=today)
    if gate.version:
        updates["version"] = gate.version
    set_fields(ws, model, {(name,): value for name, value in updates.items()})
    details: dict[str, Any] = {"from": gate.current, "to": target, "approvals": gate.approvals}
    if gate.version:
        details.update(version=gate.version, alias=gate.alias)
    audit.append(ws.root, AuditAction.PROMOTE, gate.model, details)
    on_promote(ws, gate)  # 13-52: the inform rules' messages, queued before this returns
    return gate
