"""``mle3 verify BUNDLE``: check a release bundle on a machine without the repository.

Every check is one line, ok or not, naming what it covered. In order:

1. **files**: no symbolic link or special file, nothing outside the bundle is named, every
   file is listed in ``MANIFEST.sha256`` with its sha256 (hashed once, in parallel), none
   is missing or extra;
2. **release key**: ``release-key.pub`` is an EC key; with ``--key`` it is the one given
   (else it is reported as not pinned: compare its id with the one the supplier published);
3. **contents**: the signed contents attestation lists exactly these files with these digests;
4. **model signature**: OpenSSF model signing's signature verifies with the release key and
   names exactly the files of ``model/`` (or, for a bundle without weights, the digests of
   ``release.json``; ``--weights DIR`` hashes a copy delivered apart);
5. **attestations**: provenance, evaluation and approvals verify with the release key and
   have the model's files as subject; the provenance names the data sets' fingerprints;
6. **data set manifests**: each hashes to its data set's fingerprint;
7. **audit**: the sub-DAG's entries match their hashes and file names, name only parents in
   the bundle or on its recorded boundary, and are not back-dated;
8. **fingerprints**: the trace, loaded as a workspace, has the fingerprints the bundle and
   its documents record (so every approval binds to exactly this content);
9. **approvals**: each decision's signature verifies (``ssh-keygen`` with the bundled
   ``allowed_signers``) and each document has fresh approvals by the roles its policy names;
10. **release gate**: the promotion gate to ``released``, evaluated again on the bundle
    (roles fresh, separation of duties, criteria met, no error in the recorded check).

Nothing is written into the bundle and nothing outside it is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Mle3Error
from ..formats import parse_sha256sums, safe_relative
from ..hashing import sha256_many
from ..paths import list_tree
from . import layout as L
from .dsse import EnvelopeProblem, open_envelope, open_statement
from .keys import ReleaseKeyError, key_id, load_public

#: release.json and an attestation are small; a far larger one is not read
MAX_JSON_BYTES = 64 << 20
#: a manifest may decompress to 20 times its size, or this much (a larger ratio is a bomb)
MANIFEST_FLOOR = 1 << 30


def _dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a bundle is untrusted input)."""
    return value if isinstance(value, dict) else {}


class BundleUnreadable(Mle3Error):
    """Not a bundle at all (no folder, no readable release.json): exit 2."""

    exit_code = 2


@dataclass
class Check:
    """One verified (or failed) claim."""

    area: str
    subject: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        """One printable line: control characters of names read from the bundle are escaped,
        so a file name cannot forge a line of its own."""
        text = f"{self.area}: {self.subject}" + (f": {self.detail}" if self.detail else "")
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Verification:
    bundle: str
    model: str | None = None
    key_id: str | None = None
    pinned: bool = False
    #: the model files checked: "bundled", "delivered" (--weights) or "digests only"
    weights: str = "bundled"
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, area: str, subject: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(area, subject, ok, detail))
        return ok

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def _read_json(path: Path, what: str) -> Any:
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("missing or not a regular file")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ValueError(f"larger than {MAX_JSON_BYTES} bytes")
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{what} is not readable JSON ({str(exc)[:100]})") from None


def verify_bundle(path: Path, *, public_key: Path | None = None, weights_dir: Path | None = None) -> Verification:
    """Verify the bundle at ``path`` (see the module docstring)."""
    if not path.is_dir() or path.is_symlink():
        raise BundleUnreadable(f"{path}: not a folder (mle3 verify takes the folder `mle3 report release` wrote)")
    try:
        index = _read_json(path / L.INDEX, L.INDEX)
    except ValueError as exc:
        raise BundleUnreadable(f"{path}: {exc}; not a release bundle") from None
    if not isinstance(index, dict) or index.get("format") != L.FORMAT:
        found = index.get("format") if isinstance(index, dict) else None
        raise BundleUnreadable(
            f"{path / L.INDEX}: format {found!r}, not {L.FORMAT!r} (a package of an older mle3: render it again)"
        )
    pinned = load_public(public_key) if public_key is not None else None  # unusable --key: exit 2
    if weights_dir is not None and (weights_dir.is_symlink() or not weights_dir.is_dir()):
        raise BundleUnreadable(f"--weights {weights_dir}: not a folder (the model files, laid out as model/ is)")
    v = Verification(str(path), model=index.get("model") if isinstance(index.get("model"), str) else None)
    index = dict(index)
    digests, plain = _files(v, path)
    if not plain:
        v.add(
            "files",
            "bundle",
            False,
            "not checked further: it holds links or special files, and nothing is read through them",
        )
        return v
    index = _typed_index(v, index)
    public = _key(v, path, pinned)
    if public is not None:
        _contents(v, path, public, digests)
        _model_signature(v, path, public, index, digests, weights_dir)
        _attestations(v, path, public, index)
    else:
        v.add("signatures", "bundle", False, f"not signed: no usable {L.PUBLIC_KEY}, so nothing in it is proven")
    _manifests(v, path, index, digests)
    try:
        _semantics(v, path, index, digests, weights_dir)
    except Mle3Error as exc:  # the bundle's own mle3.yaml or items: a finding about the bundle, not a usage error
        where = f"{exc.file}:{exc.line}" if getattr(exc, "line", None) else str(getattr(exc, "file", "") or L.WORKSPACE)
        v.add("workspace", f"{L.WORKSPACE}/{where}", False, f"the trace does not load: {exc.message}")
    return v


#: release.json's fields and the JSON type each must have (a bundle is untrusted input)
_INDEX_FIELDS: dict[str, type] = {
    "model": str,
    "trace": list,
    "children": list,
    "fingerprints": dict,
    "documents": list,
    "artefacts": list,
    "datasets": list,
    "audit": dict,
}


def _typed_index(v: Verification, index: dict[str, Any]) -> dict[str, Any]:
    """``index`` with every field of the wrong type named as a failure and replaced by an
    empty value; lists of ids keep their strings only, lists of records their objects."""
    out = dict(index)
    for name, kind in _INDEX_FIELDS.items():
        value = index.get(name)
        if value is not None and not isinstance(value, kind):
            v.add("files", f"{L.INDEX}: {name}", False, f"is a {type(value).__name__}, not a {kind.__name__}")
            value = None
        out[name] = value if value is not None else kind()
    for name in ("trace", "children"):
        out[name] = [x for x in out[name] if isinstance(x, str)]
    for name in ("documents", "artefacts", "datasets"):
        out[name] = [x for x in out[name] if isinstance(x, dict)]
    out["fingerprints"] = {k: x for k, x in out["fingerprints"].items() if isinstance(x, str)}
    audit_info = dict(out["audit"])
    audit_info["boundary"] = (
        [h for h in audit_info.get("boundary") or [] if isinstance(h, str)]
        if isinstance(audit_info.get("boundary"), list)
        else []
    )
    out["audit"] = audit_info
    return out


# ----------------------------------------------------------------------------- files
def _files(v: Verification, path: Path) -> tuple[dict[str, str], bool]:
    """sha256 of every regular file, after the tree and MANIFEST.sha256 checks; and
    whether the bundle holds regular files only (else nothing more is read)."""
    try:
        files, odd = list_tree(path, L.MAX_FILES)
    except (OSError, ValueError) as exc:
        v.add("files", str(path), False, f"cannot be listed: {exc}")
        return {}, False
    for rel, what in odd:
        v.add("files", rel, False, f"{what}: a bundle holds regular files only (never followed)")
    if odd:
        return {}, False
    present = [f for f in files if f != L.SUMS]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        # the files hash (hashlib releases the GIL) while this thread imports what the
        # later checks need: a large bundle costs about its hashing, not hashing plus start-up
        hashing = pool.submit(sha256_many, [path / f for f in present])
        _preload()
        listed = _listed(v, path, files)
        digests = dict(zip(present, hashing.result()))
    bad = 0
    for rel in sorted(set(listed) - set(digests)):
        bad += 1
        v.add("files", rel, False, f"listed in {L.SUMS} but not in the bundle (removed?)")
    for rel in sorted(set(digests) - set(listed)):
        bad += 1
        v.add("files", rel, False, f"not listed in {L.SUMS} (added after the bundle was made?)")
    for rel in sorted(set(digests) & set(listed)):
        if digests[rel] != listed[rel]:
            bad += 1
            v.add("files", rel, False, f"its sha256 differs from {L.SUMS} (changed after the bundle was made)")
    if listed and not bad and not odd:
        v.add("files", L.SUMS, True, f"{len(digests)} files (all but itself), each with the sha256 listed")
    return digests, True


def _preload() -> None:
    """Import the modules the checks after the digests use (workspace, graph, ledger, gate)."""
    from .. import audit  # noqa: F401
    from ..approvals import promote  # noqa: F401
    from ..graph import build_graph  # noqa: F401
    from ..ledger import gates  # noqa: F401
    from ..reports import products  # noqa: F401
    from ..workspace import load  # noqa: F401


def _listed(v: Verification, path: Path, files: list[str]) -> dict[str, str]:
    """MANIFEST.sha256 as {path: hex}; a missing, oversized or malformed one is a failure."""
    text = None
    if L.SUMS in files and (path / L.SUMS).stat().st_size <= MAX_JSON_BYTES:
        try:
            text = (path / L.SUMS).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
    if text is None:
        v.add("files", L.SUMS, False, f"missing, larger than {MAX_JSON_BYTES} bytes, or not UTF-8 text")
        return {}
    try:
        return parse_sha256sums(text)
    except ValueError as exc:
        number, why = exc.args if len(exc.args) == 2 else (0, str(exc))
        v.add("files", f"{L.SUMS}:{number}", False, why)
        return {}


# ----------------------------------------------------------------------------- key
def _key(v: Verification, path: Path, pinned: bytes | None) -> bytes | None:
    file = path / L.PUBLIC_KEY
    if not file.is_file() or file.is_symlink():
        if pinned is None:
            return None
        v.add("release key", L.PUBLIC_KEY, False, "missing: the bundle is not signed")
        return None
    try:
        bundled = load_public(file)
    except ReleaseKeyError as exc:
        v.add("release key", L.PUBLIC_KEY, False, exc.message)
        return pinned
    v.key_id = key_id(bundled)
    if pinned is not None:
        v.pinned = True
        if key_id(pinned) != v.key_id:
            v.add(
                "release key",
                L.PUBLIC_KEY,
                False,
                f"{v.key_id[:16]}... is not the key given with --key ({key_id(pinned)[:16]}...): "
                "signed by someone else",
            )
            return pinned
        v.add("release key", L.PUBLIC_KEY, True, f"id {v.key_id[:16]}..., the key given with --key")
        return pinned
    v.add(
        "release key",
        L.PUBLIC_KEY,
        True,
        f"id {v.key_id}; not pinned: compare it with the id your supplier published, or pass --key FILE",
    )
    return bundled


def _envelope(v: Verification, path: Path, rel: str, public: bytes) -> dict[str, Any] | None:
    try:
        stmt = open_statement(_read_json(path / rel, rel), public)
    except (ValueError, EnvelopeProblem) as exc:
        v.add("attestation", rel, False, str(exc))
        return None
    return stmt


def _subjects(stmt: dict[str, Any]) -> dict[str, str]:
    out = {}
    for s in stmt.get("subject") or []:
        if isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("digest"), dict):
            out[s["name"]] = str(s["digest"].get("sha256"))
    return out


def _contents(v: Verification, path: Path, public: bytes, digests: dict[str, str]) -> None:
    stmt = _envelope(v, path, L.CONTENTS, public)
    if stmt is None:
        return
    signed = _subjects(stmt)
    expected = {k: d for k, d in digests.items() if k != L.CONTENTS}
    problems = [f"{k}: not in the bundle" for k in sorted(set(signed) - set(expected))]
    problems += [f"{k}: not in the signed contents (added)" for k in sorted(set(expected) - set(signed))]
    problems += [
        f"{k}: differs from its signed digest" for k in sorted(set(signed) & set(expected)) if signed[k] != expected[k]
    ]
    for p in problems:
        v.add("contents", p.split(":", 1)[0], False, p.split(": ", 1)[1])
    if not problems:
        v.add(
            "contents",
            L.CONTENTS,
            True,
            f"signed by the release key; lists exactly the bundle's {len(signed)} files (all but itself and {L.SUMS})",
        )


# ----------------------------------------------------------------------------- model signature
def _model_signature(
    v: Verification, path: Path, public: bytes, index: dict[str, Any], digests: dict[str, str], weights_dir: Path | None
) -> None:
    try:
        sig = _read_json(path / L.MODEL_SIGNATURE, L.MODEL_SIGNATURE)
        if not isinstance(sig, dict) or not isinstance(sig.get("dsseEnvelope"), dict):
            raise EnvelopeProblem("not a Sigstore bundle of OpenSSF model signing (no dsseEnvelope)")
        hint = ((sig.get("verificationMaterial") or {}).get("publicKey") or {}).get("hint")
        if hint and hint != key_id(public):
            raise EnvelopeProblem(f"made with key {str(hint)[:16]}..., not the release key")
        _, payload = open_envelope(sig["dsseEnvelope"], public)
        stmt = json.loads(payload)
        if stmt.get("predicateType") != L.MODEL_SIGNING_PREDICATE:
            raise EnvelopeProblem(f"predicate {stmt.get('predicateType')!r} is not OpenSSF model signing's")
        resources = {
            r["name"]: r["digest"]
            for r in (stmt.get("predicate") or {}).get("resources") or []
            if isinstance(r, dict) and isinstance(r.get("name"), str)
        }
    except (ValueError, EnvelopeProblem, AttributeError, TypeError, RecursionError) as exc:
        v.add("model signature", L.MODEL_SIGNATURE, False, str(exc)[:300] or type(exc).__name__)
        return
    prefix = f"{L.MODEL}/"
    actual = {k[len(prefix) :]: d for k, d in digests.items() if k.startswith(prefix)}
    source = "the bundle's model/"
    if weights_dir is not None:
        files, odd = list_tree(weights_dir)
        for rel, what in odd:
            v.add("model signature", f"{weights_dir}/{rel}", False, f"{what}: not followed")
        actual = dict(zip(files, sha256_many([weights_dir / f for f in files])))
        source = str(weights_dir)
        v.weights = "delivered"
    elif not actual:
        actual = {
            a["bundled_name"]: a["sha256"]
            for a in _artefact_rows(index)
            if a.get("bundled_name") and a.get("shipped_digest_only")
        }
        source = f"the digests in {L.INDEX} (the weights are not in the bundle)"
        v.weights = "digests only"
    problems = [f"{k}: signed but missing in {source}" for k in sorted(set(resources) - set(actual))]
    problems += [f"{k}: in {source} but not signed" for k in sorted(set(actual) - set(resources))]
    problems += [
        f"{k}: differs from the signed digest"
        for k in sorted(set(resources) & set(actual))
        if resources[k] != actual[k]
    ]
    where = f"{weights_dir}/" if weights_dir is not None else f"{L.MODEL}/"
    for p in problems:
        v.add("model signature", f"{where}{p.split(':', 1)[0]}", False, p.split(": ", 1)[1])
    if not problems:
        v.add(
            "model signature",
            L.MODEL_SIGNATURE,
            True,
            f"OpenSSF model signing, release key; {len(resources)} files of {source} as signed",
        )


def _artefact_rows(index: dict[str, Any]) -> list[dict[str, Any]]:
    """The index's model files; those of the released model and its children carry
    ``bundled_name`` (their place below ``model/``) and whether only the digest was shipped."""
    shipped = {index.get("model"), *(index.get("children") or [])}
    rows = []
    for a in index.get("artefacts") or []:
        if not isinstance(a, dict) or not isinstance(a.get("item"), str) or not isinstance(a.get("path"), str):
            continue
        row = dict(a)
        name = f"{a['item']}/{Path(a['path']).name}"
        if a["item"] in shipped and a.get("sha256") and safe_relative(name):
            row["bundled_name"] = name
            row["shipped_digest_only"] = not a.get("bundled")
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- attestations
def _attestations(v: Verification, path: Path, public: bytes, index: dict[str, Any]) -> None:
    model_files = {
        f"{L.MODEL}/{a['bundled_name']}": a["sha256"] for a in _artefact_rows(index) if a.get("bundled_name")
    }
    for rel in (L.PROVENANCE, L.EVALUATION, L.APPROVALS):
        stmt = _envelope(v, path, rel, public)
        if stmt is None:
            continue
        subjects = _subjects(stmt)
        if subjects != model_files:
            v.add("attestation", rel, False, "its subjects are not the model's files and digests")
            continue
        detail = f"{stmt.get('predicateType')}, signed by the release key, subject: {len(subjects)} model files"
        if rel == L.PROVENANCE:
            deps = {
                d.get("name"): (d.get("digest") or {}).get("sha256")
                for d in ((stmt.get("predicate") or {}).get("buildDefinition") or {}).get("resolvedDependencies") or []
                if isinstance(d, dict)
            }
            for ds in index.get("datasets") or []:
                if isinstance(ds, dict) and ds.get("fingerprint"):
                    if deps.get(f"dataset:{ds.get('item')}") != str(ds["fingerprint"]).split(":", 1)[-1]:
                        v.add("attestation", rel, False, f"does not name data set {ds.get('item')} by its fingerprint")
                        break
            else:
                v.add("attestation", rel, True, detail)
            continue
        if rel == L.EVALUATION:
            result = (stmt.get("predicate") or {}).get("result")
            detail += f"; criteria: {result}"
        v.add("attestation", rel, True, detail)


# ----------------------------------------------------------------------------- data
def _manifests(v: Verification, path: Path, index: dict[str, Any], digests: dict[str, str]) -> None:
    from ..formats import gunzip_sha256

    for ds in index["datasets"]:
        if not isinstance(ds, dict):
            continue
        rel, fp = ds.get("manifest"), ds.get("fingerprint")
        if not isinstance(rel, str) or not fp:
            v.add("data", str(ds.get("item")), False, ds.get("reason") or "no manifest in the bundle")
            continue
        if not safe_relative(rel) or rel not in digests:
            v.add("data", rel, False, "the manifest the index names is not a file of the bundle")
            continue
        if not rel.endswith(".gz"):
            v.add("data", rel, True, f"a v1 manifest of {ds.get('item')} (checked with the fingerprints)")
            continue
        try:
            size = (path / rel).stat().st_size
            with open(path / rel, "rb") as fh:
                got, lines = gunzip_sha256(iter(lambda: fh.read(1 << 20), b""), max(MANIFEST_FLOOR, 20 * size))
        except (OSError, ValueError) as exc:
            v.add("data", rel, False, f"not a gzip manifest: {str(exc)[:200]}")
            continue
        if got != fp:
            v.add("data", rel, False, f"its content does not hash to the fingerprint of {ds.get('item')}")
            continue
        v.add("data", rel, True, f"{ds.get('item')}: {lines} files, hashes to {str(fp)[:19]}...")


# ----------------------------------------------------------------------------- what it means
def _semantics(
    v: Verification, path: Path, index: dict[str, Any], digests: dict[str, str], weights_dir: Path | None
) -> None:
    """Audit sub-DAG, fingerprints, approvals, documents and the release gate, on the
    trace loaded as a workspace (read only: no cache is written)."""
    from .. import audit
    from ..graph import build_graph
    from ..ledger.fingerprint import Fingerprints
    from ..workspace import load_workspace

    root = path / L.WORKSPACE
    if not root.is_dir():
        v.add("workspace", L.WORKSPACE, False, "missing: the trace cannot be checked")
        return
    audit_info = _dict(index.get("audit"))
    boundary = frozenset(h for h in audit_info.get("boundary") or [] if isinstance(h, str))
    log = audit.read(root, boundary=boundary)
    for p in log.problems:
        v.add("audit", f"{L.WORKSPACE}/{p.file}", False, p.message)
    if not log.problems:
        v.add(
            "audit",
            f"{L.WORKSPACE}/artifacts/audit",
            True,
            f"{len(log.nodes)} of the log's {audit_info.get('log_entries', '?')} entries (those about the trace and "
            f"between them): hashes, names, parents ({len(boundary)} outside the bundle) and dates",
        )
    from ..paths import CONFIG_NAME

    config = root / CONFIG_NAME
    if config.is_symlink() or not config.is_file():  # never let the loader look above the bundle
        v.add("workspace", f"{L.WORKSPACE}/{CONFIG_NAME}", False, "missing: the trace cannot be loaded")
        return
    try:
        ws = load_workspace(root, use_cache=False)
    except Mle3Error as exc:
        v.add("workspace", L.WORKSPACE, False, f"the trace does not load: {exc.message}")
        return
    graph = build_graph(ws)
    fps = Fingerprints(ws, graph)
    known = {}
    for a in _artefact_rows(index):
        if not a.get("sha256"):
            continue
        bundled = a.get("bundled")
        # the bundled file's own digest, else the signed one (a copy delivered apart is
        # compared with it by the model signature check, not here)
        known[a["path"]] = digests[bundled] if isinstance(bundled, str) and bundled in digests else a["sha256"]
    fps.known_files(known)
    recorded = _dict(index.get("fingerprints"))
    wrong = []
    for key, fp in sorted(recorded.items()):
        if key not in ws.by_key:
            wrong.append(f"{key}: not in the bundle's workspace")
        elif fps.of(key) != fp:
            wrong.append(
                f"{key}: its content here has fingerprint {fps.of(key)[:19]}..., the bundle records {str(fp)[:19]}..."
            )
    for w in wrong:
        v.add("fingerprints", w.split(":", 1)[0], False, w.split(": ", 1)[1])
    if not wrong:
        v.add("fingerprints", "trace", True, f"{len(recorded)} items have the fingerprints the bundle records")
    _standalone_signatures(v, path, log)
    _approvals(v, ws, graph, fps, log, index)


def _standalone_signatures(v: Verification, path: Path, log: Any) -> None:
    """The .msg/.sig pairs for ``ssh-keygen`` are exactly each signed approval's message
    and signature (else a standard-tools check would verify something else)."""
    from ..ledger.signing import payload_of

    folder = path / L.APPROVAL_SIGNATURES
    signed = {
        n.hash: n.entry
        for n in log.nodes
        if isinstance(n.entry.get("details"), dict) and isinstance(n.entry["details"].get("signature"), str)
    }
    bad = []
    for digest, entry in signed.items():
        msg, sig = folder / f"{digest}.msg", folder / f"{digest}.sig"
        try:
            same = msg.read_bytes() == payload_of(entry)[1] and sig.read_text() == entry["details"]["signature"]
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            bad.append(digest)
            v.add(
                "approvals",
                f"{L.APPROVAL_SIGNATURES}/{digest}",
                False,
                "its .msg/.sig are not the entry's message and signature",
            )
    if signed and not bad:
        v.add(
            "approvals", L.APPROVAL_SIGNATURES, True, f"{len(signed)} messages and signatures for ssh-keygen -Y verify"
        )


def _approvals(v: Verification, ws: Any, graph: Any, fps: Any, log: Any, index: dict[str, Any]) -> None:
    from ..findings import Finding
    from ..ledger.approvals import role_status
    from ..ledger.gates import verified_approvals
    from ..reports.products import WORK_PRODUCTS

    trace = set(index.get("trace") or [])
    counted = verified_approvals(
        ws.root, log=log, fingerprints=fps, require_signatures=ws.config.policy.require_signatures, items=trace
    )
    policy = ws.config.policy
    released = ", ".join(policy.approvals.get("released", [])) or "no role"
    v.add(
        "approvals",
        "policy",
        True,
        f"the bundle's mle3.yaml: released needs {released}; signatures "
        + ("required" if policy.require_signatures else "not required (unsigned approvals count)"),
    )
    for d in counted.dropped:
        v.add("approvals", f"{d.approval.item} ({d.approval.role})", False, d.message)
    for a in counted.approvals:
        signed = f"signed by {a.signer}" if a.signer else "unsigned (the policy does not require signatures)"
        v.add("approvals", f"{a.item} ({a.role})", True, f"{a.decision} by {a.name}, {signed}, {a.time}")
    for doc in index.get("documents") or []:
        if not isinstance(doc, dict) or doc.get("record") or doc.get("wp") not in WORK_PRODUCTS:
            continue
        key = doc.get("item")
        if not isinstance(key, str) or key not in ws.by_key:
            v.add("documents", str(doc.get("file")), False, f"{key} is not in the bundle's workspace")
            continue
        fp = fps.of(key)
        if doc.get("fingerprint") != fp:
            v.add("documents", str(doc.get("file")), False, "rendered from other content than the bundle holds")
            continue
        roles = ws.config.policy.approvals.get(doc["wp"], [])
        missing = [st.role for st in role_status(counted.approvals, key, fp, roles) if not st.approved_by]
        if missing or not roles:
            what = ", ".join(missing) if missing else "no role named by the policy"
            v.add("documents", str(doc.get("file")), False, f"not approved for release (missing: {what})")
        else:
            v.add(
                "documents", str(doc.get("file")), True, f"{doc['wp']} of {key}: fresh approvals by {', '.join(roles)}"
            )
    model = index.get("model")
    if not isinstance(model, str) or model not in ws.by_key:
        v.add("release gate", str(model), False, "the model is not in the bundle's workspace")
        return
    from ..approvals.promote import evaluate_gate

    check = _check_findings(Path(ws.root).parent / L.CHECK)
    if check is None:
        v.add("release gate", L.CHECK, False, "the check result at the release is missing or unreadable")
        check = []
    findings = [Finding(**f) for f in check]
    gate = evaluate_gate(ws, model, "released", findings=findings, again=True, fingerprints=fps)
    for reason in gate.missing:
        v.add("release gate", model, False, reason)
    if gate.ok:
        v.add(
            "release gate",
            model,
            True,
            "held: required roles fresh, separation of duties, criteria met, no error in the check at release",
        )


def _check_findings(path: Path) -> list[dict[str, Any]] | None:
    try:
        data = _read_json(path, L.CHECK)
    except ValueError:
        return None
    keep = ("rule", "severity", "message", "item", "file", "line", "column", "field")
    rows = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return None
    return [{k: f.get(k) for k in keep if k in f} for f in rows if isinstance(f, dict) and "rule" in f]
