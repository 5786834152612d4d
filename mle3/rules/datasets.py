"""Family ``data``: registered data sets whose files, manifest or labels are not as recorded."""

from __future__ import annotations

import os
from typing import Iterator

from ..datasets.manifest import compare_with_disk, fingerprint, is_data_file, read_manifest
from ..paths import inside_workspace
from .registry import Context, Hit, rule


def _manifest(ctx: Context, ds):
    """The manifest entries of a data set, or None (recorded for the result cache)."""
    if not ds.manifest or not inside_workspace(ctx.ws.root, ds.manifest):
        return None
    if not ctx.exists(ds.manifest):
        return None
    try:
        return read_manifest(ctx.ws.root / ds.manifest)
    except (ValueError, OSError, UnicodeDecodeError):
        return None


@rule("data.manifest", "error", "A registered data set's manifest is missing, malformed, or does not match its fingerprint.",
      "Restore the manifest from version control; if the data really changed, register a new version.")
def manifest_integrity(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        if not ds.manifest:
            continue
        entries = _manifest(ctx, ds)
        if entries is None:
            yield Hit(ds, f"manifest {ds.manifest!r} is missing or unreadable", ("manifest",))
        elif ds.fingerprint and fingerprint(entries) != ds.fingerprint:
            yield Hit(ds, f"manifest {ds.manifest!r} does not match the recorded fingerprint (edited after registration?)", ("fingerprint",))


@rule("data.changed", "error", "Files of a registered data set were changed, removed or added on disk since registration.",
      "Restore the files (`mle3 dataset verify ID` lists them), or register the new data as a new version.")
def data_changed(ctx: Context) -> Iterator[Hit]:
    root = ctx.ws.root

    def observe(path: str, st: os.stat_result | None) -> None:
        ctx.disk[path] = None if st is None else (st.st_mode, st.st_size, st.st_mtime_ns)

    for ds in ctx.ws.of_kind("dataset"):
        entries = _manifest(ctx, ds) if ds.manifest else None
        if not entries:
            continue
        diff = compare_with_disk(root, entries, observe)
        example = (diff.changed + diff.removed)[:1]
        recorded_by_dir: dict[str, set[str]] = {}
        for e in entries:
            directory, name = os.path.split(e.path)
            recorded_by_dir.setdefault(directory, set()).add(name)
        added = 0
        for directory, recorded in sorted(recorded_by_dir.items()):
            ctx.exists(directory)  # a new file changes its folder's mtime: the cache notices
            try:
                names = {n for n in os.listdir(root / directory) if is_data_file(n)}
            except OSError:
                continue
            extra = [n for n in names - recorded if (root / directory / n).is_file()]
            if extra:
                added += len(extra)
                example = example or [f"{directory}/{sorted(extra)[0]}"]
        if diff.changed or diff.removed or added:
            yield Hit(ds, f"data set {ds.key} differs from its manifest: {len(diff.changed)} changed, {len(diff.removed)} removed, {added} added (e.g. {example[0]})", ("manifest",))


@rule("data.label-quality", "error", "Label problems were recorded at registration (malformed lines, class ids out of range, boxes outside the image, unreadable images); missing or empty label files are warnings.",
      "Fix the labels and register a new version; `label_quality.findings` in the data set file lists them with file and line.")
def label_quality(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        quality = (ds.model_extra or {}).get("label_quality")
        if not isinstance(quality, dict):
            continue
        by_kind = quality.get("by_kind") or {}
        detail = ", ".join(f"{k} {v}" for k, v in by_kind.items())
        if quality.get("errors"):
            yield Hit(ds, f"{quality['errors']} label errors recorded ({detail})", ("label_quality",))
        elif quality.get("warnings"):
            yield Hit(ds, f"{quality['warnings']} label warnings recorded ({detail})", ("label_quality",), "warning")
