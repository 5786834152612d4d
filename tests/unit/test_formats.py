"""Golden vectors for mle3's compliance-critical byte formats (:mod:`mle3.formats`).

Every expected value below was computed by the code as it was before the formats were
defined once (main at e952f98), and is hard-coded: fingerprints, approvals, signatures and
audit entries written by earlier releases stay valid only while these bytes stay the same.
Never update an expected value to make a test pass; a failing test here means a change
would invalidate records that already exist.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import pytest

from mle3 import audit, formats
from mle3.ledger import signing
from mle3.ledger.fingerprint import Fingerprints, canonical
from mle3.datasets import scan
from mle3.datasets.manifest import (
    Entry,
    decode_columns,
    encode_manifest,
    fingerprint,
    manifest_name,
    manifest_text,
    read_manifest,
)

A, B, C, F = "a" * 64, "b" * 64, "c" * 64, "f" * 64
ENTRIES = [
    Entry("data/images/train/b.jpg", 12, 5, B),
    Entry("data/data.yaml", 40, 0, A),
    Entry("data/images/val/é ü two  spaces.png", 0, 1, C),
]
MANIFEST = f"{A}  40  data/data.yaml\n{B}  12  data/images/train/b.jpg\n{C}  0  data/images/val/é ü two  spaces.png\n"
MANIFEST_FP = "sha256:5cffa5a6e63601852d1a1df30070ab6310094f705305b87a1eacf4fd2065aad3"
#: gzip header: magic, deflate, no flags, mtime 0, XFL 4 (fastest: compresslevel 1), OS 3
GZIP_HEADER = bytes.fromhex("1f8b0800000000000403")


# --- manifests ---------------------------------------------------------------------------


def test_manifest_text_and_fingerprint() -> None:
    assert manifest_text(ENTRIES) == MANIFEST
    assert formats.manifest_text((e.path, e.size, e.sha256) for e in ENTRIES) == MANIFEST
    assert fingerprint(ENTRIES) == formats.dataset_fingerprint(MANIFEST) == MANIFEST_FP
    assert formats.dataset_fingerprint(MANIFEST.encode()) == MANIFEST_FP
    assert manifest_name(MANIFEST_FP) == formats.manifest_name(MANIFEST_FP) == MANIFEST_FP[7:] + ".manifest.gz"


def test_manifest_line_round_trip() -> None:
    line = formats.manifest_line(C, 0, "x/two  spaces.png")
    assert line == f"{C}  0  x/two  spaces.png\n"
    assert formats.split_manifest_line(line.rstrip("\n")) == [C, "0", "x/two  spaces.png"]


def test_manifest_encoding() -> None:
    encoded = encode_manifest(MANIFEST)
    assert encoded == formats.encode_manifest(MANIFEST)
    assert encoded[:10] == GZIP_HEADER
    assert gzip.decompress(encoded) == MANIFEST.encode()
    # the exact deflate stream, stable across zlib 1.2 and 1.3 (a manifest is trusted by
    # the text it decompresses to; equal bytes everywhere is a convenience, not a record)
    if not zlib.ZLIB_RUNTIME_VERSION.startswith(("1.2.", "1.3.")):
        pytest.skip(f"zlib {zlib.ZLIB_RUNTIME_VERSION} may deflate differently (header and text are pinned above)")
    assert hashlib.sha256(encoded).hexdigest() == "aa78bedfbb7fd49aa8e408b696743f3107d338b2caf71a929d064b8159f2b645"


def test_manifest_decoding_checks_the_fingerprint_and_names_the_line() -> None:
    encoded = formats.encode_manifest(MANIFEST)
    paths, sizes, digests = formats.decode_manifest(encoded, "m", MANIFEST_FP)
    assert paths == sorted(e.path for e in ENTRIES) and sizes == [40, 12, 0] and digests == [A, B, C]
    assert decode_columns(encoded, "m", MANIFEST_FP).paths == paths
    with pytest.raises(ValueError, match="does not hash to the fingerprint"):
        formats.decode_manifest(encoded, "m", "sha256:" + F)
    with pytest.raises(ValueError, match="m:2: malformed manifest line"):
        formats.decode_manifest(formats.encode_manifest(f"{A}  1  a\n{B} 2 b\n"), "m")
    with pytest.raises(ValueError, match="m:1: malformed manifest line"):
        formats.decode_manifest(formats.encode_manifest("abc  1  a\n"), "m")
    with pytest.raises(ValueError, match="not a gzip manifest"):
        formats.decode_manifest(b"plain", "m")
    # members concatenate: what the register's workers write
    two = formats.encode_manifest(MANIFEST[:200]) + formats.encode_manifest(MANIFEST[200:])
    assert formats.gunzip(two) == MANIFEST.encode()


def test_v1_manifest_lines(tmp_path: Path) -> None:
    v1 = tmp_path / "m.tsv"
    v1.write_text(f"# comment\n\ndata/a.jpg\t3\t17\t{A}\n")
    assert read_manifest(v1) == [Entry("data/a.jpg", 3, 17, A)]
    assert formats.parse_manifest_v1_line("# x\n", "m", 1) is None
    with pytest.raises(ValueError, match="m:4: malformed"):
        formats.parse_manifest_v1_line("a\t1\t2\n", "m", 4)


def test_scan_segments_and_assembly() -> None:
    seg = scan._segment(["a", "b"], ["x" * 64 + "  1  a\n", "y" * 64 + "  2  b\n"], [1, 2])
    assert seg.packed == bytes.fromhex(
        "1f8b0800000000000403aba8a00c2828182a28247255520814148c141492b80095821dee8e000000"
    )
    lines = {
        n: f"{d * 64}  {s}  {p}\n"
        for n, d, s, p in (("x", "1", 3, "d/x"), ("y", "2", 4, "d/y"), ("m", "3", 5, "d/m"), ("a", "4", 6, "a.yaml"))
    }
    dx = lines["x"] + lines["y"]
    segments = [
        scan.Segment("d/x", "d/y", dx, [1, 2], formats.encode_manifest(dx)),
        scan.Segment("d/m", "d/m", lines["m"], [3]),
        scan.Segment("a.yaml", "a.yaml", lines["a"], [4]),
    ]
    text, stamps, packed = scan._assemble(segments)
    assert text == lines["a"] + lines["m"] + lines["x"] + lines["y"] and stamps == [4, 3, 1, 2]
    assert packed == bytes.fromhex(
        "1f8b08000000000004033331a10c282898292824ea5526e6e67019530814144c151452f473b900a0e35d2395000000"
        "1f8b08000000000004033334a40c2828182b28a4e8577019510814144c40065572010037bc23e192000000"
    )


def _png(w: int, h: int) -> bytes:
    raw = b"".join(b"\x00" + b"\x00" * w * 3 for _ in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_scanned_data_set_fingerprint(tmp_path: Path) -> None:
    """A whole scan: the text and fingerprint ``dataset register`` records."""
    (tmp_path / "ds/images/train").mkdir(parents=True)
    (tmp_path / "ds/labels/train").mkdir(parents=True)
    (tmp_path / "ds/data.yaml").write_text("path: .\ntrain: images/train\nnames: {0: a}\n")
    (tmp_path / "ds/images/train/1.png").write_bytes(_png(4, 3))
    (tmp_path / "ds/labels/train/1.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "ds/images/train/2.png").write_bytes(_png(2, 2))
    (tmp_path / "ds/notes.txt").write_text("hi\n")
    result, _ = scan.scan_local(str(tmp_path), "ds", {"train": "ds/images/train"}, 1, jobs=1, extra=["ds/data.yaml"])
    assert result.text == (
        "b26d3ac708192283a2b2a12f56d57889b392a2a290fe3364933736421e8ce5d4  42  ds/data.yaml\n"
        "d3a67710b6bcc7b5cb13cfa10d2fd256d372a44903e1c4056f00fabba1a073c0  69  ds/images/train/1.png\n"
        "7899d6ced52159786ff083934df42788da01a30b7ed9bb7756d7f3f5a94ef685  68  ds/images/train/2.png\n"
        "fe1d19931e4f3092800a55299efc6f6e0b806bed3838aa14aebbc94ba55aa549  18  ds/labels/train/1.txt\n"
        "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4  3  ds/notes.txt\n"
    )
    assert (
        formats.dataset_fingerprint(result.text)
        == "sha256:9b4b2215534497db147eef0e4d9c58a1644a9e568ab753c191343b3759ec21ce"
    )
    assert formats.gunzip(result.packed) == result.text.encode()
    assert result.packed.count(GZIP_HEADER) >= 1 and result.packed.startswith(GZIP_HEADER)


# --- canonical JSON ----------------------------------------------------------------------

ODD = {
    "b": [1, 2.5, None, True],
    "a": {"z": "é", "y": "\u2603"},
    "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "p": Path("x/y"),
}
PLAIN = {"b": [1, 2.5, None, True], "a": {"z": "é", "y": "\u2603"}, "n": "line\nnext"}


def test_canonical_json_of_fingerprints() -> None:
    expected = '{"a":{"y":"☃","z":"é"},"b":[1,2.5,null,true],"p":"x/y","when":"2024-01-02 03:04:05+00:00"}'
    assert canonical(ODD) == formats.canonical_json_fingerprint(ODD) == expected
    plain = '{"a":{"y":"☃","z":"é"},"b":[1,2.5,null,true],"n":"line\\nnext"}'
    assert formats.canonical_json_fingerprint(PLAIN) == plain
    assert formats.item_fingerprint(ODD) == "sha256:c8da114b29fa3752255429cb29d3fba3b76d87a831c902ce2b5c190812b0f799"


def test_canonical_json_strict_refuses_what_json_cannot_hold() -> None:
    assert formats.canonical_json(PLAIN) == formats.canonical_json_fingerprint(PLAIN).encode()
    with pytest.raises(TypeError):
        formats.canonical_json(ODD)


def test_canonical_json_ascii_and_spaced() -> None:
    assert (
        formats.canonical_json_ascii(PLAIN)
        == b'{"a":{"y":"\\u2603","z":"\\u00e9"},"b":[1,2.5,null,true],"n":"line\\nnext"}'
    )
    raw = {"training": {"epochs": 3, "lr": 0.01, "name": "é"}, "when": dt.date(2024, 1, 2), "b": [1, None]}
    assert (
        formats.spaced_json(raw)
        == '{"b": [1, null], "training": {"epochs": 3, "lr": 0.01, "name": "\\u00e9"}, "when": "2024-01-02"}'
    )


def test_run_config_hash() -> None:
    from mle3.runner.train import config_hash

    raw = {"training": {"epochs": 3, "lr": 0.01, "name": "é"}, "when": dt.date(2024, 1, 2), "b": [1, None]}
    expected = "sha256:074153466196264572db343bc4407e601a125d0166147f3bf1b5904e0eeab4b2"
    assert config_hash(raw) == formats.config_hash(raw) == expected


def test_calibration_listing_digest() -> None:
    assert (
        formats.tagged_sha256(b"a/1.jpg\nb/2.jpg\n")
        == "sha256:315e59c73787e402b65a7e0f2742d4ae941fe8c221519633c82de4ac65812dd2"
    )


# --- audit entries and signatures --------------------------------------------------------

ENTRY = {
    "action": "approve",
    "item": "MV-1",
    "actor": "Zoë <z@x>",
    "host": "h",
    "time": "2024-01-02T03:04:05+00:00",
    "details": {
        "fingerprint": "sha256:" + F,
        "role": "ml_lead",
        "decision": "approved",
        "comment": "ok ✓",
        "signature": "SIG",
        "signature_format": 2,
    },
    "parents": [B, A],
    "hash": "0" * 64,
}


def test_audit_entry_body_and_hash() -> None:
    body = (
        '{"action":"approve","actor":"Zoë <z@x>","details":{"comment":"ok ✓","decision":"approved",'
        f'"fingerprint":"sha256:{F}","role":"ml_lead","signature":"SIG","signature_format":2}},'
        f'"host":"h","item":"MV-1","parents":["{B}","{A}"],"time":"2024-01-02T03:04:05+00:00"}}'
    ).encode()
    assert audit.canonical_body(ENTRY) == body
    assert audit.entry_hash(ENTRY) == "4be37f87685f879eef86c7f30411b2734164bd14d5d15254182e97c9a56c0398"


def test_signature_message_format_2() -> None:
    expected = (
        '{"action":"approve","actor":"Zoë <z@x>","details":{"comment":"ok ✓","decision":"approved",'
        f'"fingerprint":"sha256:{F}","role":"ml_lead","signature_format":2}},"format":2,"host":"h","item":"MV-1",'
        f'"namespace":"mle3-approval","parents":["{B}","{A}"],"time":"2024-01-02T03:04:05+00:00"}}'
    ).encode()
    assert signing.message_v2(ENTRY) == expected
    assert signing.payload_of(ENTRY) == (2, expected)


def test_signature_message_format_1() -> None:
    entry = {
        **ENTRY,
        "details": {"fingerprint": "sha256:" + F, "role": "ml_lead", "decision": "approved", "comment": "é"},
    }
    assert signing.payload_of(entry) == (
        1,
        (
            f'{{"decision":"approved","fingerprint":"sha256:{F}","item":"MV-1","namespace":"mle3-approval",'
            f'"parents":["{A}","{B}"],"role":"ml_lead","time":"2024-01-02T03:04:05+00:00"}}'
        ).encode(),
    )
    odd = {
        **entry,
        "item": ["é", 1],
        "prev": C,
        "details": {"fingerprint": {"x": dt.date(2024, 1, 2)}, "role": None, "decision": 3},
    }
    del odd["parents"]
    assert signing.payload_of(odd) == (
        1,
        (
            '{"decision":"3","fingerprint":"{\\"x\\": \\"2024-01-02\\"}","item":"[\\"\\\\u00e9\\", 1]",'
            f'"namespace":"mle3-approval","prev":"{C}","role":"","time":"2024-01-02T03:04:05+00:00"}}'
        ).encode(),
    )
    assert signing.message("MV-é", "sha256:1", "r", "d", "t", {"parents": ["b", "a"]}) == (
        b'{"decision":"d","fingerprint":"sha256:1","item":"MV-\\u00e9","namespace":"mle3-approval",'
        b'"parents":["b","a"],"role":"r","time":"t"}'
    )


# --- item fingerprints of a workspace ----------------------------------------------------

WORKSPACE = {
    "mle3.yaml": "project: test\nexternal: ['SYS-*']\n",
    "requirements/REQ-D.yaml": (
        "requirement:\n  id: REQ-D\n  title: data\n  type: ml_data\n  derived_from: [SYS-1]\n  criteria:\n"
        "    - samples: train\n      min: 100\n    - class: car\n      min_samples: 50\n      split: train\n"
        "    - split_ratio: {train: [0.6, 0.8], val: [0.1, 0.2], test: [0.1, 0.2]}\n"
    ),
    "requirements/REQ-P.yaml": (
        "requirement:\n  id: REQ-P\n  title: perf\n  type: performance\n  derived_from: [REQ-D]\n"
        "  criteria:\n    - metric: mAP_50\n      split: test\n      min: 0.5\n"
    ),
    "requirements/ARCH.yaml": "architecture:\n  id: ARCH-1\n  requirements: [REQ-P]\n",
    "artifacts/data.yaml": (
        "dataset:\n  id: DATA\n  version: v1\n  requirements: [REQ-D]\n  classes: [car]\n  splits:\n"
        "    train: {samples: 700, path: data/train, instances: {car: 900}}\n"
        "    val: {samples: 150, path: data/val}\n    test: {samples: 150, path: data/test}\n"
    ),
    "artifacts/train.yaml": "training:\n  id: TRAIN\n  model: yolov8n.yaml\n  dataset: DATA\n  epochs: 10\n",
    "artifacts/model.yaml": (
        "model_version:\n  id: MODEL-v1\n  training_run: TRAIN\n  metrics:\n    test: {mAP_50: 0.7}\n"
        "  training_data:\n    dataset_version: DATA-v1\n    train_samples: 700\n    val_samples: 150\n"
        "  traceability:\n    requirements: [REQ-D, REQ-P]\n    architecture: ARCH-1\n  status: draft\n"
        '  artifacts:\n    weights: weights/best.pt\n  description: "Zoë ✓"\n'
    ),
    "weights/best.pt": "not really weights\n",
}
#: key -> (today's, version 1, as the linear audit log computed it)
ITEM_FINGERPRINTS = {
    "ARCH-1": ("d654a3fbf34696e1a373da6dd0db92add4afeabece1f105c2678c5f58a79c587",) * 3,
    "DATA-v1": ("8b2a37d4f257eaca3eadafc9d80af303600bf837adb18988b088e341fe593930",) * 3,
    "MODEL-v1": (
        "8947465b81961c1290f1d1e046d3be5be343d232eed662d2358acac1d398d20f",
        "8947465b81961c1290f1d1e046d3be5be343d232eed662d2358acac1d398d20f",
        "e2450e519fdd018e583e2ce3942344e4cc3fb3ce8f56c644602c579a71828d2c",
    ),
    "REQ-D": ("ccc657142f8e10488735ee40df6c516a8b08ce557fb60dd0fbe12bb42a0188d0",) * 3,
    "REQ-P": ("bf52397feebd9116f5d3e5248dce8b58e074da8799695da7390285508aee18f5",) * 3,
    "TRAIN": (
        "dbe5a9acd2a928629007af5e4a51641c4d164b2d7ea7c24a52f44cca2024372a",
        "dbe5a9acd2a928629007af5e4a51641c4d164b2d7ea7c24a52f44cca2024372a",
        "73e08c1628d96f90d8b9c07a0250ae50fe0c09dac3a9314f5b15f495060bcf53",
    ),
}


def test_item_fingerprints_of_a_workspace(tmp_path: Path) -> None:
    from mle3.graph import build_graph
    from mle3.workspace import load_workspace

    for rel, text in WORKSPACE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    ws = load_workspace(tmp_path)
    assert not [f for f in ws.findings if f.severity == "error"]
    fps = Fingerprints(ws, build_graph(ws))
    got = {
        key: tuple(f.split(":", 1)[1] for f in (fps.of(key), fps.v1_of(key), fps.legacy_of(key)))
        for key in sorted(ws.by_key)
    }
    assert got == ITEM_FINGERPRINTS
