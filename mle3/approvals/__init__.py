"""``mle3 approve`` and ``mle3 promote``: the use cases that record decisions and move a
model along its gated life cycle. They use the rules; what the rules need to read
(the approval ledger, gates, duties, fingerprints) lives below them in :mod:`mle3.ledger`."""

from ..ledger.approvals import Approval, policy_roles, recorded, role_status
from ..ledger.fingerprint import Fingerprints, fingerprint_of
from .record import approve
from .promote import TRANSITIONS, Gate, evaluate_gate, promote

__all__ = [
    "TRANSITIONS",
    "Approval",
    "Fingerprints",
    "Gate",
    "approve",
    "evaluate_gate",
    "fingerprint_of",
    "policy_roles",
    "promote",
    "recorded",
    "role_status",
]
