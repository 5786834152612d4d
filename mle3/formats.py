"""Every compliance-critical byte format, defined once: canonical JSON, fingerprints, the
data set manifest (its line, its text, its gzip encoding).

Approvals, signatures and audit entries are bound to these exact bytes: a format that two
functions write is a format that can silently diverge, and a changed byte makes every
recorded fingerprint stale and every signature fail. Where history left several byte forms
(canonical JSON has four), each keeps its own named function, so nothing already written
changes; ``tests/unit/test_formats.py`` pins each one with golden vectors.

A primitive: imports nothing from mle3.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from typing import Any
from collections.abc import Iterable

#: how every mle3 digest is written: ``sha256:<hex>``
SHA256_PREFIX = "sha256:"


def tagged_sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``: the form of fingerprints, config hashes and listings."""
    return SHA256_PREFIX + hashlib.sha256(data).hexdigest()


def fingerprint_hex(fp: str) -> str:
    """The hex part of ``sha256:<hex>`` (file names carry it); a bare hex stays as it is."""
    return fp.split(":", 1)[-1]


# --- canonical JSON --------------------------------------------------------------------
# Four byte forms, each in use by records already written. They agree on sorted keys and
# differ in separators, in escaping non-ASCII and in what a non-JSON value becomes.


def canonical_json(obj: Any) -> bytes:
    """Audit entry bodies (their hash) and format-2 signature messages: sorted keys, no
    spaces, UTF-8 (not ``\\u`` escapes); a value JSON cannot hold raises TypeError."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_json_fingerprint(obj: Any) -> str:
    """Item fingerprints: as :func:`canonical_json`, but any other value is written as its
    ``str`` (dates, paths from a YAML file); text, not bytes (hashed as UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def canonical_json_ascii(obj: Any) -> bytes:
    """Format-1 signature messages: sorted keys, no spaces, non-ASCII as ``\\u`` escapes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def spaced_json(obj: Any) -> str:
    """``json.dumps`` defaults with sorted keys (``", "`` and ``": "``, ``\\u`` escapes),
    other values as ``str``: configuration hashes and the non-text fields of a format-1
    signature message."""
    return json.dumps(obj, sort_keys=True, default=str)


def item_fingerprint(parts: Any) -> str:
    """An item's fingerprint from what goes into it (:mod:`mle3.ledger.fingerprint`)."""
    return tagged_sha256(canonical_json_fingerprint(parts).encode())


def config_hash(raw: Any) -> str:
    """The hash of a configuration a run records (its parsed YAML)."""
    return tagged_sha256(spaced_json(raw).encode())


# --- data set manifests ----------------------------------------------------------------
# v2 (written now): ``sha256  size  path`` lines sorted by path, gzip-compressed; the data
# set fingerprint is the sha256 of the uncompressed text. v1 (read only): a TSV of
# ``path  size  mtime_ns  sha256`` with ``#`` comments.

#: between the fields of a v2 manifest line (a path may itself hold two spaces: it is last)
MANIFEST_SEPARATOR = "  "
#: the compression of every manifest member (fastest: 850k lines compress in a blink)
MANIFEST_COMPRESSLEVEL = 1


def manifest_line(sha256: str, size: int, path: str) -> str:
    """One v2 manifest line, newline included."""
    return f"{sha256}  {size}  {path}\n"


def split_manifest_line(line: str) -> list[str]:
    """``[sha256, size, path]`` of a v2 line (the path keeps a trailing newline if given one)."""
    return line.split(MANIFEST_SEPARATOR, 2)


def manifest_text(rows: Iterable[tuple[str, int, str]]) -> str:
    """The v2 manifest's content and the fingerprint's input from ``(path, size, sha256)``
    rows: their lines sorted by path."""
    return "".join(manifest_line(d, s, p) for p, s, d in sorted(rows, key=lambda r: r[0]))


def dataset_fingerprint(text: str | bytes) -> str:
    """A data set's fingerprint: ``sha256:`` of its manifest text."""
    return tagged_sha256(text.encode() if isinstance(text, str) else text)


def manifest_name(fp: str) -> str:
    """The file name of the v2 manifest whose content hashes to ``fp``."""
    return fingerprint_hex(fp) + ".manifest.gz"


def encode_manifest(text: str) -> bytes:
    """gzip without a timestamp: the same manifest gives the same bytes everywhere. Members
    (one per worker's segment) concatenate to one gzip file of the whole text."""
    return gzip.compress(text.encode(), compresslevel=MANIFEST_COMPRESSLEVEL, mtime=0)


def gunzip(data: bytes) -> bytes:
    """All members of a gzip file (the register's workers write one member each;
    ``gzip.decompress`` walks members in Python, ~30x slower for hundreds of them)."""
    out = []
    while data:
        d = zlib.decompressobj(31)
        out.append(d.decompress(data))
        if not d.eof:
            raise OSError("truncated gzip data")
        data = d.unused_data.lstrip(b"\x00")  # padding between members (lstrip: linear, not byte by byte)
    return b"".join(out)


def gunzip_sha256(chunks: Iterable[bytes], limit: int) -> tuple[str, int]:
    """``(sha256:<hex>, lines)`` of what a (multi-member) gzip stream decompresses to,
    in bounded memory: the fingerprint of a v2 manifest without holding its text. More
    than ``limit`` decompressed bytes, or a truncated stream, raise ValueError."""
    h = hashlib.sha256()
    lines = total = 0
    d: Any = None
    for chunk in chunks:
        data = chunk
        while data:
            if d is None:
                data = data.lstrip(b"\x00")
                if not data:
                    break
                d = zlib.decompressobj(31)
            try:
                while data:
                    out = d.decompress(data, 1 << 20)
                    total += len(out)
                    if total > limit:
                        raise ValueError(f"decompresses to more than {limit} bytes")
                    h.update(out)
                    lines += out.count(b"\n")
                    data = d.unconsumed_tail
            except zlib.error as exc:
                raise ValueError(f"not gzip data ({exc})") from None
            if d.eof:
                data, d = d.unused_data, None
    if d is not None and not d.eof:
        raise ValueError("truncated gzip data")
    return SHA256_PREFIX + h.hexdigest(), lines


def decode_manifest(data: bytes, source: str, fp: str | None = None) -> tuple[list[str], list[int], list[str]]:
    """``(paths, sizes, digests)`` of an encoded v2 manifest; with ``fp``, raise ValueError
    unless the content hashes to it (a manifest is trusted only as its fingerprint).
    ``source`` names the manifest in messages (``source:line``)."""
    try:
        raw = gunzip(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{source}: not a gzip manifest ({exc})") from None
    if fp is not None and dataset_fingerprint(raw) != fp:
        raise ValueError(f"{source}: content does not hash to the fingerprint {fp}")
    lines = raw.decode("utf-8").splitlines()
    sep = MANIFEST_SEPARATOR
    try:
        digests, sizes, paths = zip(*(line.split(sep, 2) for line in lines)) if lines else ((), (), ())
        sizes_int = list(map(int, sizes))
    except ValueError:
        number = next(
            i
            for i, line in enumerate(lines, 1)
            if len(split_manifest_line(line)) != 3 or not split_manifest_line(line)[1].isdigit()
        )
        raise ValueError(f"{source}:{number}: malformed manifest line") from None
    if any(len(d) != 64 for d in digests):
        number = next(i for i, d in enumerate(digests, 1) if len(d) != 64)
        raise ValueError(f"{source}:{number}: malformed manifest line")
    return list(paths), sizes_int, list(digests)


def parse_manifest_v1_line(line: str, source: str, number: int) -> tuple[str, int, int, str] | None:
    """``(path, size, mtime_ns, sha256)`` of a v1 TSV line; None for a blank or ``#``
    line; ValueError naming ``source:number`` for a malformed one."""
    if not line.strip() or line.startswith("#"):
        return None
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 4 or len(parts[3]) != 64:
        raise ValueError(f"{source}:{number}: malformed manifest line")
    return parts[0], int(parts[1]), int(parts[2]), parts[3]


# --- DSSE (signed attestations of a release bundle) ------------------------------------

#: the payload type of an in-toto Statement in a DSSE envelope
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def dsse_pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what an envelope's signature covers
    (``DSSEv1 <len> <type> <len> <payload>``, lengths in ASCII decimal of the bytes)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


# --- sha256sum manifests (a release bundle's MANIFEST.sha256) ---------------------------


def safe_relative(path: str) -> bool:
    """Whether ``path`` is a plain relative POSIX path inside its folder: no absolute
    path, no ``..`` or ``.`` part, no backslash, no control character."""
    if not path or path.startswith("/") or "\\" in path or any(ord(c) < 32 for c in path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def sha256sums_text(digests: dict[str, str]) -> str:
    """``sha256sum`` output for ``{relative path: hex}``, sorted by path (``sha256sum -c`` reads it)."""
    for path in digests:
        if not safe_relative(path):
            raise ValueError(f"{path!r} cannot be listed in a sha256sum manifest")
    return "".join(f"{digests[p]}  {p}\n" for p in sorted(digests))


def parse_sha256sums(text: str) -> dict[str, str]:
    """``{relative path: hex}`` of a sha256sum manifest; a line that is not ``<64 hex>  <safe
    path>`` (or lists a path twice) raises ValueError ``(line number, why)``."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(number, "not a line 'SHA256  FILE' of a sha256sum manifest")
        if not safe_relative(path):
            raise ValueError(number, f"{path[:80]!r} is not a relative path inside the folder")
        if path in out:
            raise ValueError(number, f"{path} is listed twice")
        out[path] = digest
    return out
