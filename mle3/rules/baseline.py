"""Family ``baseline``: the workspace against its newest baseline (``mle3 baseline NAME``),
and every baseline's git tag against the commit it recorded."""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..ledger import baseline as baselines
from ..ledger.fingerprint import FINGERPRINT_VERSION
from .approvals import _shared
from .registry import Context, Hit, rule


class _Entry:
    """A pseudo item so that a finding points at the baseline's audit entry."""

    kind = "baseline"

    def __init__(self, b: baselines.Baseline) -> None:
        self._file, self._line = b.file, 1
        self.id = b.name


def _recorded(ctx: Context) -> list[baselines.Baseline]:
    key = ("baseline", "recorded")
    if key not in ctx.memo:
        ctx.memo[key] = baselines.recorded(_shared(ctx).log)  # the shared log: the result cache watches it
    return ctx.memo[key]


def _compared(ctx: Context) -> baselines.Baseline | None:
    """The newest usable baseline whose fingerprints compare with today's definition."""
    b = baselines.newest(_recorded(ctx))
    return b if b is not None and b.fingerprint_version in (FINGERPRINT_VERSION, 1) else None


def _now(ctx: Context, b: baselines.Baseline, key: str) -> str:
    fingerprints = _shared(ctx).fingerprints
    return fingerprints.of(key) if b.fingerprint_version == FINGERPRINT_VERSION else fingerprints.v1_of(key)


@rule(
    "baseline.changed",
    "warning",
    "An item approved at the newest baseline has other content now: it, its files or something upstream changed "
    "since the baseline.",
    "Review the change (`git diff baseline/NAME -- FILE`); once it is approved, record a new baseline "
    "(`mle3 baseline NAME2`), or restore the baselined content.",
)
def changed(ctx: Context) -> Iterator[Hit]:
    b = _compared(ctx)
    if b is None:
        return
    for key, fingerprint in sorted(b.items.items()):
        item = ctx.ws.by_key.get(key)
        if item is None:
            continue
        now = _now(ctx, b, key)
        if now != fingerprint:
            yield Hit(
                item,
                f"changed since baseline {b.name} ({b.time}, commit {b.commit[:12]}): approved then as "
                f"{fingerprint[:23]}..., now {now[:23]}...; see `git diff {b.tag} -- {item._file}` and the files "
                f"`mle3 trace {key} --up` lists",
            )


@rule(
    "baseline.removed",
    "warning",
    "An item approved at the newest baseline no longer exists in the workspace.",
    "Restore it from the baseline (`git checkout baseline/NAME -- FILE`), or record a new baseline once its removal "
    "is agreed.",
)
def removed(ctx: Context) -> Iterator[Hit]:
    b = _compared(ctx)
    if b is None:
        return
    gone = sorted(key for key in b.items if key not in ctx.ws.by_key)
    for key in gone:
        yield Hit(
            _Entry(b),
            f"{key} was approved at baseline {b.name} ({b.time}, commit {b.commit[:12]}) and is no longer in the "
            "workspace",
        )


@rule(
    "baseline.tag-moved",
    "error",
    "A baseline's git tag (baseline/NAME) points at another commit than the one the baseline recorded.",
    "Put the tag back on the recorded commit (`git tag -f baseline/NAME COMMIT`; `mle3 baseline --list` shows "
    "it); a new state is a new baseline, never a moved tag.",
)
def tag_moved(ctx: Context) -> Iterator[Hit]:
    for b, target in _tags(ctx):
        if target is not None and target != b.commit:
            yield Hit(
                _Entry(b),
                f"git tag {b.tag} points at {target[:12]}, baseline {b.name} recorded commit {b.commit[:12]} "
                f"({b.time})",
            )


@rule(
    "baseline.tag-missing",
    "warning",
    "A baseline's git tag (baseline/NAME) is not in this clone: not fetched, or deleted.",
    "Fetch the tags (`git fetch --tags`), or make it again on the recorded commit (`git tag baseline/NAME COMMIT`; "
    "`mle3 baseline --list` shows it).",
)
def tag_missing(ctx: Context) -> Iterator[Hit]:
    for b, target in _tags(ctx):
        if target is None:
            yield Hit(
                _Entry(b),
                f"git tag {b.tag} of baseline {b.name} (commit {b.commit[:12]}, {b.time}) is not in this repository; "
                f"`git fetch --tags`, or `git tag {b.tag} {b.commit}`",
            )


@rule(
    "baseline.malformed",
    "error",
    "A baseline entry of the audit log cannot serve as a baseline: a field of the wrong type, or a part of its "
    "fingerprints missing from the log.",
    "Restore the named files under artifacts/audit/ from version control; never edit the log by hand.",
)
def malformed(ctx: Context) -> Iterator[Hit]:
    for b in _recorded(ctx):
        if b.verified and b.problem is not None:
            yield Hit(_Entry(b), f"baseline {b.name or '?'} cannot be used: {b.problem}")


def _tags(ctx: Context) -> list[tuple[baselines.Baseline, str | None]]:
    """Each usable baseline with the commit its tag points at now (None: no such tag)."""
    key = ("baseline", "tags")
    if key in ctx.memo:
        return ctx.memo[key]
    out = []
    for b in _recorded(ctx):
        if not b.usable:
            continue
        for path in baselines.ref_files(ctx.ws.root, b.tag):
            ctx.exists(os.path.relpath(path, ctx.ws.root))  # a moved tag changes these: no stale cached answer
        out.append((b, baselines.tag_target(ctx.ws.root, b.tag, b.commit)))
    ctx.memo[key] = out
    return out
