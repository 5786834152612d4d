"""Content fingerprints that approvals are bound to.

An item's fingerprint covers its own content (canonical JSON of its fields, without the
life-cycle fields ``status``, ``approver``, ``approval_date`` and a model's ``version`` that promotion fills),
the files it names (weights and other model artifacts, hashed from disk), and the
fingerprints of everything upstream of it (configuration, run, data set, requirements,
architecture, previous version), Merkle style. Any change anywhere upstream, or to the
weights on disk, changes the fingerprint and makes earlier approvals stale. A bare data
set id in a configuration ("the latest version") is content, not a link into the Merkle
tree: registering a new version (on this branch or one merged in) changes no configuration;
a model is bound to the exact version it was trained on through its own data set link.

Version 2 (approvals record ``fingerprint_version: 2``) adds a run's evidence, the files
under ``artifacts/runs/<RUN>/`` that the training report shows and the run record only
points at: ``epochs.jsonl`` (the curves), ``config.yaml`` (the configuration snapshot),
``ultralytics/args.yaml`` (the arguments ultralytics recorded), hashed from disk; the
checkpoints the run lists are covered by the sha256 the run record holds (they stay out
of git, so a clone has none to hash). Editing any of them changes the fingerprint
of the run and of every model trained by it. A run with its configuration snapshot is bound
to the snapshot instead of the live configuration: editing the configuration afterwards
changes the configuration's fingerprint, not the run's or its models'. An approval recorded before (no
``fingerprint_version``) is checked against version 1, the same definition without
evidence (:meth:`Fingerprints.v1_of`), and carried over to today's when it matches.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from ..formats import canonical_json_fingerprint, item_fingerprint
from ..paths import inside_workspace
from ..workspace import Workspace, item_key

#: fields that change through promotion, not through content changes
LIFECYCLE_FIELDS = {"status", "approver", "approval_date"}
#: a model version's semantic version is given by promotion too (a data set's is content)
MODEL_LIFECYCLE_FIELDS = LIFECYCLE_FIELDS | {"version"}
FILE_FIELDS = ("weights", "onnx", "trt_int8")
#: what ``Fingerprints.of`` computes; approvals record it as ``fingerprint_version``
FINGERPRINT_VERSION = 2
#: a run's evidence files, relative to its folder (version 2)
RUN_EVIDENCE = ("epochs.jsonl", "config.yaml", "ultralytics/args.yaml")


#: the canonical JSON an item's fingerprint hashes (defined in :mod:`mle3.formats`)
canonical = canonical_json_fingerprint


class Fingerprints:
    """Memoised fingerprints of all items of one loaded workspace."""

    def __init__(
        self, ws: Workspace, graph: nx.MultiDiGraph, *, follow_floating: bool = False, evidence: bool = True
    ) -> None:
        self.ws, self.graph = ws, graph
        #: the definition before the audit DAG, which also followed bare data set ids
        self.follow_floating = follow_floating
        #: version 2: a run's evidence files are part of its fingerprint
        self.evidence = evidence
        self._legacy: Fingerprints | None = None
        self._v1: Fingerprints | None = None
        self._memo: dict[str, str] = {}
        self._files: dict[str, str | None] = {}
        self._visiting: set[str] = set()
        self._cuts = 0

    def known_files(self, digests: dict[str, str]) -> None:
        """Take the sha256 of these workspace-relative files as given instead of hashing
        them from disk: a release bundle ships weights apart from the items (or only their
        digests), and ``mle3 verify`` has hashed the bundled ones already."""
        self._files.update(digests)

    def file_hash(self, rel: str) -> str | None:
        if rel not in self._files:
            from ..hashing import content_sha256

            path = self.ws.root / rel
            ok = inside_workspace(self.ws.root, rel) and path.is_file()
            self._files[rel] = content_sha256(path) if ok else None
        return self._files[rel]

    def parts(self, key: str) -> dict[str, Any]:
        """What goes into an item's fingerprint, for display and for the report footer."""
        item = self.ws.by_key[key]
        lifecycle = MODEL_LIFECYCLE_FIELDS if item.kind == "model_version" else LIFECYCLE_FIELDS
        content = {k: v for k, v in (item._raw or {}).items() if k not in lifecycle}
        files: dict[str, Any] = {}
        if item.kind == "model_version":
            for name in FILE_FIELDS:
                rel = getattr(item.artifacts, name, None)
                if rel:
                    files[name] = self.file_hash(rel)
        if item.kind == "run" and self.evidence:
            evidence = self.run_evidence(item)
            if evidence is not None:
                files["evidence"] = evidence
        # a run recorded the configuration it trained with (config.yaml, in its evidence):
        # the run, and every model it made, is bound to that snapshot, not to the live
        # configuration, whose later edits (a tuning block, a new lr) make only the
        # configuration's own approvals stale (consistency.config-drifted says so)
        snapshot = item.kind == "run" and bool(files.get("evidence", {}).get("config.yaml"))
        upstream = {}
        for _, target, data in sorted(self.graph.out_edges(key, data=True), key=lambda e: (e[2]["relation"], e[1])):
            if data.get("floating") and not self.follow_floating:
                continue  # "the latest version": its text is in the content; a new version is no change to this item
            if snapshot and data["relation"] == "uses_config":
                continue
            upstream[f"{data['relation']}:{target}"] = self.of(target)
        return {"kind": item.kind, "id": key, "content": content, "files": files, "upstream": upstream}

    @staticmethod
    def run_evidence_files(run: Any) -> dict[str, str]:
        """Name in the fingerprint -> workspace-relative file, of a run's evidence; empty
        for a run that is not a run record (``<folder>/run.yaml``)."""
        rel = str(getattr(run, "_file", "") or "")
        if not rel.endswith("/run.yaml"):
            return {}
        folder = rel[: -len("run.yaml")]
        # checkpoints are not hashed from disk: they stay out of git (a clone has none), the
        # run record's content already holds each one's sha256, and the weights a model
        # ships are its own copy, hashed from disk as one of its files
        return {name: folder + name for name in RUN_EVIDENCE}

    def run_evidence(self, run: Any) -> dict[str, str | None] | None:
        """sha256 of each evidence file of a run (None: absent); None for a run that is
        not a run record under ``artifacts/runs/``."""
        files = self.run_evidence_files(run)
        return {name: self.file_hash(rel) for name, rel in files.items()} if files else None

    def legacy_of(self, key: str) -> str:
        """The fingerprint as approvals recorded in the linear audit log computed it."""
        if self.follow_floating and not self.evidence:
            return self.of(key)
        if self._legacy is None:
            self._legacy = Fingerprints(self.ws, self.graph, follow_floating=True, evidence=False)
            self._legacy._files = self._files
        return self._legacy.of(key)

    def v1_of(self, key: str) -> str:
        """Version 1: the fingerprint without run evidence (approvals recorded before)."""
        if not self.evidence:
            return self.of(key)
        if self._v1 is None:
            self._v1 = Fingerprints(self.ws, self.graph, follow_floating=self.follow_floating, evidence=False)
            self._v1._files = self._files
        return self._v1.of(key)

    def of(self, key: str) -> str:
        known = self._memo.get(key)
        if known is not None:
            return known
        if key in self._visiting:  # a cycle (an ODD and a requirement naming each other): cut it here
            self._cuts += 1
            return "cycle"
        cuts = self._cuts
        self._visiting.add(key)
        try:
            digest = item_fingerprint(self.parts(key))
        finally:
            self._visiting.discard(key)
        # a value computed across a cut depends on where the walk entered the cycle: kept
        # only when none was cut, so an item's fingerprint never depends on what was asked first
        if self._cuts == cuts:
            self._memo[key] = digest
        return digest


def fingerprint_of(ws: Workspace, graph: nx.MultiDiGraph, item: Any) -> str:
    return Fingerprints(ws, graph).of(item_key(item))
