"""Standard output that a closed pipe cannot turn into another exit code.

``mle3 check | head -1`` closes the pipe while mle3 still writes. Left alone, the first
write after that raises BrokenPipeError somewhere inside the command, and click turns it
into exit 1, so the exit code depended on how much output fitted in the pipe's buffer.
With this wrapper the rest of the output is dropped and the command finishes: its exit
code is the one it would have had on a terminal.
"""

from __future__ import annotations

import os
from typing import Any, TextIO


class PipeSafeStream:
    """Forwards to ``stream`` until the reader goes away, then discards."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def _gone(self) -> None:
        self.closed_by_reader = True
        try:  # later writes of anything holding the raw descriptor go nowhere, quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, buffer...
        return getattr(self._stream, name)
