"""Every ``--format json`` document validates against the schema ``mle3 schema`` publishes."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO, TINY_FILES, write_files

from mle3.cli import main
from mle3.cli.shapes import SHAPES, find

POLICY = "project: tiny\npolicy:\n  approvals:\n    '11-07': [ml_lead]\n"


def _run(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, tuple[int, dict]]:
    """One tiny workspace walked through the reading commands (and the writes they need)."""
    from mle3.datasets.synthetic import generate

    root = write_files(tmp_path_factory.mktemp("shapes") / "ws", {**TINY_FILES, "mle3.yaml": POLICY})
    generate(root / "data" / "tiny", counts={"train": 8, "val": 2, "test": 2}, image_size=32, seed=3)
    w = ("-w", root)
    steps: dict[str, tuple[object, ...]] = {
        "dataset register": (
            "dataset",
            "register",
            root / "data/tiny/data.yaml",
            "--id",
            "TINY-DATA",
            "--version",
            "v1",
            "-r",
            "REQ-DATA",
            *w,
        ),
        "check": ("check", *w),
        "trace": ("trace", "TINY-DATA", *w),
        "impact": ("impact", "REQ-DATA", *w),
        "matrix": ("matrix", *w),
        "rules": ("rules",),
        "schema": ("schema",),
        "dataset verify": ("dataset", "verify", "TINY-DATA", *w),
        "approve": ("approve", "TINY-DATA-v1", "--role", "ml_lead", "--name", "Ann <ann@example.com>", *w),
        "train --queue": ("train", "TINY-TRAIN-001", "--queue", *w),
        "runs": ("runs", *w),
        "audit verify": ("audit", "verify", *w),
        "audit log": ("audit", "log", *w),
        "audit migrate": ("audit", "migrate", *w),
        "doctor": ("doctor", *w),
    }
    docs: dict[str, tuple[int, dict]] = {}
    for name, args in steps.items():
        code, out, err = _run(*args, "--format", "json")
        assert code in (0, 1), (name, code, err)
        docs[name] = code, json.loads(out)
    run_id = docs["train --queue"][1]["run_id"]
    for name, args in {"runs show": ("runs", "show", run_id, *w), "runs rerun": ("runs", "rerun", run_id, *w)}.items():
        if name == "runs rerun":
            assert _run("runs", "abort", run_id, *w)[0] == 0
        code, out, err = _run(*args, "--format", "json")
        assert code == 0, (name, err)
        docs[name] = code, json.loads(out)
    code, out, err = _run(
        "dataset", "retire", "TINY-DATA-v1", "--status", "obsolete", "--reason", "superseded", *w, "--format", "json"
    )
    assert code == 0, err
    docs["dataset retire"] = code, json.loads(out)
    return docs


COMMANDS = [
    "dataset register",
    "check",
    "trace",
    "impact",
    "matrix",
    "rules",
    "schema",
    "dataset verify",
    "approve",
    "train --queue",
    "runs",
    "runs show",
    "runs rerun",
    "audit verify",
    "audit log",
    "audit migrate",
    "doctor",
    "dataset retire",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_json_output_validates_against_its_published_schema(documents, command):
    _, doc = documents[command]
    assert doc["schema"] in SHAPES, f"{command} writes {doc['schema']}, which mle3 schema does not publish"
    jsonschema.Draft202012Validator(SHAPES[doc["schema"]]).validate(doc)


def test_a_document_missing_a_required_field_fails_its_schema(documents):
    """The schemas can fail: they require what scripts rely on."""
    _, doc = documents["runs show"]
    broken = {k: v for k, v in doc.items() if k != "run_id"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SHAPES[doc["schema"]])


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_published_schema_is_a_valid_json_schema_naming_itself(name):
    jsonschema.Draft202012Validator.check_schema(SHAPES[name])
    assert SHAPES[name]["properties"]["schema"] == {"const": name}
    assert re.fullmatch(r"mle3\.[a-z-]+/\d+", name)


def test_schema_name_prints_the_published_schema():
    code, out, _ = _run("schema", "mle3.check/1")
    assert code == 0 and json.loads(out) == SHAPES["mle3.check/1"]
    code, out, _ = _run("schema", "check")  # short name: the newest version
    assert code == 0 and json.loads(out)["title"] == "mle3.check/1"
    code, out, _ = _run("schema", "training")  # an item file kind
    assert code == 0 and "training" in json.loads(out)["properties"]


def test_schema_of_an_unknown_name_is_exit_2_one_line():
    code, out, err = _run("schema", "no-such-shape")
    assert code == 2 and out == "" and err.count("\n") == 1 and "mle3 schema" in err


def test_schema_lists_every_shape(documents):
    _, doc = documents["schema"]
    assert [o["name"] for o in doc["outputs"]] == list(SHAPES)
    assert "training" in doc["item_kinds"]


def test_the_shapes_of_library_modules_carry_the_names_declared_here():
    from mle3.doctor import SCHEMA as DOCTOR
    from mle3.matrix import MATRIX_SCHEMA
    from mle3.rules.engine import CHECK_SCHEMA
    from mle3.trace import IMPACT_SCHEMA, TRACE_SCHEMA

    assert {CHECK_SCHEMA, TRACE_SCHEMA, IMPACT_SCHEMA, MATRIX_SCHEMA, DOCTOR, "mle3.quantize/1"} <= set(SHAPES)
    assert '"schema": "mle3.quantize/1"' in (REPO / "mle3/runner/quantize.py").read_text()


def test_no_command_writes_a_shape_inline():
    """A ``"schema": "mle3..."`` literal in a command module is a shape nobody declared."""
    inline = [
        f"{p.name}:{n}"
        for p in sorted((REPO / "mle3/cli").glob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r'"schema":\s*"mle3\.', line)
    ]
    assert not inline, inline


def test_a_run_is_run_id_in_every_shape():
    """One name for a run's id; ``run`` is kept beside it for one release where it was the id."""

    def walk(schema: dict, path: str):
        props = schema.get("properties", {})
        if props.get("run", {}).get("type") == "string" or "string" in str(props.get("run", {}).get("anyOf", "")):
            yield path, props
        for key, sub in props.items():
            if isinstance(sub, dict):
                yield from walk(sub, f"{path}.{key}")
                if isinstance(sub.get("items"), dict):
                    yield from walk(sub["items"], f"{path}.{key}[]")

    for name, schema in SHAPES.items():
        for path, props in walk(schema, name):
            assert "run_id" in props, path
            assert props["run"].get("deprecated") is True, path


def test_shape_lookup_by_short_name():
    assert find("mle3.train/1") is SHAPES["mle3.train/1"]
    assert find("reqif-import")["title"] == "mle3.reqif-import/2"
    assert find("nothing") is None
    assert Path(REPO / "mle3/cli/shapes.py").is_file()
