"""The ``mle3`` command line. Each command parses arguments, calls one function, prints.

Exit codes (all commands): 0 ok; 1 findings or errors in the workspace (or warnings with
``--strict``); 2 usage error, unreadable input or no workspace; 130 interrupted.
Heavy libraries (torch, ultralytics, weasyprint) are imported inside the commands that
need them, so ``check``/``trace``/``report``/``approve`` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Optional

import typer

from . import __version__
from .errors import Mle3Error

app = typer.Typer(
    name="mle3",
    help="Auditable ML training under Automotive SPICE MLE.3: traceability checks, recorded training, work products, approvals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

WorkspaceOpt = Annotated[Optional[Path], typer.Option("--workspace", "-w", help="Workspace directory (default: found from the current directory upwards).", file_okay=False)]


FORMAT = typer.Option("--format", "-f", help="Output format.")


def _load(workspace: Path | None):
    from .graph import build_graph
    from .workspace import load_workspace

    ws = load_workspace(workspace)
    return ws, build_graph(ws)


def _write_or_print(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from ._atomic import atomic_write_text

    atomic_write_text(output, text)
    typer.echo(f"wrote {output}", err=True)


def _with_progress(json_output: bool, work: Callable[[Callable[[str], None]], Any]) -> Any:
    """Run long work that prints progress. With JSON output stdout carries only the JSON
    document, so progress lines and library output go to stderr instead."""
    if not json_output:
        return work(typer.echo)
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):
        return work(lambda line: typer.echo(line, err=True))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mle3 {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False) -> None:
    """Auditable ML training under Automotive SPICE MLE.3."""


# --------------------------------------------------------------------------- workspace
@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the workspace in.")] = Path("."),
    project: Annotated[Optional[str], typer.Option(help="Project name (default: directory name).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing mle3.yaml and examples.")] = False,
    lfs: Annotated[Optional[bool], typer.Option("--lfs/--no-lfs", help="Track *.pt, *.onnx, *.engine with git LFS (default: when git lfs is installed).")] = None,
) -> int:
    """Create a workspace skeleton with commented examples that pass `mle3 check` (and git LFS
    patterns for weights when git lfs is installed)."""
    from . import lfs as git_lfs
    from .scaffold import init_workspace

    written = init_workspace(directory, project, force=force, lfs=lfs)
    if lfs is None and not git_lfs.available():
        typer.echo("note: git lfs is not installed; weights (*.pt, *.onnx, *.engine) are not set up for LFS (install git-lfs, then mle3 init --force --lfs)")
    typer.echo(f"created workspace in {directory.resolve()} ({len(written)} files); next: cd {directory} && mle3 check")
    return 0


@app.command()
def check(
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json", "sarif", "junit"], FORMAT] = "text",
    strict: Annotated[bool, typer.Option(help="Warnings fail the check too (exit 1).")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Parse every file again instead of using .mle3/ cache.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to a file.")] = None,
) -> int:
    """Find broken or missing traceability, stale approvals and unmet criteria."""
    from .rules import check_workspace

    report = check_workspace(workspace, use_cache=not no_cache)
    if format == "json":
        import json

        _write_or_print(json.dumps(report.to_json(strict), indent=2), output)
    elif format in ("sarif", "junit"):
        from .interop import render

        _write_or_print(render(report, format, strict), output)
    else:
        from .output import findings_text, plural

        summary = (
            f"{'FAILED' if not report.ok(strict) else 'OK'}: {plural(report.errors, 'error')}, "
            f"{plural(report.warnings, 'warning')}, {plural(report.counts.get('info', 0), 'info')} "
            f"in {plural(report.items, 'item')} ({plural(report.files, 'file')})"
            + (f"; {report.ignored} ignored by mle3.yaml" if report.ignored else "")
        )
        _write_or_print(findings_text(report.findings, summary), output)
    return 0 if report.ok(strict) else 1


@app.command()
def trace(
    item: Annotated[str, typer.Argument(help="Item id (a bare data set id means its latest version).")],
    up: Annotated[bool, typer.Option("--up", help="Only upstream (what it rests on).")] = False,
    down: Annotated[bool, typer.Option("--down", help="Only downstream (what rests on it).")] = False,
    depth: Annotated[Optional[int], typer.Option(min=1, help="Levels to follow (default: all).")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Show an item's upstream and downstream traceability tree."""
    from .output import emit_json
    from .trace import render_tree_text, trace as trace_item

    ws, graph = _load(workspace)
    both = up == down
    result = trace_item(ws, graph, item, up=up or both, down=down or both, depth=depth)
    if format == "json":
        emit_json(result)
    else:
        typer.echo(render_tree_text(result))
    return 0


@app.command()
def impact(
    item: Annotated[str, typer.Argument(help="Item id whose change is assessed.")],
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """List everything that must be re-validated if ITEM changes."""
    from .output import emit_json
    from .trace import impact as impact_of, render_impact_text

    ws, graph = _load(workspace)
    result = impact_of(ws, graph, item)
    if format == "json":
        emit_json(result)
    else:
        typer.echo(render_impact_text(result))
    return 0


@app.command()
def matrix(
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["md", "csv", "json", "html"], FORMAT] = "md",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> int:
    """Traceability matrix: requirements against data sets, configurations, model versions."""
    from .matrix import build_matrix, render_matrix

    ws, graph = _load(workspace)
    rows = build_matrix(ws, graph)
    _write_or_print(render_matrix(rows, format, ws.config.project), output)
    return 0


@app.command()
def rules(format: Annotated[Literal["text", "json"], FORMAT] = "text") -> int:
    """List every rule: id, default severity, what it checks, how to fix."""
    from .output import emit_json
    from .rules import RULES

    table = sorted(RULES.values(), key=lambda r: r.id)
    if format == "json":
        emit_json({"schema": "mle3.rules/1", "rules": [{"id": r.id, "family": r.family, "severity": r.severity, "summary": r.summary, "fix": r.fix} for r in table]})
        return 0
    for r in table:
        typer.echo(f"{r.id:<32} {r.severity:<8} {r.summary}\n{'':<41} fix: {r.fix}")
    return 0


@app.command()
def schema(output: Annotated[Path, typer.Option("--output", "-o", help="Directory for <kind>.schema.json files.")] = Path("schemas")) -> int:
    """Write the JSON Schema of every item file kind (for YAML editors)."""
    from .scaffold import write_schemas

    written = write_schemas(output)
    typer.echo(f"wrote {len(written)} schemas to {output}")
    return 0


# --------------------------------------------------------------------------- data sets
dataset_app = typer.Typer(help="Register training data sets and verify them against disk.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


def _workspace_root(workspace: Path | None) -> Path:
    from .workspace import find_root

    return find_root(workspace)


@dataset_app.command("register")
def dataset_register(
    data_yaml: Annotated[Optional[str], typer.Argument(help="ultralytics data.yaml of a YOLO-format data set in the workspace or below a data root (a path, or a URL such as s3://bucket/x/data.yaml).")] = None,
    id: Annotated[str, typer.Option("--id", help="Data set id, e.g. MLE-DATA-001.")] = "",
    version: Annotated[str, typer.Option("--version", help="Version, e.g. v1.3 (a registered version never changes).")] = "",
    requirement: Annotated[Optional[list[str]], typer.Option("--requirement", "-r", help="Requirement it satisfies (repeatable).")] = None,
    title: Annotated[Optional[str], typer.Option(help="Title of the data set version.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Where the data comes from.")] = None,
    coco: Annotated[Optional[list[str]], typer.Option("--coco", help="COCO input instead of a data.yaml: SPLIT=ANNOTATIONS.json:IMAGE_FOLDER (repeat for train, val, test).")] = None,
    coco_out: Annotated[Optional[Path], typer.Option(help="Where the converted YOLO data set is written (default: 'yolo' beside the train annotations' folder).")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Register a YOLO (or COCO) data set: manifest, fingerprint, statistics, label quality, leakage."""
    from dataclasses import asdict

    from .datasets import register
    from .output import emit_json

    if not id or not version:
        raise Mle3Error("--id and --version are required", field="--id" if not id else "--version")
    if (data_yaml is None) == (not coco):
        raise Mle3Error("give a data.yaml or --coco SPLIT=ANNOTATIONS.json:IMAGE_FOLDER, not both or neither")
    root = _workspace_root(workspace)
    conversion, problems = None, None
    if coco:
        from .datasets.coco import convert, parse_spec

        specs = [parse_spec(text) for text in coco]
        train = next((s for s in specs if s.split == "train"), specs[0])
        converted = convert(specs, coco_out or train.annotations.resolve().parent.parent / "yolo")
        data_yaml, conversion, problems = str(converted.data_yaml), converted.record, converted.problems
    reg = register(root, data_yaml, id, version, requirement or [], title=title, source=source, show_progress=format == "text" and sys.stderr.isatty(),
                   conversion=conversion, conversion_problems=problems)
    if format == "json":
        emit_json({"schema": "mle3.dataset-register/1", "ok": reg.ok, **asdict(reg)})
    else:
        typer.echo(f"registered {reg.key}: {reg.files} files, {reg.bytes / 1e6:.1f} MB, fingerprint {reg.fingerprint}")
        for split, info in reg.splits.items():
            inst = ", ".join(f"{k} {v}" for k, v in (info.get("instances") or {}).items())
            typer.echo(f"  {split:<5} {info.get('samples', 0):>7} images ({info.get('ratio', 0):.0%})  {inst}")
        q = reg.label_quality
        typer.echo(f"  label quality: {q['errors']} errors, {q['warnings']} warnings" + (f" ({', '.join(f'{k} {v}' for k, v in q['by_kind'].items())})" if q["by_kind"] else ""))
        for f in q["findings"][:10]:
            typer.echo(f"    {f['file']}{':' + str(f['line']) if f['line'] else ''}: {f['severity']}: {f['message']}")
        leak = reg.leakage
        typer.echo(f"  leakage: {leak['shared_images']} images in more than one split" + (f", e.g. {leak['examples'][0]}" if leak["examples"] else ""))
        typer.echo(f"  wrote {reg.item_file} and the manifest {reg.manifest_file} ({reg.manifest_bytes / max(reg.files, 1):.0f} bytes per file, outside git)")
    return 0 if reg.ok else 1


@dataset_app.command("verify")
def dataset_verify(
    item: Annotated[str, typer.Argument(help="Data set id (bare id: latest version).")],
    deep: Annotated[bool, typer.Option("--deep", help="Re-hash every file (default: only files whose size, mtime or ETag moved).")] = False,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Report files added, removed or changed since the data set was registered."""
    from dataclasses import asdict

    from .datasets import verify
    from .output import emit_json
    from .workspace import load_workspace

    ws = load_workspace(workspace)
    ds = ws.get(item)
    if ds.kind != "dataset":
        raise Mle3Error(f"{item} is a {ds.kind}, not a data set")
    v = verify(ws.root, ds, config=ws.config, deep=deep)
    if format == "json":
        emit_json({"schema": "mle3.dataset-verify/2", "ok": v.ok, **asdict(v)})
    else:
        if v.ok:
            typer.echo(f"{v.key}: all {v.files} files match the manifest ({v.hashed} re-hashed, {v.location})")
        elif not v.manifest_found:
            typer.echo(f"{v.key}: the data in {v.location} does not match the fingerprint, and no manifest is reachable here to name the files")
        else:
            typer.echo(f"{v.key}: {len(v.changed)} changed, {len(v.added)} added, {len(v.removed)} removed" + ("" if v.fingerprint_ok else "; the manifest does not match the recorded fingerprint"))
            for label, paths in (("changed", v.changed), ("added", v.added), ("removed", v.removed)):
                for path in paths[:20]:
                    typer.echo(f"  {label:<8} {path}")
    return 0 if v.ok else 1


# --------------------------------------------------------------------------- training
@app.command()
def train(
    config: Annotated[str, typer.Argument(help="Training configuration id (or its YAML file).")],
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Override epochs (recorded as a deviation).")] = None,
    device: Annotated[Optional[str], typer.Option(help="Override the device: cpu, 0, 0,1 (recorded).")] = None,
    imgsz: Annotated[Optional[int], typer.Option(min=32, help="Override the image size (recorded).")] = None,
    batch: Annotated[Optional[int], typer.Option(min=1, help="Override the batch size (recorded).")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Train on another data.yaml (recorded).")] = None,
    allow_changed_data: Annotated[bool, typer.Option(help="Train although the data changed since registration (recorded).")] = False,
    timeout: Annotated[Optional[float], typer.Option(min=1, help="Terminate after SECONDS (status terminated).")] = None,
    max_attempts: Annotated[int, typer.Option(min=1, help="Retry a failed run up to N attempts in all.")] = 1,
    model_id: Annotated[Optional[str], typer.Option(help="Id for the model version, chosen by hand (default: <line>-<RUN-ID>, unique on every branch).")] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow", help="Mirror the run to MLflow (default store: the workspace's .mle3/mlflow).")] = False,
    mlflow_uri: Annotated[Optional[str], typer.Option("--mlflow-uri", help="MLflow tracking URI to mirror to (implies --mlflow).")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Train with ultralytics from a configuration and record the run."""
    from dataclasses import asdict

    from .output import emit_json
    from .runner import TrainOptions, train as run_training

    root = _workspace_root(workspace)
    options = TrainOptions(epochs=epochs, device=device, imgsz=imgsz, batch=batch, data=data, allow_changed_data=allow_changed_data, timeout=timeout,
                           max_attempts=max_attempts, model_id=model_id, mlflow=mlflow_uri if mlflow_uri else ("" if mlflow else None))
    result = _with_progress(format == "json", lambda echo: run_training(root, config, options, echo=echo))
    if format == "json":
        emit_json({"schema": "mle3.train/1", **asdict(result)})
    else:
        typer.echo(f"run {result.run_id}: {result.status}" + (f" ({result.error})" if result.error else "") + f"; record in {result.record}")
        if result.model_version:
            for split, values in result.metrics.items():
                typer.echo(f"  {split:<10} " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
            typer.echo(f"  model version {result.model_version} (draft) written to artifacts/models/")
    return 0 if result.status == "success" else 1


@app.command("export")
def export_model(
    model: Annotated[str, typer.Argument(help="Model version id.")],
    to: Annotated[Literal["onnx"], typer.Option("--format", "-f", help="Export format.")] = "onnx",
    workspace: WorkspaceOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON (mle3.export/1).")] = False,
) -> int:
    """Export the float model to ONNX, validate it with ONNX Runtime against PyTorch, record it."""
    from .output import emit_json
    from .runner.quantize import export

    root = _workspace_root(workspace)
    result = _with_progress(json_out, lambda echo: export(root, model, echo=echo))
    if json_out:
        emit_json({"schema": "mle3.export/1", **result})
    else:
        typer.echo(f"{result['onnx']}: val mAP50 ONNX {result['onnx_metrics']['validation'].get('mAP_50')} vs PyTorch {result['torch_val_mAP_50']} (gap {result['gap']}); recorded in {model} with sha256 {result['sha256']}")
    return 0


@app.command()
def quantize(
    model: Annotated[str, typer.Argument(help="Float model version id.")],
    method: Annotated[Literal["ptq", "qat"], typer.Option(help="ptq: post-training static INT8; qat: quantization-aware fine-tuning, then INT8.")] = "ptq",
    calibration_images: Annotated[Optional[int], typer.Option(min=1, help="Training images used for calibration (recorded as a deviation).")] = None,
    calibration_method: Annotated[Optional[Literal["minmax", "entropy", "percentile"]], typer.Option(help="Calibration method (recorded as a deviation).")] = None,
    qat_epochs: Annotated[Optional[int], typer.Option(min=1, help="QAT epochs (recorded as a deviation).")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Quantize to INT8 (PTQ or QAT), evaluate against the float model, gate the mAP50 drop."""
    from .output import emit_json
    from .runner.quantize import QuantizeOptions, quantize as run_quantization, result_json

    root = _workspace_root(workspace)
    options = QuantizeOptions(method=method, calibration_images=calibration_images, calibration_method=calibration_method, qat_epochs=qat_epochs)
    result = _with_progress(format == "json", lambda echo: run_quantization(root, model, options, echo=echo))
    if format == "json":
        emit_json(result_json(result))
    else:
        typer.echo(f"run {result.run_id}: {result.status}" + (f" ({result.error})" if result.error else ""))
        if result.table:
            typer.echo(f"  {'model':<40} {'val mAP50':>9} {'test mAP50':>10} {'size MB':>8} {'latency ms':>10}")
            for row in result.table:
                typer.echo(f"  {row['model']:<40} {row['val'].get('mAP_50', 0):>9.3f} {row['test'].get('mAP_50', 0):>10.3f} {row['bytes'] / 1e6:>8.2f} {row['latency_ms']:>10.1f}")
            gate = "PASS" if result.passed else "FAIL"
            typer.echo(f"  mAP50 drop val {result.drop.get('val', 0):+.4f}, test {result.drop.get('test', 0):+.4f}; threshold {result.threshold}: {gate}")
    return 0 if result.status == "success" and result.passed else 1


runs_app = typer.Typer(help="List and inspect recorded training runs.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option(help="Only runs with this status (stale included as 'stale').")] = None,
    config: Annotated[Optional[str], typer.Option(help="Only runs of this training configuration.")] = None,
    search: Annotated[Optional[str], typer.Option(help="Text to find in run id, configuration, data set, model or error.")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """List runs (newest first); a run left in progress by a dead process shows as stale."""
    if ctx.invoked_subcommand is not None:
        return 0
    from .output import emit_json
    from .runner.records import list_runs

    runs = list_runs(_workspace_root(workspace))
    if status:
        runs = [r for r in runs if r.get("effective_status") == status or r.get("status") == status]
    if config:
        runs = [r for r in runs if r.get("config") == config]
    if search:
        needle = search.lower()
        runs = [r for r in runs if any(needle in str(r.get(k, "")).lower() for k in ("id", "config", "dataset_version", "model_version", "error"))]
    fields = ("id", "kind", "method", "config", "status", "effective_status", "dataset_version", "model_version", "created", "ended", "duration_s", "epochs_completed", "best_epoch", "error", "file")
    if format == "json":
        emit_json({"schema": "mle3.runs/1", "runs": [{k: r.get(k) for k in fields} for r in runs]})
        return 0
    if not runs:
        typer.echo("no runs recorded")
        return 0
    for r in runs:
        shown = r.get("effective_status")
        if shown == "stale":
            shown = f"stale (was {r.get('status')}, process gone: failed)"
        kind = f"{r.get('kind', 'training')}" + (f" {r['method']}" if r.get("method") else "")
        typer.echo(f"{r['id']}  {kind:<17} {r.get('config', '?'):<16} {shown:<12} epochs {r.get('epochs_completed') or 0:<4} {r.get('dataset_version') or '-':<20} {r.get('model_version') or '-'}")
    return 0


@runs_app.command("export")
def runs_export(
    mlflow_uri: Annotated[Optional[str], typer.Option("--mlflow-uri", help="Tracking URI (default: the workspace's .mle3/mlflow).")] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow", help="Export to MLflow (the only target so far).")] = True,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Mirror recorded runs to MLflow (runs mirrored before are skipped)."""
    from .interop.mlflow import default_uri, export_runs
    from .output import emit_json

    root = _workspace_root(workspace)
    uri = mlflow_uri or default_uri(root)
    warnings: list[str] = []
    done = export_runs(root, uri, warnings.append)
    if format == "json":
        emit_json({"schema": "mle3.runs-export/1", "uri": uri, "exported": [{"run": a, "mlflow_run_id": b} for a, b in done], "warnings": warnings})
    else:
        for w in warnings:
            typer.echo(f"warning: {w}", err=True)
        typer.echo(f"mirrored {len(done)} run(s) to {uri}")
    return 0 if not warnings else 1


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Show one run record with its per-epoch metrics."""
    from .output import emit_json
    from .ids import check_id
    from .runner.records import RUNS_DIR, RunRecord, effective_status

    root = _workspace_root(workspace)
    check_id(run_id, "run id")
    if not (root / RUNS_DIR / run_id / "run.yaml").is_file():
        raise Mle3Error(f"no run {run_id!r} under {RUNS_DIR}/")
    record = RunRecord.load(root, run_id)
    data = dict(record.data)
    data["effective_status"] = effective_status(data)
    data["epochs"] = record.epochs()
    if format == "json":
        emit_json({"schema": "mle3.run/1", "run": data})
        return 0
    typer.echo(f"{data['id']}  {data['effective_status']}  config {data.get('config')} ({data.get('config_sha256', '')[:19]}...)")
    typer.echo(f"  data set {data.get('dataset_version')}  {data.get('dataset_fingerprint')}")
    code = data.get("code") or {}
    typer.echo(f"  code {code.get('commit') or '(no commit)'}{' (dirty)' if code.get('dirty') else ''}")
    env = data.get("environment") or {}
    typer.echo(f"  env python {env.get('python')} torch {env.get('torch')} ultralytics {env.get('ultralytics')} cuda {env.get('cuda')} on {', '.join(env.get('gpus') or []) or env.get('cpu')}")
    typer.echo(f"  started {data.get('started')} ended {data.get('ended')} duration {data.get('duration_s')} s, best epoch {data.get('best_epoch')}, early stop {data.get('early_stop_epoch')}")
    for dev in data.get("deviations") or []:
        typer.echo(f"  deviation {dev['field']}: {dev['configured']!r} -> {dev['used']!r} ({dev['source']})")
    if data.get("not_applied"):
        typer.echo(f"  not applied: {', '.join(data['not_applied'])}")
    for e in data["epochs"]:
        typer.echo(f"  epoch {e['epoch']:>3}  box {e.get('train_box_loss', 0):.3f} cls {e.get('train_cls_loss', 0):.3f}  P {e.get('precision', 0):.3f} R {e.get('recall', 0):.3f} mAP50 {e.get('mAP50', 0):.3f} mAP50-95 {e.get('mAP50_95', 0):.3f}")
    for split, values in (data.get("final_metrics") or {}).items():
        typer.echo(f"  final {split:<10} " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
    if data.get("error"):
        typer.echo(f"  error: {data['error']}")
    return 0


@app.command()
def doctor(workspace: WorkspaceOpt = None, format: Annotated[Literal["text", "json"], FORMAT] = "text") -> int:
    """What this machine has for mle3 (Python, torch and GPUs, ONNX Runtime, ModelOpt, PDF, git, ...), each with its fix."""
    from .doctor import SCHEMA, healthy, run_all
    from .output import emit_json
    from .workspace import find_root

    try:
        root = find_root(workspace)
    except Mle3Error:
        root = None
    checks = run_all(root)
    if format == "json":
        emit_json({"schema": SCHEMA, "ok": healthy(checks), "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            mark = {"ok": "ok", "missing": "MISSING", "warning": "warning", "info": "-"}[c.status]
            typer.echo(f"{mark:<8} {c.name:<24} {c.detail}" + (f"\n{'':<33}fix: {c.fix}" if c.fix and c.status != "ok" else ""))
        typer.echo("OK: everything mle3 needs is here" if healthy(checks) else "FAILED: something needed is missing (see MISSING above)")
    return 0 if healthy(checks) else 1


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Directory for the demo workspace (must not exist).")] = Path("mle3-demo"),
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs (the default takes about 2.5 minutes on 2 CPU cores).")] = 20,
    images: Annotated[int, typer.Option(min=20, help="Training images to generate (val and test get a fifth each).")] = 400,
    imgsz: Annotated[int, typer.Option(min=64, help="Image size.")] = 160,
    qat: Annotated[bool, typer.Option("--qat/--no-qat", help="Also run 1 epoch of quantization-aware training (about 45 s).")] = True,
) -> int:
    """Create a demo workspace; generate, register and train; quantize; check; render the work products."""
    from .demo import run_demo

    return run_demo(directory, epochs=epochs, train_images=images, imgsz=imgsz, qat=qat, echo=typer.echo)


augment_app = typer.Typer(help="See what the augmentation of a training configuration does to its images.", no_args_is_help=True)
app.add_typer(augment_app, name="augment")


@augment_app.command("preview")
def augment_preview(
    config: Annotated[str, typer.Argument(help="Training configuration id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path("preview.png"),
    n: Annotated[int, typer.Option("--n", min=1, max=64, help="Number of tiles.")] = 16,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same sheet.")] = 0,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """A contact sheet of augmented training images, boxes drawn, each tile's transforms named."""
    from ._atomic import atomic_write_bytes
    from .optional import require
    from .output import emit_json
    from .runner.preview import render

    require("albumentations", "PIL", "numpy")
    ws, _ = _load(workspace)
    cfg = ws.get(config)
    if cfg.kind != "training":
        raise Mle3Error(f"{config} is a {cfg.kind}, not a training configuration")
    sheet = render(ws, cfg, n=n, seed=seed)
    atomic_write_bytes(output, sheet.png)
    if format == "json":
        emit_json({"schema": "mle3.augment-preview/1", "file": str(output), "seed": seed, "transforms": [p.describe() for p in sheet.planned], "tiles": sheet.tiles})
    else:
        typer.echo(f"{output}: {len(sheet.tiles)} tiles, seed {seed}; transforms: {', '.join(p.transform for p in sheet.planned) or 'none'}")
    return 0


# --------------------------------------------------------------------------- reports
@app.command()
def report(
    work_product: Annotated[str, typer.Argument(metavar="WP", help="04-11, 11-07, 13-65, 11-06, or 'release' for the whole package of a model version.")],
    item: Annotated[str, typer.Argument(help="Item the document describes (release: a model version).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (release: directory).")] = None,
    format: Annotated[Literal["html", "pdf", "json"], FORMAT] = "pdf",
    release: Annotated[bool, typer.Option("--release", help="Refuse to render anything not approved as the policy requires.")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Render an ASPICE MLE.3 work product (DRAFT until the required approvals exist)."""
    from .output import emit_json
    from .reports import release_package, render_document

    ws, graph = _load(workspace)
    if work_product == "release":
        target = output or Path(f"release-{item}")
        docs = release_package(ws, graph, item, target, release=release)
        if format == "json":
            emit_json({"schema": "mle3.report/1", "directory": str(target), "documents": [{"wp": d.wp, "item": d.item, "file": str(d.path), "approved": d.approved, "missing_roles": d.missing_roles, "fingerprint": d.fingerprint} for d in docs]})
        else:
            for d in docs:
                typer.echo(f"{d.wp} {d.item}: {d.path} ({'APPROVED' if d.approved else 'DRAFT, missing ' + ', '.join(d.missing_roles)})")
            typer.echo(f"package in {target}/ (index.html, traceability-matrix.html, MANIFEST.sha256)")
        return 0
    fmt = "html" if format == "html" else "pdf"
    target = output or Path(f"{work_product}_{item}.{fmt}")
    d = render_document(ws, graph, work_product, item, fmt, target, release=release)
    if format == "json":
        emit_json({"schema": "mle3.report/1", "documents": [{"wp": d.wp, "item": d.item, "file": str(d.path), "approved": d.approved, "missing_roles": d.missing_roles, "fingerprint": d.fingerprint}]})
    else:
        typer.echo(f"{d.wp} {d.item}: {d.path} ({'APPROVED' if d.approved else 'DRAFT, missing ' + (', '.join(d.missing_roles) or 'an approval policy')})")
    return 0


@app.command()
def site(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the static site.")] = Path("site"),
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Build a static traceability site (works from file://, no network)."""
    from .output import emit_json
    from .site import build_site

    ws, graph = _load(workspace)
    result = build_site(ws, graph, output)
    if format == "json":
        emit_json({"schema": "mle3.site/1", "directory": str(result.directory), "pages": result.pages, "bytes": result.bytes})
    else:
        typer.echo(f"site with {result.pages} pages ({result.bytes / 1e6:.1f} MB) in {result.directory}/; open {result.directory / 'index.html'}")
    return 0


reqif_app = typer.Typer(help="Exchange requirements with ALM tools through ReqIF.", no_args_is_help=True)
app.add_typer(reqif_app, name="reqif")


@reqif_app.command("export")
def reqif_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Target .reqif or .reqifz file.")],
    workspace: WorkspaceOpt = None,
) -> int:
    """Write the workspace's requirements as ReqIF (spec objects, types, relations)."""
    from .interop.reqif import export

    ws, _ = _load(workspace)
    result = export(ws, output)
    typer.echo(f"wrote {result['requirements']} requirements and {result['relations']} relations to {output}")
    return 0


@reqif_app.command("import")
def reqif_import(
    file: Annotated[Path, typer.Argument(help=".reqif or .reqifz file from another tool.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite requirement files edited locally; keep relations to missing SPEC-OBJECTs as dangling derived_from.")] = False,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Create or update requirements/ files from ReqIF; local edits and unresolvable relations need --force."""
    from dataclasses import asdict

    from .interop.reqif import import_file
    from .output import emit_json

    plan = import_file(_workspace_root(workspace), file, dry_run=dry_run, force=force)
    if format == "json":
        emit_json({"schema": "mle3.reqif-import/2", **asdict(plan)})
    else:
        typer.echo(f"{'would create' if not plan.written else 'created'} {len(plan.create)}, {'would update' if not plan.written else 'updated'} {len(plan.update)}, unchanged {len(plan.unchanged)}")
        if plan.unmapped:
            typer.echo(f"kept unmapped (under reqif_attributes): {', '.join(plan.unmapped)}")
        for req_id, diff in plan.conflicts.items():
            typer.echo(f"local edits in {req_id}:\n{diff}")
        for problem in plan.unresolved:
            typer.echo(f"unresolved: {problem}")
        if plan.conflicts and not force and not dry_run:
            typer.echo("nothing written: re-run with --force to overwrite local edits")
        if plan.unresolved and not force and not dry_run:
            typer.echo("nothing written: re-run with --force to keep these links as dangling derived_from (mle3 check reports them)")
    return 1 if (plan.conflicts or plan.unresolved) and not force and not dry_run else 0


# --------------------------------------------------------------------------- approvals
@app.command()
def approve(
    item: Annotated[str, typer.Argument(help="Item id (model version, data set version, configuration, run, ...).")],
    role: Annotated[str, typer.Option(help="Role you approve in (one the policy in mle3.yaml uses).")],
    name: Annotated[Optional[str], typer.Option(help="Approver (default: the git user of the workspace).")] = None,
    comment: Annotated[Optional[str], typer.Option(help="Comment recorded with the decision.")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Record a rejection instead.")] = False,
    deviation: Annotated[Optional[str], typer.Option(help="Also accept a known deviation of this content (a rule id, e.g. quantization.drop); needs --comment.")] = None,
    sign: Annotated[bool, typer.Option("--sign", help="Sign the approval with your SSH key (ssh-keygen -Y, namespace mle3-approval).")] = False,
    key: Annotated[Optional[Path], typer.Option("--key", help="Private SSH key to sign with (default: git user.signingkey or ~/.ssh/id_ed25519).")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Record who approved (or rejected) which exact content, bound to its fingerprint."""
    from .approvals import approve as record_approval
    from .output import emit_json

    ws, graph = _load(workspace)
    a = record_approval(ws, graph, item, role, name, comment, reject, deviation, sign, key)
    if format == "json":
        emit_json({"schema": "mle3.approval/2", **a.to_json()})
    else:
        typer.echo(f"{a.decision} {a.item} as {a.role} by {a.name} (audit entry {a.entry[:12]}); fingerprint {a.fingerprint}")
    for warning in a.warnings:
        typer.echo(f"warning: {warning}", err=True)
    return 0


@app.command()
def promote(
    model: Annotated[str, typer.Argument(help="Model version id.")],
    to: Annotated[Literal["draft", "training", "validated", "released", "rejected", "obsolete"], typer.Option("--to", help="Target status.")],
    version: Annotated[Optional[str], typer.Option("--version", help="Semantic version to give at validation (default: the next minor version of the model line).")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Move a model version along its life cycle, only when checks, criteria, approvals and separation of duties allow."""
    from dataclasses import asdict

    from .approvals import promote as run_promotion
    from .output import emit_json

    gate = run_promotion(_workspace_root(workspace), model, to, version)
    if format == "json":
        emit_json({"schema": "mle3.promote/2", "ok": gate.ok, **asdict(gate)})
    elif gate.ok:
        typer.echo(f"{gate.model}: {gate.current} -> {gate.target}" + (f" (approved by {', '.join(a['name'] + ' as ' + a['role'] for a in gate.approvals)})" if gate.approvals else ""))
        if gate.version:
            typer.echo(f"  version {gate.version}: also known as {gate.alias}")
    else:
        typer.echo(f"{gate.model}: refused {gate.current} -> {gate.target}; missing:")
        for reason in gate.missing:
            typer.echo(f"  - {reason}")
    return 0 if gate.ok else 1


audit_app = typer.Typer(help="The append-only audit log (artifacts/audit/, one file per entry), a hash DAG that git merges.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(workspace: WorkspaceOpt = None, format: Annotated[Literal["text", "json"], FORMAT] = "text") -> int:
    """Check every entry's hash, that every parent exists, and the signatures."""
    from . import audit as audit_log
    from .approvals.ledger import recorded
    from .output import emit_json

    root = _workspace_root(workspace)
    log = audit_log.read(root)
    problems = sorted(log.problems, key=lambda p: p.line)
    for a in recorded(root, verify_signatures=True, log=log):
        if a.signed and not a.verified:
            problems.append(audit_log.AuditProblem(a.file, a.line, f"approval of {a.item} by {a.name} as {a.role}: {a.signature_problem}"))
    legacy = log.legacy_only
    if format == "json":
        emit_json({"schema": "mle3.audit-verify/2", "ok": not problems, "entries": len(log), "heads": log.heads, "legacy_format": legacy,
                   "problems": [p.__dict__ for p in problems]})
    elif problems:
        for p in problems:
            typer.echo(f"{p.where()}: {p.message}")
        typer.echo(f"FAILED: {len(problems)} problem(s) in {len(log)} entries")
    else:
        heads = f"{len(log.heads)} heads (branches not joined yet; the next entry joins them)" if len(log.heads) > 1 else "1 head"
        typer.echo(f"OK: {len(log)} entries, every hash and parent intact, {heads}" + ("; linear format (migrated on the next append, or: mle3 audit migrate)" if legacy else ""))
    return 0 if not problems else 1


@audit_app.command("migrate")
def audit_migrate(workspace: WorkspaceOpt = None, format: Annotated[Literal["text", "json"], FORMAT] = "text") -> int:
    """Verify a log in the linear format (seq, prev) and record its migration to the DAG format."""
    from . import audit as audit_log
    from .output import emit_json

    done = audit_log.migrate(_workspace_root(workspace))
    if format == "json":
        emit_json({"schema": "mle3.audit-migrate/1", "migrated": done is not None, **(done or {})})
    elif done is None:
        typer.echo("nothing to migrate: the log is empty or already in the DAG format")
    else:
        typer.echo(f"migrated: {done['entries']} entries verified in the linear format; audit.migrate recorded")
    return 0


@audit_app.command("log")
def audit_log_cmd(
    item: Annotated[Optional[str], typer.Option("--item", help="Only entries about this item.")] = None,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Show the history (approvals, promotions, registrations, runs)."""
    from . import audit as audit_log
    from .output import emit_json

    root = _workspace_root(workspace)
    nodes = [n for n in audit_log.read(root).nodes if item is None or n.entry.get("item") == item]
    if format == "json":
        emit_json({"schema": "mle3.audit-log/2", "entries": [{**n.entry, "order": n.order, "file": n.file} for n in nodes]})
        return 0
    for n in nodes:
        e, d = n.entry, n.entry.get("details") or {}
        summary = ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("fingerprint", "signature", "heads") and v not in (None, "", [], {}))
        joins = f" (joins {len(n.parents)})" if len(n.parents) > 1 else ""
        typer.echo(f"{n.hash[:10]} {e.get('time')} {e.get('action', '?'):<17} {e.get('item') or '-':<28} {e.get('actor')}{joins}  {summary}")
    return 0


# --------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors print one line, never a traceback."""
    try:
        result = app(args=argv, prog_name="mle3", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except Mle3Error as exc:
        typer.echo(f"mle3: error: {exc}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("mle3: interrupted", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors (typer's own click)
        show = getattr(exc, "show", None)
        if show:
            show()
        else:
            typer.echo(f"mle3: error: {exc}", err=True)
        return getattr(exc, "exit_code", 2) or 2
    except KeyboardInterrupt:
        typer.echo("mle3: interrupted", err=True)
        return 130
    except ModuleNotFoundError as exc:  # an optional part that is not installed
        from .optional import missing_module_message

        typer.echo(f"mle3: error: {missing_module_message(exc.name)}", err=True)
        return 2
    except OSError as exc:  # disk full, permissions, vanished files: nothing half-written
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        typer.echo(f"mle3: error: {exc.strerror or exc}{where}; files already recorded are unchanged", err=True)
        return 2
    except BrokenPipeError:
        return 0


def run() -> None:
    """Console-script entry point.

    Exits without tearing down the interpreter: freeing a loaded 50,000-item workspace
    object by object takes seconds and nothing is left to clean up (all files written by
    mle3 are complete before a command returns)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
