"""Checks over the workspace graph, one module per rule family.

Families: ``load`` (reading files), ``trace`` (links), ``consistency`` (agreement between
items and with disk), ``criteria`` (requirement criteria), ``status`` (life cycle),
``data`` (registered data on disk), ``approval`` (approvals and their freshness).
"""

from . import approvals, consistency, criteria, datasets, load, quantization, status, traceability  # noqa: F401  (registers rules)
from .engine import CHECK_SCHEMA, CheckReport, check_workspace, run_checks
from .registry import RULES, Context, Hit, Rule, rule

__all__ = ["CHECK_SCHEMA", "RULES", "CheckReport", "check_workspace", "Context", "Hit", "Rule", "rule", "run_checks"]
