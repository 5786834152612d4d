"""Approvals bound to content fingerprints, and the gated model life cycle."""

from .fingerprint import Fingerprints, fingerprint_of
from .ledger import Approval, policy_roles, recorded, role_status
from .record import approve
from .promote import TRANSITIONS, Gate, evaluate_gate, promote

__all__ = ["TRANSITIONS", "Approval", "Fingerprints", "Gate", "approve", "evaluate_gate", "fingerprint_of", "policy_roles", "promote", "recorded", "role_status"]
