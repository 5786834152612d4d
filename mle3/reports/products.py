"""What each ASPICE MLE.3 work product shows: one context builder per work product.

The templates (``templates/wp_<id>.html.j2``) only lay the facts out; every fact is
gathered here from the workspace, the graph, run records, the audit log and git.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import networkx as nx

from .. import __version__, audit, caveats
from ..ledger.fingerprint import FILE_FIELDS, Fingerprints
from ..ledger.duties import label
from ..ledger.gates import verified_approvals
from ..ledger.approvals import role_status
from ..errors import Mle3Error
from ..graph import relations, upstream
from ..rules.criteria import describe, evaluate
from ..vocab import DECISION_SPLIT, MODEL_METRICS, TEST_SPLIT, canonical_split
from ..workspace.records import run_epochs
from ..workspace import Workspace, item_key
from ..workspace.schema import KINDS
from . import charts, conditions
from .approach import build_approach
from .communications import build_communications
from .consistency import build_consistency, release_blockers
from .decisions import split_decisions, testing_evidence
from .hyperparameters import hyperparameters
from .optimization import optimization_of
from .revision import HISTORY_ROWS, decisions, document_id, revision_of

if TYPE_CHECKING:
    from ..rules.engine import CheckReport


@dataclass(frozen=True)
class WorkProduct:
    id: str
    name: str
    kinds: tuple[str, ...]
    template: str
    build: Callable[..., dict[str, Any]]
    #: the ASPICE 4.0 information items (MLE.3, SUP.11) it provides, as (id, name and part): the
    #: assessor's vocabulary beside this project's work product ids
    information_items: tuple[tuple[str, str], ...] = ()
    #: a record of what happened (the 13-52): never approved, so never a DRAFT; a release
    #: package carries it as it stands
    record: bool = False
    #: what keeps an approved document of ``item`` out of a release beyond its approvals
    release_blockers: Callable[[Context, Any], list[str]] | None = None


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as ``(dotted.path, value)`` rows for parameter tables."""
    rows: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                rows.extend(flatten(v, path))
            else:
                rows.append((path, v))
    else:
        rows.append((prefix, data))
    return rows


def git_commit(ws: Workspace) -> dict[str, Any]:
    from ..recipe.environment import git_state

    state = git_state(ws.root)
    untracked = int(state.get("untracked_files") or 0)  # new audit entries and records count too
    return {"commit": state.get("commit"), "dirty": bool(state.get("dirty")) or untracked > 0, "untracked": untracked}


def git_history(ws: Workspace, rel: str, limit: int = 20) -> list[dict[str, str]]:
    """The commits that changed ``rel``, newest first (mle3.reports.revision; [] outside git)."""
    return revision_of(ws.root, rel, "").commits[:limit]


class Context:
    """Shared state while rendering documents of one workspace."""

    def __init__(self, ws: Workspace, graph: nx.MultiDiGraph) -> None:
        self.ws, self.graph = ws, graph
        self.fingerprints = Fingerprints(ws, graph)
        #: only approvals that verify count (ledger.gates); the others are named with why
        self.counted = verified_approvals(
            ws.root, fingerprints=self.fingerprints, require_signatures=ws.config.policy.require_signatures
        )
        self.approvals = self.counted.approvals
        self._check: CheckReport | None = None
        #: (file, fingerprint) -> its revision: one git log per document, however often rendered
        self._revisions: dict[tuple[str, str], Any] = {}

    @cached_property
    def quantized_children(self) -> dict[str, list[Any]]:
        """Model id -> its quantized child model versions (one pass over all models)."""
        out: dict[str, list[Any]] = {}
        for m in self.ws.of_kind("model_version"):
            if m.traceability.previous_version and m.quantization is not None:
                out.setdefault(m.traceability.previous_version, []).append(m)
        return out

    @cached_property
    def audit_by_item(self) -> dict[str, list[dict[str, Any]]]:
        """Audit entries by the item they are about (one read of the log per context)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for entry in audit.history(self.ws.root):
            if isinstance(entry.get("item"), str):
                out.setdefault(entry["item"], []).append(entry)
        return out

    @property
    def check(self) -> CheckReport:
        if self._check is None:
            from ..rules import run_checks

            self._check = run_checks(self.ws, self.graph)
        return self._check

    def trace_findings(self, key: str) -> list[Any]:
        trace = {key} | upstream(self.graph, key)
        return [f for f in self.check.findings if f.item in trace and f.severity in ("error", "warning")]

    def document(self, wp: WorkProduct, item: Any) -> dict[str, Any]:
        key = item_key(item)
        fp = self.fingerprints.of(key)
        roles = [] if wp.record else self.ws.config.policy.approvals.get(wp.id, [])
        statuses = role_status(self.approvals, key, fp, roles)
        approved = [
            replace(a, name=label(a)) for st in statuses for a in st.approved_by
        ]  # a signed approval names its verified signer
        stale = [a for st in statuses for a in st.stale]
        revision = self._revisions.get((item._file, fp))
        if revision is None:
            revision = self._revisions[(item._file, fp)] = revision_of(self.ws.root, item._file, fp)
        return {
            "doc_id": document_id(self.ws.config.project, wp.id, key),
            "revision": revision.label,
            "revision_number": revision.number,
            "revision_uncommitted": revision.uncommitted,
            "revision_reason": revision.reason,
            "commits": revision.commits[:HISTORY_ROWS],
            "older_commits": max(0, len(revision.commits) - HISTORY_ROWS),
            "decisions": decisions(self.audit_by_item.get(key, []), fp),
            "roles_source": self.ws.config.policy.approvals_source(wp.id),
            "wp_id": wp.id,
            "wp_name": wp.name,
            "information_items": [{"id": i, "name": n} for i, n in wp.information_items],
            "item": key,
            "kind": item.kind,
            "title": getattr(item, "title", None),
            "version": getattr(item, "version", None) or (key.rsplit("-v", 1)[1] if "-v" in key else None),
            "project": self.ws.config.project,
            "date": dt.date.today().isoformat(),
            "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "tool": f"mle3 {__version__}",
            "git": git_commit(self.ws),
            "fingerprint": fp,
            "required_roles": roles,
            "missing_roles": [st.role for st in statuses if not st.ok],
            "approvals": approved,
            "stale_approvals": stale,
            "approved": bool(roles) and all(st.ok for st in statuses),
            "record": wp.record,
            "not_counted": [d.message for d in self.counted.dropped_for(key)],
            "source_file": item._file,
        }


def _manifest_sha256(ws: Workspace, ds: Any) -> str | None:
    """The sha256 of the manifest file where it lies (the workspace or beside the data below
    its root, read through the data set's store); None when it is not reachable here."""
    from ..datasets.storage import store_for

    if not ds.manifest:
        return None
    try:
        store = store_for(ws.root, ws.config, ds.data_root)
        return store.hash(ds.manifest)[1] if store.exists(ds.manifest) else None
    except (Mle3Error, OSError):
        return None


def _linked(ctx: Context, key: str, direction: str) -> list[dict[str, Any]]:
    out = []
    for relation, other in relations(ctx.graph, key, direction):
        node = ctx.ws.by_key[other]
        out.append(
            {
                "relation": relation,
                "id": other,
                "kind": node.kind,
                "title": getattr(node, "title", None),
                "status": getattr(node, "status", None),
            }
        )
    return out


# ----------------------------------------------------------------------------- 04-11
def build_training_configuration(ctx: Context, cfg: Any) -> dict[str, Any]:
    from ..recipe.mapping import map_config

    ws = ctx.ws
    aug = ws.resolve(cfg.augmentation) if cfg.augmentation else None
    mapping = map_config(cfg, aug if aug is not None and aug.kind == "augmentation" else None)
    dataset = ws.resolve(cfg.dataset) if cfg.dataset else None
    runs = [r for r in ws.of_kind("run") if ws.resolve(r.config) is cfg]
    recorded, source = _recorded_mapping(runs)
    return {
        "parameters": [(k, v) for k, v in flatten({k: v for k, v in cfg._raw.items() if k not in ("id",)})],
        "augmentation": flatten(aug._raw) if aug is not None and aug.kind == "augmentation" else [],
        "augmentation_ref": cfg.augmentation,
        "mapping": recorded if recorded is not None else mapping.rows,
        "mapping_source": source,
        "problems": mapping.problems,
        "dataset": dataset,
        "upstream": _linked(ctx, cfg.id, "up"),
        "downstream": _linked(ctx, cfg.id, "down"),
        "runs": sorted(runs, key=lambda r: str(r.created or ""), reverse=True),
        "preview": augmentation_preview(ws, cfg) if aug is not None and aug.kind == "augmentation" else None,
        "hyperparameters": hyperparameters(ws, cfg),
    }


def _recorded_mapping(runs: list[Any]) -> tuple[list[dict[str, Any]] | None, str]:
    """The mapping the newest training run of the configuration recorded (what reached
    ultralytics), and a line saying where the table comes from."""
    trainings = [r for r in runs if r.run_kind == "training"]
    for run in sorted(trainings, key=lambda r: str(r.created or ""), reverse=True):
        rows = (run._raw or {}).get("mapping")
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            return rows, f"as recorded by run {run.id} ({run.status}) at its start"
    return None, "as mle3 maps the configuration now: no training run has recorded one yet"


PREVIEW_TILES, PREVIEW_SEED = 12, 0


def augmentation_preview(ws: Workspace, cfg: Any) -> dict[str, Any]:
    """The augmentation contact sheet for the 04-11 (PNG as base64), or why there is none
    (albumentations not installed, the training images not on this machine)."""
    import base64

    from ..optional import missing_module_message

    try:
        from ..recipe.preview import render

        sheet = render(ws, cfg, n=PREVIEW_TILES, seed=PREVIEW_SEED)
    except ModuleNotFoundError as exc:
        return {"png": None, "reason": missing_module_message(exc.name)}
    except Mle3Error as exc:
        return {"png": None, "reason": exc.message}
    return {"png": base64.b64encode(sheet.png).decode(), "tiles": len(sheet.tiles), "seed": PREVIEW_SEED}


# ----------------------------------------------------------------------------- 11-07
def build_training_dataset(ctx: Context, ds: Any) -> dict[str, Any]:
    ws = ctx.ws
    names = ds.class_names()
    split_names = list(ds.splits)
    groups = {s: [float((ds.splits[s].instances or {}).get(c, 0)) for c in names] for s in split_names}
    ranges = ws.config.policy.split_ratios
    ratios = ds.ratios()
    split_rows = []
    for name, info in ds.splits.items():
        canon = canonical_split(name)
        bounds = ranges.get(canon)
        share = ratios.get(canon)
        split_rows.append(
            {
                "name": name,
                "samples": info.samples,
                "share": share,
                "path": info.path,
                "range": bounds,
                "ok": None if share is None or bounds is None else bounds[0] - 1e-9 <= share <= bounds[1] + 1e-9,
                "image_size": info.image_size,
            }
        )
    criteria = conditions.data_criteria(ws, ds)
    manifest_hash = _manifest_sha256(ws, ds)
    return {
        "dataset": ds,
        "classes": names,
        "splits": split_rows,
        "chart": charts.bar_chart("Instances per class and split", names, groups)
        if names and any(any(v) for v in groups.values())
        else None,
        "instances": [{"class": c, **{s: int(groups[s][i]) for s in split_names}} for i, c in enumerate(names)],
        "split_names": split_names,
        "criteria": criteria,
        "characteristics": conditions.data_characteristics(ws, ds, criteria),
        "label_quality": _as_written(ds.label_quality),
        "leakage": _as_written(ds.leakage),
        "registered": _as_written(ds.registered),
        "manifest_sha256": manifest_hash,
        "upstream": _linked(ctx, ds.key, "up"),
        "downstream": _linked(ctx, ds.key, "down"),
    }


# ----------------------------------------------------------------------------- 13-65
def _run_and_model(ctx: Context, item: Any) -> tuple[Any | None, Any | None]:
    ws = ctx.ws
    if item.kind == "run":
        model = ws.resolve(item.model_version) if item.model_version else None
        return item, model
    run = ws.resolve(item.training_run)
    return (run if run is not None and run.kind == "run" else None), item


def metric_checks(ctx: Context, model: Any) -> list[dict[str, Any]]:
    rows = []
    for req_id in model.traceability.requirements:
        req = ctx.ws.resolve(req_id)
        if req is None or req.kind != "requirement":
            continue
        for c in req.criteria:
            if hasattr(c, "metric"):
                v = evaluate(c, model)
                rows.append(
                    {
                        "requirement": req.id,
                        "text": describe(c),
                        "actual": v.actual,
                        "passed": v.passed,
                        "split": canonical_split(c.split),
                    }
                )
    return rows


def epoch_charts(epochs: list[dict[str, Any]], best: int | None, early: int | None) -> list[str]:
    if not epochs:
        return []
    xs = [e["epoch"] for e in epochs]
    markers: dict[str, float | None] = {"best": best, "early stop": early}

    def col(key: str) -> list[float | None]:
        return [e.get(key) for e in epochs]

    return [
        charts.line_chart(
            "Box, class and DFL loss (train solid, val dashed)",
            [
                charts.Series("train box", xs, col("train_box_loss")),
                charts.Series("train cls", xs, col("train_cls_loss")),
                charts.Series("train dfl", xs, col("train_dfl_loss")),
                charts.Series("val box", xs, col("val_box_loss"), True),
                charts.Series("val cls", xs, col("val_cls_loss"), True),
                charts.Series("val dfl", xs, col("val_dfl_loss"), True),
            ],
            y_label="loss",
            markers=markers,
        ),
        charts.line_chart(
            "Precision and recall (val)",
            [charts.Series("precision", xs, col("precision")), charts.Series("recall", xs, col("recall"))],
            y_min=0,
            y_max=1,
            markers=markers,
        ),
        charts.line_chart(
            "mAP50 and mAP50-95 (val)",
            [charts.Series("mAP50", xs, col("mAP50")), charts.Series("mAP50-95", xs, col("mAP50_95"))],
            y_min=0,
            y_max=1,
            markers=markers,
        ),
    ]


def sampled_epochs(epochs: list[dict[str, Any]], best: int | None, limit: int = 40) -> list[dict[str, Any]]:
    """All epochs when few; else evenly spaced ones plus the first, best and last."""
    if len(epochs) <= limit:
        return epochs
    step = max(1, len(epochs) // limit)
    keep = {0, len(epochs) - 1} | set(range(0, len(epochs), step))
    keep |= {i for i, e in enumerate(epochs) if e["epoch"] == best}
    return [epochs[i] for i in sorted(keep)]


def outcomes(
    ctx: Context,
    run: Any | None,
    model: Any | None,
    dataset: Any | None,
    cfg: Any | None,
    findings: list[Any],
    checks: list[dict[str, Any]],
    doc: dict[str, Any],
) -> list[dict[str, Any]]:
    """MLE.3 outcomes O1-O5 / base practices BP1-BP5 of the model version: the assessment
    view's evaluation (mle3.reports.assessment) in the model's scope, indicators with the reason."""
    from .assessment import evaluate_workspace

    if model is None:
        return []
    mle3 = evaluate_workspace(ctx, model)["processes"][0]
    return [
        {
            "outcome": f"O{o['number']}",
            "bp": p["id"].removeprefix("MLE.3."),
            "text": o["text"],
            "indicators": p["indicators"],
            "met": p["indicators"] == "present",
            "evidence": p["reason"],
            "information_items": [i["id"] for i in p["information_items"]],
        }
        for o, p in zip(mle3["outcomes"], mle3["practices"])
    ]


def training_caveats(ws: Workspace, run: dict[str, Any], epochs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Why training stopped, best versus last epoch, the generalization gap as a chart, and
    the over- and underfitting the ``training`` rules see."""
    if not epochs:
        return None
    summary = caveats.summary(run, epochs)
    gaps = summary["generalization_gap"]
    xs = [g["epoch"] for g in gaps]
    chart = (
        charts.line_chart(
            "Generalization gap: val loss minus train loss (box + cls + dfl)",
            [charts.Series("gap", xs, [g["gap"] for g in gaps])],
            y_label="loss",
            markers={"best": run.get("best_epoch"), "early stop": run.get("early_stop_epoch")},
        )
        if any(g["gap"] is not None for g in gaps)
        else ""
    )
    limits = ws.config.training_caveats
    return {
        **summary,
        "findings": caveats.findings(epochs, limits),
        "too_few": caveats.too_few_to_judge(epochs, limits),
        "chart": chart,
    }


def _drop_on(drops: Any, split: str) -> float | None:
    """The recorded mAP50 drop on ``split``; None unless it is a number (the rule
    quantization.drop reports any other shape)."""
    value = drops.get(split) if isinstance(drops, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _as_written(block: Any) -> dict[str, Any] | None:
    """A typed block of an item as the file has it (the template reads a mapping)."""
    return block.model_dump(exclude_unset=True) if block is not None else None


def _shared_images(dataset: Any) -> Any:
    """Images in more than one split, or ``not measured`` for a data set without leakage."""
    if dataset.leakage is None or dataset.leakage.shared_images is None:
        return "not measured"
    return dataset.leakage.shared_images


class _RunFields(dict):
    """A run record for the template: a field it lacks (no run record at all, for a model
    trained outside mle3, or an older record) reads as None instead of failing the render."""

    def __missing__(self, key: str) -> None:
        return None


def build_training_report(ctx: Context, item: Any, doc: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    run, model = _run_and_model(ctx, item)
    cfg = ws.resolve(run.config) if run is not None else (ws.resolve(model.training_run) if model is not None else None)
    cfg = cfg if cfg is not None and cfg.kind == "training" else None
    dataset = (
        ws.resolve(run.dataset_version)
        if run is not None and run.dataset_version
        else (ws.resolve(model.training_data.dataset_version) if model is not None else None)
    )
    dataset = dataset if dataset is not None and dataset.kind == "dataset" else None
    run_data = _RunFields(run._raw if run is not None else {})
    epochs = run_epochs(ws.root, run.id) if run is not None else []
    best, early = (run.best_epoch, run.early_stop_epoch) if run is not None else (None, None)
    key = item_key(model) if model is not None else item_key(item)
    findings = ctx.trace_findings(key)
    checks = metric_checks(ctx, model) if model is not None else []
    optimization = optimization_of(ws, cfg)
    final = run_data.get("final_metrics") or (
        {
            "validation": model.metrics.validation.model_dump(exclude_none=True) if model.metrics.validation else {},
            "test": model.metrics.test.model_dump(exclude_none=True) if model.metrics.test else {},
        }
        if model is not None
        else {}
    )
    return {
        "run": run_data,
        "model": model,
        "config": cfg,
        "dataset": dataset,
        "epochs": sampled_epochs(epochs, best),
        "epoch_count": len(epochs),
        "charts": epoch_charts(epochs, best, early),
        "best_epoch": best,
        "early_stop_epoch": early,
        "final": final,
        "checks": checks,
        "deviations": run_data.get("deviations") or [],
        "not_applied": [r for r in (run_data.get("mapping") or []) if r.get("status") == "not_applied"],
        "findings": findings,
        "outcomes": outcomes(ctx, run, model, dataset, cfg, findings, checks, doc),
        "caveats": training_caveats(ws, run_data, epochs),
        "optimization": optimization,
        "quantization": quantization_rows(ctx, model) if model is not None else [],
        "qat_charts": qat_charts(ctx, model) if model is not None else [],
        "slices": conditions.slice_section(ctx, model) if model is not None else None,
        "split_decisions": split_decisions(ctx, run, model, cfg, checks, optimization),
        "testing": testing_evidence(ctx, run_data, model, dataset, checks),
    }


def qat_charts(ctx: Context, model: Any) -> list[str]:
    """Per-epoch val mAP50 of each QAT child against the float model's value."""
    out = []
    key = item_key(model)
    for child in ctx.ws.of_kind("model_version"):
        q = child.quantization
        if child.traceability.previous_version != key or q is None or q.method != "qat":
            continue
        epochs = run_epochs(ctx.ws.root, str(child.training_run))
        if len(epochs) < 2:  # one epoch is a single point: the table says it all
            continue
        xs = [e["epoch"] for e in epochs]
        out.append(
            charts.line_chart(
                f"QAT of {key}: val mAP50 per epoch",
                [
                    charts.Series("QAT (fake-quantized)", xs, [e.get("mAP50") for e in epochs]),
                    charts.Series("float model", xs, [e.get("float_val_mAP50") for e in epochs], True),
                ],
                y_min=0,
                y_max=1,
            )
        )
    return out


def quantization_rows(ctx: Context, model: Any) -> list[dict[str, Any]]:
    """The float model (as float ONNX, the reference every quantized child was judged
    against) and its quantized children, all measured by the same evaluator."""
    key = item_key(model)
    children = ctx.quantized_children.get(key, [])
    if not children:
        return []
    first = children[0].quantization
    reference = (first.float_reference or {}).get("metrics") or {}
    rows = [
        {
            "id": key,
            "method": "float",
            "val": reference.get("val") or {},
            "test": reference.get("test") or {},
            "size": first.float_size_bytes,
            "latency": first.float_latency_ms,
            "drop": None,
            "test_drop": None,
            "passed": None,
        }
    ]
    for m in children:
        q = m.quantization
        measured = q.metrics or {}
        rows.append(
            {
                "id": item_key(m),
                "method": q.method,
                "val": measured.get("val") or {},
                "test": measured.get("test") or {},
                "size": q.size_bytes,
                "latency": q.latency_ms,
                "drop": _drop_on(q.drop, DECISION_SPLIT),
                "test_drop": _drop_on(q.drop, TEST_SPLIT),
                "passed": q.passed,
            }
        )
    return rows


# ----------------------------------------------------------------------------- 11-06
def _model_hyperparameters(ws: Workspace, model: Any) -> dict[str, Any] | None:
    """01-54 of the configuration the model was trained with, its final values from the model's own run."""
    run = ws.resolve(model.training_run) if model.training_run else None
    run = run if run is not None and run.kind == "run" else None
    ref = model.training_config or (run.config if run is not None else None)
    cfg = ws.resolve(ref) if ref else None
    if cfg is None or cfg.kind != "training":
        return None
    return hyperparameters(ws, cfg, run)


def build_model(ctx: Context, model: Any, doc: dict[str, Any]) -> dict[str, Any]:
    ws = ctx.ws
    artifacts = []
    for name, rel in (model.artifacts.model_dump(exclude_none=True) or {}).items():
        sha = (
            ctx.fingerprints.file_hash(rel)
            if name in FILE_FIELDS or rel.endswith((".pt", ".onnx", ".engine", ".yaml"))
            else None
        )
        present = (ws.root / rel).is_file()
        artifacts.append(
            {
                "name": name,
                "path": rel,
                "sha256": sha,
                "present": present,
                "bytes": (ws.root / rel).stat().st_size if present else None,
            }
        )
    prev = ws.resolve(model.traceability.previous_version) if model.traceability.previous_version else None
    deltas = []
    if prev is not None and prev.kind == "model_version":
        for split in ("validation", "test"):
            mine, theirs = model.metrics.for_split(split), prev.metrics.for_split(split)
            if mine is None or theirs is None:
                continue
            for metric in MODEL_METRICS:
                a, b = mine.get(metric), theirs.get(metric)
                if a is not None and b is not None:
                    deltas.append({"split": split, "metric": metric, "value": a, "previous": b, "delta": a - b})
    history = ctx.audit_by_item.get(item_key(model), [])
    return {
        "model": model,
        "artifacts": artifacts,
        "metrics": {
            s: (getattr(model.metrics, s).model_dump(exclude_none=True) if getattr(model.metrics, s) else {})
            for s in ("validation", "test")
        },
        "training_data": model.training_data.model_dump(exclude_none=True),
        "training_params": model.training_params.model_dump(exclude_none=True),
        "dependencies": model.dependencies,
        "requirements": [ws.resolve(r) or r for r in model.traceability.requirements],
        "architecture": ws.resolve(model.traceability.architecture) if model.traceability.architecture else None,
        "previous": prev,
        "deltas": deltas,
        "checks": metric_checks(ctx, model),
        "history": history,
        "quantization": quantization_rows(ctx, model),
        "slices": conditions.slice_section(ctx, model),
        "hyperparameters": _model_hyperparameters(ws, model),
        "upstream": _linked(ctx, item_key(model), "up"),
        "downstream": _linked(ctx, item_key(model), "down"),
    }


WORK_PRODUCTS: dict[str, WorkProduct] = {
    "08-65": WorkProduct(
        "08-65",
        "ML training and validation approach",
        ("approach",),
        "wp_08-65.html.j2",
        lambda ctx, item, doc: build_approach(ctx, item),
        (("08-65", "ML training and validation approach (MLE.3.BP1)"),),
    ),
    "04-11": WorkProduct(
        "04-11",
        "ML training configuration",
        ("training",),
        "wp_04-11.html.j2",
        lambda ctx, item, doc: build_training_configuration(ctx, item),
        (("01-54", "Hyperparameter: the values the configuration sets (initial values)"),),
    ),
    "11-07": WorkProduct(
        "11-07",
        "ML training data set",
        ("dataset",),
        "wp_11-07.html.j2",
        lambda ctx, item, doc: build_training_dataset(ctx, item),
        (
            ("03-51", "ML data set"),
            ("03-53", "ML data: per-image metadata and data characteristics"),
        ),
    ),
    "13-51": WorkProduct(
        "13-51",
        "Consistency evidence",
        ("model_version",),
        "wp_13-51.html.j2",
        lambda ctx, item, doc: build_consistency(ctx, item),
        (("13-51", "Consistency evidence: the trace both ways, the check behind each link (MLE.3.BP4)"),),
        release_blockers=release_blockers,
    ),
    "13-65": WorkProduct(
        "13-65",
        "ML training report",
        ("run", "model_version"),
        "wp_13-65.html.j2",
        build_training_report,
        (
            ("13-51", "Consistency evidence: the criteria of the model with their actual values"),
            ("MLE.3.BP5", "Summary of the training and optimization results"),
        ),
    ),
    "11-06": WorkProduct(
        "11-06",
        "ML model",
        ("model_version",),
        "wp_11-06.html.j2",
        build_model,
        (("01-53", "Trained ML model"), ("01-54", "Hyperparameter: the values it was trained with (final values)")),
    ),
    "13-52": WorkProduct(
        "13-52",
        "Communication evidence",
        tuple(sorted({str(getattr(m, "kind", k)) for k, (m, plural) in KINDS.items() if not plural})),
        "wp_13-52.html.j2",
        lambda ctx, item, doc: build_communications(ctx, item),
        (("13-52", "Communication evidence: who was informed of what, delivered or not (MLE.3.BP5)"),),
        record=True,
    ),
}


def work_product(wp_id: str) -> WorkProduct:
    wp = WORK_PRODUCTS.get(wp_id)
    if wp is None:
        raise Mle3Error(f"unknown work product {wp_id!r} (one of {', '.join(WORK_PRODUCTS)})")
    return wp
