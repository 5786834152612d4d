"""SSH signatures on approvals, the way git signs with SSH (``ssh-keygen -Y``).

An approval signs a canonical message in namespace ``mle3-approval``. Format 2
(``details.signature_format: 2``) covers the whole entry but its hash and the signature
itself: item, time, actor, action, its place in the audit log (parents) and every field
of ``details`` (fingerprint and its version, role, decision, deviation, comment, name,
principal, kind, and any field added later). Format 1, written before, covered item,
fingerprint, role, decision, time and the place in the log (``parents``, or ``prev`` for
the linear format); it keeps verifying for those fields only: :data:`V1_COVERED` says
which, and the ledger drops the others from an approval signed that way. The workspace's
``allowed_signers`` file (OpenSSH format, under review like any other file) says who
may sign; mle3 reads the roles a signer may approve in from the line's comment
(``roles=ml_lead,safety_assessor``) and lets ``ssh-keygen`` check key, principal,
namespace and validity (``valid-after``/``valid-before``) at the approval's time. No
cryptography is written here.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Mle3Error
from ..formats import canonical_json, canonical_json_ascii, spaced_json

NAMESPACE = "mle3-approval"
ALLOWED_SIGNERS = "allowed_signers"
FORMAT = 2
#: the ``details`` fields a format-1 signature covered (besides item, time and parents)
V1_COVERED = frozenset({"fingerprint", "role", "decision"})
#: allowed_signers is a short text file; a larger one is refused unread
MAX_SIGNERS_BYTES = 1 << 20


def chain_of(entry: dict[str, Any]) -> dict[str, Any]:
    """What binds a signature to the entry's place in the log: its parents (or legacy prev)."""
    if "parents" in entry:
        return {"parents": sorted(entry.get("parents") or [])}
    return {"prev": entry.get("prev", "")}


def message(item: str, fingerprint: str, role: str, decision: str, time: str, chain: dict[str, Any]) -> bytes:
    body = {
        "namespace": NAMESPACE,
        "item": item,
        "fingerprint": fingerprint,
        "role": role,
        "decision": decision,
        "time": time,
        **chain,
    }
    return canonical_json_ascii(body)


def message_v2(entry: dict[str, Any]) -> bytes:
    """Format 2: everything of the entry but ``hash`` and ``details.signature``."""
    details = {k: v for k, v in (entry.get("details") or {}).items() if k != "signature"}
    body = {k: v for k, v in entry.items() if k not in ("hash", "details")}
    return canonical_json({"namespace": NAMESPACE, "format": FORMAT, **body, "details": details})


def payload_of(entry: dict[str, Any]) -> tuple[int, bytes]:
    """(format, message) the entry's signature must verify over."""
    d = entry.get("details") or {}
    if d.get("signature_format") == FORMAT:
        return FORMAT, message_v2(entry)
    return 1, message(
        _text(entry.get("item")),
        _text(d.get("fingerprint")),
        _text(d.get("role")),
        _text(d.get("decision")),
        _text(entry.get("time")),
        chain_of(entry),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else spaced_json(value)


def principal_of(name: str) -> str:
    """``Name <mail@x>`` signs as ``mail@x``; a bare name signs as itself."""
    m = re.search(r"<([^>]+)>", name)
    return m.group(1).strip() if m else name.strip()


def _ssh_keygen() -> str:
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise Mle3Error("ssh-keygen is not installed (package openssh-client); it signs and verifies approvals")
    return exe


def default_key(root: Path) -> Path:
    """git's ``user.signingkey`` when it is an SSH key file, else ~/.ssh/id_ed25519."""
    try:
        import git

        key = git.Repo(root, search_parent_directories=True).config_reader().get_value("user", "signingkey", "")
        if key and Path(str(key)).expanduser().is_file():
            return Path(str(key)).expanduser()
    except Exception:
        pass
    return Path("~/.ssh/id_ed25519").expanduser()


def sign(key: Path, payload: bytes) -> str:
    """An armored SSH signature of ``payload`` made with the private ``key``."""
    if not key.is_file():
        raise Mle3Error(f"signing key {key} not found (use --key FILE)")
    with tempfile.TemporaryDirectory(prefix="mle3-sign-") as tmp:
        data = Path(tmp) / "approval"
        data.write_bytes(payload)
        proc = subprocess.run(
            [_ssh_keygen(), "-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE, str(data)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise Mle3Error(
                f"ssh-keygen could not sign with {key}: "
                f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
            )
        return (Path(tmp) / "approval.sig").read_text()


@dataclass
class SignerLine:
    principals: list[str]
    roles: list[str]
    line: int


def signers(root: Path) -> list[SignerLine]:
    """The lines of ``allowed_signers``; an unreadable file (binary, not UTF-8, too large)
    is an :class:`Mle3Error` naming it and the line."""
    path = root / ALLOWED_SIGNERS
    out: list[SignerLine] = []
    if not path.is_file():
        return out
    with open(path, "rb") as fh:
        data = fh.read(MAX_SIGNERS_BYTES + 1)
    if len(data) > MAX_SIGNERS_BYTES:
        raise Mle3Error(
            f"{ALLOWED_SIGNERS} is larger than {MAX_SIGNERS_BYTES} bytes; it lists signers' public keys, one a line",
            file=ALLOWED_SIGNERS,
        )
    if b"\0" in data:
        raise Mle3Error(
            f"{ALLOWED_SIGNERS} is a binary file, not OpenSSH allowed signers text",
            file=ALLOWED_SIGNERS,
            line=data.count(b"\n", 0, data.index(b"\0")) + 1,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Mle3Error(
            f"{ALLOWED_SIGNERS} is not UTF-8 text", file=ALLOWED_SIGNERS, line=data.count(b"\n", 0, exc.start) + 1
        ) from None
    for number, line in enumerate(text.splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        roles_match = re.search(r"\broles=([\w,.-]+)", text)
        principals = text.split()[0].split(",")
        out.append(SignerLine(principals, roles_match.group(1).split(",") if roles_match else [], number))
    return out


@dataclass
class SignatureCheck:
    ok: bool
    problem: str | None = None
    #: the signature format (1: item, fingerprint, role, decision, time, parents; 2: all)
    format: int = 0
    #: the signer ssh-keygen verified (the principal in allowed_signers), when ok
    principal: str | None = None


def verify(root: Path, entry: dict[str, Any]) -> SignatureCheck:
    """Check the signature of one approval entry of the audit log."""
    d = entry.get("details")
    d = d if isinstance(d, dict) else {}
    signature = d.get("signature")
    if not signature:
        return SignatureCheck(False, "unsigned")
    if not isinstance(signature, str):
        return SignatureCheck(
            False, f"details.signature is a {type(signature).__name__}, not the text of an SSH signature"
        )
    allowed = root / ALLOWED_SIGNERS
    if not allowed.is_file():
        return SignatureCheck(False, f"no {ALLOWED_SIGNERS} file in the workspace")
    name = d.get("name")
    principal = d.get("principal") or principal_of(name if isinstance(name, str) else "")
    if not isinstance(principal, str) or not principal or "\n" in principal:
        return SignatureCheck(False, "details.principal is not a signer's name")
    try:
        roles = {r for s in signers(root) if principal in s.principals for r in s.roles}
    except Mle3Error as exc:
        return SignatureCheck(False, f"{exc.message} (line {exc.line})" if exc.line else exc.message)
    form, payload = payload_of(entry)
    try:
        when = dt.datetime.fromisoformat(entry.get("time", "")).astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    except (TypeError, ValueError, OverflowError):
        return SignatureCheck(False, "approval time unreadable")
    with tempfile.TemporaryDirectory(prefix="mle3-verify-") as tmp:
        sig = Path(tmp) / "approval.sig"
        sig.write_text(signature)
        proc = subprocess.run(
            [
                _ssh_keygen(),
                "-Y",
                "verify",
                "-f",
                str(allowed),
                "-I",
                principal,
                "-n",
                NAMESPACE,
                "-s",
                str(sig),
                f"-Overify-time={when}",
            ],
            input=payload,
            capture_output=True,
        )
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        return SignatureCheck(
            False, f"bad signature for {principal}: {reason[-1] if reason else 'verification failed'}"
        )
    if not isinstance(d.get("role"), str) or d.get("role") not in roles:
        return SignatureCheck(
            False,
            f"{principal} is not allowed to sign as {d.get('role')} (roles in {ALLOWED_SIGNERS}: "
            f"{', '.join(sorted(roles)) or 'none'})",
        )
    return SignatureCheck(True, format=form, principal=principal)
