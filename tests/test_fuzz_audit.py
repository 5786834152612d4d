"""Fuzzing the audit entry reader (issue 21, hole 9): whatever bytes or JSON an entry file
holds, reading, verifying, listing approvals and the gates' view of them never raise;
each bad entry is a problem naming its file; a well-formed entry beside it still verifies."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mle3 import audit

#: a memory file system where there is one: the appends' fsyncs cost nothing there
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None
from mle3.ledger.gates import verified_approvals
from mle3.ledger.approvals import recorded

KEYS = [
    "time",
    "actor",
    "host",
    "action",
    "item",
    "details",
    "parents",
    "hash",
    "prev",
    "seq",
    "role",
    "name",
    "decision",
    "fingerprint",
    "comment",
    "deviation",
    "signature",
    "principal",
    "signature_format",
    "fingerprint_version",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["approval", "approved", "rejected", "2026-01-01T00:00:00+00:00", "0" * 64]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)
GOOD = {
    "time": "2026-01-01T00:00:00+00:00",
    "actor": "a",
    "host": "h",
    "action": "approval",
    "item": "M-v1",
    "details": {
        "role": "ml_lead",
        "name": "A",
        "decision": "approved",
        "fingerprint": "sha256:" + "1" * 64,
        "comment": None,
    },
    "parents": [],
}


def _entry_bytes(entry: dict) -> tuple[str, bytes]:
    """mle3's canonical form with a matching hash (the reader's fast path)."""
    body = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    digest = audit.entry_hash(entry)
    return digest, body[:-1] + f',"hash":"{digest}"}}\n'.encode()


def _mutated(draw_fields: dict) -> dict:
    entry = json.loads(json.dumps(GOOD))
    for key, value in draw_fields.items():
        if key in (
            "role",
            "name",
            "decision",
            "fingerprint",
            "comment",
            "deviation",
            "signature",
            "principal",
            "signature_format",
            "fingerprint_version",
        ) and isinstance(entry.get("details"), dict):  # "details" itself may have been drawn as a non-mapping
            entry["details"][key] = value
        else:
            entry[key] = value
    return entry


contents = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda v: json.dumps(v, allow_nan=True).encode(), values),
    st.builds(lambda n, c: c * n, st.integers(1, 3000), st.sampled_from([b"{", b"[", b'{"a":', b'[{"details":'])),
    st.builds(
        lambda fields: _entry_bytes(_mutated(fields))[1], st.dictionaries(st.sampled_from(KEYS), values, max_size=4)
    ),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(contents, st.booleans()), min_size=1, max_size=4))
def test_no_entry_file_makes_the_reader_or_the_gates_raise(files):
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        root = Path(tmp)
        good_hash, good = _entry_bytes(GOOD)
        (root / audit.entry_file(good_hash)).parent.mkdir(parents=True, exist_ok=True)
        (root / audit.entry_file(good_hash)).write_bytes(good)
        names = set()
        for number, (raw, own_name) in enumerate(files):
            digest = audit.hashlib.sha256(raw).hexdigest() if own_name else f"{number:02x}" + "e" * 62
            if digest == good_hash:
                continue
            names.add(audit.entry_file(digest))
            (root / audit.entry_file(digest)).parent.mkdir(parents=True, exist_ok=True)
            (root / audit.entry_file(digest)).write_bytes(raw)
        log = audit.read(root)
        assert good_hash in log.by_hash
        assert all(p.file in names for p in log.problems), log.problems  # the good entry is never blamed
        for node in log.nodes:
            assert isinstance(node.entry, dict)
        every = recorded(root, verify_signatures=True, log=log)
        counted = verified_approvals(root, log=log, require_signatures=False)
        assert {a.file for a in counted.approvals} <= {n.file for n in log.nodes}
        for a in counted.approvals:  # what counts is well formed and verifies
            assert (
                a.invalid is None
                and (a.file, a.line) not in counted.problems
                and isinstance(a.role, str)
                and isinstance(a.fingerprint, str)
            )
        assert len(every) == len(counted.approvals) + len(counted.dropped)  # each approval counts or is named with why
        for d in counted.dropped:
            assert d.message.startswith("not counted: ")
        appended = audit.append(root, "after.fuzz", None, actor="t")  # appending after any of it works and verifies
        assert appended["hash"] in audit.read(root).by_hash


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400))
def test_legacy_lines_of_any_bytes_are_problems_not_crashes(raw):
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        root = Path(tmp)
        (root / "artifacts").mkdir()
        line = raw.replace(b"\n", b" ")
        (root / audit.LEGACY_FILE).write_bytes(line + b"\n")
        count, problems = audit.verify(root)
        assert count + len(problems) >= (1 if line.strip() else 0)  # a line is an entry or a problem
        recorded(root, verify_signatures=True)
