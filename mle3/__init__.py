"""mle3: auditable ML model training under Automotive SPICE MLE.3.

Public API (the CLI is a thin layer over these)::

    ws = mle3.load_workspace(".")
    graph = mle3.build_graph(ws)
    report = mle3.run_checks(ws, graph)

Names are imported on first use (PEP 562), so ``import mle3`` and every CLI command start
without loading networkx, pydantic models or torch before they need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Mle3Error": "mle3.errors",
    "Finding": "mle3.findings",
    "build_graph": "mle3.graph",
    "run_checks": "mle3.rules",
    "check_workspace": "mle3.rules",
    "Workspace": "mle3.workspace",
    "load_workspace": "mle3.workspace",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover
    from .errors import Mle3Error
    from .findings import Finding
    from .graph import build_graph
    from .rules import check_workspace, run_checks
    from .workspace import Workspace, load_workspace


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mle3' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
