"""Approvals: recorded in the audit log, bound to an item's fingerprint.

``mle3 approve ITEM --role R`` appends an ``approval`` entry (who, role, decision, the
item's fingerprint, comment). An approval counts only while the item's fingerprint is
unchanged; the latest decision of a person for a role wins (a later ``--reject`` revokes).
"Latest" is the audit DAG's order, the same in every clone. Two decisions made on two
branches, neither knowing the other (concurrent in the DAG), that approve and reject the
same content in the same role are a conflict until someone decides again after the merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import audit
from ..workspace import Workspace

ACTION = "approval"


@dataclass
class Approval:
    #: place in the audit DAG's order (0 = oldest)
    order: int
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
    #: the audit entry's hash and file
    entry: str = ""
    file: str = ""
    #: policies this decision breaks (set by ``approve`` when it records one)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def policy_roles(ws: Workspace) -> list[str]:
    roles: set[str] = set()
    for needed in ws.config.policy.approvals.values():
        roles.update(needed)
    return sorted(roles)


def recorded(root: Path, *, verify_signatures: bool = False, log: audit.Log | None = None, fingerprints: Any = None) -> list[Approval]:
    """Every approval and rejection in the audit log, in DAG order (oldest first); with
    ``verify_signatures`` each signed one is checked with ssh-keygen. With ``fingerprints``
    an approval from the linear log that matches its item's fingerprint as it was defined
    then (see :meth:`Fingerprints.legacy_of`) is carried over to today's definition."""
    out = []
    for node in (log or audit.read(root)).nodes:
        if node.action != ACTION:
            continue
        entry = node.entry
        d = entry.get("details") or {}
        a = Approval(node.order, entry.get("time", ""), entry.get("item") or "", d.get("role", ""), d.get("name") or entry.get("actor", ""),
                     d.get("decision", ""), d.get("fingerprint", ""), d.get("comment"), node.line, d.get("deviation"), bool(d.get("signature")),
                     entry=node.hash, file=node.file)
        if fingerprints is not None and audit.is_legacy(entry) and a.item in fingerprints.ws.by_key and a.fingerprint == fingerprints.legacy_of(a.item):
            a.fingerprint = fingerprints.of(a.item)
        if verify_signatures:
            from .signing import verify

            check = verify(root, entry)
            a.verified, a.signature_problem = check.ok, check.problem
        out.append(a)
    return out


@dataclass
class Conflict:
    """An approval and a rejection of the same content in the same role, made on two
    branches without knowledge of each other, that no later decision settled."""

    item: str
    role: str
    fingerprint: str
    approved: Approval
    rejected: Approval

    @property
    def message(self) -> str:
        a, r = self.approved, self.rejected
        return (f"{a.name} approved and {r.name} rejected the same content of {self.item} as {self.role} on two branches "
                f"({a.file} and {r.file}); decide again: mle3 approve {self.item} --role {self.role} [--reject]")


def conflicts(approvals: list[Approval], log: audit.Log) -> list[Conflict]:
    """Unsettled concurrent approve/reject pairs (see :class:`Conflict`)."""
    groups: dict[tuple[str, str], list[Approval]] = {}
    for a in approvals:
        groups.setdefault((a.item, a.role), []).append(a)
    found = []
    for (item, role), decisions in sorted(groups.items()):
        for a in decisions:
            if a.decision != "approved":
                continue
            for r in decisions:
                if r.decision != "rejected" or r.fingerprint != a.fingerprint or not log.concurrent(a.entry, r.entry):
                    continue
                settled = any(log.follows(d.entry, a.entry) and log.follows(d.entry, r.entry) for d in decisions)
                if not settled:
                    found.append(Conflict(item, role, a.fingerprint, a, r))
    return found


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
    return sorted(latest.values(), key=lambda a: a.order)


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
