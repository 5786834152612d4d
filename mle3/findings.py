"""The one record every check, loader and command reports problems with."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass
class Finding:
    """A problem at a place: ``file:line:column`` relative to the workspace root."""

    rule: str
    severity: Severity
    message: str
    item: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def location(self) -> str:
        if not self.file:
            return "<workspace>"
        parts = [self.file]
        if self.line:
            parts.append(str(self.line))
            if self.column:
                parts.append(str(self.column))
        return ":".join(parts)

    def sort_key(self) -> tuple:
        return (
            self.file or "",
            self.line or 0,
            self.column or 0,
            SEVERITY_ORDER[self.severity],
            self.rule,
            self.message,
        )

    def to_json(self) -> dict:
        return asdict(self)

    def one_line(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        item = f" ({self.item})" if self.item else ""
        return f"{self.location()}: {self.severity}: {self.message}{where}{item} [{self.rule}]"


def format_path(path: tuple) -> str:
    """``('optimizer', 'lr')`` -> ``optimizer.lr``; list indexes as ``[0]``."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + str(step)
    return out
