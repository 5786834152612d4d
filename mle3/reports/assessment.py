"""The assessment view: ASPICE 4.0 MLE.3 (and SUP.11) base practices and outcomes, the
information items each names, the evidence this workspace holds for it, and indicators.

One evaluation serves two scopes: the whole workspace (``mle3 report assessment``) and one
model version (the outcome table of its 13-65). For every base practice it says
``present``, ``partial`` or ``missing`` with the reason: what is there and what is lacking.
These are indicators for the assessor, never a rating: a link or a configuration alone is
never "present" (MLE.3.BP4's note: the existence of links does not mean consistency).

Every fact comes from the workspace in one pass per kind (indexes built once), so the view
of a workspace with thousands of items takes about as long as ``mle3 check``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .. import __version__, audit
from ..ledger.approvals import role_status
from ..rules.criteria import evaluate
from ..vocab import AuditAction
from ..workspace import item_key
from ..workspace.schema import (
    CoverageCriterion,
    MetricCriterion,
    ShareCriterion,
    SimilarityCriterion,
)

SCHEMA = "mle3.assessment/1"
LEVELS = ("present", "partial", "missing")

#: S-CORE need ids of the ASPICE 4.0 text this view refers to, taken from the Eclipse
#: S-CORE process description (github.com/eclipse-score/process_description):
#: process/standards/aspice_40/mle/mle.3.rst (MLE.3 base practices),
#: process/standards/aspice_40/sup/sup.11.rst (SUP.11 base practices) and
#: process/standards/aspice_40/iic/iic-01.rst, iic-03.rst, iic-08.rst, iic-13.rst, iic-16.rst,
#: iic-19.rst (information items). The outcomes have no need id there (a numbered list):
#: an outcome's need links to the ids of the base practices that achieve it.
SCORE_IDS: dict[str, str] = {
    "MLE.3.BP1": "std_req__aspice_40__MLE-3-BP1",
    "MLE.3.BP2": "std_req__aspice_40__MLE-3-BP2",
    "MLE.3.BP3": "std_req__aspice_40__MLE-3-BP3",
    "MLE.3.BP4": "std_req__aspice_40__MLE-3-BP4",
    "MLE.3.BP5": "std_req__aspice_40__MLE-3-BP5",
    "SUP.11.BP1": "std_req__aspice_40__SUP-11-BP1",
    "SUP.11.BP2": "std_req__aspice_40__SUP-11-BP2",
    "SUP.11.BP3": "std_req__aspice_40__SUP-11-BP3",
    "SUP.11.BP4": "std_req__aspice_40__SUP-11-BP4",
    "SUP.11.BP5": "std_req__aspice_40__SUP-11-BP5",
    "SUP.11.BP6": "std_req__aspice_40__SUP-11-BP6",
    "01-53": "std_req__aspice_40__iic-01-53",
    "01-54": "std_req__aspice_40__iic-01-54",
    "03-51": "std_req__aspice_40__iic-03-51",
    "03-53": "std_req__aspice_40__iic-03-53",
    "08-65": "std_req__aspice_40__iic-08-65",
    "13-51": "std_req__aspice_40__iic-13-51",
    "13-52": "std_req__aspice_40__iic-13-52",
    "16-52": "std_req__aspice_40__iic-16-52",
    "19-50": "std_req__aspice_40__iic-19-50",
}

INFORMATION_ITEMS: dict[str, str] = {
    "01-53": "Trained ML model",
    "01-54": "Hyperparameter",
    "03-51": "ML data set",
    "03-53": "ML data",
    "08-65": "ML training and validation approach",
    "13-51": "Consistency evidence",
    "13-52": "Communication evidence",
    "16-52": "ML data management system",
    "19-50": "ML data quality approach",
}

#: (id, title, information items) per base practice, as the PAM names them
PRACTICES: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "MLE.3": [
        ("MLE.3.BP1", "Specify ML training and validation approach", ("08-65",)),
        ("MLE.3.BP2", "Create ML training and validation data set", ("03-51",)),
        ("MLE.3.BP3", "Create and optimize ML model", ("01-53", "01-54")),
        ("MLE.3.BP4", "Ensure consistency and establish bidirectional traceability", ("13-51",)),
        ("MLE.3.BP5", "Summarize and communicate agreed trained ML model", ("13-52",)),
    ],
    "SUP.11": [
        ("SUP.11.BP1", "Establish an ML data management system", ("16-52",)),
        ("SUP.11.BP2", "Develop an ML data quality approach", ("19-50",)),
        ("SUP.11.BP3", "Collect ML data", ("03-53",)),
        ("SUP.11.BP4", "Process ML data", ("03-53",)),
        ("SUP.11.BP5", "Assure quality of ML data", ("03-53",)),
        ("SUP.11.BP6", "Communicate agreed processed ML data", ("13-52",)),
    ],
}

#: (number, statement, base practices that achieve it)
OUTCOMES: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {
    "MLE.3": [
        (1, "A ML training and validation approach is specified.", ("MLE.3.BP1",)),
        (2, "The data set for ML training and ML validation is created.", ("MLE.3.BP2",)),
        (
            3,
            "The ML model, including hyperparameter values, is optimized to meet the defined ML requirements.",
            ("MLE.3.BP3",),
        ),
        (
            4,
            "Consistency and bidirectional traceability are established between the ML training and validation "
            "data set and the ML data requirements.",
            ("MLE.3.BP4",),
        ),
        (
            5,
            "Results of optimization are summarized, and the trained ML model is agreed and communicated to all "
            "affected parties.",
            ("MLE.3.BP5",),
        ),
    ],
    "SUP.11": [
        (1, "A ML data management system including an ML data lifecycle is established.", ("SUP.11.BP1",)),
        (2, "A ML data quality approach is developed including ML data quality criteria.", ("SUP.11.BP2",)),
        (3, "Collected ML data are processed for consistency with ML data requirements.", ("SUP.11.BP3", "SUP.11.BP4")),
        (4, "ML data are verified against defined ML data quality criteria and updated as needed.", ("SUP.11.BP5",)),
        (5, "ML data are agreed and communicated to all affected parties.", ("SUP.11.BP6",)),
    ],
}

PROCESS_NAMES = {"MLE.3": "Machine Learning Training", "SUP.11": "Machine Learning Data Management"}

#: the rules whose findings speak against the approach being followed (helper rules of family
#: ``approach``: read by id, whichever module registers them)
APPROACH_RULES = (
    "approach.missing",
    "approach.entry-unmet",
    "approach.exit-unmet",
    "approach.early-stopping",
    "approach.hardware-deviation",
)
TRACE_PREFIXES = ("trace.", "consistency.", "data.", "criteria.")
#: work products of this project that render an item of a kind (``mle3 report WP ITEM``)
REPORT_OF_KIND = {"training": "04-11", "dataset": "11-07", "model_version": "11-06", "approach": "08-65"}
#: at most this many evidence rows per practice are named in the document (all in JSON)
SHOWN = 12


@dataclass
class Evidence:
    """One piece of evidence: an item (with its file), a report, or an audit entry."""

    kind: str  # item | report | audit
    ref: str  # item key, "WP ITEM", or audit entry hash
    label: str
    file: str | None = None
    detail: str | None = None
    #: the work product that renders it (``mle3 report WP ITEM``)
    report: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref": self.ref,
            "label": self.label,
            "file": self.file,
            "detail": self.detail,
            "report": self.report,
        }


@dataclass
class Practice:
    id: str
    title: str
    information_items: tuple[str, ...]
    indicators: str
    reason: str
    there: list[str] = field(default_factory=list)
    lacking: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def score_id(self) -> str:
        return SCORE_IDS[self.id]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score_id": self.score_id,
            "title": self.title,
            "information_items": [
                {"id": i, "name": INFORMATION_ITEMS[i], "score_id": SCORE_IDS[i]} for i in self.information_items
            ],
            "indicators": self.indicators,
            "reason": self.reason,
            "there": self.there,
            "lacking": self.lacking,
            "evidence": [e.to_json() for e in self.evidence],
        }


def _verdict(there: list[str], lacking: list[str], *, nothing: bool) -> tuple[str, str]:
    """The level and the reason: missing where nothing is there, present where nothing lacks."""
    if nothing:
        level = "missing"
    elif lacking:
        level = "partial"
    else:
        level = "present"
    parts = []
    if there:
        parts.append("found: " + "; ".join(there))
    if lacking:
        parts.append(("lacking: " if level != "missing" else "missing: ") + "; ".join(lacking))
    return level, ". ".join(parts) or "nothing recorded"


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _item(item: Any, detail: str | None = None, report: str | None = None) -> Evidence:
    key = item_key(item)
    wp = report or REPORT_OF_KIND.get(item.kind)
    return Evidence("item", key, f"{item.kind} {key}", getattr(item, "_file", None), detail, wp)


class Index:
    """What the evaluation reads, gathered once per workspace: items by kind, findings by
    item, communications and approvals by item."""

    def __init__(self, ctx: Any) -> None:
        ws = ctx.ws
        self.ctx, self.ws = ctx, ws
        self.kinds: dict[str, list[Any]] = {}
        for it in ws.items:
            self.kinds.setdefault(it.kind, []).append(it)
        self.findings: dict[str, list[Any]] = {}
        for f in ctx.check.findings:
            if f.item and f.severity in ("error", "warning"):
                self.findings.setdefault(f.item, []).append(f)
        self.communications: dict[str, list[dict[str, Any]]] = {}
        for entry in audit.history(ws.root):
            if entry.get("action") == AuditAction.COMMUNICATION and isinstance(entry.get("details"), dict):
                self.communications.setdefault(str(entry.get("item")), []).append(entry)
        self.runs_of: dict[str, list[Any]] = {}
        for run in self.of("run"):
            cfg = ws.resolve(run.config)
            if cfg is not None:
                self.runs_of.setdefault(item_key(cfg), []).append(run)
        self.requirements = {r.id: r for r in self.of("requirement")}

    def of(self, kind: str) -> list[Any]:
        return self.kinds.get(kind, [])

    def rule_findings(self, keys: list[str], rules: tuple[str, ...]) -> list[Any]:
        return [f for k in keys for f in self.findings.get(k, []) if f.rule in rules]

    def trace_errors(self, keys: list[str]) -> list[Any]:
        return [
            f
            for k in keys
            for f in self.findings.get(k, [])
            if f.severity == "error" and f.rule.startswith(TRACE_PREFIXES)
        ]

    def delivered(self, key: str) -> list[dict[str, Any]]:
        return [e for e in self.communications.get(key, []) if e["details"].get("delivered") is True]

    def failed(self, key: str) -> list[dict[str, Any]]:
        return [e for e in self.communications.get(key, []) if e["details"].get("delivered") is False]

    def approved(self, key: str, wp: str) -> tuple[bool, list[Any], list[str]]:
        """Whether the roles the policy names for ``wp`` approved the item's current content:
        (all approved, the counted approvals, the roles missing)."""
        roles = self.ws.config.policy.approvals.get(wp, [])
        if not roles:
            return False, [], []
        fp = self.ctx.fingerprints.of(key)
        statuses = role_status(self.ctx.approvals, key, fp, roles)
        return (
            all(s.ok for s in statuses),
            [a for s in statuses for a in s.approved_by],
            [s.role for s in statuses if not s.ok],
        )


# ----------------------------------------------------------------------------- MLE.3
def _configs_of_models(ix: Index, models: list[Any]) -> list[Any]:
    out: dict[str, Any] = {}
    for m in models:
        cfg = _config_of(ix, m)
        if cfg is not None:
            out[item_key(cfg)] = cfg
    return list(out.values())


def _run_of(ix: Index, model: Any) -> Any | None:
    run = ix.ws.resolve(model.training_run) if model.training_run else None
    return run if run is not None and run.kind == "run" else None


def _config_of(ix: Index, model: Any) -> Any | None:
    run = _run_of(ix, model)
    ref = model.training_config or (run.config if run is not None else model.training_run)
    cfg = ix.ws.resolve(ref) if ref else None
    return cfg if cfg is not None and cfg.kind == "training" else None


def _dataset_of(ix: Index, model: Any) -> Any | None:
    run = _run_of(ix, model)
    ref = run.dataset_version if run is not None and run.dataset_version else model.training_data.dataset_version
    ds = ix.ws.resolve(ref) if ref else None
    return ds if ds is not None and ds.kind == "dataset" else None


def _approach_sections(approach: Any) -> tuple[list[str], list[str]]:
    """What an approach states of what 08-65 asks for, and what it leaves out."""
    raw = approach._raw if isinstance(getattr(approach, "_raw", None), dict) else {}
    there, lacking = [], []
    if raw.get("entry_criteria"):
        on = [k for k, v in approach.entry_criteria.model_dump().items() if v is True]
        there.append(f"entry criteria ({', '.join(on) or 'none required'})")
    else:
        lacking.append("entry criteria")
    ex = approach.exit_criteria
    exits = [
        x
        for x in (
            f"{ex.metric.metric} on val" if ex.metric else "",
            f"epoch budget {ex.epoch_budget}" if ex.epoch_budget else "",
            f"early stopping (patience <= {ex.early_stopping.patience})" if ex.early_stopping else "",
        )
        if x
    ]
    (there.append(f"exit criteria ({', '.join(exits)})") if exits else lacking.append("exit criteria"))
    tuning = approach.tuning
    if tuning is not None and (tuning.description or tuning.studies or tuning.configurations):
        there.append("hyperparameter tuning approach")
    else:
        lacking.append("hyperparameter tuning approach")
    data = approach.data
    if data is not None and (data.description or data.split_policy or data.sources or data.modification):
        there.append("approach for data set creation and modification")
    else:
        lacking.append("approach for data set creation and modification")
    env = approach.environment
    if env is not None and env.hardware is not None:
        there.append(f"training environment with required hardware {env.hardware.text()}")
    else:
        lacking.append("training environment with the required hardware")
    return there, lacking


def bp1(ix: Index, configs: list[Any], run_keys: list[str], model_keys: list[str]) -> Practice:
    ws = ix.ws
    approaches = {item_key(a): a for a in ix.of("approach")}
    evidence: list[Evidence] = []
    there: list[str] = []
    lacking: list[str] = []
    followed: dict[str, Any] = {}
    without = []
    for cfg in configs:
        ap = ws.resolve(cfg.approach) if cfg.approach else None
        if ap is not None and ap.kind == "approach":
            followed[item_key(ap)] = ap
        else:
            without.append(cfg.id)
    if not approaches and not configs:
        return Practice(
            "MLE.3.BP1",
            PRACTICES["MLE.3"][0][1],
            ("08-65",),
            "missing",
            "missing: no approach (08-65) and no training configuration in this workspace",
            [],
            ["an approach item (approach:) with entry and exit criteria, tuning, data set approach and hardware"],
        )
    if not followed:
        if approaches:
            there.append(f"approach {_names(list(approaches))} (followed by no configuration in scope)")
            evidence += [_item(a) for a in approaches.values()]
        if configs:
            there.append(f"training configuration {_names([c.id for c in configs])} (epochs, early stopping, hardware)")
            evidence += [_item(c) for c in configs[:SHOWN]]
        lacking.append(
            "no configuration follows an approach (08-65): a configuration is not the approach 08-65 asks for "
            "(entry and exit criteria, tuning approach, data set approach, training environment and hardware)"
        )
        level, reason = _verdict(there, lacking, nothing=False)
        return Practice("MLE.3.BP1", PRACTICES["MLE.3"][0][1], ("08-65",), level, reason, there, lacking, evidence)
    for key, ap in followed.items():
        has, misses = _approach_sections(ap)
        there.append(f"approach {key}: " + ", ".join(has))
        lacking += [f"approach {key} states no {m}" for m in misses]
        users = [c.id for c in configs if c.approach and ws.resolve(c.approach) is ap]
        evidence.append(_item(ap, f"followed by {_names(users)}"))
    if without:
        lacking.append(f"configuration {_names(without)} names no approach")
    there.append(f"{len(configs) - len(without)} of {len(configs)} configuration(s) follow an approach")
    evidence += [_item(c, f"follows {c.approach}" if c.approach else "names no approach") for c in configs[:SHOWN]]
    hits = ix.rule_findings([c.id for c in configs] + run_keys + model_keys, APPROACH_RULES)
    if hits:
        by_rule: dict[str, list[str]] = {}
        for f in hits:
            by_rule.setdefault(f.rule, []).append(str(f.item))
        lacking += [f"{rule} on {_names(sorted(set(keys)))}" for rule, keys in sorted(by_rule.items())]
        evidence += [Evidence("finding", f.rule, f"{f.rule} on {f.item}", f.file, f.message) for f in hits[:SHOWN]]
    else:
        there.append("no entry-unmet, exit-unmet or hardware-deviation finding (mle3 check)")
    level, reason = _verdict(there, lacking, nothing=False)
    return Practice("MLE.3.BP1", PRACTICES["MLE.3"][0][1], ("08-65",), level, reason, there, lacking, evidence)


def _dataset_lacks(ds: Any) -> list[str]:
    out = []
    if not ds.manifest:
        out.append("no manifest")
    if ds.metadata is None:
        out.append("no per-image metadata")
    if ds.characteristics is None:
        out.append("no data characteristics")
    if ds.leakage is None or ds.leakage.shared_images is None:
        out.append("leakage not measured")
    elif ds.shared_images or ds.leakage.shared_group_values:
        out.append(f"leakage: {ds.shared_images} image(s) or group(s) in more than one split")
    return out


def bp2(ix: Index, datasets: list[Any]) -> Practice:
    title = PRACTICES["MLE.3"][1][1]
    registered = [d for d in datasets if d.fingerprint]
    if not registered:
        hand = [d.key for d in datasets]
        lacking = ["no registered data set (manifest and fingerprint: mle3 dataset register)"] + (
            [f"data set {_names(hand)} written by hand"] if hand else []
        )
        return Practice(
            "MLE.3.BP2",
            title,
            ("03-51",),
            "missing",
            _verdict([], lacking, nothing=True)[1],
            [],
            lacking,
            [_item(d, "written by hand") for d in datasets[:SHOWN]],
        )
    there = [f"{len(registered)} registered data set version(s) with manifest and fingerprint"]
    lacking = []
    evidence = []
    for ds in registered:
        misses = _dataset_lacks(ds)
        if misses:
            lacking.append(f"{ds.key}: {', '.join(misses)}")
        evidence.append(
            _item(
                ds,
                f"fingerprint {ds.fingerprint[:23]}; splits {', '.join(ds.splits)}"
                + (f"; {', '.join(misses)}" if misses else "; metadata, characteristics, no leakage"),
            )
        )
    if not lacking:
        there.append("per-image metadata, data characteristics and leakage measured (none) for each")
    hand = [d.key for d in datasets if not d.fingerprint]
    if hand:
        lacking.append(f"data set {_names(hand)} not registered")
    level, reason = _verdict(there, lacking, nothing=False)
    return Practice("MLE.3.BP2", title, ("03-51",), level, reason, there, lacking, evidence[:SHOWN])


def _metric_verdicts(ix: Index, model: Any) -> list[Any]:
    out = []
    for ref in model.traceability.requirements:
        req = ix.requirements.get(ref)
        if req is None:
            continue
        out += [evaluate(c, model) for c in req.criteria if isinstance(c, MetricCriterion)]
    return out


def _optimized(ix: Index, cfg: Any | None) -> tuple[str | None, Evidence | None]:
    """How the configuration's hyperparameters were optimized: a study with complete trials,
    or a tuning block; None when by hand."""
    if cfg is None:
        return None, None
    if cfg.optimized_by:
        study = ix.ws.resolve(cfg.optimized_by)
        if study is not None and study.kind == "study":
            done = sum(1 for t in study.trials if t.status == "complete")
            if done:
                return f"study {study.id} ({done} complete trial(s))", _item(study, f"{done} complete trials")
        return None, None
    if cfg.tuning is not None:
        return f"tuning block of {cfg.id} (no accepted study)", None
    return None, None


def bp3(ix: Index, models: list[Any], judged: str) -> Practice:
    title = PRACTICES["MLE.3"][2][1]
    if not models:
        return Practice(
            "MLE.3.BP3",
            title,
            ("01-53", "01-54"),
            "missing",
            "missing: no model version in scope (01-53 trained ML model)",
            [],
            ["a trained model version"],
        )
    there, lacking, evidence = [], [], []
    full = 0
    for m in models:
        key = item_key(m)
        run = _run_of(ix, m)
        cfg = _config_of(ix, m)
        verdicts = _metric_verdicts(ix, m)
        met = sum(1 for v in verdicts if v.passed)
        how, study_ev = _optimized(ix, cfg)
        misses = []
        if run is None or run.status != "success":
            misses.append("no successful training run recorded" if run is None else f"run {run.id} {run.status}")
        if not verdicts:
            misses.append("no metric criterion of its requirements")
        elif met < len(verdicts):
            misses.append(f"{met}/{len(verdicts)} metric criteria met")
        if how is None or how.startswith("tuning block"):
            misses.append("no hyperparameter optimization recorded (01-54 values set by hand)")
        exit_unmet = ix.rule_findings([key], ("approach.exit-unmet",))
        if exit_unmet:
            misses.append("exit criteria of its approach not met")
        if not misses:
            full += 1
        else:
            lacking.append(f"{key}: {', '.join(misses)}")
        detail = (
            f"run {run.id if run else '-'} ({run.status if run else 'no run record'}); {met}/{len(verdicts)} "
            f"metric criteria met; hyperparameters {how or 'set by hand'}"
        )
        evidence.append(_item(m, detail))
        if cfg is not None:
            evidence.append(
                Evidence(
                    "report",
                    f"04-11 {cfg.id}",
                    f"01-54 hyperparameters of {cfg.id}",
                    cfg._file,
                    "initial and final values, how each was chosen",
                    "04-11",
                )
            )
        if study_ev is not None:
            evidence.append(study_ev)
    there.append(f"{judged}: {full} of {len(models)} trained, optimized and meeting their metric criteria")
    level, reason = _verdict(there, lacking, nothing=False)
    if level == "partial" and len(lacking) > 5:
        lacking = lacking[:5] + [f"and {len(lacking) - 5} more model version(s)"]
        reason = _verdict(there, lacking, nothing=False)[1]
    return Practice("MLE.3.BP3", title, ("01-53", "01-54"), level, reason, there, lacking, evidence[: SHOWN * 2])


def bp4(ix: Index, datasets: list[Any], models: list[Any], documented: list[Any] | None = None) -> Practice:
    """``documented``: the model versions whose 13-51 is cited (default ``models``; the
    workspace view cites those of its agreed models)."""
    title = PRACTICES["MLE.3"][3][1]
    ws = ix.ws
    data_reqs = [r for r in ix.of("requirement") if r.type == "ml_data"]
    if not datasets:
        return Practice(
            "MLE.3.BP4",
            title,
            ("13-51",),
            "missing",
            "missing: no data set in scope to trace to ML data requirements",
            [],
            ["a data set that satisfies ML data requirements"],
        )
    there, lacking, evidence = [], [], []
    linked = [d for d in datasets if d.requirements]
    unlinked = [d.key for d in datasets if not d.requirements]
    if unlinked:
        lacking.append(f"data set {_names(unlinked)} satisfies no requirement")
    verdicts = []
    for ds in linked:
        for ref in ds.requirements:
            req = ix.requirements.get(ref)
            if req is None:
                lacking.append(f"{ds.key} names {ref}, which is not a requirement here")
                continue
            for c in req.criteria:
                if isinstance(c, MetricCriterion):
                    continue
                verdicts.append((ds, req, evaluate(c, ds, ws=ws, requirement=req)))
        evidence.append(_item(ds, f"satisfies {', '.join(ds.requirements)}"))
    if linked:
        there.append(f"{len(linked)} data set(s) link to {_names(sorted({r for d in linked for r in d.requirements}))}")
    satisfied = {r for d in datasets for r in d.requirements}
    unsatisfied = [r.id for r in data_reqs if r.id not in satisfied]
    if unsatisfied and not models:  # workspace scope: every ML data requirement is covered by a data set
        lacking.append(f"ML data requirement {_names(unsatisfied)} satisfied by no data set")
    if verdicts:
        met = [v for _, _, v in verdicts if v.passed]
        there.append(f"{len(met)}/{len(verdicts)} data criteria met (actual values recorded at registration)")
        failed = [f"{ds.key} {req.id}: {v.text} (actual {v.actual})" for ds, req, v in verdicts if v.passed is False]
        open_ = [f"{ds.key} {req.id}: {v.text} not evaluable" for ds, req, v in verdicts if v.passed is None]
        lacking += failed[:5] + open_[:5]
    elif linked:
        lacking.append("links only: no data criterion states what consistency means")
    errors = ix.trace_errors([d.key for d in datasets] + [item_key(m) for m in models])
    if errors:
        lacking.append(f"{len(errors)} traceability/consistency error(s) (mle3 check): {errors[0].message}")
        evidence += [Evidence("finding", f.rule, f"{f.rule} on {f.item}", f.file, f.message) for f in errors[:SHOWN]]
    else:
        there.append("no traceability or consistency error (mle3 check)")
    for m in models if documented is None else documented:
        evidence.append(
            Evidence(
                "report",
                f"13-51 {item_key(m)}",
                f"13-51 consistency evidence of {item_key(m)}",
                m._file,
                "the trace both ways with the check behind each link",
                "13-51",
            )
        )
    level, reason = _verdict(there, lacking, nothing=not linked)
    return Practice("MLE.3.BP4", title, ("13-51",), level, reason, there, lacking, evidence[:SHOWN])


def _recipients(details: dict[str, Any]) -> list[str]:
    """The recipients an entry names (a hand-edited entry may hold one string, or nothing)."""
    value = details.get("recipients")
    if isinstance(value, str):
        return [value]
    return [str(r) for r in value] if isinstance(value, list) else []


def _communication(entry: dict[str, Any]) -> Evidence:
    d = entry["details"]
    to = ", ".join(_recipients(d)[:3])
    state = "delivered" if d.get("delivered") is True else f"not delivered ({d.get('error') or 'no reason'})"
    return Evidence(
        "audit",
        str(entry.get("hash") or "")[:16],
        f"communication {d.get('event')} via {d.get('channel')} to {to or 'nobody'}",
        audit.entry_file(str(entry.get("hash") or "0" * 64)) if entry.get("hash") else None,
        f"{state} at {entry.get('time')}; message {str(d.get('message_sha256') or '-')[:23]}",
    )


def _communicated(ix: Index, key: str) -> tuple[str | None, list[str], list[Evidence]]:
    """(what was communicated, what lacks, evidence) for one item's current content."""
    delivered = ix.delivered(key)
    failed = ix.failed(key)
    evidence = [_communication(e) for e in (delivered + failed)[:SHOWN]]
    if not delivered:
        why = f" ({len(failed)} attempt(s) failed)" if failed else ""
        return None, [f"{key}: no communication evidence (13-52) recorded: nobody was informed{why}"], evidence
    fp = ix.ctx.fingerprints.of(key)
    fresh = [e for e in delivered if e["details"].get("fingerprint") == fp]
    if not fresh:
        return None, [f"{key}: communicated, but of another content (fingerprint changed since)"], evidence
    recipients = sorted({r for e in fresh for r in _recipients(e["details"])})
    return f"{key} communicated to {_names(recipients, 3)}", [], evidence


def bp5(ix: Index, models: list[Any], agreed_scope: bool) -> Practice:
    title = PRACTICES["MLE.3"][4][1]
    if not models:
        return Practice(
            "MLE.3.BP5",
            title,
            ("13-52",),
            "missing",
            "missing: no trained model version to summarize, agree and communicate",
            [],
            ["a trained model version"],
        )
    there, lacking, evidence = [], [], []
    summarized = [m for m in models if _run_of(ix, m) is not None]
    if summarized:
        there.append(f"results summarized in the 13-65 of {_names([item_key(m) for m in summarized])}")
        evidence += [
            Evidence(
                "report",
                f"13-65 {item_key(m)}",
                f"13-65 training report of {item_key(m)}",
                m._file,
                "training, criteria and optimization summary",
                "13-65",
            )
            for m in summarized[:SHOWN]
        ]
    else:
        lacking.append("no training run recorded to summarize (13-65)")
    if not agreed_scope:
        lacking.append("no model version is agreed (validated or released)")
    for m in models:
        key = item_key(m)
        ok, by, missing_roles = ix.approved(key, "11-06")
        if ok:
            there.append(f"{key} agreed by {', '.join(f'{label_of(a)} as {a.role}' for a in by)}")
        else:
            if by:
                there.append(f"{key} approved by {', '.join(f'{label_of(a)} as {a.role}' for a in by)}")
            lacking.append(
                f"{key}: approvals missing for {', '.join(missing_roles) or 'the 11-06 (no role in the policy)'}"
            )
        what, misses, ev = _communicated(ix, key)
        if what:
            there.append(what)
        lacking += misses
        evidence += ev
    level, reason = _verdict(there, lacking, nothing=not there)
    return Practice("MLE.3.BP5", title, ("13-52",), level, reason, there, lacking, evidence[: SHOWN * 2])


def label_of(a: Any) -> str:
    return a.signer or a.name


# ----------------------------------------------------------------------------- SUP.11
def sup11(ix: Index, datasets: list[Any]) -> list[Practice]:
    ws = ix.ws
    names = {p[0]: (p[1], p[2]) for p in PRACTICES["SUP.11"]}
    registered = [d for d in datasets if d.registered is not None]
    keys = [d.key for d in registered]
    out = []

    def make(pid: str, there: list[str], lacking: list[str], ev: list[Evidence], nothing: bool = False) -> None:
        level, reason = _verdict(there, lacking, nothing=nothing)
        title, iis = names[pid]
        out.append(Practice(pid, title, iis, level, reason, there, lacking, ev[:SHOWN]))

    ev_all = [_item(d) for d in registered]
    # BP1: the data management system: registration with manifests, a status model, git, interfaces
    there = [f"mle3 data sets: {len(registered)} version(s) registered with manifest and fingerprint"]
    lacking = []
    roots = sorted({d.data_root for d in registered if d.data_root})
    if roots:
        there.append(f"data below the declared data root(s) {', '.join(roots)}")
    retired = [d.key for d in datasets if d.retired]
    there.append(
        "life cycle: registered, approved (11-07), retired (rejected/obsolete)"
        + (f"; retired: {_names(retired)}" if retired else "")
    )
    if not _in_git(ws):
        lacking.append("the workspace is not under configuration management (no git repository)")
    else:
        there.append("under configuration management (git)")
    inform = _informs_on_data(ws)
    if inform:
        there.append(f"affected parties informed on {', '.join(inform)}")
    else:
        lacking.append("no interface to affected parties: notifications name no data set event")
    make("SUP.11.BP1", there, lacking, ev_all)
    # BP2: quality approach: criteria on ML data requirements, bias (characteristics) criteria
    data_reqs = [r for r in ix.of("requirement") if r.type == "ml_data"]
    crits = [(r, c) for r in data_reqs for c in r.criteria if not isinstance(c, MetricCriterion)]
    bias = [(r, c) for r, c in crits if isinstance(c, (ShareCriterion, CoverageCriterion, SimilarityCriterion))]
    there, lacking = [], []
    if crits:
        there.append(f"{len(crits)} data quality criteria on {_names(sorted({r.id for r, _ in crits}))}")
    else:
        lacking.append("no data quality criterion on any ML data requirement")
    if bias:
        there.append(f"{len(bias)} criteria on data characteristics (shares, coverage, similarity) against bias")
    else:
        lacking.append("no criterion on data characteristics (sampling bias is not addressed)")
    there.append("label checks and leakage measured at every registration")
    make("SUP.11.BP2", there, lacking, [_item(r) for r in {r.id: r for r, _ in crits}.values()], nothing=not crits)
    # BP3: collect: sources and per-datum metadata
    no_source = [d.key for d in registered if not d.source]
    no_meta = [d.key for d in registered if d.metadata is None]
    there = [f"{len(registered) - len(no_source)} with a recorded source"]
    lacking = [f"no source recorded for {_names(no_source)}"] if no_source else []
    if no_meta:
        lacking.append(f"no per-image metadata (unique id and characteristics, 03-53) for {_names(no_meta)}")
    else:
        there.append("per-image metadata for each")
    make("SUP.11.BP3", there, lacking, ev_all)
    # BP4: process: annotated (label checks), analyzed (characteristics), structured (splits)
    there, lacking = ["structured in splits"], []
    label_bad = [d.key for d in registered if d.label_quality is None or (d.label_quality.errors or 0) > 0]
    no_chars = [d.key for d in registered if d.characteristics is None]
    if label_bad:
        lacking.append(f"labels unchecked or with errors in {_names(label_bad)}")
    else:
        there.append("labels checked, no error")
    if no_chars:
        lacking.append(f"data characteristics not analyzed for {_names(no_chars)}")
    else:
        there.append("data characteristics analyzed")
    make("SUP.11.BP4", there, lacking, ev_all)
    # BP5: quality assured: criteria verdicts and findings on the data sets
    verdicts = [
        (d, r, evaluate(c, d, ws=ws, requirement=r))
        for d in registered
        for r in (ix.requirements.get(ref) for ref in d.requirements)
        if r is not None
        for c in r.criteria
        if not isinstance(c, MetricCriterion)
    ]
    there, lacking = [], []
    if verdicts:
        met = sum(1 for _, _, v in verdicts if v.passed)
        there.append(f"{met}/{len(verdicts)} data quality criteria met")
        lacking += [f"{d.key} {r.id}: {v.text} ({v.actual})" for d, r, v in verdicts if not v.passed][:5]
    else:
        lacking.append("no data quality criterion verified on the registered data")
    errs = ix.trace_errors(keys)
    if errs:
        lacking.append(f"{len(errs)} error(s) on the data sets (mle3 check)")
    make("SUP.11.BP5", there, lacking, ev_all, nothing=not verdicts)
    # BP6: agreed (11-07 approvals) and communicated
    there, lacking, ev = [], [], []
    for d in registered:
        ok, by, missing_roles = ix.approved(d.key, "11-07")
        if ok:
            there.append(f"{d.key} agreed by {', '.join(f'{label_of(a)} as {a.role}' for a in by)}")
        else:
            lacking.append(f"{d.key}: 11-07 approvals missing for {', '.join(missing_roles) or 'a role'}")
        what, misses, e = _communicated(ix, d.key)
        if what:
            there.append(what)
        lacking += misses
        ev += e
    make("SUP.11.BP6", there, lacking, ev + ev_all, nothing=not there)
    return out


def _in_git(ws: Any) -> bool:
    from .products import git_commit

    return bool(git_commit(ws).get("commit"))


def _informs_on_data(ws: Any) -> list[str]:
    """Events about data sets the workspace's notifications inform someone of."""
    notifications = getattr(ws.config, "notifications", None)
    inform = getattr(notifications, "inform", None) if notifications is not None else None
    events = []
    for rule in inform or []:
        on = getattr(rule, "on", None) or (rule.get("on") if isinstance(rule, dict) else None) or []
        events += [
            str(e)
            for e in ([on] if isinstance(on, str) else on)
            if "dataset" in str(e) or "11-07" in str(e) or str(e) in ("approval.*", "rejection.*")
        ]
    return sorted(set(events))


# ----------------------------------------------------------------------------- the evaluation
def _outcomes(process: str, practices: list[Practice]) -> list[dict[str, Any]]:
    by_id = {p.id: p for p in practices}
    out = []
    for number, text, bps in OUTCOMES[process]:
        mine = [by_id[b] for b in bps if b in by_id]
        levels = {p.indicators for p in mine}
        level = "present" if levels == {"present"} else "missing" if levels == {"missing"} else "partial"
        out.append(
            {
                "id": f"{process}.O{number}",
                "number": number,
                "text": text,
                "practices": list(bps),
                "score_ids": [SCORE_IDS[b] for b in bps],
                "indicators": level,
                "reason": " | ".join(f"{p.id}: {p.reason}" for p in mine),
                "lacking": [x for p in mine for x in p.lacking],
            }
        )
    return out


def _process(pid: str, practices: list[Practice]) -> dict[str, Any]:
    return {
        "id": pid,
        "name": PROCESS_NAMES[pid],
        "practices": [p.to_json() for p in practices],
        "outcomes": _outcomes(pid, practices),
    }


def evaluate_workspace(ctx: Any, model: Any | None = None) -> dict[str, Any]:
    """The evaluation: the whole workspace, or (``model``) one model version's trace."""
    from .products import git_commit

    ix = Index(ctx)
    ws = ctx.ws
    if model is not None:
        models = [model]
        cfg = _config_of(ix, model)
        configs = [cfg] if cfg is not None else []
        ds = _dataset_of(ix, model)
        datasets = [ds] if ds is not None else []
        run = _run_of(ix, model)
        runs = [run.id] if run is not None else []
        agreed = [model]
        judged = f"model version {item_key(model)}"
        scope: dict[str, str | None] = {"kind": "model_version", "item": item_key(model)}
        bp5_models, agreed_scope = [model], True
    else:
        all_models = [m for m in ix.of("model_version") if m.status not in ("rejected", "obsolete", "retired")]
        agreed = [m for m in all_models if m.status in ("validated", "released")]
        models = agreed or all_models
        judged = (
            f"the {len(agreed)} model version(s) at validated or released"
            if agreed
            else f"the {len(all_models)} draft model version(s) (none is validated or released)"
        )
        configs = ix.of("training")
        datasets = [d for d in ix.of("dataset") if not d.retired]
        runs = [r.id for r in ix.of("run")]
        scope = {"kind": "workspace", "item": None}
        bp5_models, agreed_scope = (agreed, True) if agreed else (all_models, False)
    model_keys = [item_key(m) for m in models]
    mle3 = [
        bp1(ix, configs, runs, model_keys),
        bp2(ix, datasets),
        bp3(ix, models, judged),
        bp4(ix, datasets, models if model is not None else [], None if model is not None else bp5_models[:SHOWN]),
        bp5(ix, bp5_models, agreed_scope),
    ]
    processes = [_process("MLE.3", mle3)]
    if any(d.registered is not None for d in datasets):
        processes.append(_process("SUP.11", sup11(ix, datasets)))
    counts = {level: 0 for level in LEVELS}
    for proc in processes:
        for p in proc["practices"]:
            counts[p["indicators"]] += 1
    return {
        "schema": SCHEMA,
        "project": ws.config.project,
        "scope": scope,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tool": f"mle3 {__version__}",
        "git": git_commit(ws),
        "note": "Indicators for the assessor, not a rating: present where this workspace holds more than a link or "
        "a configuration, partial with what lacks, missing where there is nothing.",
        "processes": processes,
        "counts": counts,
    }


# ----------------------------------------------------------------------------- documents
def _with_links(evaluation: dict[str, Any], root: Any, out_dir: Any) -> dict[str, Any]:
    """Evidence with hyperlinks relative to the document's folder: the item's file, and the
    work product under the name ``mle3 report WP ITEM`` (and the release package) gives it."""
    import copy
    import os
    from pathlib import Path

    doc = copy.deepcopy(evaluation)
    base = Path(out_dir).resolve()
    for proc in doc["processes"]:
        for p in proc["practices"]:
            for ev in p["evidence"]:
                ev["href"] = os.path.relpath(Path(root) / ev["file"], base) if ev.get("file") else None
                subject = ev["ref"].split(" ", 1)[-1]
                ev["report_href"] = f"{ev['report']}_{subject}.pdf" if ev.get("report") else None
    return doc


def render(ctx: Any, fmt: str, output: Any, model: Any | None = None) -> dict[str, Any]:
    """Write the assessment view as html, pdf, json or needs (sphinx-needs needs.json);
    returns the evaluation."""
    import json
    from pathlib import Path

    from .._atomic import atomic_write_bytes, atomic_write_text
    from ..templating import render_template

    evaluation = evaluate_workspace(ctx, model)
    output = Path(output)
    if fmt == "json":
        atomic_write_text(output, json.dumps(evaluation, indent=2) + "\n")
    elif fmt == "needs":
        from ..interop.needs import to_needs

        atomic_write_text(output, json.dumps(to_needs(evaluation), indent=2, sort_keys=True) + "\n")
    else:
        html = render_template(
            "assessment.html.j2", str(ctx.ws.root), e=_with_links(evaluation, ctx.ws.root, output.parent)
        )
        if fmt == "pdf":
            from .render import html_to_pdf

            atomic_write_bytes(output, html_to_pdf(html, ctx.ws))
        else:
            atomic_write_text(output, html)
    return evaluation
