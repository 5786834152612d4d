"""Watching training while it runs: an index of every run kept current incrementally
(:mod:`.index`), a follower of one run's files (:mod:`.live`), and the terminal view of
``mle3 runs watch`` (:mod:`.terminal`). ``mle3 serve`` reads through the same two."""
