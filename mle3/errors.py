"""User-facing errors: the CLI prints them as one line and exits with their code."""

from __future__ import annotations


class Mle3Error(Exception):
    """A problem the user can fix (bad input, missing workspace). Exit code 2 by default."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        exit_code: int | None = None,
    ):
        super().__init__(message)
        self.message, self.file, self.line, self.field = message, file, line, field
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{self.message}{field}"


class WorkspaceNotFound(Mle3Error):
    """No ``mle3.yaml`` in the given directory or any parent."""


class ItemNotFound(Mle3Error):
    """An id given on the command line names no item."""
