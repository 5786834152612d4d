"""mle3: auditable ML model training under Automotive SPICE MLE.3.

Public API (the CLI is a thin layer over these)::

    ws = mle3.load_workspace(".")
    graph = mle3.build_graph(ws)
    report = mle3.run_checks(ws, graph)
"""

__version__ = "0.1.0"

from .errors import Mle3Error  # noqa: E402
from .findings import Finding  # noqa: E402
from .graph import build_graph  # noqa: E402
from .rules import run_checks  # noqa: E402
from .workspace import Workspace, load_workspace  # noqa: E402

__all__ = ["Finding", "Mle3Error", "Workspace", "__version__", "build_graph", "load_workspace", "run_checks"]
