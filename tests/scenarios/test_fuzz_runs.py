"""Fuzzing the readers of the run side (issue 21, point 9): a queue entry, a run record and
an epochs file, whatever their bytes, give a checked value or one Mle3Error line (file,
line, field), never another exception, a hang or unbounded memory. Runs in seconds."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mle3.errors import Mle3Error
from mle3.runner.queue import read_entry
from mle3.runs.claims import queue_state
from mle3.runs.records import effective_status, epoch_lines, read_record

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["high", "RUN-A", "pending", "in_progress", "success", "", "~", "../x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8,
)
KEYS = [
    "run",
    "priority",
    "queued_at",
    "id",
    "config",
    "status",
    "pid",
    "pid_start",
    "host",
    "heartbeat",
    "queue",
    "worker",
    "created",
    "epochs_completed",
]
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=10)


def one_line(exc: Mle3Error) -> None:
    text = str(exc)
    assert "\n" not in text and len(text) < 600, text


def _dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="mle3-fuzz-"))


ROOT = _dir()


def _check_entry(path: Path) -> None:
    try:
        entry = read_entry(path)
    except Mle3Error as exc:
        one_line(exc)
        return
    assert entry["run"] == path.name[:-5] and type(entry["priority"]) is int and isinstance(entry["queued_at"], str)


@SETTINGS
@given(
    st.one_of(
        st.binary(max_size=300),
        records.map(lambda d: json.dumps(d, default=str).encode()),
        st.builds(lambda p, q: json.dumps({"run": "RUN-A", "priority": p, "queued_at": q}).encode(), values, values),
    )
)
def test_queue_entry_reader(raw):
    path = ROOT / "RUN-A.json"
    path.write_bytes(raw)
    _check_entry(path)


def test_queue_entry_reader_bounds_size_and_depth():
    path = ROOT / "RUN-A.json"
    path.write_bytes(b"[" * 100_000)
    _check_entry(path)
    path.write_bytes(b'{"run": "RUN-A", "priority": ' + b"9" * 5000 + b"}")
    _check_entry(path)
    path.write_bytes(b" " * (1 << 20))
    _check_entry(path)


@SETTINGS
@given(
    st.one_of(
        st.binary(max_size=400),
        st.text(max_size=300).map(str.encode),
        st.builds(lambda d: yaml.safe_dump({"run": d}).encode(), records),
        st.builds(lambda d: yaml.safe_dump({"run": dict(d, id="RUN-A", config="C")}).encode(), records),
    )
)
def test_run_record_reader_and_status(raw):
    folder = ROOT / "artifacts" / "runs" / "RUN-A"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.yaml").write_bytes(raw)
    try:
        run = read_record(folder / "run.yaml", "RUN-A")
    except Mle3Error as exc:
        one_line(exc)
        return
    assert run["id"] == "RUN-A" and isinstance(run["config"], str) and isinstance(run["status"], str)
    assert isinstance(effective_status(run, ROOT), str)
    queue_state(ROOT, run)


@SETTINGS
@given(records)
def test_effective_status_never_raises_on_any_record(run):
    assert isinstance(effective_status(run), str) and isinstance(
        effective_status(dict(run, status="pending", queue={"x": 1}, id="RUN-B"), ROOT), str
    )


lines = st.one_of(
    st.binary(max_size=80),
    values.map(lambda v: json.dumps(v, default=str).encode()),
    st.builds(lambda e, m: json.dumps({"epoch": e, "mAP50": m}, default=str).encode(), values, values),
)


@SETTINGS
@given(st.lists(lines, max_size=8), st.booleans())
def test_epochs_reader(chunks, torn):
    path = ROOT / "epochs.jsonl"
    raw = b"".join(c.replace(b"\n", b" ") + b"\n" for c in chunks)
    path.write_bytes(raw + (b'{"epoch": 9' if torn else b""))
    epochs, problems = epoch_lines(path)
    assert all(isinstance(e, dict) for e in epochs)
    assert all(isinstance(n, int) and 1 <= n <= len(chunks) and isinstance(why, str) for n, why in problems)
    assert len(epochs) + len(problems) <= len(chunks)


def test_epochs_reader_bounds_a_huge_line():
    path = ROOT / "epochs.jsonl"
    path.write_bytes(b'{"epoch": 1}\n' + b"x" * (4 << 20) + b"\n" + b'{"epoch": 2}\n')
    epochs, problems = epoch_lines(path)
    assert [e["epoch"] for e in epochs] == [1, 2] and problems and problems[0][0] == 2
