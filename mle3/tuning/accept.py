"""``mle3 tune accept STUDY``: the best trial's values as a new training configuration.

The new configuration is the tuned one with the best values written in, without its
``tuning:`` block, traced to the study (``optimized_by``) and to the configuration it came
from (``derived_from``). Values of augmentation fields go into a new augmentation file
beside the original, which the new configuration names. ``mle3 train`` then trains the
final model as usual: the first run of this lineage that meets the test split.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .. import audit
from .._atomic import atomic_write_text
from ..errors import Mle3Error
from ..ids import check_id
from ..runner.overrides import set_path
from ..vocab import AuditAction

if TYPE_CHECKING:
    from ..workspace import Workspace


#: held from checking that the new configuration's id is free to writing its file
ACCEPT_LOCK = "tune-accept"


def accept(root: Workspace | Path, study_name: str, new_id: str | None = None) -> dict[str, Any]:
    """Write the accepted configuration (``root``: the loaded workspace, or its path). The
    check that the new id is free and the write hold one lock, so two accepts cannot both
    take the same id."""
    from ..workspace.load import locked

    with locked(root, ACCEPT_LOCK) as ws:
        return _accept(ws, study_name, new_id)


def _accept(ws: Workspace, study_name: str, new_id: str | None) -> dict[str, Any]:
    root = ws.root
    study = ws.get(study_name)
    if study.kind != "study":
        raise Mle3Error(f"{study_name} is a {study.kind}, not a study")
    if not study.best:
        raise Mle3Error(f"study {study_name} has no complete trial to accept", file=study._file)
    cfg = ws.get(study.config)
    new_id = new_id or f"{cfg.id}-{_suffix(study_name, cfg.id)}"
    check_id(new_id, "configuration id", field="--id")
    if ws.resolve(new_id) is not None:
        raise Mle3Error(f"{new_id} already exists; choose another --id")
    target = root / Path(cfg._file).parent / f"{new_id}.yaml"
    if target.exists():
        raise Mle3Error(f"{target.relative_to(root).as_posix()} exists (not a loadable item); choose another --id")
    values = dict(study.best.params)
    raw = copy.deepcopy(cfg._raw)
    raw.pop("tuning", None)
    raw["id"] = new_id
    raw["title"] = f"{cfg.title or cfg.id}, optimized by {study_name}"
    raw["optimized_by"] = study_name
    raw["derived_from"] = cfg.id
    written = []
    augmentation_values = {k: v for k, v in values.items() if k.startswith("augmentation.")}
    if augmentation_values:
        aug = ws.resolve(cfg.augmentation) if cfg.augmentation else None
        if aug is None:
            raise Mle3Error(
                f"the best trial sets augmentation fields, but {cfg.id} has no augmentation", file=cfg._file
            )
        aug_raw = copy.deepcopy(aug._raw)
        aug_raw["id"] = f"{new_id}-AUG"
        for path, value in augmentation_values.items():
            set_path(aug_raw, path.split(".")[1:], value)
        aug_file = root / Path(aug._file).parent / f"{new_id}-augmentation.yaml"
        atomic_write_text(
            aug_file,
            f"# Written by `mle3 tune accept {study_name}`: {aug.id or aug._file} with the best trial's values.\n"
            + yaml.safe_dump({"augmentation": aug_raw}, sort_keys=False, allow_unicode=True),
        )
        raw["augmentation"] = aug_raw["id"]
        written.append(aug_file.relative_to(root).as_posix())
    for path, value in values.items():
        if not path.startswith("augmentation."):
            set_path(raw, path.split("."), value)
    best = study.best
    atomic_write_text(
        target,
        f"# Written by `mle3 tune accept {study_name}`: {cfg.id} with the values of trial {best.number} "
        f"(run {best.run}, {study.objective.get('metric')} {best.value}).\n"
        + yaml.safe_dump({"training": raw}, sort_keys=False, allow_unicode=True),
    )
    written.insert(0, target.relative_to(root).as_posix())
    audit.append(
        root,
        AuditAction.TUNE_ACCEPT,
        new_id,
        {
            "study": study_name,
            "trial": best.number,
            "run": best.run,
            "value": best.value,
            "params": values,
            "derived_from": cfg.id,
        },
    )
    return {"config": new_id, "files": written, "study": study_name, "trial": best.number, "values": values}


def _suffix(study_name: str, config_id: str) -> str:
    """``TRAIN-001-TUNE-20261127-120000`` accepted from ``TRAIN-001`` -> ``TUNED-20261127-120000``."""
    rest = study_name[len(config_id) + 1 :] if study_name.startswith(config_id + "-") else study_name
    return rest.replace("TUNE-", "TUNED-", 1) if rest.startswith("TUNE-") else f"TUNED-{rest}"
