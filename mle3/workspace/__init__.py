"""The workspace: its layout (every path mle3 reads or writes, :mod:`.layout`), its
locks, ``mle3.yaml`` (:mod:`.config`), and files -> validated items (:mod:`.load`, with
the pydantic models of :mod:`.schema` and the positions of :mod:`.yamlpos`; the only part
of mle3 that reads item YAML), the typed records of what mle3 writes itself
(:mod:`.records`), the load cache under ``.mle3/`` (:mod:`.cache`) and model version
names (:mod:`.versions`). It imports only the primitives.

Names are imported on first use, so a module that needs only the layout (the audit log,
run records) does not pay for pydantic and the item schema.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CONFIG_NAME": "config",
    "ProjectConfig": "config",
    "find_root": "config",
    "load_config": "config",
    "Layout": "layout",
    "layout_at": "layout",
    "Workspace": "load",
    "as_workspace": "load",
    "item_key": "load",
    "load_workspace": "load",
    "KINDS": "schema",
    "json_schemas": "schema",
}

if TYPE_CHECKING:
    from .config import CONFIG_NAME, ProjectConfig, find_root, load_config
    from .layout import Layout, layout_at
    from .load import Workspace, as_workspace, item_key, load_workspace
    from .schema import KINDS, json_schemas


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CONFIG_NAME",
    "KINDS",
    "Layout",
    "ProjectConfig",
    "Workspace",
    "as_workspace",
    "find_root",
    "item_key",
    "json_schemas",
    "layout_at",
    "load_config",
    "load_workspace",
]
assert sorted(__all__) == sorted(_EXPORTS)
