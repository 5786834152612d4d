"""``python -m mle3``: the same as the ``mle3`` command."""

from .cli import run

if __name__ == "__main__":
    run()
