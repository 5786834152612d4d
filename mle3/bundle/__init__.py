"""Release bundles: what an assessor verifies on another machine (``mle3 report release``,
``mle3 verify``). Layout in :mod:`.layout`, writer in :mod:`.build`, checker in :mod:`.verify`."""
