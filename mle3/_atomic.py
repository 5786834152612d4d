"""Crash-safe file writes: a reader sees the old file or the new one, never half of one.

Temporary files are created with mode 0666 filtered by the umask (0644 under the usual
022), like any file a program opens for writing: ``tempfile.mkstemp`` would give 0600,
and on a shared server colleagues could not read the records.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO
from collections.abc import Callable


def create_new(path: Path | str, mode: int = 0o666) -> int:
    """Open a new file for writing (fails if it exists); its mode honours the umask."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)


def temporary_beside(path: Path) -> tuple[int, Path]:
    """A new, uniquely named hidden file in ``path``'s folder, open for writing."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return create_new(tmp), tmp
        except FileExistsError:
            continue


def _replace_with(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Fill a new temporary file beside ``path``, flush it to disk, then rename it over
    ``path``; on any failure the temporary file is removed and ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` so that readers see the old file or the new one, never half."""
    _replace_with(Path(path), lambda fh: fh.write(data))


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(source: Path | str, target: Path | str) -> None:
    """Copy a (possibly large) file so that ``target`` appears complete or not at all."""
    import shutil

    def fill(out: BinaryIO) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)

    _replace_with(Path(target), fill)
