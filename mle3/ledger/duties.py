"""Separation of duties, evaluated on the whole (merged) audit log.

Two policies of ``mle3.yaml`` bind people, not content: ``one_role_per_person`` (one
person may not fill two roles for the same item) and ``trainer_may_approve_release``
(whoever ran a model's training may not approve its release). Approvals made on two
branches meet only after a merge, so ``check`` evaluates both on the merged log
(rule ``approval.duties``), ``promote`` refuses on them, and ``approve`` warns at the
moment a decision breaks one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import audit
from ..vocab import AuditAction
from .approvals import Approval


def same_person(a: str, b: str) -> bool:
    """Compare 'Name <email>' forms: same email, or same name."""
    return bool(identity(a) & identity(b))


def identity(name: str) -> frozenset[str]:
    """What identifies whoever wrote ``name`` ('Name <email>', or a bare name): its name
    and its e-mail, lower case. Two people are the same when these overlap."""
    m = re.match(r"^(.*?)\s*<([^>]*)>\s*$", name)
    parts = (m.group(1), m.group(2)) if m else (name, "")
    return frozenset(p.strip().lower() for p in parts if p.strip())


def approver_identity(a: Approval) -> frozenset[str]:
    """A signed approval is its verified signer (the key's principal), whatever name it
    carries; an unsigned one is its recorded name."""
    return frozenset({a.signer.lower()}) if a.signer else identity(a.name)


def same_approver(a: Approval, b: Approval) -> bool:
    return bool(approver_identity(a) & approver_identity(b))


def label(a: Approval) -> str:
    """How a release names an approver: the recorded name, and the verified signer when
    it signed (the name alone is not verified)."""
    if a.signer and a.signer.lower() not in a.name.lower():
        return f"{a.name} [signed by {a.signer}]"
    return a.name


def trainer_of(ws: Any, model: Any, log: audit.Log) -> str | None:
    """Who started the training run that produced the model (from the audit log)."""
    run = ws.resolve(getattr(model, "training_run", None))
    if run is None or run.kind != "run":
        return None
    for node in log.nodes:
        if node.action == AuditAction.RUN_START and node.entry.get("item") == run.id:
            actor = node.entry.get("actor")
            return actor if isinstance(actor, str) else None
    return None


@dataclass
class Violation:
    #: "two-roles" (one_role_per_person) or "trainer" (trainer_may_approve_release)
    kind: str
    person: str
    message: str
    approvals: list[Approval]


def violations(
    ws: Any, item: Any, key: str, fresh: list[Approval], trainer: str | None, *, releasing: bool
) -> list[Violation]:
    """Duty violations among ``fresh`` approvals of one item: one person in two roles, and
    (when ``releasing``) the trainer approving in a role the release needs."""
    policy = ws.config.policy
    found: list[Violation] = []
    if policy.one_role_per_person:
        people: list[list[Approval]] = []
        for a in fresh:
            for group in people:
                if any(same_approver(g, a) for g in group):
                    group.append(a)
                    break
            else:
                people.append([a])
        for group in people:
            roles = sorted({a.role for a in group})
            if len(roles) > 1:
                who = " / ".join(dict.fromkeys(label(a) for a in group))
                found.append(
                    Violation(
                        "two-roles",
                        group[0].signer or group[0].name,
                        f"separation of duties: {who} approved {key} as {' and '.join(roles)}; "
                        f"one person may fill only one role (withdraw one: mle3 approve {key} --role {roles[-1]} --reject)",
                        group,
                    )
                )
    if releasing and trainer and not policy.trainer_may_approve_release:
        release_roles = set(policy.approvals.get("released", []))
        mine = [a for a in fresh if a.role in release_roles and approver_identity(a) & identity(trainer)]
        if mine:
            found.append(
                Violation(
                    "trainer",
                    trainer,
                    f"separation of duties: {label(mine[0])} ran the training of {key} and may not approve its release as "
                    f"{', '.join(sorted({a.role for a in mine}))}",
                    mine,
                )
            )
    return found
