"""The night list is read one documented way: the list named relative to the data.yaml,
each line relative to the data set's root; lines that resolve to no file are reported."""

from __future__ import annotations

from conftest import check_json, write_files

from mle3.datasets import register
from mle3.datasets.night import night_list_of, unresolved_night_images
from mle3.datasets.synthetic import generate

REQ = {
    "mle3.yaml": "project: night\n",
    "requirements/R.yaml": "requirement:\n  id: REQ-DATA\n  type: ml_data\n  title: data\n",
}


def test_a_list_in_a_subfolder_is_read_relative_to_the_data_sets_root(tmp_path):
    data_yaml = generate(tmp_path / "signs", counts={"train": 10, "val": 2}, image_size=32, seed=1)
    lines = [
        line for line in (tmp_path / "signs/night.txt").read_text().splitlines() if line and not line.startswith("#")
    ]
    (tmp_path / "signs/lists").mkdir()
    (tmp_path / "signs/night.txt").rename(tmp_path / "signs/lists/night.txt")
    data_yaml.write_text(data_yaml.read_text().replace("night_images: night.txt", "night_images: lists/night.txt"))
    assert night_list_of(data_yaml) == "lists/night.txt"  # recorded as the data.yaml names it
    total, missing = unresolved_night_images(data_yaml, "lists/night.txt")
    assert total == len(lines) > 0 and missing == []


def test_listed_images_that_resolve_to_no_file_are_a_check_warning(tmp_path, cli):
    ws = write_files(tmp_path / "ws", REQ)
    data_yaml = generate(ws / "data/signs", counts={"train": 10, "val": 2}, image_size=32, seed=1)
    listing = ws / "data/signs/night.txt"
    names = [line for line in listing.read_text().splitlines() if line and not line.startswith("#")]
    listing.write_text("".join(name.replace("images/", "") + "\n" for name in names))  # relative to the wrong folder
    register(ws, data_yaml, "NIGHT", "v1", ["REQ-DATA"])
    code, doc = check_json(cli, ws, "--no-cache")
    found = [f for f in doc["findings"] if f["rule"] == "data.night-list"]
    assert len(found) == 1 and found[0]["severity"] == "warning", doc["findings"]
    assert f"{len(names)} of {len(names)} images listed in night_images 'night.txt'" in found[0]["message"]
    assert "line 1:" in found[0]["message"]
    listing.write_text("".join(name + "\n" for name in names))
    code, doc = check_json(cli, ws, "--no-cache")
    assert not [f for f in doc["findings"] if f["rule"] == "data.night-list"]
