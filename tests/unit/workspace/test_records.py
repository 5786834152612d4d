"""Typed records (mle3.workspace.records): what mle3 writes reads back typed, through one
reader each; hand-edited or hostile files give a one-line finding, never a crash; the
writers' bytes stay what fingerprints hashed before."""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import BASE_FILES, write_files
from hypothesis import given, settings
from hypothesis import strategies as st

from mle3.errors import Mle3Error
from mle3.workspace import load_workspace
from mle3.workspace.records import (
    EPOCHS_FILE,
    RUN_FILE,
    RUNS_DIR,
    LabelQuality,
    Leakage,
    QuantizationRecord,
    RegistrationRecord,
    RunRecord,
    read_epoch_log,
    read_run,
    run_epochs,
)

RUN = "RUN-20260101-000000-abcd"
PACKAGE = Path(__file__).resolve().parents[3] / "mle3"


def _plus(rel: str, fields: str) -> str:
    """A file of the base workspace with more fields on its item."""
    base = textwrap.dedent(BASE_FILES[rel]).lstrip("\n")
    return base + textwrap.indent(textwrap.dedent(fields).strip("\n"), "  ") + "\n"


def _run_yaml(root: Path, body: str, run: str = RUN) -> Path:
    path = root / RUNS_DIR / run / RUN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


# ------------------------------------------------------------------ round trip
def test_a_run_written_by_the_writer_reads_back_typed_with_the_same_bytes(tmp_path, monkeypatch):
    from mle3.runs.records import RunRecord as Writer

    writer = Writer.create(
        tmp_path, "TRAIN", dataset_version="DATA-v1", duration_s=12.5, final_metrics={"test": {"mAP50": 0.5}}
    )
    writer.update(status="success", epochs_completed=2, best_epoch=1)
    writer.append_epoch({"epoch": 1, "mAP50": 0.123456789, "lr": 0.00012345678})
    writer.append_epoch({"epoch": 2, "mAP50": 0.5})
    # the bytes fingerprints hash: one sorted JSON object per line, floats rounded as before
    assert (
        writer.directory / EPOCHS_FILE
    ).read_bytes() == b'{"epoch": 1, "lr": 0.000123457, "mAP50": 0.123457}\n{"epoch": 2, "mAP50": 0.5}\n'
    text = (writer.directory / RUN_FILE).read_text()
    assert text.startswith("# Written by `mle3 train`") and yaml.safe_load(text) == {"run": writer.data}

    record = read_run(writer.directory / RUN_FILE, writer.id)
    assert (
        isinstance(record, RunRecord)
        and record.id == writer.id
        and record.config == "TRAIN"
        and record.status == "success"
    )
    assert (
        record.kind == "training"
        and record.epochs_completed == 2
        and record.best_epoch == 1
        and record.duration_s == 12.5
    )
    assert record.final_metrics == {"test": {"mAP50": 0.5}} and record.problems == [] and record.data == writer.data
    assert record.folder == f"{RUNS_DIR}/{writer.id}" and writer.typed.id == writer.id
    assert [e["epoch"] for e in run_epochs(tmp_path, writer.id)] == [1, 2]


def test_blocks_mle3_writes_into_items_are_typed(make_ws):
    root = make_ws(
        {
            "artifacts/data.yaml": _plus(
                "artifacts/data.yaml",
                """
          registered: {at: "2026-01-01T00:00:00+00:00", by: ann, files: 42, bytes: 1000, manifest_bytes: 80}
          label_quality: {errors: 1, warnings: 2, by_kind: {malformed-line: 1, missing-label: 2},
                          findings: [{severity: error, kind: malformed-line, file: a.txt, line: 3, message: bad}]}
          leakage: {shared_images: 3, examples: [[a.jpg, b.jpg]]}
        """,
            ),
            "artifacts/model.yaml": _plus(
                "artifacts/model.yaml",
                """
          weights_sha256: abc
          quantization: {method: ptq, drop: {mAP50: 0.01}, threshold: 0.02, passed: true,
                         parent_fingerprint: "sha256:x", extra_key: 1}
        """,
            ),
            "artifacts/train.yaml": _plus("artifacts/train.yaml", "model_line: LINE\narchitecture: ARCH-1"),
            f"{RUNS_DIR}/{RUN}/{RUN_FILE}": f"run:\n  id: {RUN}\n  config: TRAIN\n  status: success\n"
            "  kind: quantization\n",
        }
    )
    ws = load_workspace(root)
    assert not [f for f in ws.findings if f.severity == "error"], ws.findings
    ds = ws.resolve("DATA-v1")
    assert isinstance(ds.registered, RegistrationRecord) and ds.registered.files == 42 and ds.registered_files == 42
    assert isinstance(ds.label_quality, LabelQuality) and ds.label_quality.findings[0].line == 3
    assert isinstance(ds.leakage, Leakage) and ds.shared_images == 3
    model = ws.resolve("MODEL-v1")
    assert isinstance(model.quantization, QuantizationRecord) and model.quantized and model.quantization.method == "ptq"
    assert model.quantization.get("extra_key") == 1 and model.weights_sha256 == "abc"
    assert ws.resolve("TRAIN").model_line == "LINE" and ws.resolve("TRAIN").architecture == "ARCH-1"
    assert ws.resolve(RUN).run_kind == "quantization"
    # none of mle3's own fields is left to model_extra
    assert not set(ds.model_extra or {}) & {"registered", "label_quality", "leakage"}
    assert not set(model.model_extra or {}) & {"quantization", "weights_sha256"}


def test_items_written_without_the_blocks_still_load(make_ws):
    ws = load_workspace(make_ws())
    ds, model = ws.resolve("DATA-v1"), ws.resolve("MODEL-v1")
    assert ds.registered is None and ds.registered_files == 0 and ds.shared_images == 0 and ds.label_quality is None
    assert model.quantization is None and not model.quantized


def test_a_block_of_the_wrong_shape_is_a_load_finding_with_its_field(make_ws):
    root = make_ws(
        {
            "artifacts/model.yaml": _plus("artifacts/model.yaml", "quantization: [1]"),
            "artifacts/data.yaml": _plus("artifacts/data.yaml", "leakage: {shared_images: many}"),
        }
    )
    findings = [f for f in load_workspace(root).findings if f.severity == "error"]
    assert any(f.file == "artifacts/model.yaml" and "quantization" in str(f.field) for f in findings), findings
    assert any(f.file == "artifacts/data.yaml" and "leakage" in str(f.field) for f in findings), findings


# ------------------------------------------------------------------ hostile input
@pytest.mark.parametrize(
    "body, field",
    [
        ("run: [1, 2]\n", "run"),
        (f"run:\n  id: {RUN}\n  status: success\n", "run.config"),
        (f"run:\n  id: {RUN}\n  config: TRAIN\n  status: 7\n", "run.status"),
        ("run:\n  id: RUN-OTHER\n  config: TRAIN\n  status: success\n", "run.id"),
        (f"run:\n  id: {RUN}\n  config: TRAIN\n  status: success\n  pid: -1\n", "run.pid"),
        (f"run:\n  id: {RUN}\n  config: TRAIN\n  status: success\n  epochs_completed: {'9' * 5000}\n", None),
        ("\x00\xff garbage", None),
    ],
)
def test_a_record_mle3_cannot_use_is_one_line_naming_file_and_field(tmp_path, body, field):
    path = _run_yaml(tmp_path, body)
    with pytest.raises(Mle3Error) as caught:
        read_run(path, RUN, rel=f"{RUNS_DIR}/{RUN}/{RUN_FILE}")
    text = str(caught.value)
    assert "\n" not in text and f"{RUNS_DIR}/{RUN}/{RUN_FILE}" in text
    if field:
        assert f"[{field}]" in text, text
        assert re.search(rf"{RUN_FILE}:\d+:", text), text


def test_a_hand_edited_field_of_another_type_is_kept_out_of_the_typed_view(tmp_path):
    path = _run_yaml(
        tmp_path,
        f"run:\n  id: {RUN}\n  config: TRAIN\n  status: success\n  duration_s: .nan\n"
        "  final_metrics: [1, 2]\n  best_epoch: {a: 1}\n  error: {x: y}\n  model_version: M\n",
    )
    record = read_run(path, RUN)
    assert (
        record.duration_s is None
        and record.final_metrics is None
        and record.best_epoch is None
        and record.error is None
    )
    assert record.model_version == "M"
    assert {name for name, _ in record.problems} == {"duration_s", "final_metrics", "best_epoch", "error"}
    assert record.data["final_metrics"] == [1, 2]  # the mapping as written stays for `runs show`


def test_epochs_log_names_bad_lines_and_skips_a_torn_last_line(tmp_path):
    path = tmp_path / EPOCHS_FILE
    path.write_bytes(
        b'{"epoch": 1, "mAP50": 0.1}\nnot json\n[1]\n{"epoch": -2}\n\n'
        + b"x" * (70 << 10)
        + b'\n{"epoch": 2}\n{"epoch": 3'
    )
    log = read_epoch_log(path)
    assert [e["epoch"] for e in log.epochs] == [1, 2]
    assert [line for line, _ in log.problems] == [2, 3, 4, 6]
    assert all("\n" not in why for _, why in log.problems)
    assert read_epoch_log(tmp_path / "missing.jsonl").epochs == []


# ------------------------------------------------------------------ every consumer, one reader
def test_every_consumer_gives_the_one_readers_verdict(tmp_path, cli):
    """A record whose id is not its folder's is refused by the one reader; before, the
    serve index had its own reader and listed it as a run."""
    from mle3.monitor.index import read_record
    from mle3.runs.records import list_runs

    root = write_files(tmp_path / "ws", {"mle3.yaml": "project: t\n"})
    _run_yaml(root, "run:\n  id: RUN-OTHER\n  config: TRAIN\n  status: success\n")
    (listed,) = list_runs(root)
    assert listed["status"] == "unreadable" and "[run.id]" in listed["error"]
    _, shown = read_record(root, RUN)
    assert shown["status"] == "unreadable" and "[run.id]" in shown["error"]
    code, out, _ = cli("runs", "-w", root, "--format", "json")
    assert code == 0 and json.loads(out)["runs"][0]["status"] == "unreadable"
    code, _, err = cli("runs", "show", RUN, "-w", root, expect=2)
    assert code == 2 and "[run.id]" in err and err.count("\n") == 1


def test_no_consumer_parses_run_records_or_epochs_itself():
    """Alongside the behavioural tests above: the readers are in one module."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "workspace/records.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r'["\']epochs\.jsonl["\']\)?\s*\)', text) or re.search(
            r'/ ["\'](run\.yaml|epochs\.jsonl)["\']', text
        ):
            offenders.append(f"{rel}: joins a run file path itself")
        for name in (
            "quantization",
            "registered",
            "label_quality",
            "leakage",
            "weights_sha256",
            "model_line",
            "architecture",
            "kind",
        ):
            if re.search(rf'model_extra[^\n]*\.get\(["\']{name}["\']', text) or re.search(
                rf'model_extra\[["\']{name}["\']\]', text
            ):
                offenders.append(f"{rel}: reads {name} through model_extra")
    assert not offenders, offenders


def test_mlflow_export_reads_runs_and_epochs_through_the_readers(tmp_path):
    """A readable run is mirrored with its epochs and final metrics; one the reader
    refuses (its id is not its folder's) is left out; a NaN field never reaches MLflow."""
    from mlflow.tracking import MlflowClient  # the test extra brings mlflow-skinny: missing is a failure

    from mle3.interop.mlflow import default_uri, export_runs

    root = write_files(tmp_path / "ws", {"mle3.yaml": "project: t\n"})
    _run_yaml(
        root,
        f"run:\n  id: {RUN}\n  config: TRAIN\n  status: success\n  duration_s: .nan\n"
        "  final_metrics: {test: {mAP50: 0.5}}\n",
    )
    (root / RUNS_DIR / RUN / EPOCHS_FILE).write_text(
        '{"epoch": 1, "mAP50": 0.25}\nnot json\n{"epoch": 2, "mAP50": 0.4}\n'
    )
    _run_yaml(root, "run:\n  id: RUN-OTHER\n  config: TRAIN\n  status: success\n", run="RUN-20260101-000000-bbbb")
    warnings: list[str] = []
    done = export_runs(root, default_uri(root), warnings.append)
    assert [run for run, _ in done] == [RUN] and warnings == []
    history = MlflowClient(tracking_uri=default_uri(root)).get_metric_history(done[0][1], "mAP50")
    assert [(m.step, m.value) for m in history] == [(1, 0.25), (2, 0.4)]
    assert export_runs(root, default_uri(root), warnings.append) == []  # mirrored once


def test_the_run_file_names_agree_with_the_writers():
    from mle3.runs import records as writer
    from mle3.workspace import load, records

    assert (writer.RUNS_DIR, writer.RUN_FILE, writer.EPOCHS_FILE) == (
        records.RUNS_DIR,
        records.RUN_FILE,
        records.EPOCHS_FILE,
    )
    assert load.RUN_RECORD == records.RUN_FILE


def test_study_trials_are_typed_and_summarized_as_written(make_ws):
    from mle3.reports.optimization import study_summary
    from mle3.workspace.records import StudyTrial
    from mle3.workspace.schema import StudyRecord

    study = """
        study:
          id: TRAIN-TUNE-1
          config: TRAIN
          status: finished
          objective: {metric: mAP_50, direction: maximize}
          trials:
            - {number: 0, run: RUN-A, status: complete, value: 0.5, params: {optimizer.lr: 0.01}, epochs: 2}
            - {number: 1, run: RUN-B, status: pruned, value: null, params: {optimizer.lr: 0.1}}
            - {number: 2, run: RUN-C, status: complete, value: 0.7, params: {optimizer.lr: 0.001}}
          best: {number: 2, run: RUN-C, value: 0.7, params: {optimizer.lr: 0.001}}
    """
    ws = load_workspace(make_ws({"artifacts/studies/TRAIN-TUNE-1.yaml": study}))
    item = ws.resolve("TRAIN-TUNE-1")
    assert (
        isinstance(item, StudyRecord) and all(isinstance(t, StudyTrial) for t in item.trials) and item.best.number == 2
    )
    summary = study_summary(item)
    assert summary["best"] == {"number": 2, "run": "RUN-C", "value": 0.7, "params": {"optimizer.lr": 0.001}}
    assert [t["number"] for t in summary["top"]] == [2, 0] and summary["counts"] == {"complete": 2, "pruned": 1}
    json.dumps(summary["top"])  # what reports and the site show is plain data

    hostile = study.replace("value: 0.5", "value: .nan").replace("number: 1,", "number: one,")
    findings = [
        f
        for f in load_workspace(make_ws({"artifacts/studies/TRAIN-TUNE-1.yaml": hostile})).findings
        if f.severity == "error"
    ]
    assert any(f.file == "artifacts/studies/TRAIN-TUNE-1.yaml" and "trials" in str(f.field) for f in findings), findings


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.datetimes(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.dictionaries(
        st.sampled_from([n for n in RunRecord.model_fields if n not in ("id", "config", "status")]), _values
    )
)
def test_the_typed_view_of_any_checked_mapping_never_raises(fields):
    record = RunRecord.from_mapping({"id": RUN, "config": "C", "status": "success", **fields})
    for name, value in record:
        if name not in ("data", "problems", "file") and isinstance(value, float):
            assert math.isfinite(value), name
    assert {name for name, _ in record.problems} <= set(fields)
    assert all(getattr(record, name) == RunRecord.model_fields[name].default for name, _ in record.problems)
