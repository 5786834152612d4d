"""Files -> validated items: the only part of mle3 that reads item YAML."""

from .config import CONFIG_NAME, ProjectConfig, find_root, load_config
from .layout import Layout, layout_at
from .load import Workspace, as_workspace, item_key, load_workspace
from .schema import KINDS, json_schemas

__all__ = ["CONFIG_NAME", "KINDS", "ProjectConfig", "Layout", "Workspace", "as_workspace", "find_root", "item_key", "json_schemas", "layout_at", "load_config", "load_workspace"]
