"""ReqIF import of a large export: 10,000 SPEC-OBJECTs (the issue's bound: under 10 s).

    python benchmarks/bench_reqif.py [N]        (default 10000)

The document follows a real export's structure (DOORS-like: XHTML text, a Status, an
enumeration, ids in IDENTIFIER only, a parent relation per object and a typed one per ten),
is written to a temporary workspace and imported with ``mle3 reqif import`` in-process:
the planning pass (``--dry-run``) and the import that writes every requirement file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's mle3

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<REQ-IF xmlns="http://www.omg.org/spec/ReqIF/20110401/reqif.xsd" xmlns:xhtml="http://www.w3.org/1999/xhtml">
<THE-HEADER><REQ-IF-HEADER IDENTIFIER="h"><CREATION-TIME>2026-01-01T00:00:00Z</CREATION-TIME>
<REQ-IF-TOOL-ID>bench</REQ-IF-TOOL-ID><REQ-IF-VERSION>1.0</REQ-IF-VERSION><SOURCE-TOOL-ID>bench</SOURCE-TOOL-ID>
<TITLE>bench</TITLE></REQ-IF-HEADER></THE-HEADER><CORE-CONTENT><REQ-IF-CONTENT><DATATYPES>
<DATATYPE-DEFINITION-STRING IDENTIFIER="dt-s" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="S" MAX-LENGTH="999"/>
<DATATYPE-DEFINITION-XHTML IDENTIFIER="dt-x" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="X"/>
<DATATYPE-DEFINITION-ENUMERATION IDENTIFIER="dt-e" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="K"><SPECIFIED-VALUES>
<ENUM-VALUE IDENTIFIER="ev" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="performance"><PROPERTIES>
<EMBEDDED-VALUE KEY="1" OTHER-CONTENT="performance"/></PROPERTIES></ENUM-VALUE></SPECIFIED-VALUES>
</DATATYPE-DEFINITION-ENUMERATION></DATATYPES><SPEC-TYPES>
<SPEC-OBJECT-TYPE IDENTIFIER="sot" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="REQUIREMENT"><SPEC-ATTRIBUTES>
<ATTRIBUTE-DEFINITION-XHTML IDENTIFIER="a-t" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="ReqIF.Text"><TYPE>
<DATATYPE-DEFINITION-XHTML-REF>dt-x</DATATYPE-DEFINITION-XHTML-REF></TYPE></ATTRIBUTE-DEFINITION-XHTML>
<ATTRIBUTE-DEFINITION-STRING IDENTIFIER="a-s" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Status"><TYPE>
<DATATYPE-DEFINITION-STRING-REF>dt-s</DATATYPE-DEFINITION-STRING-REF></TYPE></ATTRIBUTE-DEFINITION-STRING>
<ATTRIBUTE-DEFINITION-ENUMERATION IDENTIFIER="a-k" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Type"
MULTI-VALUED="false"><TYPE><DATATYPE-DEFINITION-ENUMERATION-REF>dt-e</DATATYPE-DEFINITION-ENUMERATION-REF></TYPE>
</ATTRIBUTE-DEFINITION-ENUMERATION></SPEC-ATTRIBUTES></SPEC-OBJECT-TYPE>
<SPEC-RELATION-TYPE IDENTIFIER="srt-p" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="Parent"/>
<SPEC-RELATION-TYPE IDENTIFIER="srt-f" LAST-CHANGE="2026-01-01T00:00:00Z" LONG-NAME="fulfills"/>
</SPEC-TYPES><SPEC-OBJECTS>
"""
OBJECT = """<SPEC-OBJECT IDENTIFIER="_obj{i}" LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE><SPEC-OBJECT-TYPE-REF>sot
</SPEC-OBJECT-TYPE-REF></TYPE><VALUES><ATTRIBUTE-VALUE-XHTML><DEFINITION><ATTRIBUTE-DEFINITION-XHTML-REF>a-t
</ATTRIBUTE-DEFINITION-XHTML-REF></DEFINITION><THE-VALUE><xhtml:div>Requirement {i}: the detector
<xhtml:b>shall</xhtml:b> find pedestrians at night &amp; in rain.</xhtml:div></THE-VALUE></ATTRIBUTE-VALUE-XHTML>
<ATTRIBUTE-VALUE-STRING
THE-VALUE="approved"><DEFINITION><ATTRIBUTE-DEFINITION-STRING-REF>a-s</ATTRIBUTE-DEFINITION-STRING-REF></DEFINITION>
</ATTRIBUTE-VALUE-STRING><ATTRIBUTE-VALUE-ENUMERATION><DEFINITION><ATTRIBUTE-DEFINITION-ENUMERATION-REF>a-k
</ATTRIBUTE-DEFINITION-ENUMERATION-REF></DEFINITION><VALUES><ENUM-VALUE-REF>ev</ENUM-VALUE-REF></VALUES>
</ATTRIBUTE-VALUE-ENUMERATION></VALUES></SPEC-OBJECT>
"""
RELATION = """<SPEC-RELATION IDENTIFIER="r{kind}{i}" LAST-CHANGE="2026-01-01T00:00:00Z"><TYPE><SPEC-RELATION-TYPE-REF>
srt-{kind}</SPEC-RELATION-TYPE-REF></TYPE><SOURCE><SPEC-OBJECT-REF>_obj{i}</SPEC-OBJECT-REF></SOURCE><TARGET>
<SPEC-OBJECT-REF>_obj{j}</SPEC-OBJECT-REF></TARGET></SPEC-RELATION>
"""


def document(n: int) -> str:
    parts = [HEAD, *(OBJECT.format(i=i) for i in range(n)), "</SPEC-OBJECTS><SPEC-RELATIONS>\n"]
    parts += [RELATION.format(kind="p", i=i, j=i // 10) for i in range(1, n)]
    parts += [RELATION.format(kind="f", i=i, j=i - 1) for i in range(1, n, 10)]
    parts.append("</SPEC-RELATIONS></REQ-IF-CONTENT></CORE-CONTENT></REQ-IF>\n")
    return "".join(parts).replace("\n</", "</").replace("REF>\n", "REF>")


def main(n: int) -> None:
    from mle3.interop.reqif import import_file

    with tempfile.TemporaryDirectory(prefix="bench-reqif-") as tmp:
        root = Path(tmp) / "ws"
        (root / "requirements").mkdir(parents=True)
        (root / "mle3.yaml").write_text("project: bench\n")
        source = Path(tmp) / "export.reqif"
        source.write_text(document(n))
        start = time.perf_counter()
        plan = import_file(root, source, dry_run=True)
        planned = time.perf_counter() - start
        start = time.perf_counter()
        plan = import_file(root, source)
        written = time.perf_counter() - start
        size = source.stat().st_size / 1e6
        print(
            f"{n} SPEC-OBJECTs ({size:.1f} MB): planned (--dry-run) in {planned:.2f} s, imported (every file written, "
            f"audit entry) in {written:.2f} s; created {len(plan.create)}, written {plan.written}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
