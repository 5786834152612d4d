"""Export and INT8 quantization (PTQ) of a real tiny model: files, records, gate, calibration."""

from __future__ import annotations

import json
import re

import onnx
import pytest
import yaml

from conftest import check_json

from mle3.hashing import sha256_file

pytestmark = pytest.mark.slow
MODEL = "TINY-MODEL-v0.1.0"
#: a quantized child is named after its quantization run: TINY-MODEL-RUN-...-int8-ptq
CHILD_PATTERN = r"^TINY-MODEL-RUN-\d{8}-\d{6}-[0-9a-f]{4}-int8-(ptq|qat)$"


def quantize(cli, root, *extra):
    code, out, err = cli(
        "quantize",
        MODEL,
        "--method",
        "ptq",
        "--calibration-images",
        "12",
        "-w",
        root,
        "--format",
        "json",
        *extra,
        expect=None,
    )
    return code, json.loads(out) if out.strip() else None, err


def test_ptq_writes_a_real_int8_child_model(trained_ws, cli, monkeypatch):
    import mle3.runner.quantize as q

    seen = []
    original = q.preprocess
    monkeypatch.setattr(q, "preprocess", lambda path, imgsz: (seen.append(path), original(path, imgsz))[1])
    code, result, err = quantize(cli, trained_ws)
    assert result["status"] == "success", err
    CHILD = result["model_version"]
    assert re.match(CHILD_PATTERN, CHILD), CHILD
    assert seen and all("/images/train/" in str(p) for p in seen)  # calibration never reads val or test
    child = yaml.safe_load((trained_ws / f"artifacts/models/{CHILD}.yaml").read_text())["model_version"]
    block = child["quantization"]
    assert child["traceability"]["previous_version"] == MODEL and child["status"] == "draft"
    assert block["calibration"]["split"] == "train" and block["calibration"]["images"] == 12
    listed = (trained_ws / block["calibration"]["list"]).read_text().split()
    assert len(listed) == 12 and all("/images/train/" in p for p in listed)
    onnx_path = trained_ws / child["artifacts"]["onnx"]
    assert sha256_file(onnx_path) == child["onnx_sha256"]
    graph = onnx.load(str(onnx_path)).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert sum(1 for t in graph.initializer if t.data_type == onnx.TensorProto.INT8) > 10
    assert block["size_ratio"] < 0.35 and block["latency_ms"] > 0 and block["float_latency_ms"] > 0
    # recorded metrics equal what re-evaluating the file gives
    from mle3.runner.quantize import evaluate_onnx

    run_dir = trained_ws / "artifacts/runs" / child["training_run"]
    again = evaluate_onnx(onnx_path, run_dir / "data.yaml", 64, run_dir, "again")
    assert again.val == block["metrics"]["val"] and again.test == block["metrics"]["test"]
    assert block["drop"]["val"] == pytest.approx(
        block["float_reference"]["metrics"]["val"]["mAP_50"] - block["metrics"]["val"]["mAP_50"], abs=1e-6
    )
    run = yaml.safe_load((run_dir / "run.yaml").read_text())["run"]
    assert run["status"] == "success" and run["kind"] == "quantization" and run["model_version"] == CHILD
    code, doc = check_json(cli, trained_ws, "--no-cache")
    assert doc["summary"]["errors"] == 0, doc["findings"]


def test_gate_flags_a_drop_over_the_threshold_and_blocks_promotion(trained_ws, cli):
    cfg = trained_ws / "mle3.yaml"
    cfg.write_text(cfg.read_text() + "quantization:\n  max_map50_drop: -1.0\n")  # any result is a drop over -1
    code, result, _ = quantize(cli, trained_ws)
    assert code == 1 and result["status"] == "success" and result["passed"] is False and result["warnings"]
    CHILD = result["model_version"]
    code, doc = check_json(cli, trained_ws, "--no-cache")
    hit = next(f for f in doc["findings"] if f["rule"] == "quantization.drop")
    assert hit["item"] == CHILD and hit["severity"] == "warning"
    cli("approve", CHILD, "--role", "ml_lead", "--name", "Lea Lead", "-w", trained_ws)
    code, out, _ = cli("promote", CHILD, "--to", "validated", "-w", trained_ws, "--format", "json", expect=1)
    assert code == 1 and any("quantization gate failed" in m for m in json.loads(out)["missing"])
    code, _, err = cli(
        "approve",
        CHILD,
        "--role",
        "ml_lead",
        "--name",
        "Lea Lead",
        "--deviation",
        "quantization.drop",
        "-w",
        trained_ws,
        expect=2,
    )
    assert code == 2 and "--comment" in err
    cli(
        "approve",
        CHILD,
        "--role",
        "ml_lead",
        "--name",
        "Lea Lead",
        "--deviation",
        "quantization.drop",
        "--comment",
        "accepted for the demo target",
        "-w",
        trained_ws,
    )
    code, out, _ = cli("promote", CHILD, "--to", "validated", "-w", trained_ws, "--format", "json")
    assert code == 0, out
    assert json.loads(out)["version"] == "v0.1.0-int8-ptq"  # the float model's version, marked as its INT8 variant
    assert cli("trace", "TINY-MODEL-v0.1.0-int8-ptq", "-w", trained_ws)[0] == 0


def test_changed_parent_makes_child_stale(trained_ws, cli):
    result = quantize(cli, trained_ws)[1]
    assert result["status"] == "success"
    CHILD = result["model_version"]
    cfg = trained_ws / "artifacts/training/TINY.yaml"
    cfg.write_text(cfg.read_text().replace("lr: 0.002", "lr: 0.005"))  # the parent stays bound to its run's snapshot
    code, doc = check_json(cli, trained_ws, "--no-cache")
    assert not any(f["rule"] == "quantization.stale-parent" for f in doc["findings"])
    for path in (trained_ws / "artifacts/runs").glob(
        "*/epochs.jsonl"
    ):  # the parent's training evidence edited: its children are stale
        path.write_text(path.read_text().replace('"epoch": 1', '"epoch": 1, "edited": true', 1))
    code, doc = check_json(cli, trained_ws, "--no-cache")
    assert any(f["rule"] == "quantization.stale-parent" and f["item"] == CHILD for f in doc["findings"])


def test_export_records_a_validated_float_onnx(trained_ws, cli):
    code, out, err = cli("export", MODEL, "-w", trained_ws, "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["recorded"] and result["gap"] <= 0.005, err
    model = yaml.safe_load((trained_ws / f"artifacts/models/{MODEL}.yaml").read_text())["model_version"]
    assert (
        model["artifacts"]["onnx"] == result["onnx"]
        and sha256_file(trained_ws / result["onnx"]) == model["onnx_sha256"]
    )
    assert "validation" in model["onnx_metrics"]
    # quantizing afterwards leaves the exported float ONNX of the parent untouched
    assert quantize(cli, trained_ws)[1]["status"] == "success"
    assert sha256_file(trained_ws / result["onnx"]) == model["onnx_sha256"]
    code, doc = check_json(cli, trained_ws, "--no-cache")
    # the tiny 2-epoch training is rightly reported as underfit; nothing else may warn
    assert doc["summary"]["errors"] == 0 and not [
        f
        for f in doc["findings"]
        if f["severity"] == "warning" and f["rule"] not in ("training.underfit", "training.early-stopping-inert")
    ], doc["findings"]


def test_bad_inputs_exit_2_and_write_nothing(trained_ws, cli):
    runs_before = sorted(p.name for p in (trained_ws / "artifacts/runs").iterdir())
    code, _, err = cli("quantize", "NO-SUCH-MODEL", "-w", trained_ws, expect=2)
    assert code == 2 and "NO-SUCH-MODEL" in err
    model_file = trained_ws / f"artifacts/models/{MODEL}.yaml"
    weights = trained_ws / yaml.safe_load(model_file.read_text())["model_version"]["artifacts"]["weights"]
    weights.write_bytes(weights.read_bytes()[:-1] + b"x")
    code, _, err = cli("quantize", MODEL, "-w", trained_ws, expect=2)
    assert code == 2 and "no longer match the recorded sha256" in err and "weights_sha256" in err
    weights.unlink()
    code, _, err = cli("quantize", MODEL, "-w", trained_ws, expect=2)
    assert code == 2 and "missing" in err
    assert sorted(p.name for p in (trained_ws / "artifacts/runs").iterdir()) == runs_before
    assert not list((trained_ws / "artifacts/models").glob("*int8*"))


def test_wrong_types_in_quantization_block_are_reported_with_file_and_line(trained_ws, cli):
    cfg = trained_ws / "artifacts/training/TINY.yaml"
    cfg.write_text(cfg.read_text() + "  quantization:\n    calibration_images: many\n")
    code, doc = check_json(cli, trained_ws, "--no-cache")
    f = next(f for f in doc["findings"] if f["rule"] == "load.schema")
    assert (
        f["field"] == "training.quantization.calibration_images"
        and f["file"] == "artifacts/training/TINY.yaml"
        and f["line"] == 15
    )
    code, _, err = cli("quantize", MODEL, "-w", trained_ws, expect=2)
    assert code == 2 and "Traceback" not in err


def test_qat_fine_tunes_records_epochs_and_writes_int8_weights(trained_ws, cli):
    code, out, err = cli(
        "quantize", MODEL, "--method", "qat", "--qat-epochs", "1", "-w", trained_ws, "--format", "json", expect=None
    )
    result = json.loads(out)
    assert result["status"] == "success", err
    assert re.match(CHILD_PATTERN, result["model_version"])
    child = yaml.safe_load((trained_ws / f"artifacts/models/{result['model_version']}.yaml").read_text())[
        "model_version"
    ]
    block = child["quantization"]
    assert block["method"] == "qat" and block["qat_epochs"] == 1 and "nvidia-modelopt" in block["library"]
    run_dir = trained_ws / "artifacts/runs" / child["training_run"]
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines()]
    assert len(epochs) == 1 and "drop" in epochs[0] and "float_val_mAP50" in epochs[0]
    graph = onnx.load(str(trained_ws / child["artifacts"]["onnx"])).graph
    assert sum(1 for t in graph.initializer if t.data_type == onnx.TensorProto.INT8) > 10
    assert not [t for t in graph.initializer if t.name.endswith("_quantized") and t.data_type == onnx.TensorProto.FLOAT]
    assert block["size_ratio"] < 0.35


def test_export_of_a_validated_or_released_model_is_refused_before_anything_is_written(trained_ws, cli):
    path = trained_ws / f"artifacts/models/{MODEL}.yaml"
    path.write_text(path.read_text().replace("status: draft", "status: released"))
    before = path.read_bytes()
    code, out, err = cli("export", MODEL, "-w", trained_ws, expect=2)
    assert code == 2 and "is released: exporting would change the content its approvals cover" in err, err
    assert "Traceback" not in err and path.read_bytes() == before
    assert not list((trained_ws / "models").glob("*.onnx"))


def test_a_deviation_must_name_a_rule_that_fires_for_the_item(trained_ws, cli):
    from mle3 import audit

    before = len(audit.read(trained_ws).nodes)
    for deviation, message in (
        ("no.such.rule", "is no rule id"),
        ("quantization.dorp", "did you mean quantization.drop"),
        ("criteria.unmet", "does not fire for TINY-MODEL-v0.1.0 now"),
    ):
        code, _, err = cli(
            "approve",
            MODEL,
            "--role",
            "ml_lead",
            "--name",
            "Lea Lead",
            "--deviation",
            deviation,
            "--comment",
            "why",
            "-w",
            trained_ws,
            expect=2,
        )
        assert code == 2 and message in err, (deviation, err)
    assert len(audit.read(trained_ws).nodes) == before  # nothing recorded
