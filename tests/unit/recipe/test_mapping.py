"""Every field of the seed's training and augmentation configuration is mapped or
recorded as not applied; command-line overrides and the environment become deviations."""

from __future__ import annotations

import shutil

import pytest

from conftest import REPO

from mle3 import load_workspace
from mle3.errors import Mle3Error
from mle3.recipe.mapping import map_config
from mle3.runner.train import Prepared, TrainOptions, apply_overrides, prepare


@pytest.fixture
def seed_ws(tmp_path):
    root = tmp_path / "seed"
    shutil.copytree(REPO / "requirements", root / "requirements")
    shutil.copytree(REPO / "artifacts", root / "artifacts")
    shutil.copy(REPO / "mle3.yaml", root / "mle3.yaml")
    return load_workspace(root, use_cache=False)


def test_every_seed_field_is_accounted_for(seed_ws):
    cfg, aug = seed_ws.get("MLE-TRAIN-001"), seed_ws.get("aug_config_v2.yaml")
    m = map_config(cfg, aug)
    fields = {r.field for r in m.rows}
    for section in (
        "optimizer",
        "scheduler",
        "transfer",
        "loss",
        "early_stopping",
        "checkpointing",
        "hardware",
        "reproducibility",
    ):
        for name in getattr(cfg, section).model_fields_set:
            assert f"{section}.{name}" in fields, f"{section}.{name} neither mapped nor recorded"
    for name in ("model", "epochs", "batch_size", "image_size"):
        assert name in fields
    assert not m.problems
    assert all(r.status in ("applied", "converted", "implemented", "not_applied") for r in m.rows)


def test_seed_values_reach_ultralytics_arguments(seed_ws):
    m = map_config(seed_ws.get("MLE-TRAIN-001"), seed_ws.get("aug_config_v2.yaml"))
    a = m.args
    assert a["model"] == "yolov8n.yaml" and a["epochs"] == 300 and a["batch"] == 64 and a["imgsz"] == 640
    assert (a["optimizer"], a["lr0"], a["weight_decay"], a["momentum"]) == ("AdamW", 0.001, 0.0005, 0.937)
    assert (
        a["cos_lr"] is True and a["warmup_epochs"] == 3 and a["warmup_bias_lr"] == 0.1 and a["warmup_momentum"] == 0.8
    )
    assert a["lrf"] == pytest.approx(0.1)
    assert (a["box"], a["cls"], a["dfl"], a["patience"], a["save_period"]) == (7.5, 0.5, 1.5, 50, 10)
    assert (a["device"], a["workers"], a["amp"], a["seed"], a["deterministic"]) == ("0", 8, True, 42, True)
    assert (a["fliplr"], a["scale"], a["degrees"], a["hsv_v"], a["hsv_s"], a["hsv_h"], a["mosaic"], a["mixup"]) == (
        0.5,
        0.2,
        5.0,
        0.2,
        0.2,
        0.1,
        0.5,
        0.1,
    )
    assert m.fitness_metric == "metrics/mAP50(B)"


def test_every_seed_augmentation_is_applied_but_mosaic_grid_and_mixup_alpha(seed_ws):
    m = map_config(seed_ws.get("MLE-TRAIN-001"), seed_ws.get("aug_config_v2.yaml"))
    assert {r.field for r in m.not_applied} == {"augmentation.mixup.alpha"}  # grid_size 2 is ultralytics' own
    albu = {r.field: r for r in m.rows if r.target == "augmentations"}
    assert set(albu) == {
        "augmentation.geometric.crop",
        "augmentation.photometric.contrast",
        "augmentation.weather_simulation.rain",
        "augmentation.weather_simulation.fog",
        "augmentation.automotive_specific.sun_flare",
        "augmentation.automotive_specific.headlight_glare",
        "augmentation.automotive_specific.sensor_noise",
    }
    assert all(r.status == "applied" and r.note.startswith(("albumentations ", "mle3 ")) for r in albu.values())
    assert albu["augmentation.weather_simulation.fog"].note == "mle3 Fog(fog_coef_range=[0.1, 0.3], p=0.1)"
    assert albu["augmentation.weather_simulation.rain"].note.startswith("albumentations RandomRain(")
    assert (
        "p=0.1" in albu["augmentation.automotive_specific.sun_flare"].note
        and "HeadlightGlare" in albu["augmentation.automotive_specific.headlight_glare"].note
    )
    assert "augmentations" not in m.args  # objects are built when training starts, never recorded as arguments
    snow = next(r for r in m.rows if r.field == "augmentation.weather_simulation.snow")
    assert snow.status == "applied" and "disabled" in snow.note
    grid = {r.field: r for r in m.rows}["augmentation.mosaic.grid_size"]
    assert grid.status == "applied"


def test_mosaic_grid_3_and_mixup_alpha_say_why_they_are_not_applied(seed_ws):
    aug = seed_ws.get("aug_config_v2.yaml").model_copy(deep=True)
    aug.mosaic.model_extra["grid_size"] = 3
    m = map_config(seed_ws.get("MLE-TRAIN-001"), aug)
    reasons = {r.field: r.note for r in m.not_applied}
    assert (
        set(reasons) == {"augmentation.mosaic.grid_size", "augmentation.mixup.alpha"}
        and "2x2" in reasons["augmentation.mosaic.grid_size"]
    )


def test_freeze_epochs_is_implemented_by_unfreezing(seed_ws):
    cfg = seed_ws.get("MLE-TRAIN-001").model_copy(deep=True)
    cfg.transfer.freeze_backbone, cfg.transfer.freeze_epochs = True, 5
    m = map_config(cfg, None)
    assert m.args["freeze"] == 10 and m.unfreeze_at_epoch == 5


def test_no_gpu_and_command_line_overrides_are_deviations(seed_ws):
    cfg = seed_ws.get("MLE-TRAIN-001")
    prep = Prepared(cfg, None, None, map_config(cfg, None), None, {}, None)
    args = apply_overrides(prep, TrainOptions(epochs=2, batch=4), cuda_count=0)
    assert (args["device"], args["epochs"], args["batch"], args["amp"]) == ("cpu", 2, 4, False)
    devs = {(d.field, d.source) for d in prep.mapping.deviations}
    assert {
        ("epochs", "command line"),
        ("batch_size", "command line"),
        ("hardware.device", "environment"),
        ("hardware.amp", "environment"),
    } <= devs


def test_missing_pretrained_weights_is_a_clear_error(seed_ws):
    with pytest.raises(Mle3Error) as err:
        prepare(seed_ws, "MLE-TRAIN-001", TrainOptions())
    e = err.value
    assert e.file == "artifacts/training/MLE-TRAIN-001.yaml" and e.field == "transfer.pretrained" and e.line == 25
    assert "never downloads" in str(e)
