"""Training caveats: generalization gap, why training stopped, over- and underfitting,
as the run record, the `training` rules and the 13-65 show them."""

from __future__ import annotations

import json

from conftest import check_json

from mle3 import caveats


def rows(train, val, maps=None):
    """Epoch rows with the three losses split evenly."""
    out = []
    for i, (t, v) in enumerate(zip(train, val), 1):
        row = {"epoch": i, "epochs": len(train)}
        for part in ("box", "cls", "dfl"):
            row[f"train_{part}_loss"], row[f"val_{part}_loss"] = t / 3, v / 3
        row["mAP50"] = maps[i - 1] if maps else 0.5
        out.append(row)
    return out


def test_gap_best_last_and_why_training_stopped():
    epochs = rows([3.0, 2.0, 1.5], [3.5, 2.4, 2.1])
    summary = caveats.summary({"status": "success", "best_epoch": 2}, epochs)
    assert [g["gap"] for g in summary["generalization_gap"]] == [0.5, 0.4, 0.6]
    assert (summary["best_epoch"], summary["last_epoch"], summary["stopped"]) == (2, 3, "all 3 epochs completed")
    assert "early stopping after epoch 2" in caveats.stop_reason(
        {"status": "success", "early_stop_epoch": 2}, epochs[:2]
    )
    assert caveats.stop_reason({"status": "terminated", "error": "terminated by timeout"}, epochs).startswith(
        "terminated"
    )


def test_overfit_needs_rising_val_loss_and_falling_train_loss_for_n_epochs():
    epochs = rows([3.0, 2.5, 2.0, 1.6, 1.3], [3.0, 2.8, 2.9, 3.0, 3.2])
    found = caveats.overfit(epochs, 3)
    assert found and "epochs 2-5" in found.message
    assert caveats.overfit(epochs, 4) is None
    assert caveats.overfit(rows([3.0, 2.5, 2.0, 1.6], [3.0, 2.9, 2.8, 2.7]), 1) is None  # both fall: fine


def test_underfit_by_high_training_loss_or_flat_low_map():
    assert "still 90%" in caveats.underfit(rows([3.0, 2.9, 2.7], [3.0, 3.0, 3.0]), 0.7, 5, 0.01, 0.5).message
    flat = rows([3.0, 2.0, 1.5, 1.2, 1.0, 0.9], [3.0] * 6, [0.1, 0.2, 0.3, 0.301, 0.302, 0.303])
    assert "flat at 0.303" in caveats.underfit(flat, 0.7, 4, 0.01, 0.5).message
    assert caveats.underfit(flat, 0.7, 4, 0.01, 0.3) is None  # flat, but above the bar: converged


def test_rules_fire_on_a_recorded_run_with_the_thresholds_of_mle3_yaml(make_ws, cli):
    epochs = rows([3.0, 2.5, 2.0, 1.6, 1.3], [3.0, 2.8, 2.9, 3.0, 3.2])
    files = {
        "artifacts/runs/RUN-1/run.yaml": "run:\n  id: RUN-1\n  config: TRAIN\n  status: success\n",
        "artifacts/runs/RUN-1/epochs.jsonl": "".join(json.dumps(e) + "\n" for e in epochs),
    }
    root = make_ws(files)
    code, doc = check_json(cli, root, "--no-cache")
    (hit,) = [f for f in doc["findings"] if f["rule"] == "training.overfit"]
    assert hit["severity"] == "warning" and hit["file"] == "artifacts/runs/RUN-1/run.yaml" and hit["item"] == "RUN-1"
    (root / "mle3.yaml").write_text((root / "mle3.yaml").read_text() + "training_caveats:\n  overfit_epochs: 4\n")
    code, doc = check_json(cli, root, "--no-cache")
    assert not [f for f in doc["findings"] if f["rule"] == "training.overfit"]
    (root / "mle3.yaml").write_text((root / "mle3.yaml").read_text().replace("overfit_epochs: 4", "overfit_epochs: 0"))
    code, out, err = cli("check", "-w", root, expect=2)
    assert code == 2 and "mle3.yaml" in err and "overfit_epochs" in err  # a bad threshold is a one-line error


def test_a_real_run_records_its_caveats_and_the_13_65_shows_them(trained_ws, cli):
    import yaml

    run_file = next((trained_ws / "artifacts/runs").glob("*/run.yaml"))
    run = yaml.safe_load(run_file.read_text())["run"]
    block = run["caveats"]
    assert (
        len(block["generalization_gap"]) == run["epochs_completed"]
        and block["stopped"]
        and block["last_epoch"] == run["epochs_completed"]
    )
    out = trained_ws / "1365.html"
    assert cli("report", "13-65", "TINY-MODEL-v0.1.0", "-o", out, "--to", "html", "-w", trained_ws)[0] == 0
    html = out.read_text()
    assert "Training caveats" in html and "Why training stopped" in html and "Generalization gap" in html


def test_too_few_epochs_to_judge_is_said_instead_of_none_found():
    from mle3.workspace.config import TrainingCaveats

    limits = TrainingCaveats()
    three = rows([3.0, 2.0, 1.5], [3.5, 2.4, 2.1], [0.0, 0.0, 0.0])
    assert caveats.findings(three, limits) == []
    said = caveats.too_few_to_judge(three, limits)
    assert said and said.startswith("too few epochs to judge: 3 recorded")
    enough = rows([3.0] * limits.flat_epochs, [3.0] * limits.flat_epochs)
    assert len(enough) >= limits.overfit_epochs + 1 and caveats.too_few_to_judge(enough, limits) is None
