"""DSSE envelopes: in-toto Statements signed with the release key.

The envelope is DSSE's JSON form (``payloadType``, base64 ``payload``, ``signatures`` of
``keyid`` and base64 ``sig``), the same OpenSSF model signing puts in its Sigstore bundle,
so one verifier serves both: the signature is ECDSA over the pre-authentication encoding
(:func:`mle3.formats.dsse_pae`) with the hash of the key's curve, and ``keyid`` is the
sha256 of the public key's PEM. Statements are built with in-toto's own library
(``in-toto-attestation``), which validates their shape.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..formats import IN_TOTO_PAYLOAD_TYPE, dsse_pae
from .keys import CURVES, ReleaseKey, key_id

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


def statement(subjects: list[dict[str, Any]], predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """An in-toto v1 Statement, validated by in-toto-attestation; ``subjects`` are
    ``{"name", "digest": {"sha256": hex}}``. Returned as plain JSON (the predicate exactly
    as given: protobuf's Struct would turn every integer into a float)."""
    from ..optional import require

    require("in_toto_attestation")
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    rds = [ResourceDescriptor(name=s["name"], digest=s["digest"]).pb for s in subjects]
    Statement(rds, predicate_type, {"_": True}).validate()  # the subjects and type, as in-toto checks them
    return {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": predicate_type, "predicate": predicate}


def sign_envelope(payload: bytes, key: ReleaseKey, payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> dict[str, Any]:
    signature = key.sign(dsse_pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key.id, "sig": base64.b64encode(signature).decode()}],
    }


def sign_statement(stmt: dict[str, Any], key: ReleaseKey) -> dict[str, Any]:
    return sign_envelope(json.dumps(stmt, indent=1, sort_keys=True, ensure_ascii=False).encode(), key)


class EnvelopeProblem(ValueError):
    """Why an envelope does not verify (one line)."""


def open_envelope(envelope: Any, public_pem: bytes) -> tuple[str, bytes]:
    """Verify a DSSE envelope with ``public_pem``; return (payload type, payload). Any
    problem (shape, encoding, signature) is an :class:`EnvelopeProblem`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(envelope, dict):
        raise EnvelopeProblem("not a DSSE envelope (a JSON object with payloadType, payload and signatures)")
    kind, payload_b64, sigs = envelope.get("payloadType"), envelope.get("payload"), envelope.get("signatures")
    if not isinstance(kind, str) or not isinstance(payload_b64, str) or not isinstance(sigs, list) or not sigs:
        raise EnvelopeProblem("not a DSSE envelope (payloadType, payload or signatures missing)")
    try:
        payload = base64.b64decode(payload_b64, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeProblem("its payload is not base64") from None
    public = serialization.load_pem_public_key(public_pem)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    algorithm = getattr(hashes, CURVES[public.curve.name].upper())()
    wanted = key_id(public_pem)
    problems = []
    for sig in sigs:
        if not isinstance(sig, dict) or not isinstance(sig.get("sig"), str):
            problems.append("a signature entry without sig")
            continue
        keyid = sig.get("keyid")
        if keyid and keyid != wanted:
            problems.append(f"signed by key {str(keyid)[:16]}..., not the release key {wanted[:16]}...")
            continue
        try:
            raw = base64.b64decode(sig["sig"], validate=True)
            public.verify(raw, dsse_pae(kind, payload), ec.ECDSA(algorithm))
        except (binascii.Error, ValueError):
            problems.append("its signature is not base64")
            continue
        except InvalidSignature:
            problems.append("its signature does not verify with the release key")
            continue
        return kind, payload
    raise EnvelopeProblem("; ".join(dict.fromkeys(problems)))


def open_statement(envelope: Any, public_pem: bytes) -> dict[str, Any]:
    """A verified envelope's in-toto Statement (type and shape checked)."""
    kind, payload = open_envelope(envelope, public_pem)
    if kind != IN_TOTO_PAYLOAD_TYPE:
        raise EnvelopeProblem(f"its payload is {kind!r}, not an in-toto Statement")
    try:
        stmt = json.loads(payload)
    except (ValueError, RecursionError):
        raise EnvelopeProblem("its payload is not JSON") from None
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE or not isinstance(stmt.get("subject"), list):
        raise EnvelopeProblem("its payload is not an in-toto v1 Statement")
    return stmt
