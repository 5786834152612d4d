"""Informing the affected parties (MLE.3.BP5, 13-52 communication evidence).

After a promotion or a recorded approval the matching ``inform`` rules of mle3.yaml
(``notifications:``) produce messages: each is written to the outbox (``.mle3/outbox/``,
one file per message, complete or absent) before the command returns, then delivered
by a detached process (``deliver: background``) or by ``mle3 notify`` (``deliver: queue``),
by e-mail (SMTP) and webhooks (JSON over HTTP(S)). Every finished attempt, delivered or
not, is a ``communication`` entry in the audit log; a delivered message leaves the outbox,
an undelivered one stays and is retried with backoff. Modules: :mod:`.events` (events and
the outbox records they produce), :mod:`.message` (the bytes sent: the report attached),
:mod:`.smtp` and :mod:`.webhook` (the senders), :mod:`.outbox` (the files),
:mod:`.deliver` (attempts, backoff, audit entries, the background process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .deliver import Attempt, start_background
    from .events import inform
    from .outbox import pending

#: name -> module; imported on first use, so the detached deliverer starts light
#: (``deliver`` is the module: ``mle3.notify.deliver.deliver`` delivers the outbox)
_EXPORTS = {"Attempt": "deliver", "start_background": "deliver", "inform": "events", "pending": "outbox"}

__all__ = ["Attempt", "inform", "pending", "start_background"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
