"""Files -> validated items: the only part of mle3 that reads item YAML."""

from .config import CONFIG_NAME, ProjectConfig, find_root, load_config
from .load import Workspace, item_key, load_workspace
from .schema import KINDS, json_schemas

__all__ = ["CONFIG_NAME", "KINDS", "ProjectConfig", "Workspace", "find_root", "item_key", "json_schemas", "load_config", "load_workspace"]
