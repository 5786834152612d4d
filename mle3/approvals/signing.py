"""SSH signatures on approvals, the way git signs with SSH (``ssh-keygen -Y``).

An approval signs a canonical message: item, fingerprint, role, decision, time and its
place in the audit log (the hashes of its parent entries; ``prev`` for approvals written
in the linear format before the log became a DAG), in namespace ``mle3-approval``. The workspace's
``allowed_signers`` file (OpenSSH format, under review like any other file) says who
may sign; mle3 reads the roles a signer may approve in from the line's comment
(``roles=ml_lead,safety_assessor``) and lets ``ssh-keygen`` check key, principal,
namespace and validity (``valid-after``/``valid-before``) at the approval's time. No
cryptography is written here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Mle3Error

NAMESPACE = "mle3-approval"
ALLOWED_SIGNERS = "allowed_signers"


def chain_of(entry: dict[str, Any]) -> dict[str, Any]:
    """What binds a signature to the entry's place in the log: its parents (or legacy prev)."""
    if "parents" in entry:
        return {"parents": sorted(entry.get("parents") or [])}
    return {"prev": entry.get("prev", "")}


def message(item: str, fingerprint: str, role: str, decision: str, time: str, chain: dict[str, Any]) -> bytes:
    body = {"namespace": NAMESPACE, "item": item, "fingerprint": fingerprint, "role": role, "decision": decision, "time": time, **chain}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


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
        proc = subprocess.run([_ssh_keygen(), "-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE, str(data)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise Mle3Error(f"ssh-keygen could not sign with {key}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
        return (Path(tmp) / "approval.sig").read_text()


@dataclass
class SignerLine:
    principals: list[str]
    roles: list[str]
    line: int


def signers(root: Path) -> list[SignerLine]:
    path = root / ALLOWED_SIGNERS
    out = []
    if not path.is_file():
        return out
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
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


def verify(root: Path, entry: dict[str, Any]) -> SignatureCheck:
    """Check the signature of one approval entry of the audit log."""
    d = entry.get("details") or {}
    signature = d.get("signature")
    if not signature:
        return SignatureCheck(False, "unsigned")
    allowed = root / ALLOWED_SIGNERS
    if not allowed.is_file():
        return SignatureCheck(False, f"no {ALLOWED_SIGNERS} file in the workspace")
    principal = d.get("principal") or principal_of(d.get("name", ""))
    roles = {r for s in signers(root) if principal in s.principals for r in s.roles}
    payload = message(entry.get("item") or "", d.get("fingerprint", ""), d.get("role", ""), d.get("decision", ""), entry.get("time", ""), chain_of(entry))
    try:
        when = dt.datetime.fromisoformat(entry.get("time", "")).astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    except ValueError:
        return SignatureCheck(False, "approval time unreadable")
    with tempfile.TemporaryDirectory(prefix="mle3-verify-") as tmp:
        sig = Path(tmp) / "approval.sig"
        sig.write_text(signature)
        proc = subprocess.run(
            [_ssh_keygen(), "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", NAMESPACE, "-s", str(sig), f"-Overify-time={when}"],
            input=payload, capture_output=True,
        )
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        return SignatureCheck(False, f"bad signature for {principal}: {reason[-1] if reason else 'verification failed'}")
    if d.get("role") not in roles:
        return SignatureCheck(False, f"{principal} is not allowed to sign as {d.get('role')} (roles in {ALLOWED_SIGNERS}: {', '.join(sorted(roles)) or 'none'})")
    return SignatureCheck(True)
