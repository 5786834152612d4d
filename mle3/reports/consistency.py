"""The 13-51 consistency evidence of a model version: its whole trace both ways and, for
each link, the check that makes it consistent rather than merely present.

A link is judged by facts, never by its existence alone: the weights on disk against the
sha256 the run recorded, the data set fingerprint a run or study recorded against the
registered one, the configuration snapshot of a run against the live configuration, the
criteria of a requirement with their actual values, the parent fingerprint a quantized
child recorded. The findings ``mle3 check`` reports on either end of the link (the same
rules, run once for the document) decide what the facts alone cannot. A link with nothing
to check beyond its target existing says so ("linked") instead of passing.

Every item of the trace also shows its approvals: fresh and by whom, stale, rejected, and
those not counted because they do not verify (ledger.gates).

The review records (``review:``) of items of the trace are the semantic half: who judged
whether the linked items make sense together, against which checklist, which links they
sampled, and whether the approvals of the review still bind what it reviewed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..graph import downstream, upstream
from ..ledger.approvals import role_status
from ..ledger.duties import label
from ..rules.approach import accepted_deviation, entry_check, hardware_gaps, model_exit_verdict, used_hardware
from ..rules.criteria import evaluate
from ..rules.quantization import finite_number
from ..vocab import DECISION_SPLIT, is_validation_split
from ..workspace import item_key
from ..workspace.schema import MetricCriterion

#: a link's verdict, worst last (the summary and the colour follow this order)
VERDICTS = ("consistent", "linked", "warning", "inconsistent")

#: rules whose findings on either end of a link (source kind, relation) make it inconsistent
LINK_RULES: dict[tuple[str, str], tuple[str, ...]] = {
    ("model_version", "trained_by"): (
        "artifact.not-materialized",
        "consistency.artifact-missing",
        "consistency.path-outside",
        "status.unknown",
    ),
    ("model_version", "uses_config"): ("consistency.config-drifted",),
    ("model_version", "uses_dataset"): (
        "consistency.dataset-version",
        "consistency.sample-count",
        "data.changed",
        "data.manifest",
        "data.retired",
        "consistency.split-overlap",
        "data.label-quality",
    ),
    ("model_version", "traces_to"): ("criteria.unmet", "criteria.not-evaluable", "criteria.unreadable"),
    ("model_version", "previous_version"): (
        "quantization.stale-parent",
        "quantization.drop",
        "trace.previous-version-cycle",
    ),
    ("run", "uses_config"): ("consistency.config-drifted",),
    ("run", "uses_dataset"): ("data.changed", "data.manifest", "data.retired", "approach.entry-unmet"),
    ("training", "uses_dataset"): ("consistency.dataset-version", "data.retired", "trace.config-no-dataset"),
    ("training", "follows"): (
        "approach.entry-unmet",
        "approach.exit-unmet",
        "approach.early-stopping",
        "approach.hardware-deviation",
    ),
    ("dataset", "satisfies"): ("criteria.unmet", "criteria.not-evaluable", "criteria.unreadable"),
    ("dataset", "described_by"): ("data.metadata-quality",),
    ("study", "uses_dataset"): ("data.changed", "data.retired"),
}


@dataclass
class Link:
    """One edge of the trace and the check behind it."""

    source: str
    source_kind: str
    relation: str
    target: str
    target_kind: str
    #: ``up``: the link lies upstream of the model (what it rests on); ``down``: it rests on the model
    side: str
    check: str
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: nothing to check beyond the target existing
    existence_only: bool = False

    @property
    def verdict(self) -> str:
        if self.problems or any(f["severity"] == "error" for f in self.findings):
            return "inconsistent"
        if self.warnings or self.findings:
            return "warning"
        return "linked" if self.existence_only else "consistent"

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_kind": self.source_kind,
            "relation": self.relation,
            "target": self.target,
            "target_kind": self.target_kind,
            "side": self.side,
            "check": self.check,
            "facts": self.facts,
            "problems": self.problems,
            "warnings": self.warnings,
            "findings": self.findings,
            "verdict": self.verdict,
        }


def _short(sha: str | None) -> str:
    return f"{sha[:12]}…" if isinstance(sha, str) and len(sha) > 12 else str(sha)


def _finding(f: Any) -> dict[str, Any]:
    where = f.location()
    return {"rule": f.rule, "severity": f.severity, "item": f.item, "where": where, "message": f.message}


class _Checker:
    """The per-link checks of one document (one pass over the findings, memoised hashes)."""

    def __init__(self, ctx: Any, model: Any) -> None:
        self.ctx, self.ws, self.model = ctx, ctx.ws, model
        self.findings: dict[str, list[Any]] = {}
        for f in ctx.check.findings:
            if f.item and f.severity in ("error", "warning"):
                self.findings.setdefault(f.item, []).append(f)

    @cached_property
    def rule_context(self) -> Any:
        """The rules' context (what the entry criteria and accepted deviations read)."""
        from ..rules.registry import Context as RuleContext

        return RuleContext(self.ws, self.ctx.graph)

    def link(self, source: str, relation: str, target: str, side: str) -> Link:
        ws = self.ws
        src, tgt = ws.by_key[source], ws.by_key[target]
        link = Link(source, src.kind, relation, target, tgt.kind, side, "")
        check = getattr(self, f"_{src.kind}_{relation}", None)
        if check is not None:
            check(link, src, tgt)
        else:
            link.check = "the target exists and is of the kind the field names; its content is part of the fingerprint"
            link.existence_only = True
        rules = LINK_RULES.get((src.kind, relation), ())
        seen: set[int] = set()
        for key in (source, target):
            for f in self.findings.get(key, []):
                if f.rule in rules and id(f) not in seen and self._concerns(f, link):
                    seen.add(id(f))
                    link.findings.append(_finding(f))
        return link

    @staticmethod
    def _concerns(f: Any, link: Link) -> bool:
        """A finding on a shared item (a data set, a requirement) that names other items is
        about them, not this link: a criterion of another requirement, another run's drift."""
        if link.relation in ("traces_to", "satisfies"):
            return f.item == link.target or names(f.message, link.target)
        if link.relation == "uses_config" and f.rule == "consistency.config-drifted":
            return f.item == link.source or names(f.message, link.source)
        return True

    # ------------------------------------------------------------------ model version
    def _model_version_trained_by(self, link: Link, model: Any, run: Any) -> None:
        if run.kind != "run":
            link.check = "names a configuration, not a run record: nothing shows how this model was trained"
            link.warnings.append(f"{model.id} names configuration {run.id} as its training run")
            return
        link.check = (
            "the run recorded this model as its output and ended success; the weights on disk hash as recorded, "
            "and are the checkpoint the run recorded"
        )
        named = ws_resolves(self.ws, run.model_version)
        if not run.model_version:
            link.problems.append(f"run {run.id} names no model version as its output")
        elif named is not model:
            link.problems.append(f"run {run.id} recorded model {run.model_version}, not {model.id}")
        else:
            link.facts.append(f"run {run.id} recorded {model.id} as its output")
        if run.status != "success":
            link.problems.append(f"run {run.id} ended {run.status}")
        else:
            link.facts.append(f"run {run.id} ended success")
        self._weights(link, model)
        if run.run_kind == "training" and model.quantization is None:
            self._checkpoint(link, model, run)

    def _checkpoint(self, link: Link, model: Any, run: Any) -> None:
        """The model's weights are the run's best checkpoint (its last when it kept no best),
        by the sha256 the run record holds: the model file alone can be edited with its hash."""
        recorded = model.weights_sha256
        checkpoints = (run._raw or {}).get("checkpoints")
        if not recorded or not isinstance(checkpoints, list):
            return
        by_name = {
            str(c.get("path", "")).rsplit("/", 1)[-1]: c.get("sha256")
            for c in checkpoints
            if isinstance(c, dict) and isinstance(c.get("sha256"), str)
        }
        chosen = "best.pt" if "best.pt" in by_name else "last.pt" if "last.pt" in by_name else None
        if chosen is None:
            link.warnings.append(f"run {run.id} recorded no best.pt or last.pt checkpoint to compare the weights with")
        elif by_name[chosen] == recorded:
            link.facts.append(f"the weights are the run's {chosen} (sha256 {_short(recorded)} in the run record)")
        else:
            link.problems.append(
                f"the weights (sha256 {_short(recorded)}) are not the run's {chosen} ({_short(by_name[chosen])} in the "
                "run record)"
            )

    def _weights(self, link: Link, model: Any) -> None:
        compared = False
        for name, recorded in (("weights", model.weights_sha256), ("onnx", model.onnx_sha256)):
            rel = getattr(model.artifacts, name, None)
            if not rel:
                continue
            if not recorded:
                link.warnings.append(f"{name} {rel}: no sha256 recorded, nothing to compare the file with")
                continue
            compared = True
            actual = self.ctx.fingerprints.file_hash(rel)
            if actual is None:
                link.warnings.append(
                    f"{name} {rel} is not a file in this checkout: recorded sha256 {_short(recorded)} unchecked"
                )
            elif actual == recorded:
                link.facts.append(f"{name} {rel} hashes to the recorded sha256 {_short(recorded)}")
            else:
                link.problems.append(f"{name} {rel} hashes to {_short(actual)}, the record says {_short(recorded)}")
        if not compared and not model.artifacts.weights and not model.artifacts.onnx:
            link.warnings.append(f"{model.id} names no weights: nothing shows what was trained")

    def _model_version_uses_config(self, link: Link, model: Any, cfg: Any) -> None:
        link.check = "the configuration is the one its run trained with, unchanged since (or the run's snapshot binds)"
        run = ws_resolves(self.ws, model.training_run) if model.training_run else None
        if run is not None and run.kind == "run":
            used = ws_resolves(self.ws, run.config)
            if used is not cfg:
                link.problems.append(f"{model.id} names {cfg.id}; its run {run.id} trained with {run.config}")
            else:
                link.facts.append(f"run {run.id} trained with {cfg.id}")
            self._snapshot(link, run)
        else:
            link.facts.append("no run record: bound to the live configuration")

    def _snapshot(self, link: Link, run: Any) -> None:
        evidence = self.ctx.fingerprints.run_evidence(run) or {}
        snap = evidence.get("config.yaml")
        if snap:
            link.facts.append(f"configuration snapshot of run {run.id}: sha256 {_short(snap)}")
        else:
            link.facts.append(f"run {run.id} kept no configuration snapshot: bound to the live configuration")

    def _model_version_uses_dataset(self, link: Link, model: Any, ds: Any) -> None:
        link.check = "the data set version is the run's, its files match the registered fingerprint, the counts agree"
        self._data_fingerprint(link, model, ds)
        td = model.training_data
        for split in ("train", "val", "test"):
            declared = getattr(td, f"{split}_samples", None)
            registered = ds.samples(split) if hasattr(ds, "samples") else None
            if declared is None or registered is None:
                continue
            if declared == registered:
                link.facts.append(f"{split}: {declared} samples, as registered")
            else:
                link.problems.append(f"{split}: the model declares {declared} samples, the data set {registered}")

    def _data_fingerprint(self, link: Link, model: Any, ds: Any) -> None:
        run = ws_resolves(self.ws, model.training_run) if model.training_run else None
        if run is not None and run.kind == "run":
            self._run_uses_dataset(link, run, ds, checked_text=False)
        elif ds.fingerprint:
            link.warnings.append(
                f"registered fingerprint {_short(ds.fingerprint)}; no run record states the one trained on"
            )

    def _model_version_traces_to(self, link: Link, model: Any, req: Any) -> None:
        self._criteria(link, model, req, metric=True)

    def _model_version_previous_version(self, link: Link, child: Any, parent: Any) -> None:
        block = child.quantization
        if block is None:
            link.check = "a newer version of the model line: its content is part of the fingerprint"
            link.existence_only = True
            return
        link.check = "the float model is unchanged since it was quantized, and the drop on val is within the threshold"
        recorded = block.parent_fingerprint
        if isinstance(recorded, str) and recorded:
            now = self.ctx.fingerprints.of(item_key(parent))
            if now == recorded:
                link.facts.append(f"parent fingerprint {_short(recorded)} as recorded at quantization")
            elif block.parent_fingerprint_version is None and recorded == self.ctx.fingerprints.v1_of(item_key(parent)):
                link.facts.append(f"parent fingerprint {_short(recorded)} as recorded (version 1 definition)")
            else:
                link.problems.append(
                    f"the parent's fingerprint is {_short(now)}, quantization recorded {_short(recorded)}"
                )
        else:
            link.warnings.append("the quantization record names no parent fingerprint")
        self._drops(link, block)

    @staticmethod
    def _drops(link: Link, block: Any) -> None:
        """Each recorded mAP50 drop against the recorded threshold (a NaN or a word is no drop)."""
        threshold = block.threshold
        bound = threshold if finite_number(threshold) else None
        if bound is None:
            link.problems.append(f"the quantization record's threshold {threshold!r} is not a number")
        drops = block.drop if isinstance(block.drop, dict) else None
        if drops is None:
            link.problems.append(f"the quantization record's drop {block.drop!r} is not a drop per split")
            return
        for split, value in sorted(drops.items(), key=lambda kv: str(kv[0])):
            if not finite_number(value):
                link.problems.append(f"{split} drop {value!r} is not a number")
            elif bound is not None and value > bound and not is_validation_split(str(split)):
                link.facts.append(
                    f"{split} mAP50 drop {value:.4f} beyond {bound}: testing evidence (MLE.4); the gate decides on "
                    f"{DECISION_SPLIT}"
                )
            elif bound is not None and value > bound:
                link.problems.append(f"{split} mAP50 drop {value:.4f} exceeds the threshold {bound}")
            elif bound is not None:
                link.facts.append(f"{split} mAP50 drop {value:.4f} within the threshold {bound}")
        if block.passed is False:
            link.problems.append("the quantization recorded a drop beyond its threshold")

    # ------------------------------------------------------------------ run, configuration, study
    def _run_uses_config(self, link: Link, run: Any, cfg: Any) -> None:
        from ..formats import config_hash

        if run.run_kind != "training":  # a quantization run names its float model's configuration
            link.check = f"a {run.run_kind} run names the configuration its float model was trained with"
            float_run = ws_resolves(self.ws, self._float_model().training_run)
            if float_run is not None and float_run.kind == "run" and ws_resolves(self.ws, float_run.config) is not cfg:
                link.problems.append(f"the float model was trained with {float_run.config}, not {cfg.id}")
            else:
                link.facts.append(f"the float model was trained with {cfg.id}")
            return
        link.check = "the configuration hashes as the run recorded at its start (else its snapshot binds the run)"
        if run.config_sha256:
            now = config_hash(cfg._raw)
            if now == run.config_sha256:
                link.facts.append(f"{cfg.id} hashes to {_short(now)}, as the run recorded at its start: unchanged")
            else:
                link.facts.append(
                    f"{cfg.id} was edited since the run started ({_short(run.config_sha256)} then, {_short(now)} now)"
                )
                self._snapshot(link, run)
        else:
            link.warnings.append(f"run {run.id} recorded no configuration hash")
        snapshot = self._snapshot_training(run)
        if snapshot is not None and run.config_sha256:
            if config_hash(snapshot) == run.config_sha256:
                link.facts.append(f"its configuration snapshot hashes to the same {_short(run.config_sha256)}")
            else:
                link.problems.append(
                    f"the configuration snapshot of run {run.id} no longer hashes to the {_short(run.config_sha256)} "
                    "the run recorded at its start: it was edited afterwards"
                )

    def _snapshot_training(self, run: Any) -> Any:
        """The ``training:`` mapping of a run's configuration snapshot (None: none, unreadable,
        too large or too deep: the loader's bounds)."""
        from ..workspace.yamlpos import MAX_FILE_BYTES, YamlProblem, parse_fast

        rel = self.ctx.fingerprints.run_evidence_files(run).get("config.yaml")
        if not rel or self.ctx.fingerprints.file_hash(rel) is None:
            return None
        path = self.ws.root / rel
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                return None
            docs, _ = parse_fast(path.read_bytes())
        except (OSError, YamlProblem):
            return None
        doc = docs[0] if len(docs) == 1 else None
        return doc.get("training") if isinstance(doc, dict) else None

    def _run_uses_dataset(self, link: Link, run: Any, ds: Any, checked_text: bool = True) -> None:
        if checked_text:
            link.check = "the data set fingerprint the run recorded at its start is the registered one"
        recorded, registered = run.dataset_fingerprint, ds.fingerprint
        if recorded and registered:
            if recorded == registered:
                link.facts.append(f"run {run.id} trained on fingerprint {_short(recorded)}, the registered one")
            else:
                link.problems.append(
                    f"run {run.id} recorded data fingerprint {_short(recorded)}, {ds.key} is registered as "
                    f"{_short(registered)}"
                )
        elif registered:
            link.warnings.append(f"run {run.id} recorded no data fingerprint: what it trained on is not stated")

    def _study_uses_dataset(self, link: Link, study: Any, ds: Any) -> None:
        link.check = "the data set fingerprint the study recorded is the registered one"
        recorded, registered = study.dataset_fingerprint, ds.fingerprint
        if recorded and registered and recorded != registered:
            link.problems.append(f"study {study.id} recorded {_short(recorded)}, {ds.key} is {_short(registered)}")
        elif recorded and registered:
            link.facts.append(f"study {study.id} tuned on fingerprint {_short(recorded)}, the registered one")
        else:
            link.existence_only = True

    def _training_uses_dataset(self, link: Link, cfg: Any, ds: Any) -> None:
        link.check = "the model's data set version is a version of the data set the configuration names"
        floating = cfg.dataset == ds.id
        trained = self._float_model()
        used = ws_resolves(self.ws, trained.training_data.dataset_version)
        if used is None or used.kind != "dataset":
            link.warnings.append(f"{trained.id} names no registered data set version to compare with {cfg.dataset}")
        elif used.id != ds.id:
            link.problems.append(f"{trained.id} trained on {used.key}, not a version of {ds.id} that {cfg.id} names")
        else:
            latest = " (its latest version)" if floating else ""
            link.facts.append(f"{trained.id} trained on {used.key}, a version of {cfg.dataset}{latest}")

    def _float_model(self) -> Any:
        """The model whose training the upstream links describe: a quantized child's float parent."""
        model, seen = self.model, set()
        while model.quantization is not None and model.traceability.previous_version and id(model) not in seen:
            seen.add(id(model))
            parent = ws_resolves(self.ws, model.traceability.previous_version)
            if parent is None or parent.kind != "model_version":
                break
            model = parent
        return model

    def _training_follows(self, link: Link, cfg: Any, approach: Any) -> None:
        link.check = "the training of this model met the approach's entry and exit criteria, on the required hardware"
        trained = self._float_model()
        run = ws_resolves(self.ws, trained.training_run) if trained.training_run else None
        if run is None or run.kind != "run" or ws_resolves(self.ws, run.config) is not cfg:
            link.warnings.append(f"{cfg.id} follows {approach.id}; no run record of {trained.id} shows its training")
            return
        rctx = self.rule_context
        for c in entry_check(rctx, run, cfg, approach):
            if c.met is True:
                link.facts.append(f"entry: {c.name}: {c.detail}")
            elif c.met is False:
                link.problems.append(f"entry: {c.name}: {c.detail}")
        verdict = model_exit_verdict(self.ws, trained)
        if verdict is not None and verdict.approach == approach.id:
            (link.facts if verdict.met else link.problems).extend(f"exit: {line}" for line in verdict.lines)
        required = approach.environment.hardware if approach.environment is not None else None
        if required is not None:
            used = used_hardware(run)
            gaps = hardware_gaps(required, used)
            shown = used.text() if used is not None else "not recorded"
            if not gaps:
                link.facts.append(f"hardware: {shown}, as required ({required.text()})")
            else:
                accepted = accepted_deviation(rctx, run)
                line = f"hardware: {shown}; required {required.text()} ({'; '.join(gaps)})"
                if accepted is not None:
                    link.facts.append(
                        f"{line}: deviation accepted by {accepted.name} ({accepted.role}): {accepted.comment}"
                    )
                else:
                    link.warnings.append(f"{line}: a deviation nobody accepted")

    # ------------------------------------------------------------------ data set
    def _dataset_satisfies(self, link: Link, ds: Any, req: Any) -> None:
        self._criteria(link, ds, req, metric=False)

    def _dataset_described_by(self, link: Link, ds: Any, odd: Any) -> None:
        link.check = "every image has a metadata row whose values lie in the ODD's vocabulary"
        meta = ds.metadata
        errors = getattr(meta, "errors", None) if meta is not None else None
        if errors:
            link.problems.append(f"{errors} metadata problem(s) recorded at registration")
        elif errors == 0:
            link.facts.append("the metadata table had no problem at registration")

    def _criteria(self, link: Link, item: Any, req: Any, *, metric: bool) -> None:
        criteria = [c for c in req.criteria if isinstance(c, MetricCriterion) == metric]
        if not criteria:
            others = len(req.criteria)
            if others and metric:
                link.check = (
                    f"{req.id}'s {others} criteria are data criteria, checked on the data set that satisfies it "
                    "(its own link); none is a metric of the model"
                )
            elif others:
                link.check = f"{req.id}'s {others} criteria are metrics of the models that trace to it, checked there"
            else:
                link.check = f"{req.id} states no criterion: nothing says what meeting it means"
            link.existence_only = True
            return
        link.check = f"the {len(criteria)} criteria of {req.id}, with the actual values"
        for c in criteria:
            v = evaluate(c, item, ws=self.ws, requirement=req)
            text = f"{v.text}: actual {v.actual}"
            if v.passed is True:
                link.facts.append(f"met: {text}")
            elif v.passed is False:
                link.problems.append(f"not met: {text}")
            else:
                link.warnings.append(f"not evaluable: {v.text} ({v.reason or 'no value'})")


def names(message: str, item_id: str) -> bool:
    """Whether a finding's message names ``item_id`` as a whole id (REQ-PERF is not REQ-PERF2)."""
    return re.search(rf"(?<![\w.-]){re.escape(item_id)}(?![\w-]|\.\w)", message) is not None


def ws_resolves(ws: Any, ref: str | None) -> Any:
    return ws.resolve(ref) if ref else None


def _trace_edges(graph: Any, key: str) -> tuple[list[tuple[str, str, str, str]], set[str], set[str]]:
    """(source, relation, target, side) of every edge of the trace, the upstream and the downstream keys.
    Review records are not part of the trace (a review of the model rests on it, but is no
    product of it): the document shows them in their own section."""
    up = upstream(graph, key)
    down = {n for n in downstream(graph, key) if graph.nodes[n].get("kind") != "review"}
    edges: list[tuple[str, str, str, str]] = []
    for node in sorted({key} | up):
        for _, target, data in graph.out_edges(node, data=True):
            edges.append((node, data["relation"], target, "up"))
    for node in sorted(down):
        for _, target, data in graph.out_edges(node, data=True):
            if target == key or target in down:
                edges.append((node, data["relation"], target, "down"))
    edges.sort(key=lambda e: (e[3] != "up", e[0] != key, e[0], e[1], e[2]))
    return edges, up, down


def _approvals(ctx: Any, key: str, item: Any) -> dict[str, Any]:
    """The approvals of one item of the trace per the policy's roles: fresh and by whom,
    stale, rejected, missing; and those that do not verify (not counted)."""
    from .products import WORK_PRODUCTS

    policy = ctx.ws.config.policy.approvals
    fp = ctx.fingerprints.of(key)
    rows = []
    wps = [wp for wp in WORK_PRODUCTS.values() if item.kind in wp.kinds and policy.get(wp.id)]
    if item.kind == "model_version" and getattr(item, "status", None) in ("validated", "released"):
        gates = [s for s in ("validated", "released") if policy.get(s)]
        if item.status == "validated":
            gates = gates[:1]
    else:
        gates = []
    for name in [wp.id for wp in wps] + gates:
        for st in role_status(ctx.approvals, key, fp, list(policy.get(name, []))):
            if item.kind == "run" and not (st.approved_by or st.stale or st.rejected_by):
                continue  # a run's 13-65 is normally approved on the model it made
            if st.approved_by:
                state = "fresh"
            elif st.rejected_by:
                state = "rejected"
            elif st.stale:
                state = "stale"
            else:
                state = "missing"
            rows.append(
                {
                    "for": name,
                    "role": st.role,
                    "state": state,
                    "by": [f"{label(a)} at {a.time}{' (signed)' if a.signer else ''}" for a in st.approved_by],
                    "stale": [f"{label(a)} at {a.time} (approved {_short(a.fingerprint)})" for a in st.stale],
                    "rejected": [f"{label(a)} at {a.time}" for a in st.rejected_by],
                }
            )
    return {"fingerprint": fp, "rows": rows, "not_counted": [d.message for d in ctx.counted.dropped_for(key)]}


def _review_approvals(ctx: Any, key: str) -> dict[str, Any]:
    """Every role a decision on the review was recorded in, and whether it binds today's
    content (the review and what it reviewed: its fingerprint covers them)."""
    from ..ledger.approvals import latest_decisions

    fp = ctx.fingerprints.of(key)
    roles = sorted({a.role for a in latest_decisions(ctx.approvals, key)})
    rows = []
    for st in role_status(ctx.approvals, key, fp, roles):
        state = "fresh" if st.approved_by else "rejected" if st.rejected_by else "stale" if st.stale else "missing"
        rows.append(
            {
                "role": st.role,
                "state": state,
                "by": [f"{label(a)} at {a.time}{' (signed)' if a.signer else ''}" for a in st.approved_by],
                "stale": [f"{label(a)} at {a.time} (approved {_short(a.fingerprint)})" for a in st.stale],
                "rejected": [f"{label(a)} at {a.time}" for a in st.rejected_by],
            }
        )
    states = {r["state"] for r in rows}
    summary = next((s for s in ("rejected", "stale", "fresh") if s in states), "unapproved")
    not_counted = [d.message for d in ctx.counted.dropped_for(key)]
    return {"fingerprint": fp, "state": summary, "rows": rows, "not_counted": not_counted}


def _reviews(ctx: Any, checker: _Checker, trace: set[str]) -> list[dict[str, Any]]:
    """The review records of items of the trace: who reviewed what, the checklist, the
    sampled links (and whether each is an edge of the graph), and their approvals."""
    from ..rules.review import review_failures

    ws, graph = ctx.ws, ctx.graph
    out = []
    for review in sorted(ws.of_kind("review"), key=lambda r: (str(r.date), r.id)):
        named = [(ref, ws.resolve(ref)) for ref in review.reviews]
        reviewed = [item_key(t) for _, t in named if t is not None]
        if not any(k in trace for k in reviewed):
            continue
        key = item_key(review)
        links = []
        for sl in review.sampled_links:
            src, tgt = ws.resolve(sl.source), ws.resolve(sl.target)
            edges = (
                {d["relation"] for d in graph.get_edge_data(item_key(src), item_key(tgt), default={}).values()}
                if src is not None and tgt is not None
                else set()
            )
            links.append(
                {
                    "source": sl.source,
                    "relation": sl.relation,
                    "target": sl.target,
                    "result": sl.result,
                    "comment": sl.comment,
                    "in_graph": bool(edges) and (sl.relation is None or sl.relation in edges),
                }
            )
        checklist = [{"question": c.question, "result": c.result, "comment": c.comment} for c in review.checklist]
        failures = [text for text, _ in review_failures(review)]
        out.append(
            {
                "key": key,
                "title": review.title,
                "file": review._file,
                "line": ws.line_of(review),
                "reviewer": review.reviewer,
                "date": str(review.date),
                "scope": review.scope,
                "result": review.result,
                "reviews": [{"ref": ref, "key": item_key(t) if t is not None else None} for ref, t in named],
                "in_trace": sorted(k for k in reviewed if k in trace),
                "checklist": checklist,
                "checklist_counts": {r: sum(1 for c in checklist if c["result"] == r) for r in ("pass", "fail", "n/a")},
                "sampled_links": links,
                "review_findings": list(review.findings),
                "failures": failures,
                # the review found the trace semantically inconsistent (not: one checklist answer)
                "inconsistent": review.result == "failed" or any(x["result"] == "inconsistent" for x in links),
                "approvals": _review_approvals(ctx, key),
                "findings": [_finding(f) for f in checker.findings.get(key, [])],
            }
        )
    return out


def build_consistency(ctx: Any, model: Any) -> dict[str, Any]:
    """The 13-51 of a model version (see the module docstring)."""
    ws, graph = ctx.ws, ctx.graph
    key = item_key(model)
    checker = _Checker(ctx, model)
    edges, up, down = _trace_edges(graph, key)
    links = [checker.link(s, r, t, side) for s, r, t, side in edges]
    trace = {key} | up | down
    dangling = []
    for item, ref, target in graph.graph.get("references", ()):
        if target is None and item_key(item) in trace:
            found = [
                f
                for f in checker.findings.get(item_key(item), [])
                if f.rule == "trace.dangling-ref" and ref.target in f.message
            ]
            dangling.append(
                {
                    "source": item_key(item),
                    "relation": ref.relation,
                    "target": ref.target,
                    "verdict": "inconsistent" if found else "external",
                    "message": found[0].message if found else "declared external in mle3.yaml",
                }
            )
    nodes = []
    for node in sorted(trace, key=lambda k: (k != key, k not in up, ws.by_key[k].kind, k)):
        item = ws.by_key[node]
        nodes.append(
            {
                "key": node,
                "kind": item.kind,
                "title": getattr(item, "title", None),
                "status": getattr(item, "status", None),
                "side": "model" if node == key else ("up" if node in up else "down"),
                "file": item._file,
                "approvals": _approvals(ctx, node, item),
                "findings": [_finding(f) for f in checker.findings.get(node, [])],
            }
        )
    counts = {v: sum(1 for link in links if link.verdict == v) for v in VERDICTS}
    counts["inconsistent"] += sum(1 for d in dangling if d["verdict"] == "inconsistent")
    in_trace = [f for n in nodes for f in n["findings"]]
    reviews = _reviews(ctx, checker, trace)
    report = ctx.check
    return {
        "model": model,
        "links": [link.as_dict() for link in links],
        "dangling": dangling,
        "nodes": nodes,
        "counts": counts,
        "upstream_count": len(up),
        "downstream_count": len(down),
        "check": {
            "errors": sum(1 for f in report.findings if f.severity == "error"),
            "warnings": sum(1 for f in report.findings if f.severity == "warning"),
            "trace_errors": sum(1 for f in in_trace if f["severity"] == "error"),
            "trace_warnings": sum(1 for f in in_trace if f["severity"] == "warning"),
        },
        "reviews": reviews,
        "consistent": counts["inconsistent"] == 0
        and not any(f["severity"] == "error" for f in in_trace)
        and not any(r["inconsistent"] for r in reviews),
    }


#: the JSON of ``mle3 report 13-51 MODEL --to json`` (declared in mle3.cli.reports)
SCHEMA = "mle3.consistency/1"


def consistency_json(ctx: Any, model: Any) -> dict[str, Any]:
    """The 13-51 as data (what a CI job or an ALM import reads): the same facts the
    document shows, with the workspace's commit and the model's fingerprint."""
    import datetime as dt

    from .. import __version__
    from .products import git_commit

    data = build_consistency(ctx, model)
    return {
        "schema": SCHEMA,
        "project": ctx.ws.config.project,
        "model": item_key(model),
        "status": model.status,
        "fingerprint": ctx.fingerprints.of(item_key(model)),
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tool": f"mle3 {__version__}",
        "git": git_commit(ctx.ws),
        "consistent": data["consistent"],
        "counts": data["counts"],
        "check": data["check"],
        "upstream": data["upstream_count"],
        "downstream": data["downstream_count"],
        "links": data["links"],
        "dangling": data["dangling"],
        "nodes": data["nodes"],
        "reviews": data["reviews"],
    }


def release_blockers(ctx: Any, model: Any) -> list[str]:
    """Why the 13-51 of ``model`` may not go into a release: each inconsistent link (an
    approval binds the model's content, not the facts this document checks)."""
    data = build_consistency(ctx, model)
    out = []
    for x in data["links"]:
        if x["verdict"] == "inconsistent":
            why = x["problems"] or [f["message"] for f in x["findings"]] or ["see the 13-51"]
            out.append(f"inconsistent link {x['source']} -{x['relation']}-> {x['target']}: {why[0]}")
    out += [
        f"{d['source']} names {d['target']}, which is no item"
        for d in data["dangling"]
        if d["verdict"] == "inconsistent"
    ]
    out += [
        f"review {r['key']} by {r['reviewer']} found the trace inconsistent: {(r['failures'] or [r['result']])[0]}"
        for r in data["reviews"]
        if r["inconsistent"]
    ]
    return out
