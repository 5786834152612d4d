"""``mle3 dataset register`` and ``mle3 dataset verify``.

Registering writes the ``dataset`` item (with measured samples, instances, ratios, image
sizes, label quality and leakage), a manifest of every file and the fingerprint over it.
A registered version is immutable: data that changes needs a new version.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import audit
from .._atomic import atomic_write_text
from ..errors import ItemNotFound, Mle3Error
from .manifest import Entry, compare_with_disk, fingerprint, list_files, read_manifest, write_manifest
from .scan import scan_dataset
from .yolo import read_data_yaml, summarise

DATASET_DIR = "artifacts/datasets"


@dataclass
class Registration:
    key: str
    item_file: str
    manifest_file: str
    fingerprint: str
    files: int
    bytes: int
    splits: dict[str, Any]
    label_quality: dict[str, Any]
    leakage: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.leakage["shared_images"] and not self.label_quality["errors"]


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)


def register(root: Path, data_yaml: Path, dataset_id: str, version: str, requirements: list[str], *, title: str | None = None, source: str | None = None, show_progress: bool = False) -> Registration:
    from concurrent.futures import ThreadPoolExecutor

    from ..ids import check_id

    check_id(dataset_id, "data set id", field="--id")
    check_id(version, "version", field="--version")
    for existing in sorted((root / DATASET_DIR).glob(f"{dataset_id}-{version}.*yaml")) + [root / DATASET_DIR / f"{dataset_id}-{version}.yaml"]:
        if existing.is_file():
            raise Mle3Error(f"data set {dataset_id}-{version} is already registered; register changed data as a new version", file=existing.relative_to(root).as_posix())
    data = read_data_yaml(root, data_yaml)
    with ThreadPoolExecutor(max_workers=1) as side:
        # the workspace is checked while the files are scanned (the scan waits on worker
        # processes); nothing is written before both are done and the check passed
        actor_future = side.submit(_check_workspace_and_actor, root, f"{dataset_id}-{version}", requirements)
        return _register_scanned(root, data, dataset_id, version, requirements, title, source, show_progress, actor_future)


def record_paths(root: Path, dataset_id: str, version: str, fp: str) -> tuple[Path, Path]:
    """Item and manifest file of a registration. The name carries the fingerprint, so one
    version registered with different data on two branches gives two files that git
    merges without conflict, and ``check`` reports ``dataset.version-conflict``."""
    stem = f"{dataset_id}-{version}.{fp.split(':', 1)[-1][:8]}"
    return root / DATASET_DIR / f"{stem}.yaml", root / DATASET_DIR / f"{stem}.manifest.tsv"


def _check_workspace_and_actor(root: Path, key: str, requirements: list[str]) -> str:
    from ..workspace import load_workspace

    ws = load_workspace(root)
    if ws.resolve(key) is not None:
        raise Mle3Error(f"data set {key} already exists in the workspace")
    for req in requirements:
        target = ws.resolve(req)
        if target is None or target.kind != "requirement":
            raise ItemNotFound(f"requirement {req!r} does not exist in the workspace")
    return audit.default_actor(root)


def _register_scanned(
    root: Path, data: Any, dataset_id: str, version: str,
    requirements: list[str], title: str | None, source: str | None, show_progress: bool, actor_future: Any,
) -> Registration:
    files = list_files(root, data.root)
    data_yaml_rel = data.file.relative_to(root).as_posix()
    if data_yaml_rel not in files:
        files.append(data_yaml_rel)
    split_dirs = {split: directory.relative_to(root).as_posix() for split, directory in data.splits.items()}
    with _progress(show_progress) as progress:
        task = progress.add_task("hashing and checking files", total=len(files)) if progress else None
        result = scan_dataset(str(root), files, split_dirs, len(data.names), progress=(lambda n: progress.advance(task, n)) if progress else None)
    entries = [Entry(path, size, mtime, digest) for path, size, mtime, digest, _ in result.rows]
    splits = summarise(result.splits, data.names)
    for split, directory in data.splits.items():
        splits.setdefault(split, {"samples": 0})["path"] = directory.relative_to(root).as_posix()
    quality = _label_quality(result.problems)
    leakage = _leakage(result.rows)
    fp = fingerprint(entries)
    item_file, manifest_file = record_paths(root, dataset_id, version, fp)
    actor = actor_future.result()  # raises the workspace check's error: nothing written yet
    item = {
        "dataset": {
            "id": dataset_id,
            "version": version,
            "title": title or f"{dataset_id} {version}",
            "source": source or data_yaml_rel,
            "requirements": list(requirements),
            "classes": data.names,
            "data_yaml": data_yaml_rel,
            "manifest": manifest_file.relative_to(root).as_posix(),
            "fingerprint": fp,
            "registered": {
                "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "by": actor,
                "files": len(entries),
                "bytes": sum(e.size for e in entries),
            },
            "splits": {s: {k: v for k, v in info.items()} for s, info in splits.items()},
            "label_quality": quality,
            "leakage": leakage,
        }
    }
    write_manifest(manifest_file, entries)
    atomic_write_text(item_file, "# Written by `mle3 dataset register`; measured, do not edit by hand.\n" + yaml.safe_dump(item, sort_keys=False, allow_unicode=True, width=120))
    audit.append(root, "dataset.register", f"{dataset_id}-{version}", {"fingerprint": fp, "files": len(entries), "manifest": item["dataset"]["manifest"]}, actor=actor)
    return Registration(f"{dataset_id}-{version}", item_file.relative_to(root).as_posix(), item["dataset"]["manifest"], fp, len(entries), item["dataset"]["registered"]["bytes"], splits, quality, leakage)


def _label_quality(problems: list[tuple]) -> dict[str, Any]:
    by_kind: dict[str, int] = defaultdict(int)
    for _, kind, _, _, _ in problems:
        by_kind[kind] += 1
    ordered = sorted(problems, key=lambda p: (p[0] != "error", p[2], p[3] or 0))
    return {
        "errors": sum(p[0] == "error" for p in problems),
        "warnings": sum(p[0] == "warning" for p in problems),
        "by_kind": dict(sorted(by_kind.items())),
        "findings": [{"severity": sev, "kind": kind, "file": file, "line": line, "message": msg} for sev, kind, file, line, msg in ordered[:200]],
    }


def _leakage(rows: list[tuple]) -> dict[str, Any]:
    """Images whose content (sha256) appears in more than one split."""
    splits_by_hash: dict[str, set[str]] = defaultdict(set)
    paths_by_hash: dict[str, list[str]] = defaultdict(list)
    for path, _, _, digest, split in rows:
        if split:  # only images carry their split
            splits_by_hash[digest].add(split)
            paths_by_hash[digest].append(path)
    shared = [h for h, s in splits_by_hash.items() if len(s) > 1]
    return {
        "shared_images": len(shared),
        "examples": [sorted(paths_by_hash[h])[:3] for h in sorted(shared)[:10]],
    }


@dataclass
class Verification:
    key: str
    files: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    hashed: int = 0
    fingerprint_ok: bool = True

    @property
    def ok(self) -> bool:
        return not (self.added or self.removed or self.changed) and self.fingerprint_ok


def verify(root: Path, dataset: Any) -> Verification:
    """Compare a registered data set with the disk (see :func:`compare_with_disk`) and list
    data files added under its root since registration."""
    if not dataset.manifest:
        raise Mle3Error(f"data set {dataset.key} has no manifest (register it with `mle3 dataset register`)")
    manifest_path = root / dataset.manifest
    try:
        recorded = read_manifest(manifest_path)
    except FileNotFoundError:
        raise Mle3Error("manifest file is missing", file=dataset.manifest) from None
    except ValueError as exc:
        raise Mle3Error(str(exc)) from None
    diff = compare_with_disk(root, recorded)
    result = Verification(dataset.key, len(recorded), changed=diff.changed, removed=diff.removed, hashed=diff.hashed)
    if dataset.fingerprint and fingerprint(recorded) != dataset.fingerprint:
        result.fingerprint_ok = False
    if dataset.data_yaml:
        known = {e.path for e in recorded}
        try:
            data = read_data_yaml(root, root / dataset.data_yaml)
            result.added = sorted(p for p in list_files(root, data.root) if p not in known)
        except Mle3Error:
            pass  # the data.yaml itself changed or vanished: reported as changed/removed
    return result
