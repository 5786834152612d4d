"""Training and its records: train, export, quantize, ``mle3 runs``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from ..errors import Mle3Error
from .app import FORMAT, WorkspaceOpt, app, _with_progress, _workspace, _workspace_root


# ----------------------------------------------------------------- training
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
    queue: Annotated[bool, typer.Option("--queue", help="Check everything, record a pending run and return at once; `mle3 worker` trains it.")] = False,
    priority: Annotated[int, typer.Option(help="With --queue: higher runs first (then older first).")] = 0,
    workspace: WorkspaceOpt = None,
    format: Annotated[Literal["text", "json"], FORMAT] = "text",
) -> int:
    """Train with ultralytics from a configuration and record the run."""
    from dataclasses import asdict

    from ..output import emit_json
    from ..runner import TrainOptions, train as run_training

    ws = _workspace(workspace)
    options = TrainOptions(epochs=epochs, device=device, imgsz=imgsz, batch=batch, data=data, allow_changed_data=allow_changed_data, timeout=timeout,
                           max_attempts=max_attempts, model_id=model_id)
    if queue:
        from ..runner.queue import enqueue

        if mlflow or mlflow_uri:
            raise Mle3Error("--mlflow is not available with --queue yet: mirror the run afterwards with `mle3 runs export`")
        run_id = enqueue(ws, config, options, priority)
        if format == "json":
            emit_json({"schema": "mle3.train-queue/1", "run": run_id, "status": "pending"})
        else:
            typer.echo(f"run {run_id}: pending (priority {priority}); `mle3 worker` trains it")
        return 0
    if mlflow or mlflow_uri:
        from ..interop.mlflow import MlflowHook

        options.hooks.append(MlflowHook(mlflow_uri))
    result = _with_progress(format == "json", lambda echo: run_training(ws, config, options, echo=echo))
    if format == "json":
        emit_json({"schema": "mle3.train/1", **asdict(result)})
    else:
        typer.echo(f"run {result.run_id}: {result.status}" + (f" ({result.error})" if result.error else "") + f"; record in {result.record}")
        if result.model_version:
            for split, values in result.metrics.items():
                typer.echo(f"  {split:<10} " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
            typer.echo(f"  model version {result.model_version} (draft) written to {ws.layout.models_dir}/")
    return 0 if result.status == "success" else 1


@app.command("export")
def export_model(
    model: Annotated[str, typer.Argument(help="Model version id.")],
    to: Annotated[Literal["onnx"], typer.Option("--format", "-f", help="Export format.")] = "onnx",
    workspace: WorkspaceOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON (mle3.export/1).")] = False,
) -> int:
    """Export the float model to ONNX, validate it with ONNX Runtime against PyTorch, record it."""
    from ..output import emit_json
    from ..runner.quantize import export

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
    from ..output import emit_json
    from ..runner.quantize import QuantizeOptions, quantize as run_quantization, result_json

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
    from ..output import emit_json
    from ..runs.records import list_runs

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
    from ..interop.mlflow import default_uri, export_runs
    from ..output import emit_json

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
    from ..output import emit_json
    from ..ids import check_id
    from ..runs.records import effective_status
    from ..workspace.layout import layout_at
    from ..workspace.records import EPOCHS_FILE, RUN_FILE, read_epoch_log, read_run, run_file

    root = _workspace_root(workspace)
    check_id(run_id, "run id")
    runs_dir = layout_at(root).runs_dir
    path = run_file(root, run_id)
    if not path.is_file():
        raise Mle3Error(f"no run {run_id!r} under {runs_dir}/")
    record = read_run(path, run_id, rel=f"{runs_dir}/{run_id}/{RUN_FILE}")
    data = dict(record.data)
    data["effective_status"] = effective_status(data, root)
    log = read_epoch_log(record.epochs_file(root))
    data["epochs"], problems = log.epochs, log.problems
    for line, why in problems[:5]:  # the check rule training.epochs-unreadable reports them too
        typer.echo(f"warning: {runs_dir}/{run_id}/{EPOCHS_FILE}:{line}: {why} (line skipped)", err=True)
    if format == "json":
        emit_json({"schema": "mle3.run/1", "run": data})
        return 0
    try:
        _show_text(data)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a hand-edited field of another shape
        raise Mle3Error(f"run record has a field of an unexpected shape ({type(exc).__name__}: {str(exc)[:80]})",
                        file=f"{runs_dir}/{run_id}/{RUN_FILE}") from None
    return 0


def _show_text(data: dict) -> None:
    typer.echo(f"{data['id']}  {data['effective_status']}  config {data.get('config')} ({data.get('config_sha256', '')[:19]}...)")
    typer.echo(f"  data set {data.get('dataset_version')}  {data.get('dataset_fingerprint')}")
    code = data.get("code") or {}
    typer.echo(f"  code {code.get('commit') or '(no commit)'}{' (dirty)' if code.get('dirty') else ''}")
    env = data.get("environment") or {}
    cuda = f"CUDA {env['cuda']}" if env.get("cuda") else "no CUDA"
    typer.echo(f"  env python {env.get('python')} torch {env.get('torch')} ultralytics {env.get('ultralytics')}, {cuda}, on {', '.join(env.get('gpus') or []) or env.get('cpu')}")
    stop = f"early stop at epoch {data['early_stop_epoch']}" if data.get("early_stop_epoch") else "no early stop"
    best = f"best epoch {data['best_epoch']}" if data.get("best_epoch") is not None else "no best epoch yet"
    duration = f"{data['duration_s']} s" if data.get("duration_s") is not None else "–"
    typer.echo(f"  started {data.get('started') or '–'} ended {data.get('ended') or '–'} duration {duration}, {best}, {stop}")
    for dev in data.get("deviations") or []:
        typer.echo(f"  deviation {dev['field']}: {dev['configured']!r} -> {dev['used']!r} ({dev['source']})")
    if data.get("not_applied"):
        typer.echo(f"  not applied: {', '.join(data['not_applied'])}")
    for e in data["epochs"]:
        typer.echo(f"  epoch {e.get('epoch', '?'):>3}  box {_num(e.get('train_box_loss'))} cls {_num(e.get('train_cls_loss'))}  P {_num(e.get('precision'))} R {_num(e.get('recall'))} mAP50 {_num(e.get('mAP50'))} mAP50-95 {_num(e.get('mAP50_95'))}")
    for split, values in (data.get("final_metrics") or {}).items() if isinstance(data.get("final_metrics"), dict) else ():
        typer.echo(f"  final {split:<10} " + "  ".join(f"{k} {_num(v)}" for k, v in (values.items() if isinstance(values, dict) else ())))
    if data.get("error"):
        typer.echo(f"  error: {data['error']}")


def _num(value: object) -> str:
    """A metric as shown: three decimals, or the value as it is when it is not a number."""
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ("0.000" if value is None else str(value)[:20])
