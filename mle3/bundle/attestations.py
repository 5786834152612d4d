"""The in-toto Statements of a release bundle, each with the model's files as subject.

- **training provenance** (SLSA provenance v1): build type ``urn:mle3:build-type:training:v1``;
  external parameters = the configuration the run recorded; resolved dependencies = the
  data set (its manifest's fingerprint), the base weights, mle3 and ultralytics, the
  workspace commit; run details = run id, start and end, host and hardware. The predicate
  is parsed into in-toto's own SLSA message type, so a field SLSA does not define fails here.
- **evaluation** (``urn:mle3:predicate:evaluation:v1``): each requirement criterion on the
  model, its children and its data set, with its bound, actual value and verdict. in-toto's
  test-result predicate holds test names only, not a bound and a value: mle3 documents its own.
- **approvals** (``urn:mle3:predicate:approvals:v1``): every decision on an item of the
  trace, who (and the signer that verified), role, fingerprint, time, its audit entry and
  signature, and whether it is fresh and counted.
- **contents** (``urn:mle3:predicate:bundle-contents:v1``): every file of the bundle as a
  subject: the seal that names a removed, added or edited file.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..workspace import Workspace, item_key
from . import layout as L
from .dsse import statement


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _run_record(ws: Workspace, model: Any) -> tuple[Any, dict[str, Any]]:
    run = ws.resolve(model.training_run)
    raw = (getattr(run, "_raw", None) or {}) if run is not None else {}
    return run, raw


def _digest(value: Any) -> dict[str, str]:
    text = str(value or "")
    return {"sha256": text.split(":", 1)[-1]} if text else {}


def provenance_statement(
    ws: Workspace, model: Any, subjects: list[dict[str, Any]], datasets: list[dict[str, Any]], commit: dict[str, Any]
) -> dict[str, Any]:
    run, raw = _run_record(ws, model)
    env, params, code = (_dict(raw.get(k)) for k in ("environment", "parameters", "code"))
    deps: list[dict[str, Any]] = []
    for d in datasets:
        if d.get("fingerprint"):
            dep: dict[str, Any] = {"name": f"dataset:{d['item']}", "digest": _digest(d["fingerprint"])}
            if d.get("manifest"):
                dep["uri"] = d["manifest"]
            deps.append(dep)
    pretrained = params.get("pretrained")
    if pretrained:
        dep = {"name": f"base-weights:{pretrained}"}
        sha = (
            raw.get("pretrained_sha256") or (raw.get("transfer") or {}).get("sha256") if isinstance(raw, dict) else None
        )
        if sha:
            dep["digest"] = _digest(sha)
        deps.append(dep)
    for package in ("ultralytics", "torch"):
        if env.get(package):
            deps.append({"name": f"pypi:{package}", "annotations": {"version": str(env[package])}})
    deps.append({"name": "pypi:mle3", "annotations": {"version": __version__}})
    trained_at = code.get("commit")
    if trained_at:
        deps.append({"name": "workspace (training)", "digest": {"gitCommit": str(trained_at)}})
    if commit.get("commit"):
        deps.append({"name": "workspace (release)", "digest": {"gitCommit": str(commit["commit"])}})
    hardware = {k: env.get(k) for k in ("gpus", "cuda", "cudnn", "cpu", "cpu_count", "platform") if k in env}
    predicate: dict[str, Any] = {
        "buildDefinition": {
            "buildType": L.TRAINING_BUILD,
            "externalParameters": {
                "configuration": raw.get("configuration") or {},
                "configuration_id": getattr(run, "config", None),
                "configuration_sha256": raw.get("config_sha256"),
                "dataset_version": raw.get("dataset_version"),
            },
            "internalParameters": {"ultralytics_arguments": params},
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {
                "id": f"urn:mle3:builder:{env.get('host') or raw.get('host') or 'unknown-host'}",
                "version": {k: str(env[k]) for k in ("python", "torch", "ultralytics") if env.get(k)},
            },
            "metadata": {"invocationId": item_key(run) if run is not None else str(model.training_run)},
            "byproducts": [{"name": "hardware", "annotations": hardware}] if hardware else [],
        },
    }
    for field, name in (("started", "startedOn"), ("ended", "finishedOn")):
        value = _rfc3339(raw.get(field) or raw.get("created" if field == "started" else "ended"))
        if value:
            predicate["runDetails"]["metadata"][name] = value
    _validate_slsa(predicate)
    return statement(subjects, L.SLSA_PROVENANCE, predicate)


def _rfc3339(value: Any) -> str | None:
    import datetime as dt

    if not value:
        return None
    try:
        when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _validate_slsa(predicate: dict[str, Any]) -> None:
    """Parse the predicate into in-toto's SLSA provenance v1 message: unknown fields and
    wrong types fail, as a consumer of the standard would see them."""
    import json

    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2

    json_format.Parse(json.dumps(predicate, default=str), provenance_pb2.Provenance())


def criteria_rows(ws: Workspace, model: Any, children: list[Any]) -> list[dict[str, Any]]:
    """Each criterion of the requirements in the model's trace, on the model and its
    children (metric criteria) or on its data set (data criteria): bound, actual, verdict."""
    from ..rules.criteria import MetricCriterion, evaluate

    rows: list[dict[str, Any]] = []
    dataset = ws.resolve(model.training_data.dataset_version)
    models = [model, *children]
    req_ids = list(dict.fromkeys(r for m in models for r in m.traceability.requirements))
    if dataset is not None:
        req_ids += [r for r in getattr(dataset, "requirements", []) if r not in req_ids]
    for req_id in req_ids:
        req = ws.resolve(req_id)
        if req is None or req.kind != "requirement":
            continue
        for criterion in req.criteria:
            if isinstance(criterion, MetricCriterion):
                targets = [m for m in models if req_id in m.traceability.requirements]
            else:
                targets = [dataset] if dataset is not None and req_id in getattr(dataset, "requirements", []) else []
            for target in targets:
                verdict = evaluate(criterion, target, ws=ws, requirement=req)
                rows.append(
                    {
                        "requirement": req.id,
                        "item": item_key(target),
                        "criterion": verdict.text,
                        "bound": {
                            k: v
                            for k, v in criterion.model_dump(exclude_none=True, by_alias=True).items()
                            if k in ("min", "max", "split", "metric", "value", "class", "where")
                        },
                        "actual": verdict.actual
                        if isinstance(verdict.actual, (int, float, str))
                        else str(verdict.actual),
                        "verdict": {True: "PASSED", False: "FAILED", None: "NOT_EVALUABLE"}[verdict.passed],
                        **({"reason": verdict.reason} if verdict.reason else {}),
                    }
                )
    return rows


def evaluation_statement(
    ws: Workspace, model: Any, children: list[Any], subjects: list[dict[str, Any]]
) -> dict[str, Any]:
    rows = criteria_rows(ws, model, children)
    verdicts = {r["verdict"] for r in rows}
    result = "FAILED" if "FAILED" in verdicts else "NOT_EVALUABLE" if "NOT_EVALUABLE" in verdicts else "PASSED"
    quantization = [
        {
            "item": item_key(c),
            "method": c.quantization.method,
            "drop": c.quantization.drop,
            "threshold": c.quantization.threshold,
            "passed": c.quantization.passed,
        }
        for c in children
        if c.quantization is not None
    ]
    predicate = {"model": item_key(model), "result": result, "criteria": rows, "quantization": quantization}
    return statement(subjects, L.EVALUATION_PREDICATE, predicate)


def approval_rows(verified: Any, items: set[str], fingerprints: dict[str, str]) -> list[dict[str, Any]]:
    counted = {id(a) for a in verified.approvals}
    rows = []
    for a in verified.recorded:
        if a.item not in items:
            continue
        rows.append(
            {
                "item": a.item,
                "role": a.role,
                "name": a.name,
                "signer": a.signer,
                "decision": a.decision,
                "deviation": a.deviation,
                "time": a.time,
                "fingerprint": a.fingerprint,
                "fresh": a.fingerprint == fingerprints.get(a.item),
                "counted": id(a) in counted,
                "entry": a.entry,
                "signed": a.signed,
            }
        )
    return rows


def approvals_statement(
    ws: Workspace, verified: Any, items: set[str], fingerprints: dict[str, str], subjects: list[dict[str, Any]]
) -> dict[str, Any]:
    predicate = {
        "policy": {k: list(v) for k, v in ws.config.policy.approvals.items()},
        "require_signatures": ws.config.policy.require_signatures,
        "approvals": approval_rows(verified, items, fingerprints),
    }
    return statement(subjects, L.APPROVALS_PREDICATE, predicate)


def contents_statement(model: str, digests: dict[str, str], index: dict[str, Any]) -> dict[str, Any]:
    subjects = [{"name": path, "digest": {"sha256": digest}} for path, digest in sorted(digests.items())]
    predicate = {"model": model, "format": L.FORMAT, "created": index["created"], "files": len(subjects)}
    return statement(subjects, L.CONTENTS_PREDICATE, predicate)
