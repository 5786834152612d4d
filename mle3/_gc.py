"""Pause the cyclic garbage collector while building large object graphs.

Loading 50,000 items creates millions of small objects; the collector would rescan them
again and again (40% of the load time, measured in benchmarks/bench_check.py) though
nothing of it is cyclic garbage. Afterwards the survivors are frozen so later
collections skip them.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from collections.abc import Iterator


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()
