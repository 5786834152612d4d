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
from ..vocab import AuditAction
from ..workspace import Workspace
from .signing import principal_of

ACTION = AuditAction.APPROVAL


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
    #: the signer ssh-keygen verified (principal in allowed_signers), when the signature verified
    signer: str | None = None
    #: why the entry is not a well-formed approval (a field of the wrong type), if it is not
    invalid: str | None = None

    @property
    def person(self) -> str:
        """Who decided, for "the latest decision of a person": the verified signer, else
        the e-mail of the recorded name (or the name), lower case."""
        return (self.signer or principal_of(self.name)).lower()

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def policy_roles(ws: Workspace) -> list[str]:
    roles: set[str] = set()
    for needed in ws.config.policy.approvals.values():
        roles.update(needed)
    return sorted(roles)


#: (field, where, may be missing or null): the fields an approval entry must have as text
_TEXT_FIELDS = (
    ("time", False, False),
    ("item", False, False),
    ("role", True, False),
    ("decision", True, False),
    ("fingerprint", True, False),
    ("name", True, True),
    ("comment", True, True),
    ("deviation", True, True),
    ("principal", True, True),
)
DECISIONS = ("approved", "rejected")


def shape_problem(entry: dict[str, Any]) -> str | None:
    """Why an approval entry is malformed (one line naming the field), or None."""
    d = entry.get("details")
    if not isinstance(d, dict):
        return f"details is {_kind(d)}, not a mapping"
    for name, in_details, optional in _TEXT_FIELDS:
        value = (d if in_details else entry).get(name)
        if value is None and optional:
            continue
        if not isinstance(value, str):
            return f"{'details.' if in_details else ''}{name} is {_kind(value)}, not text"
    if d["decision"] not in DECISIONS:
        return f"details.decision is {d['decision'][:40]!r}, not approved or rejected"
    if "fingerprint_version" in d and type(d["fingerprint_version"]) is not int:
        return f"details.fingerprint_version is {_kind(d['fingerprint_version'])}, not a whole number"
    return None


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def recorded(
    root: Path,
    *,
    verify_signatures: bool = False,
    log: audit.Log | None = None,
    fingerprints: Any = None,
    items: set[str] | None = None,
) -> list[Approval]:
    """Every approval and rejection in the audit log (of ``items`` only, when given), in
    DAG order (oldest first); a malformed one carries its problem in ``invalid``. With
    ``verify_signatures`` each signed one is checked with ssh-keygen; one signed in format
    1 keeps only the fields that format covered (its name becomes the verified signer;
    comment and deviation are dropped). With ``fingerprints`` an approval recorded before
    today's fingerprint definition that matches its item's fingerprint as defined then
    (:meth:`Fingerprints.legacy_of` for the linear log, :meth:`Fingerprints.v1_of` before
    run evidence) is carried over to today's definition."""
    from .fingerprint import FINGERPRINT_VERSION

    out = []
    for node in (log or audit.read(root)).nodes:
        if node.action != ACTION:
            continue
        entry = node.entry
        if items is not None and _text(entry.get("item")) not in items:
            continue
        problem = shape_problem(entry)
        details = entry.get("details")
        d = details if isinstance(details, dict) else {}
        a = Approval(
            node.order,
            _text(entry.get("time")),
            _text(entry.get("item")),
            _text(d.get("role")),
            _text(d.get("name")) or _text(entry.get("actor")),
            _text(d.get("decision")),
            _text(d.get("fingerprint")),
            d.get("comment") if isinstance(d.get("comment"), str) else None,
            node.line,
            d.get("deviation") if isinstance(d.get("deviation"), str) else None,
            bool(d.get("signature")),
            entry=node.hash,
            file=node.file,
            invalid=problem,
        )
        version = d.get("fingerprint_version")
        if verify_signatures and a.signed and problem is None:
            from .signing import verify

            check = verify(root, entry)
            a.verified, a.signature_problem = check.ok, check.problem
            if check.ok:
                a.signer = check.principal
                if (
                    check.format < 2
                ):  # format 1 covered item, fingerprint, role, decision, time, parents: nothing else counts
                    a.name, a.comment, a.deviation, version = check.principal or a.name, None, None, None
        if (
            fingerprints is not None
            and problem is None
            and version != FINGERPRINT_VERSION
            and a.item in fingerprints.ws.by_key
        ):
            before = fingerprints.legacy_of(a.item) if audit.is_legacy(entry) else fingerprints.v1_of(a.item)
            if a.fingerprint == before:
                a.fingerprint = fingerprints.of(a.item)
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
        return (
            f"{a.name} approved and {r.name} rejected the same content of {self.item} as {self.role} on two branches "
            f"({a.file} and {r.file}); decide again: mle3 approve {self.item} --role {self.role} [--reject]"
        )


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


def latest_decisions(approvals: list[Approval], key: str) -> list[Approval]:
    """The latest decision of each (role, person) on an item (a person is the verified
    signer, else the recorded name's e-mail: see :attr:`Approval.person`)."""
    latest: dict[tuple[str, str], Approval] = {}
    for a in approvals:
        if a.item == key:
            latest[(a.role, a.person)] = a
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
        out.append(
            RoleStatus(
                role,
                [a for a in mine if a.decision == "approved" and a.fingerprint == fingerprint],
                [a for a in mine if a.decision == "approved" and a.fingerprint != fingerprint],
                [a for a in mine if a.decision == "rejected" and a.fingerprint == fingerprint],
            )
        )
    return out
