"""The synthetic data set's per-image metadata (``metadata.csv``) is true of the data: one
row per image, night rows exactly the night list, sequences never across splits, values in
the demo ODD's vocabulary, the pixels as the rows say; and the demo's data criteria hold on
the data the demo generates."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mle3.datasets.synthetic import generate
from mle3.demo import ODD, write_workspace
from mle3.workspace.schema import Odd

COUNTS = {"train": 120, "val": 30, "test": 30}


@pytest.fixture(scope="module")
def signs(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("synthetic") / "signs", counts=COUNTS, image_size=64, seed=3).parent


def rows_of(root: Path) -> list[dict[str, str]]:
    with (root / "metadata.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def listed(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def test_every_image_has_exactly_one_row_and_every_row_an_image(signs):
    data = yaml.safe_load((signs / "data.yaml").read_text())
    assert data["metadata"] == "metadata.csv" and data["night_images"] == "night.txt"
    with (signs / "metadata.csv").open(newline="") as f:
        assert next(csv.reader(f)) == ["image", "time_of_day", "weather", "sequence"]
    keys = [row["image"] for row in rows_of(signs)]
    images = sorted(p.relative_to(signs).as_posix() for p in (signs / "images").rglob("*.jpg"))
    assert len(keys) == len(set(keys)) == sum(COUNTS.values())
    assert sorted(keys) == images
    assert all(row[c] for row in rows_of(signs) for c in ("time_of_day", "weather", "sequence"))


def test_night_rows_are_the_night_list(signs):
    night = {row["image"] for row in rows_of(signs) if row["time_of_day"] == "night"}
    assert night and night == set(listed(signs / "night.txt"))


def test_sequences_are_consecutive_images_of_one_split_under_one_condition(signs):
    rows = rows_of(signs)
    split_of: dict[str, str] = {}
    condition: dict[str, tuple[str, str]] = {}
    order: list[str] = []
    for row in rows:
        split = row["image"].split("/")[1]
        assert split_of.setdefault(row["sequence"], split) == split, f"{row['sequence']} crosses splits"
        assert condition.setdefault(row["sequence"], (row["time_of_day"], row["weather"])) == (
            row["time_of_day"],
            row["weather"],
        )
        if not order or order[-1] != row["sequence"]:
            assert row["sequence"] not in order, f"{row['sequence']} is not consecutive"
            order.append(row["sequence"])
    for split in COUNTS:
        assert sum(1 for s in split_of.values() if s == split) > 1  # each split holds several drives


def test_values_are_in_the_demo_odds_vocabulary_and_each_appears(signs):
    odd = Odd.model_validate(yaml.safe_load(ODD)["odd"])
    assert odd.groups() == ["sequence"]
    for name in ("time_of_day", "weather"):
        vocabulary = odd.characteristics[name].values
        assert vocabulary is not None
        assert {row[name] for row in rows_of(signs)} == set(vocabulary), name


def test_the_pixels_are_as_the_rows_say(signs):
    luma: dict[str, list[float]] = {}
    contrast: dict[str, list[float]] = {}
    for row in rows_of(signs):
        pixels = np.asarray(Image.open(signs / row["image"]).convert("L"), dtype=float)
        luma.setdefault(row["time_of_day"], []).append(pixels.mean())
        if row["time_of_day"] == "day":
            contrast.setdefault(row["weather"], []).append(pixels.std())
    mean = {k: float(np.mean(v)) for k, v in luma.items()}
    assert mean["night"] < mean["dusk"] < mean["day"], mean
    spread = {k: float(np.mean(v)) for k, v in contrast.items()}
    assert spread["fog"] < spread["clear"], spread  # the haze flattens the scene


def test_metadata_is_deterministic(signs, tmp_path):
    again = generate(tmp_path / "again", counts=COUNTS, image_size=64, seed=3).parent
    assert (again / "metadata.csv").read_bytes() == (signs / "metadata.csv").read_bytes()
    other = generate(tmp_path / "other", counts=COUNTS, image_size=64, seed=4).parent
    assert (other / "metadata.csv").read_bytes() != (signs / "metadata.csv").read_bytes()


def test_the_demo_data_criteria_hold_on_the_data_the_demo_generates(tmp_path):
    """The bounds the demo's requirements state are true of the demo's data (400/80/80 at
    160 px, seed 0), computed here from the table and the labels alone."""
    write_workspace(tmp_path / "ws", epochs=1, imgsz=160, train_images=400)
    doc = yaml.safe_load((tmp_path / "ws/requirements/demo-requirements.yaml").read_text())
    criteria = next(r for r in doc["requirements"] if r["id"] == "DEMO-REQ-DATA")["criteria"]
    root = generate(tmp_path / "signs", counts={"train": 400, "val": 80, "test": 80}, image_size=160, seed=0).parent
    rows = rows_of(root)

    def images(split: str, **where: str) -> list[dict[str, str]]:
        return [r for r in rows if r["image"].split("/")[1] == split and all(r[k] == v for k, v in where.items())]

    def share(split: str, name: str, value: str) -> float:
        return len(images(split, **{name: value})) / len(images(split))

    kinds = set()
    for c in criteria:
        if "share" in c:
            for value, (lo, hi) in c["share"].items():
                assert lo <= share(c["split"], c["characteristic"], value) <= hi, c
            kinds.add("share")
        elif "coverage" in c:
            for split in c["splits"]:
                for value in c["coverage"]:
                    assert len(images(split, **{c["characteristic"]: value})) >= c["min_samples"], (c, split, value)
            kinds.add("coverage")
        elif "similar" in c:
            a, b = c["similar"]
            values = {r[c["characteristic"]] for r in rows}
            tvd = 0.5 * sum(abs(share(a, c["characteristic"], v) - share(b, c["characteristic"], v)) for v in values)
            assert tvd <= c["max_tvd"], (c, tvd)
            kinds.add("similar")
        elif "where" in c and "class" in c:
            index = ["square", "disc", "triangle"].index(c["class"])
            found = sum(
                1
                for r in images(c["split"], **c["where"])
                for line in (root / r["image"].replace("images/", "labels/", 1))
                .with_suffix(".txt")
                .read_text()
                .splitlines()
                if int(line.split()[0]) == index
            )
            assert found >= c["min_samples"], (c, found)
            kinds.add("combination")
    assert kinds == {"share", "coverage", "similar", "combination"}
