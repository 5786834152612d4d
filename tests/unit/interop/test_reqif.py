"""ReqIF exchange: field-by-field round trip, a file in another tool's layout, local
edits, hostile and broken files."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import REPO, write_files

from mle3 import audit, load_workspace

# each trailing backslash continues the line: the file keeps the other tool's long lines
OTHER_TOOL = """<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <THE-HEADER><REQ-IF-HEADER IDENTIFIER="h1"><CREATION-TIME>2026-01-01T00:00:00Z</CREATION-TIME>\
<REQ-IF-TOOL-ID>StrictDoc-like</REQ-IF-TOOL-ID><REQ-IF-VERSION>1.0</REQ-IF-VERSION>\
<SOURCE-TOOL-ID>other</SOURCE-TOOL-ID><TITLE>Other tool</TITLE></REQ-IF-HEADER></THE-HEADER>
  <CORE-CONTENT><REQ-IF-CONTENT>
    <DATATYPES><DATATYPE-DEFINITION-STRING IDENTIFIER="dt-str" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="String" \
MAX-LENGTH="10000"/></DATATYPES>
    <SPEC-TYPES>
      <SPEC-OBJECT-TYPE IDENTIFIER="sot" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="REQUIREMENT">
        <SPEC-ATTRIBUTES>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-uid" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="UID"><TYPE>\
<DATATYPE-DEFINITION-STRING-REF>dt-str</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-title" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="TITLE">\
<TYPE><DATATYPE-DEFINITION-STRING-REF>dt-str</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-statement" LAST-CHANGE="2026-01-01T00:00:00Z" \
LONG-NAME="STATEMENT"><TYPE><DATATYPE-DEFINITION-STRING-REF>dt-str</DATATYPE-DEFINITION-STRING-REF></TYPE>\
</ATTRIBUTE-DEFINITION-STRING>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-comment" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="COMMENT">\
<TYPE><DATATYPE-DEFINITION-STRING-REF>dt-str</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING>
        </SPEC-ATTRIBUTES>
      </SPEC-OBJECT-TYPE>
      <SPEC-RELATION-TYPE IDENTIFIER="srt-parent" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Parent"/>
      <SPECIFICATION-TYPE IDENTIFIER="st" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="DOC"/>
    </SPEC-TYPES>
    <SPEC-OBJECTS>
      <SPEC-OBJECT IDENTIFIER="so-1" LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE>\
<SPEC-OBJECT-TYPE-REF>sot</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="SYS-ML-001"><DEFINITION>\
<ATTRIBUTE-DEFINITION-STRING-REF>a-uid</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="Night scenes"><DEFINITION>\
<ATTRIBUTE-DEFINITION-STRING-REF>a-title</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="Data shall contain night scenes &amp; rain."><DEFINITION>\
<ATTRIBUTE-DEFINITION-STRING-REF>a-statement</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
      </VALUES></SPEC-OBJECT>
      <SPEC-OBJECT IDENTIFIER="so-2" LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE>\
<SPEC-OBJECT-TYPE-REF>sot</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="SYS-ML-002"><DEFINITION>\
<ATTRIBUTE-DEFINITION-STRING-REF>a-uid</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="Night recall"><DEFINITION>\
<ATTRIBUTE-DEFINITION-STRING-REF>a-title</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="reviewed by the safety team"><DEFINITION>\
<ATTRIBUTE-DEFINITION-STRING-REF>a-comment</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
      </VALUES></SPEC-OBJECT>
    </SPEC-OBJECTS>
    <SPEC-RELATIONS>
      <SPEC-RELATION IDENTIFIER="rel-1" LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE>\
<SPEC-RELATION-TYPE-REF>srt-parent</SPEC-RELATION-TYPE-REF></TYPE><SOURCE><SPEC-OBJECT-REF>so-2</SPEC-OBJECT-REF>\
</SOURCE><TARGET><SPEC-OBJECT-REF>so-1</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>
    </SPEC-RELATIONS>
    <SPECIFICATIONS><SPECIFICATION IDENTIFIER="spec" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Doc"><TYPE>\
<SPECIFICATION-TYPE-REF>st</SPECIFICATION-TYPE-REF></TYPE><CHILDREN>
      <SPEC-HIERARCHY IDENTIFIER="sh1" LAST-CHANGE="2026-01-01T00:00:00Z"><OBJECT>\
<SPEC-OBJECT-REF>so-1</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>
      <SPEC-HIERARCHY IDENTIFIER="sh2" LAST-CHANGE="2026-01-01T00:00:00Z"><OBJECT>\
<SPEC-OBJECT-REF>so-2</SPEC-OBJECT-REF></OBJECT></SPEC-HIERARCHY>
    </CHILDREN></SPECIFICATION></SPECIFICATIONS>
  </REQ-IF-CONTENT></CORE-CONTENT>
</REQ-IF>
"""


@pytest.fixture
def empty_ws(tmp_path):
    return write_files(tmp_path / "ws", {"mle3.yaml": "project: import target\nexternal: ['SYS-*']\n"})


@pytest.mark.parametrize("suffix", [".reqif", ".reqifz"])
def test_round_trip_keeps_every_field(cli, empty_ws, tmp_path, suffix):
    target = tmp_path / f"out{suffix}"
    assert cli("reqif", "export", "-o", target, "-w", REPO)[0] == 0
    code, out, _ = cli("reqif", "import", target, "-w", empty_ws, "--format", "json")
    assert code == 0 and json.loads(out)["create"] == ["MLE-ADAS-001", "MLE-ADAS-002"]
    original = load_workspace(REPO, use_cache=False)
    imported = load_workspace(empty_ws, use_cache=False)
    for req in original.of_kind("requirement"):
        copy = imported.get(req.id)
        for name in ("id", "title", "text", "type", "status", "derived_from"):
            assert getattr(copy, name) == getattr(req, name), name
        assert [c.model_dump(by_alias=True) for c in copy.criteria] == [
            c.model_dump(by_alias=True) for c in req.criteria
        ]


def test_file_from_another_tool_is_mapped_and_unknown_attributes_kept(cli, empty_ws, tmp_path):
    source = tmp_path / "other.reqif"
    source.write_text(OTHER_TOOL)
    code, out, _ = cli("reqif", "import", source, "-w", empty_ws, "--format", "json")
    plan = json.loads(out)
    assert code == 0 and plan["create"] == ["SYS-ML-001", "SYS-ML-002"] and plan["unmapped"] == ["COMMENT"]
    ws = load_workspace(empty_ws, use_cache=False)
    first, second = ws.get("SYS-ML-001"), ws.get("SYS-ML-002")
    assert (first.title, first.text) == ("Night scenes", "Data shall contain night scenes & rain.")
    assert second.derived_from == ["SYS-ML-001"] and second.model_extra["reqif_attributes"] == {
        "COMMENT": "reviewed by the safety team"
    }
    assert [e["action"] for e in audit.history(empty_ws)] == ["reqif.import"]


def test_local_edits_are_never_overwritten_silently(cli, empty_ws, tmp_path):
    source = tmp_path / "other.reqif"
    source.write_text(OTHER_TOOL)
    cli("reqif", "import", source, "-w", empty_ws, expect=None)
    local = empty_ws / "requirements" / "SYS-ML-001.yaml"
    local.write_text(local.read_text().replace("Night scenes", "Night scenes (local wording)"))
    edited = local.read_text()
    code, out, _ = cli("reqif", "import", source, "-w", empty_ws, expect=1)
    assert code == 1 and "local wording" in out and "--force" in out and local.read_text() == edited
    code, out, _ = cli("reqif", "import", source, "-w", empty_ws, "--dry-run", expect=1)  # exits as the import would
    assert "the import would write nothing" in out and local.read_text() == edited
    assert cli("reqif", "import", source, "-w", empty_ws, "--force")[0] == 0
    assert "local wording" not in local.read_text()


BAD = {
    "not-xml": ("<REQ-IF><unclosed>", "not well-formed XML", 1),
    "namespace": ('<?xml version="1.0"?>\n<REQ-IF xmlns="urn:other"/>', "not a ReqIF document", 2),
    "doctype": (
        '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<REQ-IF>&x;</REQ-IF>',
        "DOCTYPE/ENTITY",
        2,
    ),
    "no-id": (
        OTHER_TOOL.replace('<SPEC-OBJECT IDENTIFIER="so-2"', "<SPEC-OBJECT"),
        "SPEC-OBJECT without IDENTIFIER",
        24,
    ),
    "duplicate": (
        OTHER_TOOL.replace('THE-VALUE="SYS-ML-002"', 'THE-VALUE="SYS-ML-001"'),
        "duplicate requirement id",
        24,
    ),
    "hostile-id": (
        OTHER_TOOL.replace('THE-VALUE="SYS-ML-002"', 'THE-VALUE="../../../tmp/evil-pwned"'),
        "requirement id '../../../tmp/evil-pwned' contains '..'",
        24,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_reqif_is_one_line_exit_2_and_writes_nothing(cli, empty_ws, tmp_path, case):
    text, message, line = BAD[case]
    source = tmp_path / f"{case}.reqif"
    source.write_text(text)
    code, _, err = cli("reqif", "import", source, "-w", empty_ws, expect=2)
    assert code == 2 and message in err and f"{case}.reqif:{line}" in err and err.count("\n") == 1, err
    assert not (empty_ws / "requirements").exists() and not audit.exists(empty_ws)


def test_strictdoc_export_is_imported(cli, empty_ws):
    from conftest import FIXTURES

    code, out, _ = cli("reqif", "import", FIXTURES / "strictdoc" / "export.reqif", "-w", empty_ws, "--format", "json")
    plan = json.loads(out)
    assert code == 0 and plan["create"] == ["SYS-ML-001", "SYS-ML-002"] and plan["unmapped"] == ["NOTES"]
    ws = load_workspace(empty_ws, use_cache=False)
    assert ws.get("SYS-ML-001").text == "The training data shall contain night scenes and rain."
    second = ws.get("SYS-ML-002")
    assert second.derived_from == ["SYS-ML-001"] and second.model_extra["reqif_attributes"] == {
        "NOTES": "Reviewed by the safety team."
    }


def test_relation_to_a_missing_spec_object_is_reported_and_needs_force(cli, empty_ws, tmp_path):
    source = tmp_path / "dangling.reqif"
    source.write_text(
        OTHER_TOOL.replace(
            "<TARGET><SPEC-OBJECT-REF>so-1</SPEC-OBJECT-REF></TARGET>",
            "<TARGET><SPEC-OBJECT-REF>so-gone</SPEC-OBJECT-REF></TARGET>",
        )
    )
    code, out, _ = cli("reqif", "import", source, "-w", empty_ws, expect=1)
    line = next(
        n for n, text in enumerate(source.read_text().splitlines(), 1) if 'SPEC-RELATION IDENTIFIER="rel-1"' in text
    )
    assert (
        code == 1
        and f"dangling.reqif:{line}: Parent relation rel-1 names SPEC-OBJECT so-gone" in out
        and "nothing written" in out
    )
    assert not (empty_ws / "requirements").exists() and not audit.exists(empty_ws)
    code, out, _ = cli("reqif", "import", source, "-w", empty_ws, "--force")
    assert code == 0
    ws = load_workspace(empty_ws, use_cache=False)
    assert ws.get("SYS-ML-002").derived_from == ["so-gone"]  # kept, so the link is not lost...
    code, out, _ = cli("check", "-w", empty_ws, "--format", "json", "--no-cache", expect=None)
    assert any(
        f["rule"] == "trace.dangling-ref" and "so-gone" in f["message"] for f in json.loads(out)["findings"]
    )  # ...and reported


def test_strictdoc_opens_the_export_with_no_edit(cli, tmp_path):
    """StrictDoc (a real client) converts mle3's export to SDoc, then parses that SDoc and
    exports it to HTML: type and attribute names it accepts, parent relation kept."""
    import shutil
    import subprocess

    from conftest import require

    strictdoc = shutil.which("strictdoc")
    require("StrictDoc", strictdoc is not None, "nothing: pip install strictdoc (in the test extra)")
    export = tmp_path / "mle3.reqif"
    assert cli("reqif", "export", "-o", export, "-w", REPO)[0] == 0
    proc = subprocess.run(
        [strictdoc, "convert", str(export), str(tmp_path / "sdoc")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sdoc,) = (tmp_path / "sdoc").glob("*.sdoc")
    text = sdoc.read_text()
    assert "- TAG: REQUIREMENT" in text and "VALUE: MLE-ADAS-001" in text  # the parent relation of MLE-ADAS-002
    proc = subprocess.run(
        [strictdoc, "export", str(tmp_path / "sdoc"), "--output-dir", str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pages = "".join(p.read_text(errors="replace") for p in (tmp_path / "html").rglob("*.html"))
    assert "MLE-ADAS-002" in pages and "Detection performance" in pages


DOORS_LIKE = """<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <THE-HEADER><REQ-IF-HEADER IDENTIFIER="h1"><CREATION-TIME>2026-01-01T00:00:00Z</CREATION-TIME>\
<REQ-IF-TOOL-ID>DOORS-like</REQ-IF-TOOL-ID><REQ-IF-VERSION>1.0</REQ-IF-VERSION>\
<SOURCE-TOOL-ID>doors</SOURCE-TOOL-ID><TITLE>DOORS-like</TITLE></REQ-IF-HEADER></THE-HEADER>
  <CORE-CONTENT><REQ-IF-CONTENT>
    <DATATYPES>
      <DATATYPE-DEFINITION-STRING IDENTIFIER="dt-str" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="S" \
MAX-LENGTH="999"/>
      <DATATYPE-DEFINITION-XHTML IDENTIFIER="dt-x" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="X"/>
      <DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="dt-e" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Kinds">\
<SPECIFIED-VALUES><ENUM-VALUE IDENTIFIER="ev-perf" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="performance">\
<PROPERTIES><EMBEDDED-VALUE KEY="1" OTHER-CONTENT="performance"/></PROPERTIES></ENUM-VALUE></SPECIFIED-VALUES>\
</DATATYPE-DEFINITION-ENUMERATION>
    </DATATYPES>
    <SPEC-TYPES>
      <SPEC-OBJECT-TYPE IDENTIFIER="sot" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="REQUIREMENT">
        <SPEC-ATTRIBUTES>
          <ATTRIBUTE-DEFINITION-XHTML IDENTIFIER="a-text" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="ReqIF.Text">\
<TYPE><DATATYPE-DEFINITION-XHTML-REF>dt-x</DATATYPE-DEFINITION-XHTML-REF></TYPE></ATTRIBUTE-DEFINITION-XHTML>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-status" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Status">\
<TYPE><DATATYPE-DEFINITION-STRING-REF>dt-str</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING>
          <ATTRIBUTE-DEFINITION-ENUMERATION IDENTIFIER="a-type" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Type" \
MULTI-VALUED="false"><TYPE><DATATYPE-DEFINITION-ENUMERATION-REF>dt-e</DATATYPE-DEFINITION-ENUMERATION-REF></TYPE>\
</ATTRIBUTE-DEFINITION-ENUMERATION>
          <ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-del" LAST-CHANGE="2026-01-01T00:00:00Z" \
LONG-NAME="ReqIF.ForeignDeleted"><TYPE><DATATYPE-DEFINITION-STRING-REF>dt-str</DATATYPE-DEFINITION-STRING-REF></TYPE>\
</ATTRIBUTE-DEFINITION-STRING>
        </SPEC-ATTRIBUTES>
      </SPEC-OBJECT-TYPE>
    </SPEC-TYPES>
    <SPEC-OBJECTS>
      <SPEC-OBJECT IDENTIFIER="_a1b2" LONG-NAME="Observe earths surface." LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE>\
<SPEC-OBJECT-TYPE-REF>sot</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>
        <ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>a-text</ATTRIBUTE-DEFINITION-XHTML-REF>\
</DEFINITION><THE-VALUE><xhtml:div>Carbon Trust <xhtml:b>&quot;Standard&quot;</xhtml:b></xhtml:div></THE-VALUE>\
</ATTRIBUTE-VALUE-XHTML>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="approved"><DEFINITION>\
<ATTRIBUTE-DEFINITION-STRING-REF>a-status</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
        <ATTRIBUTE-VALUE-ENUMERATION><DEFINITION><ATTRIBUTE-DEFINITION-ENUMERATION-REF>a-type\
</ATTRIBUTE-DEFINITION-ENUMERATION-REF></DEFINITION><VALUES><ENUM-VALUE-REF>ev-perf</ENUM-VALUE-REF></VALUES>\
</ATTRIBUTE-VALUE-ENUMERATION>
      </VALUES></SPEC-OBJECT>
      <SPEC-OBJECT IDENTIFIER="_gone" LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE>\
<SPEC-OBJECT-TYPE-REF>sot</SPEC-OBJECT-TYPE-REF></TYPE><VALUES>
        <ATTRIBUTE-VALUE-STRING THE-VALUE="true"><DEFINITION>\
<ATTRIBUTE-DEFINITION-STRING-REF>a-del</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION></ATTRIBUTE-VALUE-STRING>
      </VALUES></SPEC-OBJECT>
    </SPEC-OBJECTS>
    <SPEC-RELATIONS>
      <SPEC-RELATION IDENTIFIER="rel-1" LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE>\
<SPEC-RELATION-TYPE-REF>undefined-type</SPEC-RELATION-TYPE-REF></TYPE>\
<SOURCE><SPEC-OBJECT-REF>_a1b2</SPEC-OBJECT-REF></SOURCE><TARGET><SPEC-OBJECT-REF>_a1b2</SPEC-OBJECT-REF></TARGET>\
</SPEC-RELATION>
    </SPEC-RELATIONS>
  </REQ-IF-CONTENT></CORE-CONTENT>
</REQ-IF>
"""


def test_an_export_of_another_tool_comes_in_as_text_with_its_identifier(cli, empty_ws, tmp_path):
    """DOORS/RMF-style XML ids, the requirement text in LONG-NAME (Enterprise Architect),
    XHTML values, a relation type the file does not define, Status in mixed case, a deleted object."""
    source = tmp_path / "doors.reqif"
    source.write_text(DOORS_LIKE)
    code, out, err = cli("reqif", "import", source, "-w", empty_ws, "--format", "json")
    assert "Traceback" not in err
    plan = json.loads(out)
    assert plan["create"] == ["a1b2"] and plan["skipped"] == ["_gone: marked ReqIF.ForeignDeleted"], plan
    req = yaml.safe_load((empty_ws / "requirements" / "a1b2.yaml").read_text())["requirement"]
    assert req["text"] == 'Carbon Trust "Standard"' and req["status"] == "approved", req
    assert req["type"] == "performance"  # an enumeration by its label, not its value identifier
    assert req["reqif_identifier"] == "_a1b2" and "Observe" not in req["id"]
    assert "<" in req["reqif_attributes"]["xhtml"]["ReqIF.Text"]  # the markup kept for the round trip
    assert req["links"] == [{"type": "undefined-type", "to": "a1b2"}]  # named by its reference, not lost
    assert plan["unmapped"] == []


def test_two_sources_that_write_one_id_are_a_conflict_not_an_overwrite(cli, empty_ws, tmp_path):
    first, second = tmp_path / "module-a.reqif", tmp_path / "module-b.reqif"
    first.write_text(OTHER_TOOL)
    second.write_text(OTHER_TOOL.replace('IDENTIFIER="so-1"', 'IDENTIFIER="mod-b-1"').replace(">so-1<", ">mod-b-1<"))
    cli("reqif", "import", first, "-w", empty_ws, expect=None)
    before = (empty_ws / "requirements" / "SYS-ML-001.yaml").read_text()
    _, out, _ = cli("reqif", "import", second, "-w", empty_ws, expect=1)
    assert "was imported from SPEC-OBJECT so-1" in out and "mod-b-1" in out
    assert (empty_ws / "requirements" / "SYS-ML-001.yaml").read_text() == before


def test_every_relation_is_kept_with_its_type_and_goes_back_out(cli, empty_ws, tmp_path):
    """Polarion's fulfills (ProR realizes, EA deriveReq): a typed link check and trace show,
    written back by the export as a SPEC-RELATION of the same type."""
    typed = OTHER_TOOL.replace(
        '<SPEC-RELATION-TYPE IDENTIFIER="srt-parent" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Parent"/>',
        '<SPEC-RELATION-TYPE IDENTIFIER="srt-parent" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Parent"/>'
        '<SPEC-RELATION-TYPE IDENTIFIER="srt-f" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="fulfills"/>',
    ).replace(
        "    </SPEC-RELATIONS>",
        '      <SPEC-RELATION IDENTIFIER="rel-2" LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE><SPEC-RELATION-TYPE-REF>'
        "srt-f</SPEC-RELATION-TYPE-REF></TYPE><SOURCE><SPEC-OBJECT-REF>so-1</SPEC-OBJECT-REF></SOURCE><TARGET>"
        "<SPEC-OBJECT-REF>so-2</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>\n    </SPEC-RELATIONS>",
    )
    source = tmp_path / "polarion.reqif"
    source.write_text(typed)
    _, out, _ = cli("reqif", "import", source, "-w", empty_ws, "--format", "json", expect=None)
    assert "relation fulfills" not in json.loads(out)["unmapped"]
    req = yaml.safe_load((empty_ws / "requirements" / "SYS-ML-001.yaml").read_text())["requirement"]
    assert req["links"] == [{"type": "fulfills", "to": "SYS-ML-002"}]
    trace = json.loads(cli("trace", "SYS-ML-001", "-w", empty_ws, "--format", "json")[1])
    assert any(n["id"] == "SYS-ML-002" and n["relation"] == "links:fulfills" for n in trace["upstream"]), trace
    _, out, _ = cli("check", "-w", empty_ws, "--format", "json", expect=None)
    assert not [
        f for f in json.loads(out)["findings"] if f["rule"].startswith("trace.") and "links" in (f["field"] or "")
    ]
    exported = tmp_path / "back.reqif"
    cli("reqif", "export", "-o", exported, "-w", empty_ws)
    text = exported.read_text()
    assert 'LONG-NAME="fulfills"' in text
    again = write_files(tmp_path / "again", {"mle3.yaml": "project: again\n"})
    cli("reqif", "import", exported, "-w", again, expect=None)
    back = yaml.safe_load((again / "requirements" / "SYS-ML-001.yaml").read_text())["requirement"]
    assert back["links"] == [{"type": "fulfills", "to": "SYS-ML-002"}]


def test_every_document_of_a_reqifz_comes_in(cli, empty_ws, tmp_path):
    import zipfile

    second = (
        OTHER_TOOL.replace("SYS-ML-001", "SYS-ML-101")
        .replace("SYS-ML-002", "SYS-ML-102")
        .replace('"so-1"', '"b-1"')
        .replace(">so-1<", ">b-1<")
        .replace('"so-2"', '"b-2"')
        .replace(">so-2<", ">b-2<")
    )
    archive = tmp_path / "two.reqifz"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("module-a.reqif", OTHER_TOOL)
        z.writestr("module-b.reqif", second)
    _, out, _ = cli("reqif", "import", archive, "-w", empty_ws, "--format", "json", expect=None)
    assert sorted(json.loads(out)["create"]) == ["SYS-ML-001", "SYS-ML-002", "SYS-ML-101", "SYS-ML-102"], out
