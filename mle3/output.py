"""Printing results as text for people or JSON for machines (one place for both)."""

from __future__ import annotations

import json
import sys
from itertools import groupby
from typing import Any, TextIO

from .findings import Finding

_COLOURS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}
_RESET = "\033[0m"


def emit_json(data: Any, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    json.dump(data, stream, indent=2, default=str, ensure_ascii=False)
    stream.write("\n")


def _colour(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def findings_text(findings: list[Finding], summary: str, stream: TextIO | None = None) -> str:
    """Findings grouped by file, sorted by line, then one summary line."""
    stream = stream or sys.stdout
    colour = _colour(stream)
    lines: list[str] = []
    for file, group in groupby(findings, key=lambda f: f.file or "<workspace>"):
        lines.append(file)
        for f in group:
            pos = f"{f.line or ''}" + (f":{f.column}" if f.column else "")
            sev: str = f.severity
            if colour:
                sev = f"{_COLOURS[sev]}{sev}{_RESET}"
            where = f" [{f.field}]" if f.field else ""
            lines.append(f"  {pos:>7}  {sev:<{7 + (len(sev) - len(f.severity))}}  {f.message}{where}  ({f.rule})")
    lines.append(summary)
    return "\n".join(lines)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
