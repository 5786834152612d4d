"""Checks over the workspace graph, one module per rule family.

Families: ``load`` (reading files), ``trace`` (links), ``consistency`` (agreement between
items and with disk), ``criteria`` (requirement criteria), ``status`` (life cycle),
``data`` (registered data on disk), ``approval`` (approvals, their freshness, duties and
conflicts across branches, the audit log), ``artifact`` (large files not fetched),
``quantization`` (INT8 children), ``review`` (review records), ``training`` (over- and
underfitting in a run's curves), ``workspace`` (per-machine state under ``.mle3/`` that git
tracks), ``baseline`` (the workspace against its newest baseline, the baselines' git tags).
"""

from typing import TYPE_CHECKING, Any

from .engine import CHECK_SCHEMA, CheckReport, check_workspace, run_checks
from .registry import Context, Hit, Rule, rule

if TYPE_CHECKING:
    from .registry import RULES

__all__ = ["CHECK_SCHEMA", "RULES", "CheckReport", "check_workspace", "Context", "Hit", "Rule", "rule", "run_checks"]


def __getattr__(name: str) -> Any:
    """``RULES``, with every family registered (imported on first use: see :mod:`.engine`)."""
    if name == "RULES":
        from . import families  # noqa: F401
        from .registry import RULES

        return RULES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
