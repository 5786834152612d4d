"""The characteristics of each image of a registered data set, for per-condition evaluation.

Slices are cut from the same values registration aggregated: the metadata table is read
again through the data set's store and must hash to what was registered; derived values
come from the same worker code that measured them (:func:`~.chunks.run_job`), so an image
is "night" or "2-5 objects" in a slice exactly when it was counted so in the record.
"""

from __future__ import annotations

from typing import Any

from ..errors import Mle3Error
from ..workspace.characteristics import LUMINANCE
from .characterise import images_of
from .chunks import ChunkResult, ImageRows, run_job
from .metadata import MetadataSpec
from .metadata import load as load_metadata
from .scan_jobs import pairs_of
from .storage import store_for


def image_conditions(ws: Any, dataset: Any, splits: tuple[str, ...] = ("val", "test")) -> dict[str, dict[str, str]]:
    """{image path below the data set folder: {characteristic: value}} for the images of
    ``splits``; empty for a data set registered without characteristics."""
    record = dataset.characteristics
    if record is None or not dataset.data_yaml:
        return {}
    store = store_for(ws.root, ws.config, dataset.data_root)
    layout = store.layout(dataset.data_yaml)
    luminance = LUMINANCE in record.names
    read = store.read
    rows: dict[str, ImageRows] = {}
    n_classes = len(layout.names)
    for split in splits:
        directory = layout.splits.get(split)
        if directory is None:
            continue
        part = ChunkResult()
        listing = store.walk(directory)
        for folder, names in sorted(listing.by_dir.items()):
            for job in pairs_of(folder, sorted(names), {split: directory}, n_classes, luminance):
                part.absorb(run_job(read, job))
        rows[split] = part.rows.get(split, ImageRows())
    table = None
    if dataset.metadata is not None:
        odd = ws.resolve(dataset.metadata.odd) if dataset.metadata.odd else None
        spec = MetadataSpec(dataset.metadata.file, dataset.metadata.key or "image")
        table = load_metadata(store, spec, odd, layout.root, dataset.metadata.sha256)
    exact = (record.model_extra or {}).get("resolution", "exact") == "exact"
    images = images_of(rows, table, luminance, exact_resolution=exact)
    measured = [n for n in record.names if n in images.values]
    missing = [n for n in record.names if n not in images.values]
    if missing:
        raise Mle3Error(f"data set {dataset.key}: {', '.join(missing)} could not be measured again")
    prefix = len(layout.root) + 1 if layout.root else 0
    columns = [images.values[n].to_pylist() for n in measured]
    return {path[prefix:]: dict(zip(measured, values)) for path, *values in zip(images.paths.to_pylist(), *columns)}
