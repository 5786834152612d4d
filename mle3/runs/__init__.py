"""Run records and what they say: the files a training run writes, its status, its queue claims and its hooks.

A run writes ``run.yaml`` and ``epochs.jsonl`` through :class:`records.RunRecord`;
every reader (the rules, the reports, the site, ``mle3 serve``, the monitor) asks
:func:`records.effective_status` and :func:`records.list_runs` what a run is doing, and
:mod:`claims` whether a queued run still waits. Integrations learn about a run through
:mod:`hooks`. Nothing here trains or queues: that is :mod:`mle3.runner`, which sits
above the consumers and writes through this package.
"""
