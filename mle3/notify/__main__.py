"""``python -m mle3.notify ROOT``: the detached deliverer a command starts after an event."""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from .deliver import deliver

    try:
        deliver(Path(argv[0]) if argv else Path.cwd(), due_only=True)
    except Exception:  # nothing to report to: the messages wait in the outbox for `mle3 notify`
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
