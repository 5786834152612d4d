"""Write the release bundle of a model version (``mle3 report release MODEL -o DIR``).

Everything an assessor needs to judge the release on a machine without the repository,
laid out as :mod:`.layout` says: the work products, the model files, the trace as a
small workspace (items, run evidence, the audit entries the approvals need), the data set
manifests, the environment and the check result, then the signatures: OpenSSF model
signing over ``model/``, and in-toto attestations (training provenance, evaluation,
approvals, the bundle's contents) signed with the release key. The bundle is written into
a temporary folder beside ``DIR`` and moved into place at the end, so a killed build
leaves the earlier bundle (or none), never half of one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import networkx as nx

from .. import __version__, audit
from .._atomic import atomic_write_bytes, atomic_write_text
from ..errors import Mle3Error
from ..formats import sha256sums_text
from ..graph import upstream
from ..hashing import lfs_pointer_oid, sha256_file, sha256_many
from ..ledger.fingerprint import FILE_FIELDS, Fingerprints
from ..paths import CONFIG_NAME, inside_workspace, list_tree
from ..workspace import Workspace, item_key
from . import layout as L
from .attestations import approvals_statement, contents_statement, evaluation_statement, provenance_statement
from .dsse import sign_statement
from .keys import ReleaseKey


@dataclass
class Artefact:
    """A model file of the trace: where it lies in the workspace, its digest, and where
    the bundle holds it (None: digest only)."""

    item: str
    field: str
    path: str
    sha256: str
    size: int | None
    bundled: str | None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Bundle:
    """What was written: the folder, its documents (reports.Rendered), and whether it is signed."""

    path: Path
    model: str
    documents: list[Any] = field(default_factory=list)
    signed: bool = False
    key_id: str = ""
    files: int = 0
    notes: list[str] = field(default_factory=list)


def release_trace(ws: Workspace, graph: nx.MultiDiGraph, key: str, children: list[Any]) -> list[str]:
    """The model, its quantized children and everything upstream of either."""
    keys = {key} | upstream(graph, key)
    for child in children:
        ck = item_key(child)
        keys |= {ck} | upstream(graph, ck)
    return sorted(k for k in keys if k in ws.by_key)


def audit_subdag(log: audit.Log, items: set[str]) -> tuple[list[audit.Node], list[str]]:
    """The audit entries the trace's approvals need: every entry about an item of the
    trace, and every entry on a path between two of them (so "follows" and "concurrent"
    stay what they are in the whole log); and the parents outside it (the boundary)."""
    about = [n for n in log.nodes if isinstance(n.entry.get("item"), str) and n.entry["item"] in items]
    if not about:
        return [], []
    chosen = {n.hash for n in about}
    children: dict[str, list[str]] = {}
    for n in log.nodes:
        for p in n.parents:
            children.setdefault(p, []).append(n.hash)
    below: set[str] = set()
    stack = [c for h in chosen for c in children.get(h, ())]
    while stack:
        h = stack.pop()
        if h not in below:
            below.add(h)
            stack.extend(children.get(h, ()))
    above: set[str] = set()
    for h in chosen:
        above |= log.ancestors(h)
    hull = chosen | (above & below)
    nodes = [n for n in log.nodes if n.hash in hull]
    boundary = sorted({p for n in nodes for p in n.parents if p not in hull})
    return nodes, boundary


def _environment() -> dict[str, Any]:
    import platform
    import sys
    from importlib import metadata

    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name] = dist.version
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": dict(sorted(packages.items(), key=lambda kv: kv[0].lower())),
    }


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def _workspace_files(ws: Workspace, trace: list[str], nodes: list[audit.Node], log: audit.Log) -> list[str]:
    """Workspace-relative files of the trace as a workspace: mle3.yaml, allowed_signers,
    the item files, the runs' evidence, v1 manifests, the audit entries."""
    from ..ledger.signing import ALLOWED_SIGNERS

    files = {CONFIG_NAME}
    if (ws.root / ALLOWED_SIGNERS).is_file():
        files.add(ALLOWED_SIGNERS)
    for key in trace:
        item = ws.by_key[key]
        if item._file:
            files.add(str(item._file))
        if item.kind == "run":
            files |= {rel for rel in Fingerprints.run_evidence_files(item).values() if (ws.root / rel).is_file()}
        if item.kind == "dataset" and item.manifest and not item.manifest.endswith(".gz"):
            files.add(item.manifest)
    for n in nodes:
        files.add(n.file)
    return sorted(f for f in files if inside_workspace(ws.root, f) and (ws.root / f).is_file())


def _artefacts(ws: Workspace, trace: list[str], shipped: set[str], weights: bool) -> list[Artefact]:
    """The model files of the trace; those of ``shipped`` models are copied when
    ``weights`` is set (a git LFS pointer cannot be: its digest stands in)."""
    out = []
    for key in trace:
        item = ws.by_key[key]
        if item.kind != "model_version":
            continue
        for name in FILE_FIELDS:
            rel = getattr(item.artifacts, name, None)
            if not rel:
                continue
            path = ws.root / rel
            if not inside_workspace(ws.root, rel) or not path.is_file():
                out.append(Artefact(key, name, rel, "", None, None, "missing in the workspace"))
                continue
            pointer = lfs_pointer_oid(path)
            digest = pointer or sha256_file(path)
            bundled: str | None = f"{L.MODEL}/{key}/{Path(rel).name}"
            reason = None
            if key not in shipped:
                bundled, reason = None, "upstream of the release: digest only"
            elif not weights:
                bundled, reason = None, "not shipped (delivered apart): its digest is signed"
            elif pointer:
                bundled, reason = None, "a git LFS pointer here (git lfs pull): digest only"
            out.append(Artefact(key, name, rel, digest, None if pointer else path.stat().st_size, bundled, reason))
    return out


def _sign_model(staging: Path, model_dir: Path, key: ReleaseKey, artefacts: list[Artefact], ws: Workspace) -> None:
    """OpenSSF model signing over ``model/``; with digests only, over the workspace's own
    files laid out the same way (links in a private folder), so the signature names the
    same files either way."""
    from ..optional import require

    require("model_signing")
    import model_signing

    signature = staging / L.MODEL_SIGNATURE
    signature.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mle3-release-key-") as tmp:
        pem = Path(tmp) / "key.pem"
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.pem())
        signer = model_signing.signing.Config().use_elliptic_key_signer(private_key=str(pem))
        if model_dir.is_dir():
            signer.sign(str(model_dir), str(signature))
            return
        linked = Path(tmp) / L.MODEL
        for a in artefacts:
            if a.sha256 and a.size is not None and a.item and (ws.root / a.path).is_file():
                target = linked / a.item / Path(a.path).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to((ws.root / a.path).resolve())
        hashing = model_signing.hashing.Config().set_allow_symlinks(True)
        signer.set_hashing_config(hashing).sign(str(linked), str(signature))


def build_bundle(
    ws: Workspace,
    graph: nx.MultiDiGraph,
    model_ref: str,
    out_dir: Path,
    *,
    release: bool = False,
    key: ReleaseKey | None = None,
    weights: bool = True,
    echo: Callable[[str], None] | None = None,
) -> Bundle:
    """Write the bundle of ``model_ref`` to ``out_dir`` (replacing an earlier bundle there)."""
    from ..reports.products import Context, git_commit
    from ..reports.render import render_release_documents
    from ..rules import run_checks

    say = echo or (lambda _line: None)
    model = ws.get(model_ref)
    if model.kind != "model_version":
        raise Mle3Error(f"a release bundle is made for a model version; {model_ref} is a {model.kind}")
    _check_target(out_dir)
    key_id = item_key(model)
    ctx = Context(ws, graph)
    children = ctx.quantized_children.get(key_id, [])
    trace = release_trace(ws, graph, key_id, children)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        say(f"      rendering the work products of {key_id}")
        docs, skipped = render_release_documents(ctx, model, staging, release=release)
        if release and key is None:
            from ..reports.render import NotApproved

            raise NotApproved(
                "--release makes the bundle an assessor verifies, and that one is signed: give the release key "
                "(--key FILE, MLE3_RELEASE_KEY, or release.key_env / key_file in mle3.yaml)"
            )
        bundle = Bundle(out_dir, key_id, documents=docs)
        log = audit.read(ws.root)
        nodes, boundary = audit_subdag(log, set(trace))
        say(f"      copying the trace ({len(trace)} items, {len(nodes)} audit entries) and the model files")
        ws_files = _workspace_files(ws, trace, nodes, log)
        for rel in ws_files:
            _copy(ws.root / rel, staging / L.WORKSPACE / rel)
        shipped = {key_id} | {item_key(c) for c in children}
        artefacts = _artefacts(ws, trace, shipped, weights)
        for a in artefacts:
            if a.bundled:
                _copy(ws.root / a.path, staging / a.bundled)
        datasets = _datasets(ws, trace, staging)
        _approval_signatures(staging, nodes)
        check = run_checks(ws, graph).to_json()
        commit = git_commit(ws)
        check["commit"] = commit
        _write_json(staging / L.CHECK, check)
        _write_json(staging / L.ENVIRONMENT, _environment())
        fingerprints = {k: ctx.fingerprints.of(k) for k in trace}
        index = {
            "format": L.FORMAT,
            "model": key_id,
            "project": ws.config.project,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "tool": f"mle3 {__version__}",
            "commit": commit,
            "trace": trace,
            "children": [item_key(c) for c in children],
            "fingerprints": fingerprints,
            "documents": [
                {
                    "wp": d.wp,
                    "item": d.item,
                    "file": f"{L.DOCUMENTS}/{d.path.name}",
                    "html": f"{L.DOCUMENTS}/{d.path.with_suffix('.html').name}",
                    "approved": d.approved,
                    "record": d.record,
                    "fingerprint": d.fingerprint,
                }
                for d in docs
            ],
            "skipped": skipped,
            "artefacts": [a.to_json() for a in artefacts],
            "datasets": datasets,
            "audit": {
                "entries": [n.file for n in nodes],
                "boundary": boundary,
                "heads": log.heads,
                "log_entries": len(log.nodes),
            },
            "signed": key is not None,
            "key_id": key.id if key is not None else None,
        }
        _write_json(staging / L.INDEX, index)
        atomic_write_text(staging / L.START_PAGE, _start_page(ws, model, index, docs, skipped, key, nodes))
        if key is not None:
            say("      signing the model files (OpenSSF model signing) and the attestations (in-toto, DSSE)")
            atomic_write_bytes(staging / L.PUBLIC_KEY, key.public_pem)
            _sign_model(staging, staging / L.MODEL, key, artefacts, ws)
            subjects = _model_subjects(artefacts, shipped)
            verified = ctx.counted
            statements = {
                L.PROVENANCE: provenance_statement(ws, model, subjects, datasets, commit),
                L.EVALUATION: evaluation_statement(ws, model, children, subjects),
                L.APPROVALS: approvals_statement(ws, verified, set(trace), fingerprints, subjects),
            }
            for rel, stmt in statements.items():
                _write_json(staging / rel, sign_statement(stmt, key))
            files, _ = list_tree(staging)
            digests = dict(zip(files, sha256_many([staging / f for f in files])))
            _write_json(staging / L.CONTENTS, sign_statement(contents_statement(key_id, digests, index), key))
            bundle.signed, bundle.key_id = True, key.id
        else:
            bundle.notes.append(
                "unsigned: no release key (--key FILE, MLE3_RELEASE_KEY, or release.key_file / key_env in mle3.yaml); "
                "mle3 verify reports an unsigned bundle as not verified"
            )
        files, _ = list_tree(staging)
        files = [f for f in files if f != L.SUMS]
        atomic_write_text(
            staging / L.SUMS, sha256sums_text(dict(zip(files, sha256_many([staging / f for f in files]))))
        )
        bundle.files = len(files) + 1
        _replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    bundle.documents = [_moved(d, staging, out_dir) for d in bundle.documents]
    return bundle


def _start_page(
    ws: Workspace,
    model: Any,
    index: dict[str, Any],
    docs: list[Any],
    skipped: list[str],
    key: Any,
    nodes: list[audit.Node],
) -> str:
    from ..reports.products import WORK_PRODUCTS
    from ..templating import render_template
    from ..workspace.versions import model_line_of, version_of

    from ..ledger.signing import principal_of
    from ..vocab import AuditAction

    approvals = []
    for n in nodes:
        d = n.entry.get("details")
        if n.action == AuditAction.APPROVAL and isinstance(d, dict) and isinstance(d.get("signature"), str):
            name = str(d.get("name") or "")
            principal = str(d.get("principal") or principal_of(name))
            approvals.append(
                {"entry": n.hash, "principal": principal, "item": n.entry.get("item"), "role": d.get("role")}
            )
    shipped = any(a["bundled"] for a in index["artefacts"])
    version = version_of(model)
    title = f"{model_line_of(model)}-{version}" if version else index["model"]
    return render_template(
        "release_index.html.j2",
        str(ws.root),
        model=model,
        key=index["model"],
        title=title,
        documents=docs,
        skipped=skipped,
        project=ws.config.project,
        names={k: v.name for k, v in WORK_PRODUCTS.items()},
        index=index,
        key_id=key.id if key is not None else None,
        layout=L,
        approvals=approvals,
        shipped=shipped,
    )


def _moved(doc: Any, staging: Path, out_dir: Path) -> Any:
    from dataclasses import replace

    return replace(doc, path=out_dir / doc.path.relative_to(staging))


def _approval_signatures(staging: Path, nodes: list[audit.Node]) -> None:
    """For each signed approval of the sub-DAG, the exact message it signs and its
    signature, so ``ssh-keygen -Y verify`` checks it with no mle3 at hand."""
    from ..ledger.signing import payload_of
    from ..vocab import AuditAction

    for n in nodes:
        details = n.entry.get("details")
        if n.action != AuditAction.APPROVAL or not isinstance(details, dict):
            continue
        signature = details.get("signature")
        if not isinstance(signature, str) or not signature:
            continue
        folder = staging / L.APPROVAL_SIGNATURES
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / f"{n.hash}.msg", payload_of(n.entry)[1])
        atomic_write_text(folder / f"{n.hash}.sig", signature)


def _model_subjects(artefacts: list[Artefact], shipped: set[str]) -> list[dict[str, Any]]:
    """The attestations' subjects: the released model's files and its children's, by the
    name they have in ``model/`` (whether shipped or not)."""
    out = []
    for a in artefacts:
        if a.item in shipped and a.sha256:
            out.append({"name": f"{L.MODEL}/{a.item}/{Path(a.path).name}", "digest": {"sha256": a.sha256}})
    if not out:
        raise Mle3Error("the model version has no weights to release (artifacts.weights is missing on disk)")
    return out


def _datasets(ws: Workspace, trace: list[str], staging: Path) -> list[dict[str, Any]]:
    from ..datasets.verify import packed_manifest
    from ..formats import manifest_name

    out = []
    for key in trace:
        item = ws.by_key[key]
        if item.kind != "dataset":
            continue
        row: dict[str, Any] = {"item": key, "fingerprint": item.fingerprint, "manifest": None}
        packed = packed_manifest(ws.root, ws.config, item) if item.fingerprint else None
        if packed is not None:
            rel = f"{L.DATA}/{manifest_name(item.fingerprint)}"
            atomic_write_bytes_mkdir(staging / rel, packed)
            row["manifest"] = rel
        elif item.manifest and not item.manifest.endswith(".gz"):
            row["manifest"] = f"{L.WORKSPACE}/{item.manifest}"
        else:
            row["reason"] = "its manifest is not reachable from this machine (the data root is not mapped)"
        out.append(row)
    return out


def atomic_write_bytes_mkdir(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def _check_target(out_dir: Path) -> None:
    """An existing ``out_dir`` is replaced only when it is an earlier bundle (or empty):
    a folder of other files is never deleted."""
    if out_dir.is_symlink():
        raise Mle3Error(f"{out_dir} is a symbolic link; give the bundle a folder of its own")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise Mle3Error(f"{out_dir} is a file; give the bundle a folder of its own")
        if any(out_dir.iterdir()) and not (out_dir / L.INDEX).is_file():
            raise Mle3Error(f"{out_dir} holds other files and no earlier bundle ({L.INDEX}); choose another folder")


def _replace(staging: Path, out_dir: Path) -> None:
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp made it private; the bundle is for others to read
    os.replace(staging, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
