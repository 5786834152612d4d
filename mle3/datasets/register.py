"""``mle3 dataset register`` and ``mle3 dataset verify``.

Registering writes the ``dataset`` item (with measured samples, instances, ratios, image
sizes, label quality and leakage), a manifest of every file and the fingerprint over it.
A registered version is immutable: data that changes needs a new version.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import audit
from .._atomic import atomic_write_text
from ..errors import ItemNotFound, Mle3Error
from .manifest import Entry, fingerprint, list_files, read_manifest, sha256_file, write_manifest
from .scan import scan
from .yolo import image_infos, read_data_yaml, summarise

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
    from ..workspace import load_workspace

    item_file = root / DATASET_DIR / f"{dataset_id}-{version}.yaml"
    manifest_file = root / DATASET_DIR / f"{dataset_id}-{version}.manifest.tsv"
    if item_file.exists():
        raise Mle3Error(f"data set {dataset_id}-{version} is already registered; register changed data as a new version", file=item_file.relative_to(root).as_posix())
    ws = load_workspace(root)
    if ws.resolve(f"{dataset_id}-{version}") is not None:
        raise Mle3Error(f"data set {dataset_id}-{version} already exists in the workspace")
    for req in requirements:
        target = ws.resolve(req)
        if target is None or target.kind != "requirement":
            raise ItemNotFound(f"requirement {req!r} does not exist in the workspace")
    data = read_data_yaml(root, data_yaml)
    files = list_files(root, data.root)
    data_yaml_rel = data.file.relative_to(root).as_posix()
    if data_yaml_rel not in files:
        files.append(data_yaml_rel)
    with _progress(show_progress) as progress:
        task = progress.add_task("hashing and checking files", total=len(files)) if progress else None
        rows = scan(str(root), files, len(data.names), progress=(lambda n: progress.advance(task, n)) if progress else None)
    entries = [Entry(path, size, mtime, digest) for path, size, mtime, digest, _ in rows]
    images = image_infos(root, data, rows)
    splits = summarise(images, data.names)
    for split, directory in data.splits.items():
        splits.setdefault(split, {"samples": 0})["path"] = directory.relative_to(root).as_posix()
    quality = _label_quality(images)
    leakage = _leakage(entries, images)
    fp = fingerprint(entries)
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
                "by": audit.default_actor(root),
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
    audit.append(root, "dataset.register", f"{dataset_id}-{version}", {"fingerprint": fp, "files": len(entries), "manifest": item["dataset"]["manifest"]})
    return Registration(f"{dataset_id}-{version}", item_file.relative_to(root).as_posix(), item["dataset"]["manifest"], fp, len(entries), item["dataset"]["registered"]["bytes"], splits, quality, leakage)


def _label_quality(images) -> dict[str, Any]:
    problems = [p for info in images for p in info.problems]
    by_kind: dict[str, int] = defaultdict(int)
    for p in problems:
        by_kind[p.kind] += 1
    return {
        "errors": sum(p.severity == "error" for p in problems),
        "warnings": sum(p.severity == "warning" for p in problems),
        "by_kind": dict(sorted(by_kind.items())),
        "findings": [
            {"severity": p.severity, "kind": p.kind, "file": p.file, "line": p.line, "message": p.message}
            for p in sorted(problems, key=lambda p: (p.severity != "error", p.file, p.line or 0))[:200]
        ],
    }


def _leakage(entries: list[Entry], images) -> dict[str, Any]:
    """Images whose content (sha256) appears in more than one split."""
    split_of = {info.path: info.split for info in images}
    splits_by_hash: dict[str, set[str]] = defaultdict(set)
    paths_by_hash: dict[str, list[str]] = defaultdict(list)
    for e in entries:
        split = split_of.get(e.path)
        if split:  # only images have a split
            splits_by_hash[e.sha256].add(split)
            paths_by_hash[e.sha256].append(e.path)
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


def verify(root: Path, dataset: Any, *, hash_suspects: bool = True, check_added: bool = True) -> Verification:
    """Compare a registered data set with the disk: size+mtime first, then sha256 for
    files whose mtime changed but size did not (a touched-but-equal file is unchanged)."""
    if not dataset.manifest:
        raise Mle3Error(f"data set {dataset.key} has no manifest (register it with `mle3 dataset register`)")
    manifest_path = root / dataset.manifest
    try:
        recorded = read_manifest(manifest_path)
    except FileNotFoundError:
        raise Mle3Error("manifest file is missing", file=dataset.manifest) from None
    except ValueError as exc:
        raise Mle3Error(str(exc)) from None
    result = Verification(dataset.key, len(recorded))
    if dataset.fingerprint and fingerprint(recorded) != dataset.fingerprint:
        result.fingerprint_ok = False
    suspects: list[Entry] = []
    for e in recorded:
        try:
            st = os.stat(root / e.path)
        except OSError:
            result.removed.append(e.path)
            continue
        if st.st_size != e.size:
            result.changed.append(e.path)
        elif st.st_mtime_ns != e.mtime_ns:
            suspects.append(e)
    if suspects and hash_suspects:
        result.hashed = len(suspects)
        for e in suspects:
            if sha256_file(root / e.path) != e.sha256:
                result.changed.append(e.path)
    elif suspects:
        result.changed.extend(e.path for e in suspects)
    if check_added and dataset.data_yaml:
        known = {e.path for e in recorded}
        try:
            data = read_data_yaml(root, root / dataset.data_yaml)
            result.added = sorted(p for p in list_files(root, data.root) if p not in known)
        except Mle3Error:
            pass  # the data.yaml itself changed or vanished: reported as changed/removed
    result.changed.sort()
    result.removed.sort()
    return result
