"""Document id, revision and change history of a work product, from facts, not counters.

- id: ``<PROJECT>-<WP>-<ITEM KEY>`` (e.g. ``DEMO-13-65-MODEL-v1``): what an assessor cites;
  the same for every rendering of the same item, no dates in it.
- revision: the number of commits that changed the item's source file (``git log --follow``),
  with the current content's short fingerprint: ``rev 3 (a1b2c3d4)``; a file with changes
  not yet committed reads ``rev 3+ (uncommitted)``.
- history: one row per commit (newest first) and the audit log's decisions about the item.

One ``git log`` and one ``git status`` per document. Git is run with the repository's
hooks and helpers that could execute something switched off (fsmonitor, external diff).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..vocab import AuditAction

#: git run so that nothing a repository configures executes (core.fsmonitor, diff.external, textconv)
_GIT = ("git", "-c", "core.fsmonitor=", "-c", "diff.external=", "-c", "core.quotepath=off")
_SEP = "\x1f"
#: audit actions that are decisions about an item (who decided what, when)
DECISIONS = {
    "approval": "approval",
    AuditAction.PROMOTE: "promotion",
    AuditAction.DATASET_REGISTER: "registration",
    AuditAction.DATASET_RETIRE: "retirement",
    AuditAction.TUNE_ACCEPT: "tuning accepted",
}
#: rows the history table shows (the revision counts every commit)
HISTORY_ROWS = 50


@dataclass
class Revision:
    #: commits that changed the file; None: no git history can be read (see ``reason``)
    number: int | None
    fingerprint: str
    uncommitted: bool = False
    reason: str | None = None
    commits: list[dict[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        short = short_fingerprint(self.fingerprint)
        if self.number is None:
            return f"unversioned ({short})"
        if self.uncommitted:
            return f"rev {self.number}+ (uncommitted)" if self.number else "rev 0 (never committed)"
        return f"rev {self.number} ({short})"


def short_fingerprint(fp: str) -> str:
    return str(fp or "").rpartition(":")[2][:8] or "-"


def document_id(project: str, wp_id: str, key: str) -> str:
    """``<PROJECT>-<WP>-<KEY>``: the project as an upper-case slug (letters, digits, ``_``)."""
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", str(project or "")).strip("_").upper() or "MLE3"
    return f"{slug}-{wp_id}-{key}"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_GIT, "-C", str(root), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
        check=False,
    )


def revision_of(root: Path, rel: str | None, fingerprint: str) -> Revision:
    """The revision of the file ``rel`` (relative to the workspace ``root``)."""
    if not rel:
        return Revision(None, fingerprint, reason="the item has no source file")
    path = root / rel
    try:
        log = _git(
            root,
            "log",
            "--follow",
            "--no-show-signature",
            f"--format=%H{_SEP}%cI{_SEP}%an{_SEP}%s",
            "--",
            str(path),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Revision(None, fingerprint, reason=f"git could not be run ({type(exc).__name__})")
    if log.returncode != 0:
        first = (log.stderr.strip().splitlines() or ["git failed"])[0]
        if "not a git repository" in first:
            return Revision(None, fingerprint, reason="not a git repository")
        if "outside repository" in first:
            return Revision(None, fingerprint, reason=f"{rel} lies outside the git repository")
        if "does not have any commits" in first:
            return Revision(0, fingerprint, uncommitted=True, reason="the repository has no commit yet")
        return Revision(None, fingerprint, reason=first[:160])
    commits = []
    for line in log.stdout.splitlines():
        parts = line.split(_SEP, 3)
        if len(parts) != 4:
            continue
        sha, when, author, message = parts
        try:
            date = dt.datetime.fromisoformat(when).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            date = when
        commits.append({"commit": sha[:10], "date": date, "author": author, "message": message})
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", str(path))
    uncommitted = status.returncode != 0 or bool(status.stdout.strip()) or not commits
    for number, c in enumerate(commits):
        c["revision"] = str(len(commits) - number)
    return Revision(len(commits), fingerprint, uncommitted=uncommitted, commits=commits)


def _decision_text(entry: dict[str, Any], fingerprint: str) -> str:
    raw = entry.get("details")
    details: dict[str, Any] = raw if isinstance(raw, dict) else {}
    action = str(entry.get("action"))
    if action == "approval":
        fp = str(details.get("fingerprint") or "")
        which = "this content" if fp and fp == fingerprint else f"content {short_fingerprint(fp)}"
        text = f"{details.get('decision', 'approved')} as {details.get('role', '?')} ({which})"
        if details.get("deviation"):
            text += f"; deviation {details['deviation']} accepted"
        if details.get("comment"):
            text += f": {details['comment']}"
        return text
    if action == AuditAction.PROMOTE:
        return f"status {details.get('from', '?')} → {details.get('to', '?')}" + (
            f", version {details['version']}" if details.get("version") else ""
        )
    if action == AuditAction.DATASET_RETIRE:
        return f"retired ({details.get('status', '')}): {details.get('reason', '')}".strip()
    return DECISIONS.get(action, action)


def decisions(entries: list[dict[str, Any]], fingerprint: str) -> list[dict[str, str]]:
    """The audit log's decisions in ``entries`` (those of one item), oldest first."""
    out = []
    for e in entries:
        action = str(e.get("action"))
        if action not in DECISIONS:
            continue
        raw = e.get("details")
        details: dict[str, Any] = raw if isinstance(raw, dict) else {}
        out.append(
            {
                "time": str(e.get("time") or "").replace("T", " ").removesuffix("+00:00"),
                "who": str(details.get("name") or e.get("actor") or ""),
                "what": DECISIONS[action],
                "text": _decision_text(e, fingerprint),
            }
        )
    return sorted(out, key=lambda d: d["time"])
