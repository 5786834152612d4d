"""The workspace: ``mle3.yaml`` (:mod:`.config`), the item YAML files read into validated
items (:mod:`.load`, with the pydantic models of :mod:`.schema` and the positions of
:mod:`.yamlpos`), the load cache under ``.mle3/`` (:mod:`.cache`) and model version names
(:mod:`.versions`).

The layer everything above reads items through (runs and model versions mle3 writes are
items too); it imports only the primitives.
"""

from .config import CONFIG_NAME, ProjectConfig, find_root, load_config
from .load import Workspace, item_key, load_workspace
from .schema import KINDS, json_schemas

__all__ = ["CONFIG_NAME", "KINDS", "ProjectConfig", "Workspace", "find_root", "item_key", "json_schemas", "load_config", "load_workspace"]
