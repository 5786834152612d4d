"""``mle3 verify BUNDLE``: check a release bundle anywhere, without the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app
from .options import ExitCode, FormatOpt
from .shapes import BOOL, STR, arr, declare, nullable, obj

VERIFY = declare(
    "mle3.verify/1",
    "`mle3 verify BUNDLE --format json`: every check made on a release bundle (area, subject, ok, detail), the "
    "model, the release key's id, whether it was pinned with --key, and which model files were checked.",
    {
        "bundle": STR,
        "model": nullable(STR),
        "ok": BOOL,
        "key_id": nullable(STR),
        "pinned": BOOL,
        "weights": {"enum": ["bundled", "delivered", "digests only"]},
        "checks": arr(obj({"area": STR, "subject": STR, "ok": BOOL, "detail": STR})),
    },
)


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="The folder `mle3 report release` wrote.")],
    key: Annotated[
        Optional[Path],
        typer.Option("--key", help="The release public key (PEM) your supplier published: pins the signer."),
    ] = None,
    weights: Annotated[
        Optional[Path],
        typer.Option("--weights", help="The model files delivered apart (laid out as the bundle's model/ folder)."),
    ] = None,
    format: FormatOpt = "text",
) -> int:
    """Verify a release bundle: digests, model signature, attestations, approvals, the release gate.

    Exit 0: everything verified; 1: a check failed (each is named); 2: not a bundle, or --key unusable.
    """
    from ..bundle.verify import verify_bundle
    from ..output import emit_json

    result = verify_bundle(bundle, public_key=key, weights_dir=weights)
    if format == "json":
        emit_json(
            {
                "schema": VERIFY,
                "bundle": result.bundle,
                "model": result.model,
                "ok": result.ok,
                "key_id": result.key_id,
                "pinned": result.pinned,
                "weights": result.weights,
                "checks": [c.to_json() for c in result.checks],
            }
        )
    else:
        for c in result.checks:
            typer.echo(f"{'ok  ' if c.ok else 'FAIL'} {c.line()}")
        failed = result.failures()
        typer.echo(
            f"{result.bundle}: {result.model or '?'}: "
            + (
                f"verified ({len(result.checks)} checks)"
                + ("" if result.pinned else "; the release key was not pinned (--key)")
                + (
                    "; the model files are not in the bundle: their signed digests were checked, not the files "
                    "(--weights DIR checks a delivered copy)"
                    if result.weights == "digests only"
                    else ""
                )
                if not failed
                else f"NOT verified: {len(failed)} of {len(result.checks)} checks failed"
            )
        )
    return ExitCode.OK if result.ok else ExitCode.FINDINGS
