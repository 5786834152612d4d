"""Every path mle3 reads or writes in a workspace, defined once.

Two kinds of places: what mle3 writes for git to carry (run records, model versions,
data set registrations, studies, the audit log) lies below ``artifacts_dir`` (mle3.yaml,
default ``artifacts``); caches, locks, queues and per-machine settings lie below
``.mle3/``, which git never carries. Paths are workspace-relative POSIX strings (the form
records store and findings name); :meth:`Layout.path` makes them absolute.

Functions that only receive a workspace root call :func:`layout_at`, which reads the
layout settings of ``mle3.yaml`` once per change of the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from collections.abc import Iterable

from ..paths import CONFIG_NAME, STATE

if TYPE_CHECKING:
    from filelock import FileLock

    from .config import ProjectConfig

#: default folder of what mle3 writes for git to carry
ARTIFACTS = "artifacts"
#: default folders items are read from
ITEM_DIRS = ("requirements", ARTIFACTS)
#: weights and ONNX files of model versions (large, kept out of git by the scaffold)
WEIGHTS = "models"
#: the lock promotions hold from reading their gate to writing its outcome; whatever
#: changes a model version's approved content (export) takes it too
PROMOTE_LOCK = "promote"


def covers(folder: str, path: str) -> bool:
    """Whether the walk of item folder ``folder`` reaches ``path`` (both workspace-relative)."""
    f, p = PurePosixPath(folder).parts, PurePosixPath(path).parts
    return f in ((), (".",)) or p[: len(f)] == f


@dataclass(frozen=True)
class Layout:
    """The places of one workspace: ``root`` plus the layout settings of ``mle3.yaml``."""

    root: Path
    artifacts: str = ARTIFACTS
    configured_item_dirs: tuple[str, ...] = ITEM_DIRS
    weights_dir: str = WEIGHTS
    state_dir: str = STATE

    @classmethod
    def of(cls, root: Path | str, config: ProjectConfig | None = None) -> Layout:
        """The layout of ``root`` as ``config`` (the loaded mle3.yaml) sets it."""
        if config is None:
            return cls(Path(root))
        artifacts = PurePosixPath(config.artifacts_dir).as_posix()
        return cls(Path(root), artifacts=artifacts, configured_item_dirs=tuple(config.item_dirs))

    def path(self, rel: str) -> Path:
        """``rel`` (a path of this layout) as an absolute path."""
        return self.root / rel

    # ------------------------------------------------------------------ items
    @property
    def item_dirs(self) -> tuple[str, ...]:
        """The folders items are read from: mle3.yaml's ``item_dirs``, plus the artifacts
        folder when none of them covers it (what mle3 writes is always read back)."""
        dirs = self.configured_item_dirs
        return dirs if any(covers(d, self.artifacts) for d in dirs) else (*dirs, self.artifacts)

    # ------------------------------------------------------------------ artifacts (in git)
    def _art(self, name: str) -> str:
        return f"{self.artifacts}/{name}"

    @property
    def runs_dir(self) -> str:
        return self._art("runs")

    @property
    def models_dir(self) -> str:
        return self._art("models")

    @property
    def datasets_dir(self) -> str:
        return self._art("datasets")

    @property
    def studies_dir(self) -> str:
        return self._art("studies")

    @property
    def audit_dir(self) -> str:
        return self._art("audit")

    @property
    def audit_legacy(self) -> str:
        """The linear log written before the DAG (read, migrated, never written)."""
        return self._art("audit.jsonl")

    def run_dir(self, run_id: str) -> str:
        return f"{self.runs_dir}/{run_id}"

    # ------------------------------------------------------------------ .mle3 (never in git)
    def _state(self, name: str) -> str:
        return f"{self.state_dir}/{name}"

    @property
    def cache_dir(self) -> str:
        return self._state("cache")

    @property
    def queue_dir(self) -> str:
        return self._state("queue")

    @property
    def outbox_dir(self) -> str:
        """Messages (e-mail, webhooks) waiting for delivery, one file each (``mle3 notify``)."""
        return self._state("outbox")

    @property
    def locks_dir(self) -> str:
        return self._state("locks")

    @property
    def tmp_dir(self) -> str:
        return self._state("tmp")

    @property
    def audit_index_dir(self) -> str:
        return self._state("audit-index")

    @property
    def local_settings(self) -> str:
        return self._state("local.yaml")

    @property
    def serve_token(self) -> str:
        return self._state("serve.token")

    @property
    def optuna_storage(self) -> str:
        return self._state("optuna.sqlite3")

    @property
    def run_changes(self) -> str:
        return self._state("run-changes.log")

    @property
    def local_manifests(self) -> str:
        return self._state("manifests")

    @property
    def run_index(self) -> str:
        return self._state("cache/run-index.json")

    @property
    def dataset_state_dir(self) -> str:
        return self._state("cache/datasets")

    @property
    def label_cache_dir(self) -> str:
        return self._state("cache/labels")

    @property
    def data_cache(self) -> str:
        return self._state("data")

    @property
    def export_dir(self) -> str:
        return self._state("export")

    @property
    def mlflow_dir(self) -> str:
        return self._state("mlflow")

    @property
    def ultralytics_dir(self) -> str:
        return self._state("ultralytics")

    def state_file(self, name: str) -> str:
        """A file directly under ``.mle3/`` (the parse and result caches)."""
        return self._state(name)

    # ------------------------------------------------------------------ locks
    def lock_path(self, name: str) -> Path:
        """The one place of lock ``name``: ``.mle3/locks/<name>.lock``."""
        return self.root / self.locks_dir / f"{name}.lock"

    def lock(self, name: str, timeout: float = -1) -> FileLock:
        """Lock ``name`` of this workspace (a file lock, re-entrant within a process:
        the same object is returned for the same name). Writers that check and then
        write hold it across both. One object per file and timeout in a process, so a
        holder that takes it again (a nested call) does not wait for itself."""
        from filelock import FileLock

        path = self.lock_path(name)
        key = (str(path.resolve()), timeout)
        lock = _LOCKS.get(key)
        if lock is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.root / self.state_dir / ".gitignore"
            if not ignore.exists():  # lock files are never something for `git add -A`
                ignore.write_text("*\n")
            lock = _LOCKS.setdefault(key, FileLock(str(path), timeout=timeout))
        return lock


_LOCKS: dict[tuple[str, float], FileLock] = {}


DEFAULT = Layout(Path("."))

_CACHE: dict[str, tuple[tuple[int, int] | None, Layout]] = {}


def layout_at(root: Path | str) -> Layout:
    """The layout of the workspace at ``root`` from its ``mle3.yaml`` (re-read when the
    file changes; the defaults when there is none). An invalid mle3.yaml raises its
    one-line :class:`~mle3.errors.Mle3Error`, as loading the workspace would. The full
    reader (pydantic, the settings' models) is imported only for an unusual mle3.yaml, so
    the audit log and run records, which only need paths, start without it."""
    root = Path(root)
    key = str(root)
    try:
        st = os.stat(root / CONFIG_NAME)
        stamp: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    layout = Layout(root)
    if stamp is not None:
        settings = _light_settings(root / CONFIG_NAME)
        if settings:
            layout = Layout(root, *settings)
        else:  # anything unusual goes to the full reader, which names the problem
            from .config import load_config

            layout = Layout.of(root, load_config(root))
    _CACHE[key] = (stamp, layout)
    return layout


def artifacts_dir_problem(value: str) -> str | None:
    """Why ``artifacts_dir`` cannot be used (None when it can): shared with mle3.yaml's validation."""
    parts = PurePosixPath(value).parts
    if not parts or PurePosixPath(value).is_absolute() or ".." in parts or parts[0] in (STATE, ".git"):
        return f"artifacts_dir {value!r} must be a folder inside the workspace (not .mle3 or .git)"
    return None


def _light_settings(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """``artifacts_dir`` and ``item_dirs`` of a plain, valid mle3.yaml read without pydantic
    (the audit log and run records need only these); None when anything looks off."""
    import yaml

    try:
        data = yaml.safe_load(path.read_bytes())
    except (OSError, yaml.YAMLError, ValueError):
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None
    artifacts, dirs = data.get("artifacts_dir", ARTIFACTS), data.get("item_dirs", list(ITEM_DIRS))
    if not isinstance(artifacts, str) or artifacts_dir_problem(artifacts) or not isinstance(dirs, list):
        return None
    for d in dirs:
        if not isinstance(d, str) or PurePosixPath(d).is_absolute() or ".." in PurePosixPath(d).parts:
            return None
    return PurePosixPath(artifacts).as_posix(), tuple(dirs)


def paths(layout: Layout) -> Iterable[tuple[str, str]]:
    """Every named path of ``layout`` as (name, workspace-relative path): for tests and docs."""
    for name in dir(Layout):
        if not name.startswith("_") and isinstance(getattr(Layout, name), property) and name != "item_dirs":
            yield name, getattr(layout, name)
