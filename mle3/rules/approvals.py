"""Family ``approval``: approvals that are stale or missing, and the audit log's integrity."""

from __future__ import annotations

import os
from functools import cached_property
from collections.abc import Iterator

from .. import audit
from ..ledger.fingerprint import FILE_FIELDS, Fingerprints
from ..ledger.duties import trainer_of, violations
from ..ledger.gates import Verified, verified_approvals
from ..ledger.approvals import conflicts, fresh_approvals, latest_decisions, role_status
from .registry import Context, Hit, rule

_RELEASED = ("validated", "released")


class _Approvals:
    """Approvals and fingerprints, computed once per check (shared by the rules below)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        watch_audit_log(ctx)  # the result cache must notice new approvals
        for model in ctx.ws.of_kind("model_version"):
            for name in FILE_FIELDS:
                rel = getattr(model.artifacts, name, None)
                if rel:
                    ctx.exists(rel)  # weights feed the fingerprint
        for run in ctx.ws.of_kind("run"):
            for rel in Fingerprints.run_evidence_files(run).values():
                ctx.exists(rel)  # so does a run's evidence (epochs, arguments, config snapshot, checkpoints)

    @cached_property
    def log(self) -> audit.Log:
        return audit.read(self.ctx.ws.root)

    @cached_property
    def counted(self) -> Verified:
        """The approvals the gates count, and the ones they drop (see ledger.gates)."""
        ctx = self.ctx
        ctx.exists("allowed_signers")
        return verified_approvals(
            ctx.ws.root,
            log=self.log,
            fingerprints=self.fingerprints,
            require_signatures=ctx.ws.config.policy.require_signatures,
        )

    @cached_property
    def verified(self):
        """Every approval, signatures checked (only signed ones cost a verification)."""
        return self.counted.recorded

    @cached_property
    def all(self):
        """The approvals that count: entry verified, well formed, signature verified."""
        return self.counted.approvals

    @cached_property
    def fingerprints(self) -> Fingerprints:
        return Fingerprints(self.ctx.ws, self.ctx.graph)


def _shared(ctx: Context) -> _Approvals:
    cache = ctx.__dict__.setdefault("_approvals", None)
    if cache is None:
        cache = ctx.__dict__["_approvals"] = _Approvals(ctx)
    return cache


@rule(
    "approval.stale",
    "warning",
    "An approval no longer matches the item's content: the item, its files or something upstream changed since (error for validated or released models).",
    "Review the change and approve again (`mle3 approve ITEM --role ROLE`), or restore the approved content.",
)
def stale(ctx: Context) -> Iterator[Hit]:
    shared = _shared(ctx)
    items = {a.item for a in shared.all}
    for key in sorted(items):
        item = ctx.ws.by_key.get(key)
        if item is None:
            continue
        current = shared.fingerprints.of(key)
        for a in latest_decisions(shared.all, key):
            if a.decision == "approved" and a.fingerprint != current:
                severity = "error" if getattr(item, "status", None) in _RELEASED else None
                yield Hit(
                    item,
                    f"approval by {a.name} as {a.role} ({a.time}) is stale: the item, its files or what it rests on changed since "
                    f"(approved {a.fingerprint[:23]}..., now {current[:23]}...); see what changed with `git log --since {a.time}` "
                    f"on the files `mle3 trace {key} --up` lists, then approve again: mle3 approve {key} --role {a.role}",
                    (),
                    severity,
                )


@rule(
    "approval.missing",
    "error",
    "A validated or released model version lacks a fresh approval for a role the policy requires for its status.",
    "Approve it in that role, or move it back (`mle3 promote ID --to draft`).",
)
def missing(ctx: Context) -> Iterator[Hit]:
    shared = _shared(ctx)
    for model in ctx.ws.of_kind("model_version"):
        roles = ctx.ws.config.policy.approvals.get(model.status, []) if model.status in _RELEASED else []
        if not roles:
            continue
        key = ctx.key(model)
        for st in role_status(shared.all, key, shared.fingerprints.of(key), roles):
            if not st.ok:
                yield Hit(model, f"{model.status} model has no fresh approval by role {st.role}", ("status",))


@rule(
    "approval.signature",
    "error",
    "An approval's signature is missing where mle3.yaml requires signatures, does not verify, or its signer is not allowed for the role or at that time.",
    "Sign approvals (`mle3 approve ... --sign`), add the signer's key and roles to allowed_signers, or have an allowed signer approve again.",
)
def signatures(ctx: Context) -> Iterator[Hit]:
    shared = _shared(ctx)
    required = ctx.ws.config.policy.require_signatures
    for a in shared.verified:
        if a.invalid:
            continue  # reported by approval.audit-log
        if a.signed and not a.verified:
            yield Hit(_LogFile(a.file, a.line), f"approval of {a.item} by {a.name} as {a.role}: {a.signature_problem}")
        elif not a.signed and required:
            yield Hit(
                _LogFile(a.file, a.line),
                f"approval of {a.item} by {a.name} as {a.role} is not signed; mle3.yaml requires signatures (it does not count)",
            )


@rule(
    "approval.conflict",
    "error",
    "The same content was approved on one branch and rejected on another in the same role (concurrent decisions in the merged audit log) and nobody has decided since.",
    "Decide again after the merge: `mle3 approve ITEM --role ROLE` or `--reject`; the new decision settles the conflict.",
)
def conflict(ctx: Context) -> Iterator[Hit]:
    shared = _shared(ctx)
    for c in conflicts(shared.all, shared.log):
        item = ctx.ws.by_key.get(c.item)
        yield Hit(item if item is not None else _LogFile(c.rejected.file, c.rejected.line), c.message)


@rule(
    "approval.duties",
    "error",
    "Separation of duties is broken in the merged audit log: one person holds fresh approvals in two roles for one item (one_role_per_person), "
    "or the person who ran a released model's training approved its release (trainer_may_approve_release: false).",
    "Withdraw one of the approvals (`mle3 approve ITEM --role ROLE --reject`) and have another person approve in that role.",
)
def duties(ctx: Context) -> Iterator[Hit]:
    shared = _shared(ctx)
    for key in sorted({a.item for a in shared.all}):
        item = ctx.ws.by_key.get(key)
        if item is None or ctx.key(item) != key:
            continue
        fresh = fresh_approvals(shared.all, key, shared.fingerprints.of(key))
        releasing = getattr(item, "status", None) == "released"
        trainer = trainer_of(ctx.ws, item, shared.log) if releasing else None
        for v in violations(ctx.ws, item, key, fresh, trainer, releasing=releasing):
            yield Hit(item, v.message)


@rule(
    "approval.audit-log",
    "error",
    "The audit log was edited, or an entry that later entries follow was removed (an entry names a parent that is not in the log), "
    "an entry is dated before its parent, is a symbolic link, cannot be parsed (too large, nested too deeply), or an approval has a field of the wrong type.",
    "Restore the named files under artifacts/audit/ (or artifacts/audit.jsonl) from version control; never edit the log by hand.",
)
def audit_log(ctx: Context) -> Iterator[Hit]:
    watch_audit_log(ctx)
    shared = _shared(ctx)
    for p in shared.log.problems:
        yield Hit(_LogFile(p.file, p.line), p.message)
    for a in shared.verified:
        if a.invalid and (a.file, a.line) not in shared.counted.problems:
            yield Hit(_LogFile(a.file, a.line), f"approval entry is malformed: {a.invalid} (it does not count)")


def watch_audit_log(ctx: Context) -> None:
    """Record the log's files for the result cache: a new entry changes its shard folder."""
    layout = ctx.ws.layout
    ctx.exists(layout.audit_legacy)
    if ctx.exists(layout.audit_dir):
        for shard in sorted(os.listdir(ctx.ws.root / layout.audit_dir)):
            ctx.exists(f"{layout.audit_dir}/{shard}")


class _LogFile:
    """A pseudo item so that audit log findings point at the log's own line."""

    kind = "audit_log"

    def __init__(self, file: str, line: int) -> None:
        self._file, self._line = file, line
        self.id = "audit-log"
