"""doctor, demo and ``mle3 augment preview``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import Mle3Error
from .app import app, WorkspaceOpt, _load
from .options import ExitCode, FormatOpt, ok_if
from .shapes import BOOL, INT, OBJ, STR, arr, declare, nullable, obj

_CHECK = obj(
    {
        "name": STR,
        "status": {"enum": ["ok", "missing", "warning", "info"]},
        "detail": STR,
        "fix": nullable(STR),
        "needed": BOOL,
    }
)
DOCTOR = declare(
    "mle3.doctor/1",
    "`mle3 doctor --format json`: what this machine has for mle3, each with its fix.",
    {"ok": BOOL, "checks": arr(_CHECK)},
)
AUGMENT_PREVIEW = declare(
    "mle3.augment-preview/1",
    "`mle3 augment preview --format json`: the contact sheet written.",
    {"file": STR, "seed": INT, "transforms": arr(OBJ), "tiles": arr({})},
)


@app.command()
def doctor(workspace: WorkspaceOpt = None, format: FormatOpt = "text") -> int:
    """What this machine has for mle3 (Python, torch and GPUs, ONNX Runtime, ModelOpt, PDF, git, ...), each with its
    fix."""
    from ..doctor import healthy, run_all
    from ..output import emit_json
    from ..workspace import find_root

    try:
        root = find_root(workspace)
    except Mle3Error:
        root = None
    checks = run_all(root)
    if format == "json":
        emit_json({"schema": DOCTOR, "ok": healthy(checks), "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            mark = {"ok": "ok", "missing": "MISSING", "warning": "warning", "info": "-"}[c.status]
            typer.echo(
                f"{mark:<8} {c.name:<24} {c.detail}" + (f"\n{'':<33}fix: {c.fix}" if c.fix and c.status != "ok" else "")
            )
        typer.echo(
            "OK: everything mle3 needs is here"
            if healthy(checks)
            else "FAILED: something needed is missing (see MISSING above)"
        )
    return ok_if(healthy(checks))


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Directory for the demo workspace (must not exist).")] = Path(
        "mle3-demo"
    ),
    epochs: Annotated[
        int, typer.Option(min=1, help="Training epochs (the default takes about 2.5 minutes on 2 CPU cores).")
    ] = 20,
    images: Annotated[
        int, typer.Option(min=20, help="Training images to generate (val and test get a fifth each).")
    ] = 400,
    imgsz: Annotated[int, typer.Option(min=64, help="Image size.")] = 160,
    qat: Annotated[
        bool, typer.Option("--qat/--no-qat", help="Also run 1 epoch of quantization-aware training (about 45 s).")
    ] = True,
) -> int:
    """Create a demo workspace; generate, register and train; quantize; check; render the work products."""
    from ..demo import run_demo

    return run_demo(directory, epochs=epochs, train_images=images, imgsz=imgsz, qat=qat, echo=typer.echo)


augment_app = typer.Typer(
    help="See what the augmentation of a training configuration does to its images.", no_args_is_help=True
)
app.add_typer(augment_app, name="augment")


@augment_app.command("preview")
def augment_preview(
    config: Annotated[str, typer.Argument(help="Training configuration id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path("preview.png"),
    n: Annotated[int, typer.Option("--n", min=1, max=64, help="Number of tiles.")] = 16,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same sheet.")] = 0,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """A contact sheet of augmented training images, boxes drawn, each tile's transforms named."""
    from .._atomic import atomic_write_bytes
    from ..optional import require
    from ..output import emit_json
    from ..recipe.preview import render

    require("albumentations", "PIL", "numpy")
    ws, _ = _load(workspace)
    cfg = ws.get(config)
    if cfg.kind != "training":
        raise Mle3Error(f"{config} is a {cfg.kind}, not a training configuration")
    sheet = render(ws, cfg, n=n, seed=seed)
    atomic_write_bytes(output, sheet.png)
    if format == "json":
        emit_json(
            {
                "schema": AUGMENT_PREVIEW,
                "file": str(output),
                "seed": seed,
                "transforms": [p.describe() for p in sheet.planned],
                "tiles": sheet.tiles,
            }
        )
    else:
        typer.echo(
            f"{output}: {len(sheet.tiles)} tiles, seed {seed}; transforms: "
            f"{', '.join(p.transform for p in sheet.planned) or 'none'}"
        )
    return ExitCode.OK
