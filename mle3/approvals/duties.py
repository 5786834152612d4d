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
from .ledger import Approval


def same_person(a: str, b: str) -> bool:
    """Compare 'Name <email>' forms: same email, or same name."""
    def parts(s: str) -> tuple[str, str]:
        m = re.match(r"^(.*?)\s*<([^>]*)>\s*$", s)
        return (m.group(1).strip().lower(), m.group(2).strip().lower()) if m else (s.strip().lower(), "")

    (na, ea), (nb, eb) = parts(a), parts(b)
    return bool(ea and ea == eb) or na == nb


def trainer_of(ws: Any, model: Any, log: audit.Log) -> str | None:
    """Who started the training run that produced the model (from the audit log)."""
    run = ws.resolve(getattr(model, "training_run", None))
    if run is None or run.kind != "run":
        return None
    for node in log.nodes:
        if node.action == "run.start" and node.entry.get("item") == run.id:
            return node.entry.get("actor")
    return None


@dataclass
class Violation:
    #: "two-roles" (one_role_per_person) or "trainer" (trainer_may_approve_release)
    kind: str
    person: str
    message: str
    approvals: list[Approval]


def violations(ws: Any, item: Any, key: str, fresh: list[Approval], trainer: str | None, *, releasing: bool) -> list[Violation]:
    """Duty violations among ``fresh`` approvals of one item: one person in two roles, and
    (when ``releasing``) the trainer approving in a role the release needs."""
    policy = ws.config.policy
    found: list[Violation] = []
    if policy.one_role_per_person:
        people: list[list[Approval]] = []
        for a in fresh:
            for group in people:
                if same_person(group[0].name, a.name):
                    group.append(a)
                    break
            else:
                people.append([a])
        for group in people:
            roles = sorted({a.role for a in group})
            if len(roles) > 1:
                found.append(Violation("two-roles", group[0].name, f"separation of duties: {group[0].name} approved {key} as {' and '.join(roles)}; "
                                                      f"one person may fill only one role (withdraw one: mle3 approve {key} --role {roles[-1]} --reject)", group))
    if releasing and trainer and not policy.trainer_may_approve_release:
        release_roles = set(policy.approvals.get("released", []))
        mine = [a for a in fresh if a.role in release_roles and same_person(a.name, trainer)]
        if mine:
            found.append(Violation("trainer", trainer, f"separation of duties: {mine[0].name} ran the training of {key} and may not approve its release as "
                                            f"{', '.join(sorted({a.role for a in mine}))}", mine))
    return found
