"""A configuration with some field values replaced: a study's trial.

The values (configuration field paths such as ``optimizer.lr``, or ``augmentation.``
paths into the configuration's augmentation) are written into copies of the raw items,
which are validated again, so the changed configuration reaches ultralytics through the
same mapping as any other.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import Mle3Error
from ..workspace.schema import Augmentation, Training, locate


def set_path(raw: dict[str, Any], path: list[str], value: Any) -> None:
    node = raw
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def apply_values(cfg: Any, aug: Any, values: dict[str, Any]) -> tuple[Any, Any]:
    """The configuration (and augmentation) with ``values`` written in, validated again;
    the originals are left untouched."""
    from pydantic import ValidationError

    cfg_raw = copy.deepcopy(cfg._raw)
    cfg_raw.pop("tuning", None)
    aug_raw = copy.deepcopy(aug._raw) if aug is not None else None
    for path, value in values.items():
        parts = path.split(".")
        if parts[0] == "augmentation":
            if aug_raw is None:
                raise Mle3Error(
                    f"tuning space names {path}, but configuration {cfg.id} has no augmentation",
                    file=cfg._file,
                    field="tuning.space",
                )
            set_path(aug_raw, parts[1:], value)
        else:
            set_path(cfg_raw, parts, value)
    try:
        new_cfg = locate(Training.model_validate(cfg_raw), cfg._file, cfg._where, cfg_raw)
        new_aug = (
            locate(Augmentation.model_validate(aug_raw), aug._file, aug._where, aug_raw) if aug is not None else None
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Mle3Error(
            f"the trial's values make the configuration invalid: {'.'.join(map(str, err['loc']))}: {err['msg']}",
            file=cfg._file,
            field="tuning.space",
        ) from None
    return new_cfg, new_aug
