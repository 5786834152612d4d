"""``mle3 dataset register``: measure a data set where it lives and record it.

Registering writes the ``dataset`` item (with measured samples, instances, ratios, image
sizes, label quality and leakage, the data root and the path below it), the compressed
manifest beside the data (and a local copy), and the fingerprint over it. A registered
version is immutable: data that changes needs a new version.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import audit
from .._atomic import atomic_write_bytes, atomic_write_text
from ..errors import ItemNotFound, Mle3Error
from ..formats import dataset_fingerprint, fingerprint_hex, split_manifest_line
from ..vocab import IMAGE_SUFFIXES, AuditAction
from ..workspace.layout import DEFAULT, layout_at
from ..optional import require
from ..workspace.characteristics import LUMINANCE
from .characterise import aggregate, images_of, shared_groups
from .manifest import MANIFEST_DIR, manifest_name
from .metadata import MetadataSpec, MetadataTable, check_size, spec_of
from .metadata import load as load_metadata
from .roots import locate
from .state import LocalState, save_state
from .storage import DataStore, store_for
from .yolo import DataLayout, summarise

#: the default place (``Layout.datasets_dir`` is the workspace's own)
DATASET_DIR = DEFAULT.datasets_dir
IMAGE_EXTENSIONS = {suffix.lstrip(".") for suffix in IMAGE_SUFFIXES}


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
    data_root: str | None = None
    manifest_bytes: int = 0
    manifest_beside_data: bool = True
    metadata: dict[str, Any] | None = None
    characteristics: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        shared_groups = sum(g["count"] for g in self.leakage.get("shared_groups", {}).values())
        return (
            not self.leakage["shared_images"]
            and not self.leakage.get("shared_folders")
            and not shared_groups
            and not self.label_quality["errors"]
            and not (self.metadata or {}).get("errors")
        )


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    )


def register(
    root: Any,
    data_yaml: Path | str,
    dataset_id: str,
    version: str,
    requirements: list[str],
    *,
    title: str | None = None,
    source: str | None = None,
    show_progress: bool = False,
    conversion: dict[str, Any] | None = None,
    conversion_problems: list[tuple] | None = None,
    metadata: str | None = None,
    odd: str | None = None,
) -> Registration:
    """Register the data set a data.yaml describes: in the workspace, or below a declared
    data root (a mounted folder or an object store). ``root`` is the loaded workspace
    (the CLI loads it once) or its path. ``metadata``: the per-image table (else the
    data.yaml's ``metadata:``); ``odd``: the ODD whose vocabulary it follows (default: the
    workspace's only ODD)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..workspace import as_workspace

    ws = as_workspace(root)
    root = ws.root
    refuse_existing(root, dataset_id, version)
    config = ws.config
    location = locate(root, config, data_yaml)
    store = store_for(root, config, location.root_name)
    layout = store.layout(location.relative)
    table_spec = spec_of(layout.metadata, metadata, layout, store, layout.file)
    vocabulary = odd_of(ws, odd, needed=table_spec is not None)
    layout.luminance = vocabulary is not None and LUMINANCE in vocabulary.characteristics
    if layout.luminance:
        require("PIL")
    if table_spec is not None:
        require("pyarrow")
        check_size(store, table_spec)  # before the scan hashes a 10 GB mistake
    with ThreadPoolExecutor(max_workers=1) as side:
        # the workspace is checked while the files are scanned (the scan waits on worker
        # processes); nothing is written before both are done and the check passed
        actor_future = side.submit(_check_workspace_and_actor, ws or root, f"{dataset_id}-{version}", requirements)
        return _register_scanned(
            root,
            store,
            location.root_name,
            layout,
            dataset_id,
            version,
            requirements,
            title,
            source,
            show_progress,
            actor_future,
            conversion,
            conversion_problems or [],
            Characterisation(table_spec, vocabulary),
        )


@dataclass
class Characterisation:
    """What registration needs to measure data characteristics: the table and the ODD."""

    table: MetadataSpec | None
    odd: Any


def odd_of(ws: Any, given: str | None, needed: bool = True) -> Any:
    """The ODD a registration validates against: the one named, else the workspace's only
    one (several without a table to validate: none)."""
    odds = list(ws.of_kind("odd"))
    if given:
        found = ws.resolve(given)
        if found is None or found.kind != "odd":
            raise ItemNotFound(
                f"ODD {given!r} does not exist in the workspace ({', '.join(o.id for o in odds) or 'none'})"
            )
        return found
    if len(odds) > 1 and not needed:
        return None
    if len(odds) > 1:
        raise Mle3Error(f"the workspace has {len(odds)} ODDs ({', '.join(o.id for o in odds)}); name one with --odd")
    return odds[0] if odds else None


def refuse_existing(root: Path, dataset_id: str, version: str) -> None:
    """Valid ids, and a version not registered yet (checked before anything is written,
    COCO conversions included)."""
    from ..ids import check_id

    check_id(dataset_id, "data set id", field="--id")
    check_id(version, "version", field="--version")
    folder = root / layout_at(root).datasets_dir
    for existing in sorted(folder.glob(f"{dataset_id}-{version}.*yaml")) + [folder / f"{dataset_id}-{version}.yaml"]:
        if existing.is_file():
            raise Mle3Error(
                f"data set {dataset_id}-{version} is already registered; register changed data as a new version",
                file=existing.relative_to(root).as_posix(),
            )


def _check_workspace_and_actor(root: Any, key: str, requirements: list[str]) -> str:
    from ..workspace import as_workspace

    ws = as_workspace(root)
    root = ws.root
    if ws.resolve(key) is not None:
        raise Mle3Error(f"data set {key} already exists in the workspace")
    for req in requirements:
        target = ws.resolve(req)
        if target is None or target.kind != "requirement":
            raise ItemNotFound(f"requirement {req!r} does not exist in the workspace")
    return audit.default_actor(root)


def _register_scanned(
    root: Path,
    store: DataStore,
    root_name: str | None,
    layout: DataLayout,
    dataset_id: str,
    version: str,
    requirements: list[str],
    title: str | None,
    source: str | None,
    show_progress: bool,
    actor_future: Any,
    conversion: dict[str, Any] | None,
    conversion_problems: list[tuple],
    wanted: Characterisation,
) -> Registration:
    with _progress(show_progress) as progress:
        task = progress.add_task("hashing and checking files", total=None) if progress else None
        advance = (lambda n: progress.advance(task, n)) if progress else None
        total = (lambda n: progress.update(task, total=n)) if progress else None
        result, listing = store.scan(layout, len(layout.names), progress=advance, total=total)
    fp = dataset_fingerprint(result.text)
    splits = summarise(result.splits, layout.names)
    for split, directory in layout.splits.items():
        splits.setdefault(split, {"samples": 0})["path"] = directory
    quality = _label_quality(conversion_problems + result.problems)
    leakage = _leakage(result.images, result.text)
    leakage["shared_folders"] = _shared_folders(layout.splits)
    table_record, characteristics = characterise_scan(store, layout, result, wanted)
    if characteristics is not None:
        leakage["shared_groups"] = characteristics.pop("shared_groups")
    item_file = record_path(root, dataset_id, version, fp)
    manifest_rel = manifest_location(layout.file, fp)
    actor = actor_future.result()  # raises the workspace check's error: nothing written yet
    packed = result.packed
    stored_beside_data = _store_manifest(store, manifest_rel, packed)
    local_copy = root / layout_at(root).local_manifests / manifest_name(fp)
    local_copy.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(local_copy, packed)
    st = local_copy.stat()
    save_state(
        root,
        fp,
        LocalState(store.label, result.stamps, listing.dir_mtimes, True, manifest_stat=(st.st_size, st.st_mtime_ns)),
    )
    item: dict[str, Any] = {
        "dataset": {
            "id": dataset_id,
            "version": version,
            "title": title or f"{dataset_id} {version}",
            "source": source or (layout.file if root_name is None else f"{root_name}:{layout.file}"),
            "requirements": list(requirements),
            "classes": layout.names,
            **({"data_root": root_name} if root_name else {}),
            "data_yaml": layout.file,
            "manifest": manifest_rel,
            "fingerprint": fp,
            "registered": {
                "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "by": actor,
                "files": result.files,
                "bytes": result.bytes,
                "manifest_bytes": len(packed),
            },
            **({"conversion": conversion} if conversion else {}),
            "splits": {s: dict(info) for s, info in splits.items()},
            "label_quality": quality,
            "leakage": leakage,
            **({"metadata": table_record} if table_record else {}),
            **({"characteristics": characteristics} if characteristics else {}),
        }
    }
    text = "# Written by `mle3 dataset register`; measured, do not edit by hand.\n" + dump_record(item)
    with layout_at(root).lock("datasets"):  # two registrations of one version: one wins, the other is refused
        refuse_existing(root, dataset_id, version)
        atomic_write_text(item_file, text)
    where = manifest_rel if root_name is None else f"{root_name}:{manifest_rel}"
    audit.append(
        root,
        AuditAction.DATASET_REGISTER,
        f"{dataset_id}-{version}",
        {
            "fingerprint": fp,
            "files": result.files,
            "manifest": where,
            **({"data_root": root_name} if root_name else {}),
        },
        actor=actor,
    )
    return Registration(
        f"{dataset_id}-{version}",
        item_file.relative_to(root).as_posix(),
        where,
        fp,
        result.files,
        result.bytes,
        splits,
        quality,
        leakage,
        data_root=root_name,
        manifest_bytes=len(packed),
        manifest_beside_data=stored_beside_data,
        metadata=table_record,
        characteristics=characteristics,
    )


def characterise_scan(
    store: DataStore, layout: DataLayout, result: Any, wanted: Characterisation
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(``metadata:`` block, ``characteristics:`` block) of a scanned data set. The table is
    the one the manifest holds (its digest is checked as it is read)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        if wanted.table is not None:
            raise
        return None, None  # no table, no pyarrow: the derived characteristics are not measured
    table = None
    if wanted.table is not None:
        digest = manifest_digest(result.text, wanted.table.file)
        if digest is None:
            raise Mle3Error(
                "the metadata table is not one of the data set's files (a hidden folder, or removed while it was read)",
                file=store.url(wanted.table.file),
                field="metadata",
            )
        table = load_metadata(store, wanted.table, wanted.odd, layout.root, digest)
    images = images_of(result.rows, table, layout.luminance, keep_paths=False)
    characteristics = aggregate(images, layout.names)
    characteristics["shared_groups"] = shared_groups(images)
    if table is None:
        return None, characteristics
    for finding in images.problems:
        table.add(finding)
    for kind, extra in images.problem_counts.items():
        table.counts[("error", kind)] = table.counts.get(("error", kind), 0) + extra
    return metadata_record(table, wanted.odd), characteristics


def manifest_digest(text: str, rel: str) -> str | None:
    """The sha256 the manifest holds for one path (None when it holds none)."""
    at = text.find(f"  {rel}\n")
    while at >= 0:
        start = text.rfind("\n", 0, at) + 1
        digest, _, path = split_manifest_line(text[start : text.find("\n", at) + 1])
        if path.rstrip("\n") == rel:
            return digest
        at = text.find(f"  {rel}\n", at + 1)
    return None


def metadata_record(table: MetadataTable, odd: Any) -> dict[str, Any]:
    """The ``metadata:`` block: the table's identity and what was wrong in it."""
    ordered = sorted(table.findings, key=lambda f: (f[0] != "error", f[3] or 0))
    by_kind: dict[str, int] = defaultdict(int)
    for (_, kind), n in table.counts.items():
        by_kind[kind] += n
    return {
        "file": table.spec.file,
        "sha256": table.sha256,
        "format": table.format,
        "rows": table.rows,
        "key": table.spec.key,
        **({"odd": odd.id} if odd is not None else {}),
        "columns": [*table.conditions, *table.groups],
        "errors": sum(n for (sev, _), n in table.counts.items() if sev == "error"),
        "warnings": sum(n for (sev, _), n in table.counts.items() if sev == "warning"),
        "by_kind": dict(sorted((k, v) for k, v in by_kind.items() if v)),
        "findings": [
            {"severity": sev, "kind": kind, "file": file, "line": line, "column": column, "message": msg}
            for sev, kind, file, line, column, msg in ordered
        ],
    }


class _RecordDumper(yaml.SafeDumper):
    """Writes each cell of the joint distribution on one line."""


class FlowList(list):
    """A list written in flow style (``[[day, clear], 12, {car: [1, 2, 0]}]``)."""


_RecordDumper.add_representer(
    FlowList, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


def dump_record(item: dict[str, Any]) -> str:
    """The data set item as YAML, its cells one per line."""
    chars = item["dataset"].get("characteristics")
    if chars:
        chars["splits"] = {s: [FlowList(cell) for cell in cells] for s, cells in chars["splits"].items()}
    return yaml.dump(item, Dumper=_RecordDumper, sort_keys=False, allow_unicode=True, width=4096)


def record_path(root: Path, dataset_id: str, version: str, fp: str) -> Path:
    """The item file of a registration. The name carries the fingerprint, so one version
    registered with different data on two branches gives two files that git merges without
    conflict, and ``check`` reports ``dataset.version-conflict``."""
    return root / layout_at(root).datasets_dir / f"{dataset_id}-{version}.{fingerprint_hex(fp)[:8]}.yaml"


def manifest_location(data_yaml: str, fp: str) -> str:
    """Where the v2 manifest lies in the data's place: beside the data.yaml."""
    folder = data_yaml.rpartition("/")[0]
    return f"{folder}/{MANIFEST_DIR}/{manifest_name(fp)}" if folder else f"{MANIFEST_DIR}/{manifest_name(fp)}"


def _store_manifest(store: DataStore, rel: str, packed: bytes) -> bool:
    """Write the manifest beside the data; a read-only place keeps only the local copy
    (other machines then verify by re-hashing against the fingerprint)."""
    try:
        store.write_bytes(rel, packed)
        return True
    except (Mle3Error, OSError) as exc:
        import sys

        print(
            f"warning: could not write the manifest beside the data ({exc}); other machines will verify by "
            "re-hashing every file",
            file=sys.stderr,
        )
        return False


def _label_quality(problems: list[tuple]) -> dict[str, Any]:
    by_kind: dict[str, int] = defaultdict(int)
    for _, kind, _, _, _ in problems:
        by_kind[kind] += 1
    ordered = sorted(problems, key=lambda p: (p[0] != "error", p[2], p[3] or 0))
    return {
        "errors": sum(p[0] == "error" for p in problems),
        "warnings": sum(p[0] == "warning" for p in problems),
        "by_kind": dict(sorted(by_kind.items())),
        "findings": [
            {"severity": sev, "kind": kind, "file": file, "line": line, "message": msg}
            for sev, kind, file, line, msg in ordered[:200]
        ],
    }


def _shared_folders(splits: dict[str, str]) -> list[list[str]]:
    """[split, split, folder] for two splits that name the same image folder (ultralytics'
    coco128.yaml trains and validates on one folder): each image is scanned once, under the
    first, so the other registers empty, and a model's validation would be on its training images."""
    seen: dict[str, str] = {}
    out = []
    for split, folder in splits.items():
        norm = folder.rstrip("/")
        if norm in seen:
            out.append([seen[norm], split, folder])
        else:
            seen[norm] = split
    return out


def _leakage(images: dict[str, list[str]], manifest: str) -> dict[str, Any]:
    """Images whose content (sha256) appears in more than one split (their paths are read
    from the manifest only when there are any)."""
    digests = {split: set(found) for split, found in images.items()}
    splits = sorted(digests)
    shared: set[str] = set()
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            shared |= digests[a] & digests[b]
    examples: dict[str, list[str]] = defaultdict(list)
    if shared:
        for line in manifest.splitlines():
            digest, _, path = split_manifest_line(line)
            if digest in shared and path.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS:
                examples[digest].append(path)
    return {
        "shared_images": len(shared),
        "examples": [sorted(examples[h])[:3] for h in sorted(shared)[:10]],
    }
