"""``mle3 dataset retire``: take a data set version out of use without deleting its record.

A registered version never changes and its record stays (approvals, runs and models that
used it must keep resolving); ``status: rejected`` (found unfit) or ``obsolete``
(superseded) with a reason says it is no longer to be used. A bare data set id then means
the latest version still in use, and ``check`` reports what still rests on a retired one
(``data.retired``). The decision is in the audit log.
"""

from __future__ import annotations

from pathlib import Path

from .. import audit
from ..errors import Mle3Error
from ..itemfile import set_fields
from ..vocab import RETIRED_STATUSES, AuditAction
from ..workspace import load_workspace


def retire(root: Path, ref: str, status: str, reason: str) -> dict[str, str]:
    """Write ``status`` and ``status_reason`` into the data set version's file and log it."""
    if status not in RETIRED_STATUSES:
        raise Mle3Error(f"--status must be one of {', '.join(RETIRED_STATUSES)}, not {status!r}")
    if not reason.strip():
        raise Mle3Error("--reason is required: an assessor reads why the version was taken out of use")
    ws = load_workspace(root, use_cache=False)
    item = ws.get(ref)
    if item.kind != "dataset":
        raise Mle3Error(f"{ref} is a {item.kind}, not a data set version")
    if item.key != ref and ref == item.id:
        raise Mle3Error(f"{ref} is a data set id; name the version to retire ({item.key})")
    set_fields(ws, item, {("status",): status, ("status_reason",): reason.strip()})
    audit.append(root, AuditAction.DATASET_RETIRE, item.key, {"status": status, "reason": reason.strip()})
    return {"dataset": item.key, "status": status, "reason": reason.strip(), "file": item._file}
