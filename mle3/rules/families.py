"""Every rule family: importing this module registers all rules in :data:`.registry.RULES`."""

from . import (  # noqa: F401
    approach,
    approvals,
    baseline,
    consistency,
    criteria,
    datasets,
    load,
    quantization,
    review,
    status,
    traceability,
    training,
    tuning,
    workspace_state,
)
