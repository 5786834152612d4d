"""The release key: an EC P-256 key that signs the model files (OpenSSF model signing)
and the attestations (DSSE) of a release bundle.

Not the approvers' SSH keys: OpenSSF model signing's key format is an elliptic-curve key
in PEM, so a release has one key of its own, held by whoever releases (a CI secret, a
release manager's file). It is found, in this order, at ``--key PATH``, in the environment
(``MLE3_RELEASE_KEY``: a path, or the PEM text itself as CI secrets hold it), or through
``release.key_env`` / ``release.key_file`` of mle3.yaml, which names a variable or a path,
never the key (mle3.yaml is in git). An encrypted key's password comes from
``MLE3_RELEASE_KEY_PASSWORD`` (or the variable ``release.password_env`` names). The public
half goes into the bundle as ``release-key.pub``; an assessor pins the one the supplier
published with ``mle3 verify --key``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Mle3Error

KEY_ENV = "MLE3_RELEASE_KEY"
PASSWORD_ENV = "MLE3_RELEASE_KEY_PASSWORD"
#: a PEM key is a few hundred bytes; anything far larger is not one (read no further)
MAX_KEY_BYTES = 64 * 1024
#: curves OpenSSF model signing accepts (and the hash each one signs with)
CURVES = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}


class ReleaseKeyError(Mle3Error):
    """A release key that cannot be used: unreadable, of the wrong type, encrypted without password."""

    exit_code = 2


def _crypto() -> Any:
    from ..optional import require

    require("cryptography")
    from cryptography.hazmat.primitives import serialization

    return serialization


def _read_limited(path: Path, what: str) -> bytes:
    if not path.is_file():  # a folder, a FIFO (which would block), a device: never opened
        raise ReleaseKeyError(f"{what} {path} is not a regular file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise ReleaseKeyError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_KEY_BYTES:
        raise ReleaseKeyError(f"{what} {path} is larger than {MAX_KEY_BYTES} bytes: not a PEM key")
    return data


def key_id(public_pem: bytes) -> str:
    """sha256 of the public key's PEM (SubjectPublicKeyInfo): the hint OpenSSF model
    signing records in its signature, and the id an assessor compares with the published key."""
    return hashlib.sha256(public_pem).hexdigest()


@dataclass
class ReleaseKey:
    """A loaded private release key and where it came from (for messages, never the key)."""

    private: Any
    source: str

    @property
    def public_pem(self) -> bytes:
        serialization = _crypto()
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def id(self) -> str:
        return key_id(self.public_pem)

    @property
    def hash_name(self) -> str:
        return CURVES[self.private.curve.name]

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return bytes(self.private.sign(data, ec.ECDSA(getattr(hashes, self.hash_name.upper())())))

    def pem(self) -> bytes:
        """The private key unencrypted, for OpenSSF model signing's signer (written to a
        private temporary file only)."""
        serialization = _crypto()
        return bytes(
            self.private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def _check_curve(key: Any, source: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    public = key.public_key() if hasattr(key, "public_key") else key
    if not isinstance(public, ec.EllipticCurvePublicKey):
        kind = type(public).__name__.replace("_", "").replace("PublicKey", "") or "unknown"
        article = "an" if kind[:1] in "AEIORU" else "a"
        raise ReleaseKeyError(
            f"{source} is {article} {kind} key; a release key is an elliptic-curve key (P-256, P-384 or P-521), "
            "as OpenSSF model signing requires: openssl ecparam -name prime256v1 -genkey -noout -out release.pem"
        )
    if public.curve.name not in CURVES:
        raise ReleaseKeyError(f"{source} is an EC key on curve {public.curve.name}; use P-256, P-384 or P-521")


def load_private(data: bytes, source: str, password: str | None) -> ReleaseKey:
    serialization = _crypto()
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise ReleaseKeyError(
            f"{source} is a public key; signing a bundle takes the private key (the .pem the .pub was made from)"
        )
    if b"OPENSSH PRIVATE KEY" in data:
        raise ReleaseKeyError(
            f"{source} is an OpenSSH key (the kind approvals are signed with); a release key is a PEM EC key: "
            "openssl ecparam -name prime256v1 -genkey -noout -out release.pem"
        )
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except TypeError:
        raise ReleaseKeyError(f"{source} is encrypted: give its password in {PASSWORD_ENV}") from None
    except ValueError:
        raise ReleaseKeyError(
            f"{source} is not a PEM private key (or its password in {PASSWORD_ENV} is wrong)"
        ) from None
    except Exception as exc:  # cryptography raises its own types for unsupported algorithms
        raise ReleaseKeyError(f"{source} cannot be read as a private key: {exc}") from None
    _check_curve(key, source)
    return ReleaseKey(key, source)


def load_public(path: Path) -> bytes:
    """A public key file (PEM SubjectPublicKeyInfo) given by an assessor, checked to be an
    EC key model signing accepts; returned as PEM."""
    serialization = _crypto()
    data = _read_limited(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise ReleaseKeyError(
            f"{path} is not a PEM public key (release-key.pub of a bundle, or `openssl ec -pubout`)"
        ) from None
    _check_curve(key, str(path))
    return bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def find_release_key(root: Path, settings: Any, explicit: Path | None) -> ReleaseKey | None:
    """The release key by the order in the module docstring; None when none is configured."""
    password_env = getattr(settings, "password_env", None) or PASSWORD_ENV
    password = os.environ.get(password_env) or None
    if explicit is not None:
        return load_private(_read_limited(explicit.expanduser(), "release key"), str(explicit), password)
    for name in (KEY_ENV, getattr(settings, "key_env", None)):
        value = os.environ.get(name) if name else None
        if value:
            if value.lstrip().startswith("-----BEGIN"):
                return load_private(value.encode(), f"${name}", password)
            return load_private(_read_limited(Path(value).expanduser(), f"release key (${name})"), value, password)
        if name and name != KEY_ENV:
            raise ReleaseKeyError(
                f"release.key_env in mle3.yaml names {name}, which is not set (or empty) here: set it to the release "
                "key's path or PEM text"
            )
    key_file = getattr(settings, "key_file", None)
    if key_file:
        path = Path(key_file).expanduser()
        if _inside(path, root):
            raise ReleaseKeyError(
                f"release.key_file {key_file} lies inside the workspace, which git carries: move the release key "
                "outside it"
            )
        return load_private(_read_limited(path, "release key (release.key_file)"), str(path), password)
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True
