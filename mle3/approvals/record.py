"""``mle3 approve``: record a decision on an item's exact content in the audit log.

The decision is recorded even when it breaks a policy (the record is what happened);
the warnings say so at once, with the way out, instead of leaving it to ``promote``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx

from .. import audit
from ..errors import Mle3Error
from ..workspace import Workspace, item_key
from ..ledger.duties import trainer_of, violations
from ..ledger.fingerprint import FINGERPRINT_VERSION, Fingerprints
from ..notify.events import on_decision
from ..ledger.approvals import ACTION, Approval, fresh_approvals, policy_roles


def _refuse_unknown_deviation(ws: Workspace, graph: nx.MultiDiGraph, key: str, deviation: str, reject: bool) -> None:
    """A deviation names a rule that exists and fires for this item now: accepting one
    that is misspelled or absent would record a decision about nothing."""
    from ..rules import RULES, run_checks

    if reject:
        raise Mle3Error("--deviation accepts a known deviation; it cannot go with --reject")
    if deviation not in RULES:
        import difflib

        close = difflib.get_close_matches(deviation, list(RULES), n=3, cutoff=0.6)
        raise Mle3Error(
            f"--deviation {deviation!r} is no rule id{' (did you mean ' + ', '.join(close) + '?)' if close else ''}; "
            "`mle3 rules` lists them"
        )
    firing = [f for f in run_checks(ws, graph, only={deviation}).findings if f.rule == deviation and f.item == key]
    if not firing:
        raise Mle3Error(
            f"--deviation {deviation}: the rule does not fire for {key} now, so there is no deviation to accept"
        )


def approve(
    ws: Workspace,
    graph: nx.MultiDiGraph,
    ref: str,
    role: str,
    name: str | None = None,
    comment: str | None = None,
    reject: bool = False,
    deviation: str | None = None,
    sign: bool = False,
    key: Path | None = None,
) -> Approval:
    """Record an approval (or rejection) of the item's current content. With
    ``deviation`` (a rule id such as ``quantization.drop``) the approval also accepts a
    known deviation of this exact content; it then needs a comment saying why."""
    item = ws.get(ref)
    key_of_item = item_key(item)
    roles = policy_roles(ws)
    if role not in roles:
        raise Mle3Error(
            f"role {role!r} is not used by the policy in mle3.yaml (roles: {', '.join(roles) or 'none'})",
            file="mle3.yaml",
            field="policy.approvals",
        )
    if deviation and not comment:
        raise Mle3Error("an approved deviation needs --comment with the justification")
    if deviation:
        _refuse_unknown_deviation(ws, graph, key_of_item, deviation, reject)
    fingerprints = Fingerprints(ws, graph)
    fingerprint = fingerprints.of(key_of_item)
    person = name or audit.default_actor(ws.root)
    decision = "rejected" if reject else "approved"
    details = {
        "kind": item.kind,
        "role": role,
        "name": person,
        "decision": decision,
        "fingerprint": fingerprint,
        "fingerprint_version": FINGERPRINT_VERSION,
        "comment": comment,
    }
    if deviation:
        details["deviation"] = deviation
    finalize = None
    if sign or key is not None or ws.config.policy.require_signatures:
        from ..ledger import signing

        key_file = Path(key).expanduser() if key is not None else signing.default_key(ws.root)
        principal = signing.principal_of(person)

        def finalize(entry: dict[str, Any]) -> None:
            entry["details"].update(principal=principal, signature_format=signing.FORMAT)
            entry["details"]["signature"] = signing.sign(
                key_file, signing.message_v2(entry)
            )  # covers every field above

    entry = audit.append(ws.root, ACTION, key_of_item, details, actor=person, finalize=finalize)
    approval = Approval(
        -1,
        entry["time"],
        entry["item"],
        role,
        person,
        decision,
        fingerprint,
        comment,
        1,
        deviation,
        entry=entry["hash"],
        file=audit.entry_file(entry["hash"], ws.root),
    )
    if decision == "approved":
        approval.warnings = policy_warnings(ws, fingerprints, item, key_of_item, fingerprint, approval)
    on_decision(ws, item.kind, approval)  # 13-52: the inform rules' messages, queued before this returns
    return approval


def policy_warnings(
    ws: Workspace, fingerprints: Fingerprints, item: Any, key: str, fingerprint: str, new: Approval
) -> list[str]:
    """The duties the decision just recorded breaks, evaluated with every fresh approval
    of the item (from all branches merged so far)."""
    from ..ledger.gates import verified_approvals

    log = audit.read(ws.root)
    counted = verified_approvals(
        ws.root, log=log, fingerprints=fingerprints, require_signatures=ws.config.policy.require_signatures, items={key}
    )
    fresh = fresh_approvals(counted.approvals, key, fingerprint)
    out = [
        v.message
        for v in violations(ws, item, key, fresh, None, releasing=False)
        if any(a.entry == new.entry for a in v.approvals)
    ]
    release_roles = ws.config.policy.approvals.get("released", [])
    if item.kind == "model_version" and new.role in release_roles and not ws.config.policy.trainer_may_approve_release:
        trainer = trainer_of(ws, item, log)
        hits = violations(ws, item, key, [new], trainer, releasing=True)
        out.extend(f"{v.message}; this approval will not count for release" for v in hits if v.kind == "trainer")
    return out
