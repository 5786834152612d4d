"""Training and its records: train, export, quantize, and the whole ``mle3 runs`` group
(list, show, export to MLflow, and the queue's rerun, abort, watch, execute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Annotated, Literal, Optional

import typer

from ..errors import Mle3Error
from .app import WorkspaceOpt, app, _with_progress, _workspace, _workspace_root
from .options import ExitCode, FormatOpt, deprecated, equals_values, format_with_legacy, ok_if
from .shapes import ANY, BOOL, INT, NUM, OBJ, STR, STRS, arr, declare, deprecated_alias, nullable, obj

RUN_ID = {**STR, "description": "A run id (RUN-...), the same key in every document."}

TRAIN = declare(
    "mle3.train/1",
    "`mle3 train --format json`: the finished run.",
    {
        "run_id": RUN_ID,
        "status": STR,
        "record": STR,
        "model_version": nullable(STR),
        "metrics": OBJ,
        "error": nullable(STR),
        "warnings": STRS,
    },
)
TRAIN_QUEUE = declare(
    "mle3.train-queue/1",
    "`mle3 train --queue` and `mle3 runs rerun`: the run queued.",
    {"run_id": RUN_ID, "run": deprecated_alias(STR, "run_id"), "status": {"const": "pending"}, "rerun_of": STR},
    optional=("rerun_of",),
)
EXPORT = declare(
    "mle3.export/1",
    "`mle3 export --format json`: the float ONNX model, validated against PyTorch.",
    {"onnx": STR, "sha256": STR, "onnx_metrics": OBJ, "torch_val_mAP_50": ANY, "gap": ANY},
)
QUANTIZE = declare(
    "mle3.quantize/1",
    "`mle3 quantize --format json`: the INT8 model against the float one.",
    {
        "run_id": RUN_ID,
        "status": STR,
        "model_version": nullable(STR),
        "method": STR,
        "table": arr(OBJ),
        "drop": OBJ,
        "threshold": {"type": "number"},
        "passed": nullable(BOOL),
        "error": nullable(STR),
        "warnings": STRS,
    },
)
_SLICE = obj(
    {
        "split": STR,
        "where": OBJ,
        "images": INT,
        "instances": INT,
        "mAP_50": NUM,
        "mAP_50_95": NUM,
        "precision": NUM,
        "recall": NUM,
        "too_small": BOOL,
    },
    optional=("mAP_50", "mAP_50_95", "precision", "recall", "too_small"),
)
EVALUATE = declare(
    "mle3.evaluate/1",
    "`mle3 evaluate MODEL --format json`: the model's metrics per slice of val and test, as recorded in its model "
    "version (`slices:`); `where: {}` is the whole split, `too_small` a slice under slices.min_images.",
    {
        "model": STR,
        "dataset": nullable(STR),
        "fingerprint": nullable(STR),
        "at": STR,
        "min_images": INT,
        "results": arr(_SLICE),
        "warnings": STRS,
    },
)
RUN_FIELDS = (
    "id",
    "kind",
    "method",
    "config",
    "status",
    "effective_status",
    "dataset_version",
    "model_version",
    "created",
    "ended",
    "duration_s",
    "epochs_completed",
    "best_epoch",
    "error",
    "file",
)
_RUN_ROW = obj({"id": RUN_ID, "status": nullable(STR), "effective_status": nullable(STR)})
_RUN_ROW["properties"] = {k: ANY for k in RUN_FIELDS} | _RUN_ROW["properties"]
RUNS = declare("mle3.runs/1", "`mle3 runs --format json`: recorded runs, newest first.", {"runs": arr(_RUN_ROW)})
RUN = declare(
    "mle3.run/1",
    "`mle3 runs show RUN --format json`: one run record with its epochs.",
    {"run_id": RUN_ID, "run": obj({"id": RUN_ID, "effective_status": STR, "epochs": arr(OBJ)})},
)
RUNS_EXPORT = declare(
    "mle3.runs-export/1",
    "`mle3 runs export --format json`: runs mirrored to MLflow.",
    {
        "uri": STR,
        "warnings": STRS,
        "exported": arr(obj({"run_id": RUN_ID, "run": deprecated_alias(STR, "run_id"), "mlflow_run_id": STR})),
    },
)


def _mlflow_target(flag: bool, at: str | None, old_uri: str | None) -> str | None:
    """``--mlflow[=URI]`` as the runner wants it: None off, "" the default store, or a URI;
    the old ``--mlflow-uri URI`` still works for one release."""
    if old_uri:
        deprecated("--mlflow-uri URI", "--mlflow=URI")
    uri = at or old_uri
    return uri if uri else ("" if flag else None)


MLFLOW_HELP = "Mirror to MLflow; --mlflow=URI names the tracking URI (default: the workspace's .mle3/mlflow)."
#: the URI of ``--mlflow=URI`` (``equals_values`` puts it here), and the old spelling
MlflowAtOpt = Annotated[Optional[str], typer.Option("--mlflow-at", hidden=True, help="The URI of --mlflow=URI.")]
MlflowUriOpt = Annotated[Optional[str], typer.Option("--mlflow-uri", hidden=True, help="Deprecated: --mlflow=URI.")]


# ----------------------------------------------------------------- training
@app.command(cls=equals_values(mlflow="--mlflow-at"))
def train(
    config: Annotated[str, typer.Argument(help="Training configuration id (or its YAML file).")],
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Override epochs (recorded as a deviation).")] = None,
    device: Annotated[Optional[str], typer.Option(help="Override the device: cpu, 0, 0,1 (recorded).")] = None,
    imgsz: Annotated[Optional[int], typer.Option(min=32, help="Override the image size (recorded).")] = None,
    batch: Annotated[Optional[int], typer.Option(min=1, help="Override the batch size (recorded).")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Train on another data.yaml (recorded).")] = None,
    allow_changed_data: Annotated[
        bool, typer.Option(help="Train although the data changed since registration (recorded).")
    ] = False,
    timeout: Annotated[
        Optional[float], typer.Option(min=1, help="Terminate after SECONDS (status terminated).")
    ] = None,
    max_attempts: Annotated[int, typer.Option(min=1, help="Retry a failed run up to N attempts in all.")] = 1,
    model_id: Annotated[
        Optional[str],
        typer.Option(
            help="Id for the model version, chosen by hand (default: <line>-<RUN-ID>, unique on every branch)."
        ),
    ] = None,
    mlflow: Annotated[bool, typer.Option("--mlflow", help=MLFLOW_HELP)] = False,
    mlflow_at: MlflowAtOpt = None,
    mlflow_uri: MlflowUriOpt = None,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue", help="Check everything, record a pending run and return at once; `mle3 worker` trains it."
        ),
    ] = False,
    priority: Annotated[int, typer.Option(help="With --queue: higher runs first (then older first).")] = 0,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Train with ultralytics from a configuration and record the run."""
    from dataclasses import asdict

    from ..output import emit_json
    from ..runner import TrainOptions, train as run_training

    ws = _workspace(workspace)
    options = TrainOptions(
        epochs=epochs,
        device=device,
        imgsz=imgsz,
        batch=batch,
        data=data,
        allow_changed_data=allow_changed_data,
        timeout=timeout,
        max_attempts=max_attempts,
        model_id=model_id,
    )
    mirror = _mlflow_target(mlflow, mlflow_at, mlflow_uri)  # None: off, "": the workspace's store, or a URI
    if queue:
        from ..runner.queue import enqueue

        if mirror is not None:
            raise Mle3Error(
                "--mlflow is not available with --queue yet: mirror the run afterwards with `mle3 runs export`"
            )
        run_id = enqueue(ws, config, options, priority)
        if format == "json":
            emit_json({"schema": TRAIN_QUEUE, "run_id": run_id, "run": run_id, "status": "pending"})
        else:
            typer.echo(f"run {run_id}: pending (priority {priority}); `mle3 worker` trains it")
        return ExitCode.OK
    if mirror is not None:
        from ..interop.mlflow import MlflowHook

        options.hooks.append(MlflowHook(mirror or None))
    result = _with_progress(format == "json", lambda echo: run_training(ws, config, options, echo=echo))
    if format == "json":
        emit_json({"schema": TRAIN, **asdict(result)})
    else:
        typer.echo(
            f"run {result.run_id}: {result.status}"
            + (f" ({result.error})" if result.error else "")
            + f"; record in {result.record}"
        )
        if result.model_version:
            for split, values in result.metrics.items():
                typer.echo(f"  {split:<10} " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
            typer.echo(f"  model version {result.model_version} (draft) written to {ws.layout.models_dir}/")
    return ok_if(result.status == "success")


MODEL_FORMATS = ("onnx",)
ExportFormatOpt = Annotated[str, format_with_legacy(MODEL_FORMATS)]


@app.command("export")
def export_model(
    model: Annotated[str, typer.Argument(help="Model version id.")],
    to: Annotated[Literal["onnx"], typer.Option("--to", help="Model format to export to.")] = "onnx",
    workspace: WorkspaceOpt = None,
    format: ExportFormatOpt = "text",
    json_out: Annotated[bool, typer.Option("--json", hidden=True, help="Deprecated: --format json.")] = False,
) -> int:
    """Export the float model to ONNX, validate it with ONNX Runtime against PyTorch, record it."""
    from ..output import emit_json
    from ..runner.quantize import export

    if format in MODEL_FORMATS:  # the old meaning of --format: the model format
        deprecated(f"export --format {format}", f"--to {format} (--format is the output format: text or json)")
        format = "text"  # onnx, the one model format (`to`) so far
    if json_out:
        deprecated("export --json", "--format json")
        format = "json"
    root = _workspace_root(workspace)
    result = _with_progress(format == "json", lambda echo: export(root, model, echo=echo))
    if format == "json":
        emit_json({"schema": EXPORT, **result})
    else:
        typer.echo(
            f"{result['onnx']}: val mAP50 ONNX {result['onnx_metrics']['validation'].get('mAP_50')} vs PyTorch "
            f"{result['torch_val_mAP_50']} (gap {result['gap']}); recorded in {model} with sha256 {result['sha256']}"
        )
    return ExitCode.OK


@app.command()
def quantize(
    model: Annotated[str, typer.Argument(help="Float model version id.")],
    method: Annotated[
        Literal["ptq", "qat"],
        typer.Option(help="ptq: post-training static INT8; qat: quantization-aware fine-tuning, then INT8."),
    ] = "ptq",
    calibration_images: Annotated[
        Optional[int], typer.Option(min=1, help="Training images used for calibration (recorded as a deviation).")
    ] = None,
    calibration_method: Annotated[
        Optional[Literal["minmax", "entropy", "percentile"]],
        typer.Option(help="Calibration method (recorded as a deviation)."),
    ] = None,
    qat_epochs: Annotated[Optional[int], typer.Option(min=1, help="QAT epochs (recorded as a deviation).")] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Quantize to INT8 (PTQ or QAT), evaluate against the float model, gate the mAP50 drop."""
    from ..output import emit_json
    from ..runner.quantize import QuantizeOptions, quantize as run_quantization, result_json

    root = _workspace_root(workspace)
    options = QuantizeOptions(
        method=method,
        calibration_images=calibration_images,
        calibration_method=calibration_method,
        qat_epochs=qat_epochs,
    )
    result = _with_progress(format == "json", lambda echo: run_quantization(root, model, options, echo=echo))
    if format == "json":
        emit_json(result_json(result))
    else:
        typer.echo(f"run {result.run_id}: {result.status}" + (f" ({result.error})" if result.error else ""))
        if result.table:
            typer.echo(f"  {'model':<40} {'val mAP50':>9} {'test mAP50':>10} {'size MB':>8} {'latency ms':>10}")
            for row in result.table:
                typer.echo(
                    f"  {row['model']:<40} {row['val'].get('mAP_50', 0):>9.3f} {row['test'].get('mAP_50', 0):>10.3f} "
                    f"{row['bytes'] / 1e6:>8.2f} {row['latency_ms']:>10.1f}"
                )
            gate = "PASS" if result.passed else "FAIL"
            typer.echo(
                f"  mAP50 drop val {result.drop.get('val', 0):+.4f}, test {result.drop.get('test', 0):+.4f}; "
                f"threshold {result.threshold}: {gate}"
            )
    return ok_if(result.status == "success" and bool(result.passed))


@app.command()
def evaluate(
    model: Annotated[str, typer.Argument(help="Model version id (float weights or a quantized child's ONNX file).")],
    device: Annotated[str, typer.Option(help="Device to evaluate on (cpu, 0, ...).")] = "cpu",
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Evaluate a model per slice (per condition) of val and test, record it in the model version."""
    from ..output import emit_json
    from ..runner.slices import evaluate as run_evaluation
    from ..workspace.characteristics import where_text

    root = _workspace_root(workspace)
    result = _with_progress(format == "json", lambda echo: run_evaluation(root, model, device=device, echo=echo))
    if format == "json":
        emit_json({"schema": EVALUATE, **result})
        return ExitCode.OK
    typer.echo(
        f"{model}: {len(result['results'])} slice(s) of {result['dataset']} recorded (min_images "
        f"{result['min_images']})"
    )
    typer.echo(
        f"  {'split':<5} {'slice':<36} {'images':>6} {'inst.':>6} {'mAP50':>6} {'mAP50-95':>8} {'P':>6} {'R':>6}"
    )
    for row in result["results"]:
        cells = [f"{row[k]:.3f}" if k in row else "-" for k in ("mAP_50", "mAP_50_95", "precision", "recall")]
        typer.echo(
            f"  {row['split']:<5} {where_text(row['where']) or '(all)':<36} {row['images']:>6} {row['instances']:>6} "
            f"{cells[0]:>6} {cells[1]:>8} {cells[2]:>6} {cells[3]:>6}" + ("  too small" if row.get("too_small") else "")
        )
    _echo_slice_criteria(root, model)
    return ExitCode.OK


def _echo_slice_criteria(root: Any, model: str) -> None:
    """Each slice criterion of the requirements the model traces to, as `check` will judge it."""
    from ..rules.criteria import evaluate as judge
    from ..workspace import load_workspace

    ws = load_workspace(root, use_cache=False)
    item = ws.get(model)
    for req_id in item.traceability.requirements:
        req = ws.resolve(req_id)
        if req is None or req.kind != "requirement":
            continue
        for criterion in req.criteria:
            if getattr(criterion, "where", None) and getattr(criterion, "metric", None):
                verdict = judge(criterion, item, ws=ws, requirement=req)
                result = {True: "pass", False: "FAIL", None: "not evaluable"}[verdict.passed]
                detail = f" (actual {verdict.actual})" if verdict.actual is not None else ""
                typer.echo(
                    f"  {req.id}: {verdict.text}: {result}{detail}" + (f"; {verdict.reason}" if verdict.reason else "")
                )


runs_app = typer.Typer(help="List and inspect recorded training runs.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    status: Annotated[
        Optional[str], typer.Option(help="Only runs with this status (stale included as 'stale').")
    ] = None,
    config: Annotated[Optional[str], typer.Option(help="Only runs of this training configuration.")] = None,
    search: Annotated[
        Optional[str], typer.Option(help="Text to find in run id, configuration, data set, model or error.")
    ] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """List runs (newest first); a run left in progress by a dead process shows as stale."""
    if ctx.invoked_subcommand is not None:
        return ExitCode.OK
    from ..output import emit_json
    from ..runs.records import list_runs

    runs = list_runs(_workspace_root(workspace))
    if status:
        runs = [r for r in runs if r.get("effective_status") == status or r.get("status") == status]
    if config:
        runs = [r for r in runs if r.get("config") == config]
    if search:
        needle = search.lower()
        runs = [
            r
            for r in runs
            if any(
                needle in str(r.get(k, "")).lower()
                for k in ("id", "config", "dataset_version", "model_version", "error")
            )
        ]
    if format == "json":
        emit_json({"schema": RUNS, "runs": [{k: r.get(k) for k in RUN_FIELDS} for r in runs]})
        return ExitCode.OK
    if not runs:
        typer.echo("no runs recorded")
        return ExitCode.OK
    for r in runs:
        shown = r.get("effective_status")
        if shown == "stale":
            shown = f"stale (was {r.get('status')}, process gone: failed)"
        kind = f"{r.get('kind', 'training')}" + (f" {r['method']}" if r.get("method") else "")
        typer.echo(
            f"{r['id']}  {kind:<17} {r.get('config', '?'):<16} {shown:<12} epochs "
            f"{r.get('epochs_completed') or 0:<4} {r.get('dataset_version') or '-':<20} {r.get('model_version') or '-'}"
        )
    return ExitCode.OK


@runs_app.command("export", cls=equals_values(mlflow="--mlflow-at"))
def runs_export(
    mlflow: Annotated[
        bool,
        typer.Option(
            "--mlflow",
            help="Export to MLflow (the only target so far, so the default). " + MLFLOW_HELP.split("; ", 1)[1],
        ),
    ] = True,
    mlflow_at: MlflowAtOpt = None,
    mlflow_uri: MlflowUriOpt = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Mirror recorded runs to MLflow (runs mirrored before are skipped)."""
    from ..interop.mlflow import default_uri, export_runs
    from ..output import emit_json

    root = _workspace_root(workspace)
    uri = _mlflow_target(True, mlflow_at, mlflow_uri) or default_uri(root)
    warnings: list[str] = []
    done = export_runs(root, uri, warnings.append)
    if format == "json":
        emit_json(
            {
                "schema": RUNS_EXPORT,
                "uri": uri,
                "exported": [{"run_id": a, "run": a, "mlflow_run_id": b} for a, b in done],
                "warnings": warnings,
            }
        )
    else:
        for w in warnings:
            typer.echo(f"warning: {w}", err=True)
        typer.echo(f"mirrored {len(done)} run(s) to {uri}")
    return ok_if(not warnings)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
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
        emit_json({"schema": RUN, "run_id": run_id, "run": data})
        return ExitCode.OK
    try:
        _show_text(data)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a hand-edited field of another shape
        raise Mle3Error(
            f"run record has a field of an unexpected shape ({type(exc).__name__}: {str(exc)[:80]})",
            file=f"{runs_dir}/{run_id}/{RUN_FILE}",
        ) from None
    return ExitCode.OK


# ----------------------------------------------------------------- the queue's runs commands
@runs_app.command("execute", hidden=True)
def runs_execute(
    run_id: Annotated[str, typer.Argument(help="A claimed pending run.")],
    worker_name: Annotated[Optional[str], typer.Option("--worker")] = None,
    claim_token: Annotated[Optional[str], typer.Option("--claim", hidden=True)] = None,
    workspace: WorkspaceOpt = None,
) -> int:
    """Train one claimed queued run (started by `mle3 worker`)."""
    from ..ids import check_id
    from ..runner.queue import execute

    check_id(run_id, "run id")
    result = execute(_workspace_root(workspace), run_id, echo=typer.echo, worker=worker_name, claim_token=claim_token)
    return ok_if(result.status == "success")


@runs_app.command("rerun")
def runs_rerun(
    run_id: Annotated[str, typer.Argument(help="A failed, terminated, aborted, stale or pruned run.")],
    priority: Annotated[Optional[int], typer.Option(help="Priority of the new run (default: the old one's).")] = None,
    workspace: WorkspaceOpt = None,
    format: FormatOpt = "text",
) -> int:
    """Queue a run again with its configuration and choices (the new run names it in rerun_of)."""
    from ..ids import check_id
    from ..output import emit_json
    from ..runner.queue import rerun

    check_id(run_id, "run id")
    new = rerun(_workspace_root(workspace), run_id, priority)
    if format == "json":
        emit_json({"schema": TRAIN_QUEUE, "run_id": new, "run": new, "status": "pending", "rerun_of": run_id})
    else:
        typer.echo(f"run {new}: pending (rerun of {run_id})")
    return ExitCode.OK


@runs_app.command("abort")
def runs_abort(
    run_id: Annotated[str, typer.Argument(help="A pending or running run.")],
    workspace: WorkspaceOpt = None,
) -> int:
    """Stop a pending or running run (status terminated: intentionally ended by the user)."""
    from ..ids import check_id
    from ..runner.queue import abort

    check_id(run_id, "run id")
    was = abort(_workspace_root(workspace), run_id)
    typer.echo(f"run {run_id}: abort requested (it was {was})")
    return ExitCode.OK


@runs_app.command("watch")
def runs_watch(
    run_id: Annotated[
        Optional[str], typer.Argument(help="Run to watch (default: the newest running or pending run).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Print the view once and exit (no live updates).")] = False,
    workspace: WorkspaceOpt = None,
) -> int:
    """Watch a training live in the terminal: progress, recent epochs, a sparkline of mAP50."""
    from ..monitor.terminal import watch

    return watch(_workspace_root(workspace), run_id, once=once)


def _show_text(data: dict) -> None:
    typer.echo(
        f"{data['id']}  {data['effective_status']}  config {data.get('config')} "
        f"({data.get('config_sha256', '')[:19]}...)"
    )
    typer.echo(f"  data set {data.get('dataset_version')}  {data.get('dataset_fingerprint')}")
    code = data.get("code") or {}
    typer.echo(f"  code {code.get('commit') or '(no commit)'}{' (dirty)' if code.get('dirty') else ''}")
    env = data.get("environment") or {}
    cuda = f"CUDA {env['cuda']}" if env.get("cuda") else "no CUDA"
    typer.echo(
        f"  env python {env.get('python')} torch {env.get('torch')} ultralytics {env.get('ultralytics')}, {cuda}, on "
        f"{', '.join(env.get('gpus') or []) or env.get('cpu')}"
    )
    stop = f"early stop at epoch {data['early_stop_epoch']}" if data.get("early_stop_epoch") else "no early stop"
    best = f"best epoch {data['best_epoch']}" if data.get("best_epoch") is not None else "no best epoch yet"
    duration = f"{data['duration_s']} s" if data.get("duration_s") is not None else "–"
    typer.echo(
        f"  started {data.get('started') or '–'} ended {data.get('ended') or '–'} duration {duration}, {best}, {stop}"
    )
    for dev in data.get("deviations") or []:
        typer.echo(f"  deviation {dev['field']}: {dev['configured']!r} -> {dev['used']!r} ({dev['source']})")
    if data.get("not_applied"):
        typer.echo(f"  not applied: {', '.join(data['not_applied'])}")
    for e in data["epochs"]:
        typer.echo(
            f"  epoch {e.get('epoch', '?'):>3}  box {_num(e.get('train_box_loss'))} cls "
            f"{_num(e.get('train_cls_loss'))}  P {_num(e.get('precision'))} R {_num(e.get('recall'))} mAP50 "
            f"{_num(e.get('mAP50'))} mAP50-95 {_num(e.get('mAP50_95'))}"
        )
    for split, values in (
        (data.get("final_metrics") or {}).items() if isinstance(data.get("final_metrics"), dict) else ()
    ):
        typer.echo(
            f"  final {split:<10} "
            + "  ".join(f"{k} {_num(v)}" for k, v in (values.items() if isinstance(values, dict) else ()))
        )
    if data.get("error"):
        typer.echo(f"  error: {data['error']}")


def _num(value: object) -> str:
    """A metric as shown: three decimals, or the value as it is when it is not a number."""
    return (
        f"{value:.3f}"
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else ("0.000" if value is None else str(value)[:20])
    )
