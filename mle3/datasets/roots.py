"""Data roots: named places where data lives outside the workspace (a NAS mount, a bucket).

``mle3.yaml`` declares them (``data_roots: {nas: /mnt/datasets, lake: "s3://bucket/x"}``);
data set records name the root and the path below it, never a machine's absolute path.
Each machine maps a root, first match wins:

1. the environment variable ``MLE3_DATA_ROOT_<NAME>`` (name upper-cased),
2. ``data_roots:`` in the untracked ``.mle3/local.yaml`` of the workspace (a copy that
   git tracks is ignored, with one line on stderr: merged from a branch, it would remap
   roots for everyone; ``check`` reports it as ``workspace.tracked-state``),
3. the value in ``mle3.yaml`` (a shared default; null means every machine maps it).

A path given to ``dataset register`` is located after resolving links: inside the
workspace, or inside a mapped root, else refused before anything is read.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import yaml

from ..errors import Mle3Error
from ..workspace.layout import DEFAULT, layout_at

#: the default place (``Layout.local_settings`` is the workspace's own)
LOCAL_SETTINGS = DEFAULT.local_settings
ENV_PREFIX = "MLE3_DATA_ROOT_"
DATA_CACHE_ENV = "MLE3_DATA_CACHE"


class RootUnavailable(Mle3Error):
    """A data root that is not declared, not mapped or not mounted on this machine."""


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def is_url(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


@dataclass(frozen=True)
class DataRoot:
    name: str
    location: str  # an absolute local path or an fsspec URL
    source: str  # where the mapping came from (shown in messages)

    @property
    def remote(self) -> bool:
        return is_url(self.location)

    @property
    def path(self) -> Path:
        return Path(self.location.removeprefix("file://"))

    def check_available(self) -> None:
        """Exit 2 with one line when a local root is missing or not a folder (remote roots
        are checked by their first request)."""
        if self.remote:
            return
        if self.path.is_file():
            raise RootUnavailable(
                f"data root {self.name!r} maps to {self.location}, which is a file, not a folder (mapped by "
                f"{self.source})"
            )
        if not self.path.is_dir():
            raise RootUnavailable(
                f"data root {self.name!r} ({self.location}, from {self.source}) is not available on this machine: "
                "not mounted? "
                f"map it elsewhere with {env_name(self.name)}=/path"
            )


_told_tracked: set[str] = set()


def local_settings(root: Path) -> dict[str, Any]:
    """The workspace's untracked per-machine settings (``.mle3/local.yaml``); nothing
    when git tracks that file."""
    from ..tracked import is_tracked

    rel = layout_at(root).local_settings
    path = root / rel
    if path.exists() and is_tracked(root, rel):
        if str(root) not in _told_tracked:
            _told_tracked.add(str(root))
            print(
                f"mle3: {rel} is tracked by git and therefore ignored (per-machine settings must not be committed: "
                f"git rm --cached {rel})",
                file=sys.stderr,
            )
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise Mle3Error(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", file=rel, line=mark.line + 1 if mark else None
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("data_roots", {}) or {}, dict):
        raise Mle3Error(
            "must be a mapping; data_roots maps a root's name to a path or URL", file=rel, field="data_roots"
        )
    return data


def _normalise(root: Path, location: str) -> str:
    if is_url(location):
        return location.rstrip("/")
    path = Path(os.path.expanduser(location.removeprefix("file://")))
    return str(path if path.is_absolute() else (root / path))


def data_root(root: Path, config: Any, name: str) -> DataRoot:
    """The mapping of one declared root on this machine (raises :class:`RootUnavailable`)."""
    declared = config.data_roots
    if name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise RootUnavailable(f"data root {name!r} is not declared in mle3.yaml under data_roots (declared: {known})")
    env = os.environ.get(env_name(name))
    if env:
        return DataRoot(name, _normalise(root, env), env_name(name))
    local = (local_settings(root).get("data_roots") or {}).get(name)
    if local:
        return DataRoot(name, _normalise(root, str(local)), layout_at(root).local_settings)
    if declared[name]:
        return DataRoot(name, _normalise(root, str(declared[name])), "mle3.yaml")
    raise RootUnavailable(
        f"data root {name!r} is not mapped on this machine: set {env_name(name)}=/path "
        f"or add `data_roots: {{{name}: /path}}` to {layout_at(root).local_settings}"
    )


def mapped_roots(root: Path, config: Any) -> list[DataRoot]:
    """Every declared root that is mapped here (unmapped ones are left out)."""
    out = []
    for name in config.data_roots:
        try:
            out.append(data_root(root, config, name))
        except RootUnavailable:
            continue
    return out


@dataclass(frozen=True)
class Location:
    """Where a file lies: below the workspace (``root_name`` None) or below a data root."""

    root_name: str | None
    relative: str  # posix path below the workspace or the root
    base: str  # the workspace path, or the root's location


def locate(root: Path, config: Any, given: str | Path) -> Location:
    """Place a path (or URL) a user gave in the workspace or a declared root; refuse
    anything else, including links that resolve outside every root."""
    text = str(given)
    if is_url(text):
        for candidate in mapped_roots(root, config):
            prefix = candidate.location.rstrip("/") + "/"
            if candidate.remote and text.startswith(prefix):
                return Location(candidate.name, text[len(prefix) :], candidate.location)
        raise Mle3Error(
            f"{text} lies in no declared data root; declare its bucket or prefix in mle3.yaml under data_roots (for "
            f"example `lake: {text.rsplit('/', 2)[0]}`)"
        )
    path = Path(text).resolve()
    ws = root.resolve()
    if path == ws or ws in path.parents:
        return Location(None, path.relative_to(ws).as_posix(), str(ws))
    for candidate in mapped_roots(root, config):
        if candidate.remote:
            continue
        base = candidate.path.resolve()
        if path == base or base in path.parents:
            candidate.check_available()
            return Location(candidate.name, path.relative_to(base).as_posix(), str(base))
    declared = ", ".join(sorted(config.data_roots)) or "none declared"
    raise Mle3Error(
        f"{given} (resolved: {path}) lies outside the workspace and every mapped data root ({declared}); "
        "declare the place it lives under data_roots in mle3.yaml",
        file=str(given),
    )


def recorded_path(root: Path, config: Any) -> Callable[[Path], str]:
    """How a path a user gave is written into a record that travels (a data set's
    ``conversion:``): below the workspace relative to it, below a data root as
    ``ROOT:path`` (as ``source`` is written), elsewhere by its name only (its sha256, where
    recorded, says which file it was): never a machine's absolute path."""

    def form(path: Path) -> str:
        try:
            found = locate(root, config, path)
        except Mle3Error:
            return path.name
        return found.relative if found.root_name is None else f"{found.root_name}:{found.relative}"

    return form


def data_cache_dir(root: Path) -> Path:
    """Where remote data sets are materialized for training: ``MLE3_DATA_CACHE``, else
    ``data_cache:`` in ``.mle3/local.yaml``, else ``.mle3/data`` in the workspace."""
    env = os.environ.get(DATA_CACHE_ENV)
    if env:
        return Path(os.path.expanduser(env))
    local = local_settings(root).get("data_cache")
    if local:
        path = Path(os.path.expanduser(str(local)))
        return path if path.is_absolute() else root / path
    return root / layout_at(root).data_cache
