"""``mle3 dataset``: register data sets where they live and verify them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from ..errors import Mle3Error
from .app import WorkspaceOpt, app, _workspace_root
from .options import ExitCode, FormatOpt, ok_if
from .shapes import BOOL, INT, OBJ, STR, STRS, declare, nullable

DATASET_REGISTER = declare(
    "mle3.dataset-register/1",
    "`mle3 dataset register --format json`: the version recorded with its statistics.",
    {
        "ok": BOOL,
        "key": STR,
        "item_file": STR,
        "manifest_file": STR,
        "fingerprint": STR,
        "files": INT,
        "bytes": INT,
        "splits": OBJ,
        "label_quality": OBJ,
        "leakage": OBJ,
        "data_root": nullable(STR),
        "manifest_bytes": INT,
        "manifest_beside_data": BOOL,
        "metadata": nullable(OBJ),
        "characteristics": nullable(OBJ),
    },
)
DATASET_VERIFY = declare(
    "mle3.dataset-verify/2",
    "`mle3 dataset verify --format json`: files added, removed or changed.",
    {
        "ok": BOOL,
        "key": STR,
        "files": INT,
        "added": STRS,
        "removed": STRS,
        "changed": STRS,
        "hashed": INT,
        "fingerprint_ok": BOOL,
        "location": STR,
        "manifest_found": BOOL,
    },
)
DATASET_RETIRE = declare(
    "mle3.dataset-retire/1",
    "`mle3 dataset retire --format json`: the version taken out of use.",
    {"dataset": STR, "status": {"enum": ["rejected", "obsolete"]}, "reason": STR, "file": STR},
)


# ----------------------------------------------------------------- data sets
dataset_app = typer.Typer(help="Register training data sets and verify them against disk.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("register")
def dataset_register(
    data_yaml: Annotated[
        Optional[str],
        typer.Argument(
            help="ultralytics data.yaml of a YOLO-format data set in the workspace or below a data root (a path, or "
            "a URL such as s3://bucket/x/data.yaml)."
        ),
    ] = None,
    id: Annotated[str, typer.Option("--id", help="Data set id, e.g. MLE-DATA-001.")] = "",
    version: Annotated[
        str, typer.Option("--version", help="Version, e.g. v1.3 (a registered version never changes).")
    ] = "",
    requirement: Annotated[
        Optional[list[str]], typer.Option("--requirement", "-r", help="Requirement it satisfies (repeatable).")
    ] = None,
    title: Annotated[Optional[str], typer.Option(help="Title of the data set version.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Where the data comes from.")] = None,
    coco: Annotated[
        Optional[list[str]],
        typer.Option(
            "--coco",
            help="COCO input instead of a data.yaml: SPLIT=ANNOTATIONS.json:IMAGE_FOLDER "
            "(repeat for train, val, test).",
        ),
    ] = None,
    coco_out: Annotated[
        Optional[Path],
        typer.Option(
            help="Where the converted YOLO data set is written (default: 'yolo' beside the train annotations' folder)."
        ),
    ] = None,
    metadata: Annotated[
        Optional[str],
        typer.Option(
            "--metadata",
            help="Per-image metadata table (CSV, Parquet or JSON Lines) in the data set folder, keyed by the image's "
            "path below it (column 'image'); default: the data.yaml's 'metadata:'.",
        ),
    ] = None,
    odd: Annotated[
        Optional[str],
        typer.Option(
            "--odd", help="The ODD whose characteristics the metadata gives (default: the workspace's only one)."
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Register a YOLO (or COCO) data set: manifest, fingerprint, statistics, label quality, leakage, and its data
    characteristics (from a metadata table and derived from the data)."""
    from dataclasses import asdict

    from ..datasets import register
    from ..output import emit_json

    if not id or not version:
        raise Mle3Error("--id and --version are required", field="--id" if not id else "--version")
    if (data_yaml is None) == (not coco):
        raise Mle3Error("give a data.yaml or --coco SPLIT=ANNOTATIONS.json:IMAGE_FOLDER, not both or neither")
    root = _workspace_root(workspace)
    conversion, problems = None, None
    if coco:
        from ..datasets.coco import convert, parse_spec
        from ..datasets.register import refuse_existing
        from ..datasets.roots import recorded_path
        from ..workspace.config import load_config

        refuse_existing(root, id, version)
        specs = [parse_spec(text) for text in coco]
        train = next((s for s in specs if s.split == "train"), specs[0])
        converted = convert(
            specs,
            coco_out or train.annotations.resolve().parent.parent / "yolo",
            recorded_path(root, load_config(root)),
        )
        data_yaml, conversion, problems = str(converted.data_yaml), converted.record, converted.problems
    assert data_yaml is not None  # given exactly when --coco is not, or made from the COCO files
    reg = register(
        root,
        data_yaml,
        id,
        version,
        requirement or [],
        title=title,
        source=source,
        show_progress=format == "text" and sys.stderr.isatty(),
        conversion=conversion,
        conversion_problems=problems,
        metadata=metadata,
        odd=odd,
    )
    if format == "json":
        emit_json({"schema": DATASET_REGISTER, "ok": reg.ok, **asdict(reg)})
    else:
        typer.echo(f"registered {reg.key}: {reg.files} files, {reg.bytes / 1e6:.1f} MB, fingerprint {reg.fingerprint}")
        for split, info in reg.splits.items():
            inst = ", ".join(f"{k} {v}" for k, v in (info.get("instances") or {}).items())
            typer.echo(f"  {split:<5} {info.get('samples', 0):>7} images ({info.get('ratio', 0):.0%})  {inst}")
        q = reg.label_quality
        typer.echo(
            f"  label quality: {q['errors']} errors, {q['warnings']} warnings"
            + (f" ({', '.join(f'{k} {v}' for k, v in q['by_kind'].items())})" if q["by_kind"] else "")
        )
        for f in q["findings"][:10]:
            typer.echo(f"    {f['file']}{':' + str(f['line']) if f['line'] else ''}: {f['severity']}: {f['message']}")
        leak = reg.leakage
        typer.echo(
            f"  leakage: {leak['shared_images']} images in more than one split"
            + (f", e.g. {leak['examples'][0]}" if leak["examples"] else "")
        )
        for a, b, folder in leak.get("shared_folders") or []:
            typer.echo(
                f"  leakage: splits {a} and {b} are the same folder {folder!r}: {b} registers no image of its own, and "
                f"a model would be validated on its training images; give {b} its own folder and register again"
            )
        _echo_characteristics(reg)
        typer.echo(
            f"  wrote {reg.item_file} and the manifest {reg.manifest_file} "
            f"({reg.manifest_bytes / max(reg.files, 1):.0f} bytes per file, outside git)"
        )
    return ok_if(reg.ok)


def _echo_characteristics(reg: Any) -> None:
    """The metadata table's findings and the share of each characteristic value per split."""
    from ..workspace.characteristics import CharacteristicsRecord

    table = reg.metadata
    if table:
        typer.echo(
            f"  metadata {table['file']}: {table['rows']} rows, {table['errors']} errors, {table['warnings']} warnings"
            + (f" ({', '.join(f'{k} {v}' for k, v in table['by_kind'].items())})" if table["by_kind"] else "")
        )
        for f in table["findings"][:10]:
            where = f"{f['file']}{':' + str(f['line']) if f['line'] else ''}"
            column = f" [{f['column']}]" if f.get("column") else ""
            typer.echo(f"    {where}: {f['severity']}: {f['message']}{column}")
    if not reg.characteristics:
        return
    record = CharacteristicsRecord.model_validate(reg.characteristics)
    for name in record.names:
        parts = []
        for split in record.splits:
            dist = record.distribution(split, name) or {}
            total = sum(dist.values()) or 1
            shown = ", ".join(f"{v} {n / total:.0%}" for v, n in sorted(dist.items(), key=lambda kv: -kv[1])[:6])
            parts.append(f"{split}: {shown}")
        typer.echo(f"  {name}: " + "; ".join(parts))
    for name, shared in reg.leakage.get("shared_groups", {}).items():
        if shared["count"]:
            typer.echo(
                f"  leakage: {shared['count']} {name} values in more than one split, e.g. {shared['examples'][0]}"
            )


@dataset_app.command("verify")
def dataset_verify(
    item: Annotated[str, typer.Argument(help="Data set id (bare id: latest version).")],
    deep: Annotated[
        bool, typer.Option("--deep", help="Re-hash every file (default: only files whose size, mtime or ETag moved).")
    ] = False,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Report files added, removed or changed since the data set was registered."""
    from dataclasses import asdict

    from ..datasets import verify
    from ..output import emit_json
    from ..workspace import load_workspace

    ws = load_workspace(workspace)
    ds = ws.get(item)
    if ds.kind != "dataset":
        raise Mle3Error(f"{item} is a {ds.kind}, not a data set")
    v = verify(ws.root, ds, config=ws.config, deep=deep)
    if format == "json":
        emit_json({"schema": DATASET_VERIFY, "ok": v.ok, **asdict(v)})
    else:
        if v.ok:
            typer.echo(f"{v.key}: all {v.files} files match the manifest ({v.hashed} re-hashed, {v.location})")
        elif not v.manifest_found:
            typer.echo(
                f"{v.key}: the data in {v.location} does not match the fingerprint, and no manifest is reachable "
                "here to name the files"
            )
        else:
            typer.echo(
                f"{v.key}: {len(v.changed)} changed, {len(v.added)} added, {len(v.removed)} removed"
                + ("" if v.fingerprint_ok else "; the manifest does not match the recorded fingerprint")
            )
            for label, paths in (("changed", v.changed), ("added", v.added), ("removed", v.removed)):
                for path in paths[:20]:
                    typer.echo(f"  {label:<8} {path}")
    return ok_if(v.ok)


@dataset_app.command("retire")
def dataset_retire(
    version: Annotated[str, typer.Argument(help="Data set version, e.g. MLE-DATA-001-v1.3.")],
    status: Annotated[
        Literal["rejected", "obsolete"],
        typer.Option("--status", help="rejected (found unfit) or obsolete (superseded)."),
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why it is taken out of use (recorded, shown to assessors).")],
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Take a data set version out of use: the record stays, a bare id skips it, check reports what still uses it."""
    from ..datasets.retire import retire
    from ..output import emit_json

    done = retire(_workspace_root(workspace), version, status, reason)
    if format == "json":
        emit_json({"schema": DATASET_RETIRE, **done})
    else:
        typer.echo(
            f"{done['dataset']}: {done['status']} ({done['reason']}); recorded in {done['file']} and the audit log"
        )
    return ExitCode.OK
