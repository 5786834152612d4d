"""Approvals: recorded in the audit log, bound to an item's fingerprint.

``mle3 approve ITEM --role R`` appends an ``approval`` entry (who, role, decision, the
item's fingerprint, comment). An approval counts only while the item's fingerprint is
unchanged; the latest decision of a person for a role wins (a later ``--reject`` revokes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from .. import audit
from ..errors import Mle3Error
from ..workspace import Workspace, item_key
from .fingerprint import Fingerprints

ACTION = "approval"


@dataclass
class Approval:
    seq: int
    time: str
    item: str
    role: str
    name: str
    decision: str  # approved | rejected
    fingerprint: str
    comment: str | None
    line: int
    deviation: str | None = None
    signed: bool = False
    #: None: not checked; True/False: the signature's verification result
    verified: bool | None = None
    signature_problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def policy_roles(ws: Workspace) -> list[str]:
    roles: set[str] = set()
    for needed in ws.config.policy.approvals.values():
        roles.update(needed)
    return sorted(roles)


def recorded(root: Path, *, verify_signatures: bool = False) -> list[Approval]:
    """Every approval and rejection in the audit log, oldest first; with
    ``verify_signatures`` each signed one is checked with ssh-keygen."""
    out = []
    for line, entry, _ in audit.entries(root):
        if not entry or entry.get("action") != ACTION:
            continue
        d = entry.get("details") or {}
        a = Approval(entry.get("seq", 0), entry.get("time", ""), entry.get("item") or "", d.get("role", ""), d.get("name") or entry.get("actor", ""),
                     d.get("decision", ""), d.get("fingerprint", ""), d.get("comment"), line, d.get("deviation"), bool(d.get("signature")))
        if verify_signatures:
            from .signing import verify

            check = verify(root, entry)
            a.verified, a.signature_problem = check.ok, check.problem
        out.append(a)
    return out


def countable(approvals: list[Approval], require_signatures: bool) -> list[Approval]:
    """The approvals that count: all of them, or only verified ones when signatures are required."""
    if not require_signatures:
        return approvals
    return [a for a in approvals if a.verified]


def latest_decisions(approvals: list[Approval], key: str) -> list[Approval]:
    """The latest decision of each (role, person) on an item."""
    latest: dict[tuple[str, str], Approval] = {}
    for a in approvals:
        if a.item == key:
            latest[(a.role, a.name)] = a
    return sorted(latest.values(), key=lambda a: a.seq)


def fresh_approvals(approvals: list[Approval], key: str, fingerprint: str) -> list[Approval]:
    return [a for a in latest_decisions(approvals, key) if a.decision == "approved" and a.fingerprint == fingerprint]


@dataclass
class RoleStatus:
    role: str
    approved_by: list[Approval]
    stale: list[Approval]
    rejected_by: list[Approval]

    @property
    def ok(self) -> bool:
        return bool(self.approved_by)


def role_status(approvals: list[Approval], key: str, fingerprint: str, roles: list[str]) -> list[RoleStatus]:
    decisions = latest_decisions(approvals, key)
    out = []
    for role in roles:
        mine = [a for a in decisions if a.role == role]
        out.append(RoleStatus(
            role,
            [a for a in mine if a.decision == "approved" and a.fingerprint == fingerprint],
            [a for a in mine if a.decision == "approved" and a.fingerprint != fingerprint],
            [a for a in mine if a.decision == "rejected" and a.fingerprint == fingerprint],
        ))
    return out


def approve(ws: Workspace, graph: nx.MultiDiGraph, ref: str, role: str, name: str | None = None, comment: str | None = None, reject: bool = False,
            deviation: str | None = None, sign: bool = False, key: Path | None = None) -> Approval:
    """Record an approval (or rejection) of the item's current content. With
    ``deviation`` (a rule id such as ``quantization.drop``) the approval also accepts a
    known deviation of this exact content; it then needs a comment saying why."""
    item = ws.get(ref)
    key_of_item = item_key(item)
    roles = policy_roles(ws)
    if role not in roles:
        raise Mle3Error(f"role {role!r} is not used by the policy in mle3.yaml (roles: {', '.join(roles) or 'none'})", file="mle3.yaml", field="policy.approvals")
    if deviation and not comment:
        raise Mle3Error("an approved deviation needs --comment with the justification")
    fingerprint = Fingerprints(ws, graph).of(key_of_item)
    person = name or audit.default_actor(ws.root)
    decision = "rejected" if reject else "approved"
    details = {"kind": item.kind, "role": role, "name": person, "decision": decision, "fingerprint": fingerprint, "comment": comment}
    if deviation:
        details["deviation"] = deviation
    finalize = None
    if sign or key is not None or ws.config.policy.require_signatures:
        from . import signing

        key_file = Path(key).expanduser() if key is not None else signing.default_key(ws.root)
        principal = signing.principal_of(person)

        def finalize(entry: dict[str, Any]) -> None:
            payload = signing.message(entry["item"], fingerprint, role, decision, entry["time"], entry["prev"])
            entry["details"].update(principal=principal, signature=signing.sign(key_file, payload))

    entry = audit.append(ws.root, ACTION, key_of_item, details, actor=person, finalize=finalize)
    return Approval(entry["seq"], entry["time"], entry["item"], role, person, decision, fingerprint, comment, 0, deviation)
