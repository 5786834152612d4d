"""Checks over the workspace graph, one module per rule family.

Families: ``load`` (reading files), ``trace`` (links), ``consistency`` (agreement between
items and with disk), ``criteria`` (requirement criteria), ``status`` (life cycle),
``data`` (registered data on disk), ``approval`` (approvals, their freshness, duties and
conflicts across branches, the audit log), ``artifact`` (large files not fetched),
``quantization`` (INT8 children), ``training`` (over- and underfitting in a run's curves),
``workspace`` (per-machine state under ``.mle3/`` that git tracks).
"""

from . import (
    approvals,
    consistency,
    criteria,
    datasets,
    load,
    quantization,
    status,
    traceability,
    training,
    tuning,
    workspace_state,
)  # noqa: F401  (registers rules)
from .engine import CHECK_SCHEMA, CheckReport, check_workspace, run_checks
from .registry import RULES, Context, Hit, Rule, rule

__all__ = ["CHECK_SCHEMA", "RULES", "CheckReport", "check_workspace", "Context", "Hit", "Rule", "rule", "run_checks"]
