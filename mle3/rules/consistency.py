"""Family ``consistency``: items that link correctly but disagree with each other or with disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Iterator

from ..lfs import not_materialized
from ..paths import inside_workspace
from .registry import Context, Hit, rule

_SAMPLE_FIELDS = (("train_samples", "train"), ("val_samples", "val"), ("test_samples", "test"))


@rule(
    "consistency.dataset-version",
    "error",
    "A model's data set version is not a version of the data set its configuration or run uses.",
    "Correct training_data.dataset_version, or the configuration's dataset.",
)
def dataset_version_mismatch(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        used = ctx.model_dataset(model)
        if used is None:
            continue
        source = ctx.ws.resolve(model.training_run) or ctx.ws.resolve(model.training_config)
        if source is None:
            continue
        if source.kind == "run":
            if source.dataset_version and ctx.ws.resolve(source.dataset_version) is not used:
                yield Hit(
                    model,
                    f"dataset_version {used.key} differs from {source.dataset_version} recorded by run {source.id}",
                    ("training_data", "dataset_version"),
                )
            source = ctx.ws.resolve(source.config)
        if source is None or source.kind != "training" or not source.dataset:
            continue
        configured = ctx.ws.resolve(source.dataset)
        if configured is None or configured.kind != "dataset":
            continue
        pinned = source.dataset == configured.key
        if (pinned and configured is not used) or configured.id != used.id:
            yield Hit(
                model,
                f"dataset_version {used.key} is not the data set {source.dataset} of configuration {source.id}",
                ("training_data", "dataset_version"),
            )


@rule(
    "consistency.sample-count",
    "error",
    "A model's declared sample counts differ from its data set version's.",
    "Copy the counts from the data set version, or point to the version actually used.",
)
def sample_count_mismatch(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        ds = ctx.model_dataset(model)
        if ds is None:
            continue
        for field, split in _SAMPLE_FIELDS:
            declared = getattr(model.training_data, field)
            actual = ds.samples(split)
            if declared is not None and actual is not None and declared != actual:
                yield Hit(
                    model,
                    f"training_data.{field} is {declared} but {ds.key} has {actual} {split} samples",
                    ("training_data", field),
                )


@rule(
    "consistency.artifact-missing",
    "error",
    "A model artifact file does not exist (error once released, warning before).",
    "Restore the file at the path given, or correct the path (relative to the workspace root).",
)
def artifact_missing(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        for name, value in (model.artifacts.model_dump(exclude_none=True) or {}).items():
            if not isinstance(value, str) or not inside_workspace(ctx.ws.root, value):
                continue
            if not ctx.exists(value) and not_materialized(ctx.ws.root, value) is None:
                severity = "error" if model.status == "released" else "warning"
                yield Hit(model, f"artifact {name} {value!r} does not exist", ("artifacts", name), severity)


@rule(
    "artifact.not-materialized",
    "warning",
    "A model artifact is a git LFS pointer, or an LFS-tracked file absent from this checkout: its content was not "
    "fetched (its fingerprint is still known).",
    "Fetch it with the command in the finding (`git lfs pull --include=FILE`).",
)
def artifact_not_materialized(ctx: Context) -> Iterator[Hit]:
    ctx.exists(".gitattributes")
    for model in ctx.ws.of_kind("model_version"):
        for name, value in (model.artifacts.model_dump(exclude_none=True) or {}).items():
            if isinstance(value, str) and inside_workspace(ctx.ws.root, value):
                ctx.exists(value)
                why = not_materialized(ctx.ws.root, value)
                if why:
                    yield Hit(model, why, ("artifacts", name))


@rule(
    "consistency.path-outside",
    "error",
    "A path in an item leaves the workspace (absolute, `..`, or a link pointing out).",
    "Keep artifacts and data inside the workspace; mle3 never reads or hashes files outside it.",
)
def path_outside(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        for name, value in (model.artifacts.model_dump(exclude_none=True) or {}).items():
            if isinstance(value, str):
                ctx.exists(value)  # a link that changes target must invalidate the result cache
                if not inside_workspace(ctx.ws.root, value):
                    yield Hit(model, f"artifact {name} path {value!r} leaves the workspace", ("artifacts", name))
    for ds in ctx.ws.of_kind("dataset"):
        place = f"data root {ds.data_root!r}" if ds.data_root else "the workspace"
        paths: list[tuple[str, Any, tuple[str, ...]]] = [
            (field, getattr(ds, field), (field,)) for field in ("data_yaml", "manifest")
        ]
        paths += [(f"split {split}", info.path, ("splits", split, "path")) for split, info in ds.splits.items()]
        for what, value, where in paths:
            if value and not _stays_in(ctx, ds, value):
                yield Hit(ds, f"{what} path {value!r} leaves {place}", where)


def _stays_in(ctx: Context, ds, value: str) -> bool:
    """Paths of a data set below a data root are relative to the root (which may not be
    mounted here): relative and without ``..``; others must stay in the workspace."""
    if ds.data_root:
        from pathlib import PurePosixPath

        path = PurePosixPath(value)
        return not path.is_absolute() and ".." not in path.parts and not value.startswith("\\")
    return inside_workspace(ctx.ws.root, value)


@rule(
    "consistency.split-ratio",
    "warning",
    "A data set's split shares lie outside the policy ranges (mle3.yaml policy.split_ratios).",
    "Rebalance the splits, or set policy.split_ratios in mle3.yaml with the project's agreed ranges.",
)
def split_ratio(ctx: Context) -> Iterator[Hit]:
    ranges = ctx.ws.config.policy.split_ratios
    for ds in ctx.ws.of_kind("dataset"):
        for split, share in ds.ratios().items():
            bounds = ranges.get(split)
            if bounds and not (bounds[0] - 1e-9 <= share <= bounds[1] + 1e-9):
                yield Hit(
                    ds,
                    f"split {split} holds {share:.1%} of samples, policy allows {bounds[0]:.0%}-{bounds[1]:.0%}",
                    ("splits",),
                )


@rule(
    "consistency.split-overlap",
    "error",
    "Splits of a data set are not mutually exclusive (same folder, shared images, or a group characteristic such as "
    "a sequence id whose value is in two splits).",
    "Give every split its own images, and every sequence (drive) to one split; `mle3 dataset register` finds images "
    "shared by content and groups shared by value.",
)
def split_overlap(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        for message, path in split_overlaps(ds):
            yield Hit(ds, message, path)


def split_overlaps(ds: Any) -> list[tuple[str, tuple]]:
    """(message, field path) of each way a data set's splits are not mutually exclusive:
    the same folder, images shared by content, a group value in two splits. ``check`` reports
    them; ``train`` refuses such a data set unless a deviation is approved."""
    out: list[tuple[str, tuple]] = []
    seen: dict[str, str] = {}
    for split, info in ds.splits.items():
        if not info.path:
            continue
        norm = Path(info.path).as_posix().rstrip("/")
        if norm in seen:
            out.append((f"splits {seen[norm]} and {split} use the same path {info.path!r}", ("splits", split, "path")))
        seen[norm] = split
    if not out:  # the record's own word (a data set registered before split paths were recorded)
        for a, b, folder in ds.leakage.shared_folders if ds.leakage is not None else []:
            out.append((f"splits {a} and {b} use the same folder {folder!r}", ("leakage", "shared_folders")))
    if ds.shared_images:
        out.append((f"{ds.shared_images} images appear in more than one split", ("leakage",)))
    for name, shared in (ds.leakage.shared_groups if ds.leakage is not None else {}).items():
        if shared.get("count"):
            examples = ", ".join(str(e) for e in (shared.get("examples") or [])[:3])
            out.append(
                (
                    f"{shared['count']} values of the group characteristic {name!r} appear in more than one split "
                    f"(e.g. {examples}): training and test data are not independent",
                    ("leakage", "shared_groups", name),
                )
            )
    return out


@rule(
    "consistency.id-shadowed",
    "error",
    "An item's id is also a data set's id: a reference to that id names the item, never the data set's latest version.",
    "Rename one of them; ids are shared by every item kind.",
)
def id_shadowed(ctx: Context) -> Iterator[Hit]:
    for dataset_id, latest in sorted(ctx.ws.latest_dataset.items()):
        other = ctx.ws.by_key.get(dataset_id)
        if other is not None and other.kind != "dataset":
            yield Hit(
                other,
                f"id {dataset_id!r} of this {other.kind} is also the id of data set {latest.key} ({latest._file}): "
                f"references to {dataset_id!r} name the {other.kind}",
                ("id",),
            )


def _changed_fields(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted paths whose values differ between two nested mappings."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            out.extend(_changed_fields(before.get(key), after.get(key), f"{prefix}.{key}" if prefix else str(key)))
        return out
    return [] if before == after else [prefix or "(whole configuration)"]


def _at(raw: dict, dotted: str) -> tuple:
    """The deepest existing prefix of ``dotted`` in ``raw``, for the finding's line."""
    path: list[str] = []
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            break
        path.append(part)
        node = node[part]
    return tuple(path)


#: parts of a configuration that are not what a training is (a study changes no model)
_NOT_TRAINING = ("tuning",)


@rule(
    "consistency.config-drifted",
    "warning",
    "A configuration was edited after a run trained with it: it no longer describes the models of that run (they "
    "stay bound to the run's snapshot).",
    "Retrain to get a model of the edited configuration, or revert the edit; the finding names the changed fields.",
)
def config_drifted(ctx: Context) -> Iterator[Hit]:
    import yaml

    runs_of: dict[str, list[Any]] = {}
    for model in ctx.ws.of_kind("model_version"):
        run = ctx.ws.resolve(model.training_run)
        if run is not None and run.kind == "run":
            runs_of.setdefault(run.key, []).append(model)
    for run in ctx.ws.of_kind("run"):
        models = runs_of.get(run.key)
        config = ctx.ws.resolve(run.config)
        rel = str(run._file or "")
        if not models or config is None or config.kind != "training" or not rel.endswith("/run.yaml"):
            continue
        snapshot_file = ctx.ws.root / (rel[: -len("run.yaml")] + "config.yaml")
        try:
            snapshot = (yaml.safe_load(snapshot_file.read_text(encoding="utf-8")) or {}).get("training")
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
            continue  # no snapshot: the model is bound to the live configuration (approval.stale says when it moves)
        if not isinstance(snapshot, dict):
            continue
        live = {k: v for k, v in (config._raw or {}).items() if k not in _NOT_TRAINING}
        recorded = {k: v for k, v in snapshot.items() if k not in _NOT_TRAINING}
        changed = _changed_fields(recorded, live)
        if changed:
            names = ", ".join(m.id for m in models)
            yield Hit(
                config,
                f"configuration {config.id} changed since run {run.id} trained {names} with it: "
                f"{', '.join(changed[:8])}{' ...' if len(changed) > 8 else ''}; the model stays bound to the run's "
                "snapshot "
                f"(its approvals stay fresh); retrain to apply the change, or revert it",
                _at(live, changed[0]),
            )
