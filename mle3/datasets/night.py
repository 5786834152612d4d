"""Which images of a data set are night scenes: the list its data.yaml names
(``night_images: night.txt``), read one documented way everywhere (training, the
augmentation preview, ``check``).

The list file is named relative to the data.yaml's folder; each of its lines is an image
path relative to the data set's root, the folder the data.yaml's ``path:`` names (its own
folder when it names none), where the split folders are too. Runs record the list as the
data.yaml names it, never a machine path.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import Mle3Error


def listed_names(listing: str | Path) -> list[tuple[int, str]]:
    """(line, path) of each image a ``night_images`` file lists (blank lines and ``#``
    comments skipped)."""
    lines = Path(listing).read_text(encoding="utf-8").splitlines()
    return [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]


def night_list_of(data_yaml: Path | None) -> str | None:
    """The data set's list of night images as its data.yaml names it (``night_images:``,
    relative to the data.yaml's folder), if any: what a run records, the same on every
    machine. The list's lines are relative to the data set's root (:func:`night_root`)."""
    if data_yaml is None or not Path(data_yaml).is_file():
        return None
    data = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8")) or {}
    listed = data.get("night_images") if isinstance(data, dict) else None
    if not listed:
        return None
    if not isinstance(listed, str) or Path(listed).is_absolute() or ".." in Path(listed).parts:
        raise Mle3Error(
            f"night_images must be a file path relative to the data.yaml's folder, not {listed!r}",
            file=str(data_yaml),
            field="night_images",
        )
    if not (Path(data_yaml).parent / listed).is_file():
        raise Mle3Error(
            f"night_images names {listed!r}, which is not a file", file=str(data_yaml), field="night_images"
        )
    return listed


def night_root(data_yaml: Path) -> Path:
    """The folder the night list's lines are relative to: the data set's root, as for the
    split folders (``path:`` of the data.yaml, its own folder when it names none)."""
    data = yaml.safe_load(Path(data_yaml).read_text(encoding="utf-8")) or {}
    value = data.get("path") if isinstance(data, dict) else None
    return (Path(data_yaml).parent / str(value or ".")).resolve()


def unresolved_night_images(data_yaml: Path, listed: str) -> tuple[int, list[tuple[int, str]]]:
    """(how many the list names, the (line, path) of those that are no file)."""
    root = night_root(data_yaml)
    names = listed_names(Path(data_yaml).parent / listed)
    return len(names), [(n, name) for n, name in names if not (root / name).is_file()]


def night_list_warning(data_yaml: Path | None) -> str | None:
    """One line when listed night images are no files (headlight glare then never runs on
    them), naming the list, how many, and the first few with their lines."""
    listed = night_list_of(data_yaml)
    if listed is None or data_yaml is None:
        return None
    total, missing = unresolved_night_images(Path(data_yaml), listed)
    if not missing:
        return None
    first = ", ".join(f"line {n}: {name}" for n, name in missing[:3])
    return (
        f"{len(missing)} of {total} images listed in night_images {listed!r} are no file below the data set's root "
        f"{night_root(Path(data_yaml))} ({first}); the lines are relative to that root"
    )
