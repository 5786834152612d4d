"""``python -m mle3.notify ROOT OUTBOX``: the detached deliverer a command starts after an
event. It takes the outbox's deliverer lock before importing anything heavy: when another
deliverer holds it (a burst of events), it exits at once and leaves the messages to it."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    try:
        os.nice(10)  # the command that started it, and the user's next one, come first
    except (AttributeError, OSError):
        pass
    if len(argv) < 2:
        return 2
    from filelock import FileLock, Timeout

    root, folder = Path(argv[0]), Path(argv[1])
    lock = FileLock(str(folder / ".deliverer.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return 0  # the running deliverer lists the outbox again after letting go of the lock
    from .deliver import run_background

    try:
        run_background(root, held=lock)
    except Exception:  # nothing to report to: the messages wait in the outbox for `mle3 notify`
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
