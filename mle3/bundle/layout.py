"""The places inside a release bundle, defined once for the writer and ``mle3 verify``.

::

    index.html                 what an assessor opens first (documents, how to verify)
    release.json               the index: model, trace, documents, artefacts, fingerprints
    MANIFEST.sha256            every other file (``sha256sum -c MANIFEST.sha256``)
    release-key.pub            the public half of the release key
    documents/                 the work products, PDF and HTML, and the traceability matrix
    model/<ITEM>/<file>        weights, ONNX and INT8 children (OpenSSF model signing signs this folder)
    signatures/model.sig       that signature (a Sigstore bundle, key-based)
    signatures/approvals/      each approval's signed message (.msg) and SSH signature (.sig),
                               for ``ssh-keygen -Y verify``
    attestations/*.dsse.json   in-toto Statements in DSSE envelopes signed with the release key
    workspace/                 the trace as a workspace: mle3.yaml, allowed_signers, item files,
                               run evidence, the audit sub-DAG (verified as in the repository)
    data/<hex>.manifest.gz     the data set manifests, content-addressed as registered
    environment.json           the packages (with versions) of the machine that built the bundle
    check.json                 ``mle3 check --format json`` at the release commit
"""

from __future__ import annotations

FORMAT = "mle3.bundle/1"
INDEX = "release.json"
SUMS = "MANIFEST.sha256"
PUBLIC_KEY = "release-key.pub"
START_PAGE = "index.html"
DOCUMENTS = "documents"
MODEL = "model"
MODEL_SIGNATURE = "signatures/model.sig"
APPROVAL_SIGNATURES = "signatures/approvals"
ATTESTATIONS = "attestations"
WORKSPACE = "workspace"
DATA = "data"
ENVIRONMENT = "environment.json"
CHECK = "check.json"

#: the attestations, by what they state
PROVENANCE = f"{ATTESTATIONS}/provenance.dsse.json"
EVALUATION = f"{ATTESTATIONS}/evaluation.dsse.json"
APPROVALS = f"{ATTESTATIONS}/approvals.dsse.json"
#: every file of the bundle (but itself and MANIFEST.sha256) as its subject, signed: the seal
CONTENTS = f"{ATTESTATIONS}/contents.dsse.json"

#: predicate types (URNs: identifiers of mle3's documented predicates, nothing to fetch)
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
TRAINING_BUILD = "urn:mle3:build-type:training:v1"
EVALUATION_PREDICATE = "urn:mle3:predicate:evaluation:v1"
APPROVALS_PREDICATE = "urn:mle3:predicate:approvals:v1"
CONTENTS_PREDICATE = "urn:mle3:predicate:bundle-contents:v1"
#: OpenSSF model signing's predicate (its signature's payload)
MODEL_SIGNING_PREDICATE = "https://model_signing/signature/v1.0"

#: a bundle holds a trace's files, not a data set: far more is not a bundle
MAX_FILES = 200_000
