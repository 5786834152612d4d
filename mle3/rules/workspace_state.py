"""Family ``workspace``: per-machine state under ``.mle3/`` that git carries.

A committed ``.mle3/local.yaml`` would remap data roots for everyone who merges it, and
committed caches would be offered to every clone. mle3 ignores tracked files there
(:mod:`mle3.tracked`); this rule says so, once per file, so the commit gets undone.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..tracked import tracked_state_files
from .registry import Context, Hit, rule

#: findings named one by one; more are summed up in one more finding
SHOWN = 20


class _StateFile:
    """A pseudo item so that the finding names the tracked file itself."""

    kind = "state_file"

    def __init__(self, file: str) -> None:
        self._file, self._line = file, 1
        self.id = file


@rule(
    "workspace.tracked-state",
    "warning",
    "Files under .mle3/ (per-machine caches and settings such as local.yaml) are tracked by git: merged, they would remap data roots or seed caches for everyone. mle3 ignores them.",
    "`git rm -r --cached .mle3` (your copy stays) and commit; .mle3/ is per machine and never committed.",
)
def tracked_state(ctx: Context) -> Iterator[Hit]:
    files = sorted(tracked_state_files(ctx.ws.root))
    for rel in files[:SHOWN]:
        what = "its data root mapping is not used" if rel == ctx.ws.layout.local_settings else "it is not read"
        yield Hit(
            _StateFile(rel),
            f"{rel} is tracked by git: per-machine state must not be committed; {what} (git rm --cached {rel})",
        )
    if len(files) > SHOWN:
        yield Hit(
            _StateFile(files[SHOWN]),
            f"{len(files) - SHOWN} more files under .mle3/ are tracked by git (git ls-files .mle3); none of them is read",
        )
