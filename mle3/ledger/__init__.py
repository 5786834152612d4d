"""The approval ledger as state: approvals read from the audit log (:mod:`.approvals`),
the ones a gate counts (:mod:`.gates`), separation of duties (:mod:`.duties`), SSH
signatures (:mod:`.signing`) and the content fingerprints approvals bind to
(:mod:`.fingerprint`).

Reading only, below the rules: ``rules``, ``reports`` and the runner read it; recording
a decision and promoting a model are use cases in :mod:`mle3.approvals`, above the rules.
"""
