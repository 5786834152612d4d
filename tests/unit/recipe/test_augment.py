"""The seed's automotive augmentation: load-time checks, the albumentations pipeline inside
a real ultralytics training, mle3's headlight glare, and the preview a reviewer looks at."""

from __future__ import annotations

import json
import pickle

import pytest
import yaml

from conftest import REPO, check_json, with_seed_augmentation

SEED_AUG = REPO / "artifacts/augmentation/aug_config_v2.yaml"


def test_bad_augmentation_is_found_at_load_time_with_file_and_line(make_ws, cli):
    root = make_ws(
        {
            "artifacts/aug.yaml": (
                "augmentation:\n  weather_simulation:\n    rain:\n      enabled: true\n      intensity_range: [0.5, "
                "0.1]\n"
                "    hail:\n      enabled: true\n  automotive_specific:\n    sun_flare:\n      probability: 1.5\n"
            )
        }
    )
    code, doc = check_json(cli, root, "--no-cache")
    found = sorted(
        (f["line"], f["field"])
        for f in doc["findings"]
        if f["rule"] == "load.schema" and f["file"] == "artifacts/aug.yaml"
    )
    assert found == [
        (3, "augmentation.weather_simulation.rain"),
        (6, "augmentation.weather_simulation.hail"),
        (10, "augmentation.automotive_specific.sun_flare.probability"),
    ], doc["findings"]


def test_headlight_glare_pickles_survives_checkpoints_and_touches_night_images_only():
    import albumentations as A
    import numpy as np

    from mle3.recipe.transforms import HeadlightGlare

    glare = HeadlightGlare(night_luminance=60, p=1.0)
    again = A.from_dict(A.to_dict(glare))  # how ultralytics stores it in checkpoints
    assert isinstance(again, HeadlightGlare) and again.night_luminance == 60
    restored = pickle.loads(pickle.dumps(glare))  # how dataloader workers get it
    night, day = np.full((64, 64, 3), 20, np.uint8), np.full((64, 64, 3), 150, np.uint8)
    assert restored(image=night)["image"].mean() > night.mean() + 5
    assert (restored(image=day)["image"] == day).all()


@pytest.mark.slow
def test_a_training_applies_every_seed_transform_through_ultralytics(trained_ws, cli):
    root = with_seed_augmentation(trained_ws)
    code, out, err = cli("train", "TINY-TRAIN-001", "--epochs", "1", "-w", root, "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "success", err
    run = yaml.safe_load((root / result["record"] / "run.yaml").read_text())["run"]
    rows = {r["field"]: r for r in run["mapping"]}
    for field in (
        "geometric.crop",
        "photometric.contrast",
        "weather_simulation.rain",
        "weather_simulation.fog",
        "automotive_specific.sun_flare",
        "automotive_specific.headlight_glare",
        "automotive_specific.sensor_noise",
    ):
        row = rows[f"augmentation.{field}"]
        assert (
            row["status"] == "applied"
            and row["target"] == "augmentations"
            and row["note"].startswith(("albumentations ", "mle3 "))
        ), row
    assert run["not_applied"] == ["augmentation.mixup.alpha"]
    assert rows["augmentation.automotive_specific.headlight_glare"]["value"]["night_list"].endswith(
        "night.txt"
    )  # the data set's list
    assert run["environment"]["albumentations"]
    log = (root / result["record"] / "train.log").read_text()
    assert "HeadlightGlare" in log and "RandomRain" in log  # ultralytics built the pipeline from them
    args = yaml.safe_load((root / result["record"] / "ultralytics" / "args.yaml").read_text())
    assert any("HeadlightGlare" in json.dumps(a) for a in args["augmentations"])  # stored for checkpoints


def test_preview_is_deterministic_names_transforms_and_goes_into_the_04_11(trained_ws, cli, tmp_path):
    root = with_seed_augmentation(trained_ws)
    first, second, other = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    code, out, err = cli(
        "augment", "preview", "TINY-TRAIN-001", "-o", first, "--n", "9", "--seed", "3", "-w", root, "--format", "json"
    )
    assert code == 0, err
    sheet = json.loads(out)
    assert sheet["schema"] == "mle3.augment-preview/1" and len(sheet["tiles"]) == 9
    forced = [t["transforms"] for t in sheet["tiles"][:7]]
    assert [f[0].split(" ")[0] for f in forced] == [
        "RandomResizedCrop",
        "RandomBrightnessContrast",
        "RandomRain",
        "Fog",
        "RandomSunFlare",
        "HeadlightGlare",
        "SensorNoise",
    ]
    cli("augment", "preview", "TINY-TRAIN-001", "-o", second, "--n", "9", "--seed", "3", "-w", root)
    cli("augment", "preview", "TINY-TRAIN-001", "-o", other, "--n", "9", "--seed", "4", "-w", root)
    assert first.read_bytes() == second.read_bytes() != other.read_bytes()
    from PIL import Image

    assert Image.open(first).size == (3 * 224, 3 * 254)
    report = tmp_path / "0411.html"
    assert cli("report", "04-11", "TINY-TRAIN-001", "-o", report, "--to", "html", "-w", root)[0] == 0
    html = report.read_text()
    assert "What the augmentation does to the training images" in html and 'src="data:image/png;base64,' in html


def test_a_data_sets_night_image_list_decides_what_is_night(tmp_path):
    import numpy as np

    from mle3.recipe.transforms import CURRENT_FILE, HeadlightGlare

    (tmp_path / "night.txt").write_text("# night scenes\nimages/train/bright_but_night.jpg\n")
    glare = HeadlightGlare(night_list=str(tmp_path / "night.txt"), p=1.0)
    dark, bright = np.full((64, 64, 3), 20, np.uint8), np.full((64, 64, 3), 150, np.uint8)
    token = CURRENT_FILE.set(str(tmp_path / "images/train/dark_but_day.jpg"))
    try:
        assert (glare(image=dark)["image"] == dark).all()  # not listed: no glare, however dark
    finally:
        CURRENT_FILE.reset(token)
    token = CURRENT_FILE.set(str(tmp_path / "images/train/bright_but_night.jpg"))
    try:
        assert glare(image=bright)["image"].mean() > bright.mean()  # listed: glare
    finally:
        CURRENT_FILE.reset(token)
