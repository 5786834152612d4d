"""Fuzz the workspace loader with documents built from the schema's own fields (issue 21,
hole 9): every item kind, its real field names (nested sections included), and hostile
values in them (huge integers, NaN/inf, lists and mappings where scalars go, bad dates,
control characters). Loading and checking must never raise, and every finding must name
a file and a line."""

from __future__ import annotations

import json
from typing import Any, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from conftest import BASE_FILES, write_files

from mle3 import load_workspace, run_checks
from mle3.workspace.schema import KINDS


class Raw(str):
    """YAML text written as is (a huge integer, ``.nan``, a date that is none)."""


def emit(value: Any) -> str:
    """Flow-style YAML of ``value``; PyYAML's dumper cannot write the hostile values."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return (
            ".nan"
            if value != value
            else ".inf"
            if value == float("inf")
            else "-.inf"
            if value == float("-inf")
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(emit(v) for v in value) + "]"
    return "{" + ", ".join(f"{emit(k)}: {emit(v)}" for k, v in value.items()) + "}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


SCALARS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(min_value=4000, max_value=6000).map(lambda n: Raw("9" * n)),
    st.sampled_from(
        [
            Raw(".nan"),
            Raw(".inf"),
            Raw("-.inf"),
            Raw("1.0e+400"),
            Raw("2026-13-45"),
            Raw("2026-02-30 10:00:00"),
            Raw("0x" + "f" * 300),
            Raw(":".join(["59"] * 200)),
            Raw("!!binary '%%'"),
            Raw("'\\u0000'"),
            Raw('"\\x00\\x07"'),
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "nan",
            "1e400",
            "..",
            "../../etc/passwd",
            "REQ-D",
            "DATA",
            "DATA-v1",
            "TRAIN",
            "MODEL-v1",
            "validated",
            "car",
            "mAP_50",
        ]
    ),
)


def values(depth: int) -> st.SearchStrategy[Any]:
    if depth <= 0:
        return SCALARS
    inner = values(depth - 1)
    return st.one_of(
        SCALARS,
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(st.text(max_size=8), SCALARS.filter(lambda v: not isinstance(v, (list, dict)))), inner, max_size=3
        ),
    )


@st.composite
def section(draw: st.DrawFn, model: type[BaseModel], depth: int = 3) -> dict[str, Any]:
    """A mapping with some of ``model``'s fields (by YAML key), nested sections built the
    same way, and hostile values elsewhere."""
    fields = list(model.model_fields.items())
    chosen = (
        draw(st.lists(st.sampled_from(fields), max_size=min(len(fields), 8), unique_by=lambda f: f[0]))
        if fields
        else []
    )
    body: dict[str, Any] = {}
    for name, info in chosen:
        nested = _model_of(info.annotation)
        if nested is not None and depth > 0 and draw(st.booleans()):
            value = draw(section(nested, depth - 1))
            body[info.alias or name] = [value] if name in ("criteria", "trials") else value
        else:
            body[info.alias or name] = draw(values(2))
    if draw(st.booleans()):
        body["id"] = draw(st.sampled_from(["REQ-F", "DATA", "TRAIN-F", "MODEL-F", "RUN-20260101-000000-ffff"]))
    return body


@st.composite
def item_files(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(sorted(KINDS)))
    model, plural = KINDS[key]
    body: Any = draw(st.lists(section(model), min_size=1, max_size=3)) if plural else draw(section(model))
    return f"{key}: {emit(body)}\n"


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(
    text=item_files(),
    where=st.sampled_from(
        ["artifacts/fuzz.yaml", "requirements/fuzz.yaml", "artifacts/runs/RUN-20260101-000000-ffff/run.yaml"]
    ),
)
def test_schema_shaped_documents_never_crash_the_loader_or_check(tmp_path_factory, text, where):
    root = write_files(tmp_path_factory.mktemp("fz") / "ws", dict(BASE_FILES))
    path = root / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    ws = load_workspace(root, use_cache=False)
    report = run_checks(ws)
    for finding in report.findings:
        assert finding.file and finding.line, finding.one_line()
        assert "\n" not in finding.one_line()
        json.dumps(finding.__dict__, default=str)  # JSON output can write every finding
