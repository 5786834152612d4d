"""Listing a data set's files (local folders or an object store) the way ultralytics'
loader finds them, and refusing entries that cannot be data files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterator

from ..errors import Mle3Error


@dataclass
class Listing:
    """The files of a data set folder, grouped by folder (names sorted), and the folders' mtimes."""

    by_dir: dict[str, list[str]] = field(default_factory=dict)
    dir_mtimes: dict[str, int] = field(default_factory=dict)
    stamps: dict[str, tuple[int, Any]] = field(default_factory=dict)  # remote listings: path -> (size, ETag)
    #: entries that cannot be part of a data set (links out of its place, dangling links,
    #: links to folders, FIFOs, devices), path -> why; listed too, so verify reports them
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.by_dir.values())

    def paths(self) -> list[str]:
        return sorted(f"{d}/{n}" if d else n for d, names in self.by_dir.items() for n in names)


def walk_local(base: str, directory: str, out: Listing) -> Iterator[tuple[str, list[str]]]:
    """Fill ``out`` with every data file below ``directory`` (relative to ``base``),
    yielding each folder (relative path, sorted names) as soon as it is listed.

    The files are those ultralytics' loader globs (``**/*.*``): hidden files and folders
    are not part of a data set, nor are ultralytics' ``.cache`` files. A link to a file
    inside ``base`` is a data file with its target's content (what ultralytics reads);
    any other link, and anything that is not a file or folder, is listed and recorded in
    ``out.refused``: registering refuses it, verify reports it."""
    prefix = len(base.rstrip("/")) + 1
    real_base = os.path.realpath(base)

    def walk(path: str) -> Iterator[tuple[str, list[str]]]:
        rel = path[prefix:].replace(os.sep, "/")
        names = []
        folders = []
        with os.scandir(path) as it:
            for entry in it:
                name = entry.name
                if name[0] == ".":
                    continue
                if entry.is_file(follow_symlinks=False):
                    if not name.endswith(".cache"):
                        names.append(name)
                elif entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
                else:
                    why = _link_problem(entry.path, real_base) if entry.is_symlink() else "not a regular file"
                    if why == "cache":
                        continue
                    names.append(name)
                    if why:
                        out.refused[f"{rel}/{name}" if rel else name] = why
        names.sort()
        out.by_dir[rel] = names
        out.dir_mtimes[rel] = os.stat(path).st_mtime_ns
        yield rel, names
        for folder in sorted(folders):
            yield from walk(folder)

    yield from walk(os.path.join(base, directory) if directory else base.rstrip("/"))


def _link_problem(path: str, real_base: str) -> str | None:
    """Why the link ``path`` cannot be a data file (None: a link to a file inside
    ``real_base``, read as that file; "cache": a link named like ultralytics' cache)."""
    target = os.path.realpath(path)
    if not os.path.exists(path):
        return "a link whose target does not exist"
    if target != real_base and not target.startswith(real_base.rstrip("/") + "/"):
        return f"a link to {target}, outside the data's place (data must stay inside the workspace or its data root)"
    if os.path.isdir(target):
        return "a link to a folder (ultralytics would read its files under other paths than the scanned ones)"
    if not os.path.isfile(target):
        return "a link to something that is not a regular file"
    return "cache" if path.endswith(".cache") else None


def refuse_links(listing: Listing) -> None:
    """Registering refuses a data set with entries that are not data files (one line, the first)."""
    if listing.refused:
        path = min(listing.refused)
        more = f" (and {len(listing.refused) - 1} more)" if len(listing.refused) > 1 else ""
        raise Mle3Error(
            f"{listing.refused[path]}{more}: not registered; copy the file into the data set or remove the link",
            file=path,
        )


def list_local(base: str, directory: str) -> Listing:
    out = Listing()
    for _ in walk_local(base, directory, out):
        pass
    return out


def list_remote(store: Any, directory: str) -> Listing:
    """The same listing over an object store (sizes and ETags come with it)."""
    out = Listing()
    skip = len(directory.rstrip("/")) + 1 if directory else 0
    for path, size, stamp in store.list_files(directory):
        if any(part.startswith(".") for part in path[skip:].split("/")) or path.endswith(".cache"):
            continue
        d, _, n = path.rpartition("/")
        out.by_dir.setdefault(d, []).append(n)
        out.stamps[path] = (size, stamp)
    for names in out.by_dir.values():
        names.sort()
    return out
