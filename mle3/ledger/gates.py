"""The approvals a gate may count, and why the others may not: one function for every gate.

``promote``, ``report --release``, ``report release``, the quantization deviation and
separation of duties all count approvals through :func:`verified_approvals`. An approval
counts only when its audit entry verifies (its content matches its hash and file name,
every parent it names exists, it is not dated before its parents, it is not read through
a symbolic link), it is well formed, and its signature verifies: always when it carries
one, and it must carry one where ``policy.require_signatures`` is set. An approval whose
entry does not verify still ends the earlier decisions of the same person in the same
role: an edited ``--reject`` does not bring an older approval back. Each approval left
out comes back as :class:`Dropped` with the reason, so a gate that refuses names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from .. import audit
from .approvals import Approval, recorded


@dataclass
class Dropped:
    """An approval (or rejection) that does not count, and why."""

    approval: Approval
    reason: str

    @property
    def message(self) -> str:
        a = self.approval
        what = a.decision if a.decision in ("approved", "rejected") else "decision"
        return (
            f"not counted: {what} of {a.item or '?'} by {a.name or '?'} as {a.role or '?'} ({a.file}:{a.line}): "
            f"{self.reason}"
        )


@dataclass
class Verified:
    """What :func:`verified_approvals` found: the approvals that count (DAG order), the
    ones that do not, every approval read (signatures checked), and the log."""

    approvals: list[Approval]
    dropped: list[Dropped]
    recorded: list[Approval]
    log: audit.Log
    problems: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def dropped_for(self, key: str) -> list[Dropped]:
        return [d for d in self.dropped if d.approval.item == key]


def verified_approvals(
    root: Path,
    *,
    log: audit.Log | None = None,
    fingerprints: Any = None,
    require_signatures: bool = False,
    items: Iterable[str] | None = None,
) -> Verified:
    """The approvals every gate counts, with the reasons the others were dropped (see the
    module docstring). ``items`` limits the work (signature checks) to those items."""
    log = log if log is not None else audit.read(root)
    problems: dict[tuple[str, int], list[str]] = {}
    for p in log.problems:
        problems.setdefault((p.file, p.line), []).append(p.message)
    wanted = set(items) if items is not None else None
    every = recorded(root, verify_signatures=True, log=log, fingerprints=fingerprints, items=wanted)
    counted: list[Approval] = []
    dropped: list[Dropped] = []
    for a in every:
        reason = _reason(a, problems.get((a.file, a.line)), require_signatures)
        if reason is None:
            counted.append(a)
        else:
            dropped.append(Dropped(a, reason))
    counted, superseded = _not_superseded(counted, dropped)
    return Verified(counted, dropped + superseded, every, log, problems)


def _reason(a: Approval, problems: list[str] | None, require_signatures: bool) -> str | None:
    if problems:
        return "its audit entry does not verify: " + "; ".join(problems)
    if a.invalid:
        return f"malformed approval entry: {a.invalid}"
    if a.signed and not a.verified:
        return f"its signature does not verify: {a.signature_problem}"
    if require_signatures and not a.signed:
        return "not signed; mle3.yaml requires signatures (policy.require_signatures)"
    return None


def _not_superseded(counted: list[Approval], dropped: list[Dropped]) -> tuple[list[Approval], list[Dropped]]:
    """Drop counted approvals that a later, dropped decision of the same person in the same
    role on the same item follows: whatever that decision was, it was the latest one."""
    if not dropped:
        return counted, []
    from .duties import approver_identity, identity

    later: dict[tuple[str, str], list[tuple[int, frozenset[str], Dropped]]] = {}
    for d in dropped:
        a = d.approval
        who = identity(a.name) | ({a.signer.lower()} if a.signer else frozenset())
        later.setdefault((a.item, a.role), []).append((a.order, who, d))
    keep, gone = [], []
    for a in counted:
        mine = approver_identity(a) | identity(a.name)
        hit = next((d for order, who, d in later.get((a.item, a.role), ()) if order > a.order and who & mine), None)
        if hit is None:
            keep.append(a)
        else:
            gone.append(
                Dropped(
                    a,
                    f"a later decision of the same person in this role does not verify ({hit.approval.file}: "
                    f"{hit.reason})",
                )
            )
    return keep, gone


def audit_problems_for(v: Verified, keys: set[str]) -> list[str]:
    """Audit log problems that touch ``keys``: entries about them that do not verify, and
    entries that cannot be read at all (they may have been about anything)."""
    out = []
    by_place = {(n.file, n.line): n for n in v.log.nodes}
    for p in v.log.problems:
        node = by_place.get((p.file, p.line))
        item = node.entry.get("item") if node is not None else None
        if node is None or (isinstance(item, str) and item in keys):
            out.append(f"{p.where()}: {p.message} [approval.audit-log]")
    return out


#: findings in a document's trace that make its evidence untrustworthy for a release
RELEASE_BLOCKING_RULES = ("data.changed", "approval.stale")


def release_refusal(doc: dict[str, Any], findings: Iterable[Any], v: Verified, trace: set[str]) -> list[str]:
    """Why a document may not be rendered for release (empty: it may): required approvals
    missing, approvals that did not count, and findings on its evidence (data changed
    since registration, stale approvals, audit log problems)."""
    reasons = []
    if not doc["approved"] and not doc.get("record"):
        missing = ", ".join(doc["missing_roles"]) or "an approval policy for this work product"
        reasons.append(f"not approved (missing: {missing})")
        reasons.extend(d.message for d in v.dropped_for(doc["item"]))
    for f in findings:
        if f.rule in RELEASE_BLOCKING_RULES and f.item in trace:
            reasons.append(f"{f.location()}: {f.message} ({f.item}) [{f.rule}]")
    reasons.extend(audit_problems_for(v, trace))
    return list(dict.fromkeys(reasons))
