"""``mle3 baseline``: record a baseline of the workspace, or list the baselines recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import WorkspaceOpt, app, _load, _workspace_root
from .options import ExitCode, FormatOpt
from .shapes import BOOL, INT, STR, arr, declare, nullable, obj

_BASELINE = obj(
    {
        "name": STR,
        "commit": STR,
        "tag": STR,
        "time": STR,
        "actor": STR,
        "message": nullable(STR),
        "items": INT,
        "fingerprint_version": nullable(INT),
        "release": nullable(
            obj({"dir": STR, "model": nullable(STR), "manifest_sha256": STR, "files": {"type": "object"}})
        ),
        "entry": STR,
        "file": STR,
        "ok": BOOL,
        "problem": nullable(STR),
    }
)
BASELINE = declare(
    "mle3.baseline/1",
    "`mle3 baseline NAME --format json`: the baseline recorded (commit, tag, number of approved items fingerprinted, "
    "release digests).",
    {"baseline": _BASELINE},
)
BASELINES = declare(
    "mle3.baselines/1",
    "`mle3 baseline --list --format json`: every baseline in the audit log, oldest first; `check` compares with the "
    "newest that is `ok`.",
    {"baselines": arr(_BASELINE)},
)


@app.command()
def baseline(
    name: Annotated[
        Optional[str],
        typer.Argument(help="Name of the baseline (an id: letters, digits, '.', '_', '-'); tag baseline/NAME."),
    ] = None,
    message: Annotated[Optional[str], typer.Option("--message", "-m", help="What the baseline is for.")] = None,
    release_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--release-dir",
            file_okay=False,
            help="A package of `mle3 report release` (release.json, MANIFEST.sha256): record each file's sha256.",
        ),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the baselines recorded (oldest first).")] = False,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Record a baseline: the clean git commit, the fingerprints of every approved item, a git tag baseline/NAME, in
    the audit log; `check` compares the workspace with the newest."""
    from ..errors import Mle3Error
    from ..ledger import baseline as baselines
    from ..output import emit_json

    if list_:
        if name is not None or message is not None or release_dir is not None:
            raise Mle3Error("--list takes no NAME, --message or --release-dir")
        from .. import audit

        found = baselines.recorded(audit.read(_workspace_root(workspace)))
        if format == "json":
            emit_json({"schema": BASELINES, "baselines": [b.to_json() for b in found]})
        elif not found:
            typer.echo("no baseline recorded (mle3 baseline NAME records one)")
        else:
            for b in found:
                state = "" if b.usable else f"  NOT USABLE: {b.to_json()['problem']}"
                release = f", release {b.release.get('model') or b.release.get('dir')}" if b.release else ""
                typer.echo(
                    f"{b.name}  {b.time}  commit {b.commit[:12]}  {len(b.items)} approved items{release}  "
                    f"by {b.actor}{'  ' + b.message if b.message else ''}{state}"
                )
        return ExitCode.OK
    if name is None:
        raise Mle3Error("mle3 baseline needs a NAME (or --list)")
    ws, graph = _load(workspace)
    b = baselines.record(ws, graph, name, message, release_dir)
    if format == "json":
        emit_json({"schema": BASELINE, "baseline": b.to_json()})
    else:
        release = f", {len(b.release['files'])} release files" if b.release else ""
        typer.echo(
            f"baseline {b.name}: commit {b.commit[:12]}, {len(b.items)} approved items{release}; tag {b.tag}; "
            f"audit entry {b.entry[:12]} (commit {ws.layout.audit_dir}/ to share it)"
        )
    return ExitCode.OK
