"""ReqIF exchange of requirements with ALM tools (Polarion, codebeamer, DOORS, Jama,
StrictDoc), through the maintained ``reqif`` package (optional extra ``reqif``).

Mapping (export writes the first name; import accepts any name in the row):

| mle3 field | ReqIF attribute LONG-NAME (STRING) |
|---|---|
| id | ReqIF.ForeignID, UID, ID, mle3.id |
| title | ReqIF.Name, TITLE, ReqIF.ChapterName |
| text | ReqIF.Text, STATEMENT, ReqIF.Description, DESCRIPTION |
| type | mle3.type, TYPE |
| status | mle3.status, STATUS |
| criteria | mle3.criteria (JSON) |
| derived_from | SPEC-RELATION ``derived_from`` (or ``Parent``) to the parent, and mle3.derived_from (JSON) |

``mle3.derived_from`` keeps the parent ids of other tools. Attribute names match
case-insensitively; without an id attribute the id comes from IDENTIFIER (made valid,
never from LONG-NAME, where Enterprise Architect writes the text); XHTML values come in as
text (the markup kept under ``reqif_attributes.xhtml``); objects marked
``ReqIF.ForeignDeleted`` are skipped and reported.

Import refuses, before parsing, any DOCTYPE or ENTITY declaration (no external
entities, no entity expansion) and documents larger than ``MAX_REQIF_BYTES`` (a
``.reqifz`` entry is decompressed in chunks and counted, so a zip bomb is refused at
the limit), parses with a hardened lxml parser for exact line
numbers, keeps attributes it cannot map under ``reqif_attributes``, and never
overwrites a locally edited requirement file without ``--force``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import __version__, audit
from .._atomic import atomic_write_bytes, atomic_write_text
from ..errors import Mle3Error
from ..ids import check_id
from ..vocab import AuditAction

NAMESPACE = "http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"
FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("ReqIF.ForeignID", "UID", "ID", "mle3.id"),
    "title": ("ReqIF.Name", "TITLE", "ReqIF.ChapterName"),
    "text": ("ReqIF.Text", "STATEMENT", "ReqIF.Description", "DESCRIPTION"),
    "type": ("mle3.type", "TYPE"),
    "status": ("mle3.status", "STATUS"),
    "criteria": ("mle3.criteria",),
    "derived_from": ("mle3.derived_from",),
}
JSON_FIELDS = {"criteria", "derived_from"}
PARENT_RELATIONS = {"derived_from", "parent", "Parent"}


def _ident(*parts: str) -> str:
    return "_" + hashlib.sha256("/".join(parts).encode()).hexdigest()[:24]


def export(ws: Any, target: Path) -> dict[str, Any]:
    from reqif.models.reqif_core_content import ReqIFCoreContent
    from reqif.models.reqif_data_type import ReqIFDataTypeDefinitionString
    from reqif.models.reqif_namespace_info import ReqIFNamespaceInfo
    from reqif.models.reqif_req_if_content import ReqIFReqIFContent
    from reqif.models.reqif_reqif_header import ReqIFReqIFHeader
    from reqif.models.reqif_spec_hierarchy import ReqIFSpecHierarchy
    from reqif.models.reqif_spec_object import ReqIFSpecObject, SpecObjectAttribute
    from reqif.models.reqif_spec_object_type import ReqIFSpecObjectType, SpecAttributeDefinition
    from reqif.models.reqif_spec_relation import ReqIFSpecRelation
    from reqif.models.reqif_spec_relation_type import ReqIFSpecRelationType
    from reqif.models.reqif_specification import ReqIFSpecification
    from reqif.models.reqif_specification_type import ReqIFSpecificationType
    from reqif.models.reqif_types import SpecObjectAttributeType
    from reqif.object_lookup import ReqIFObjectLookup
    from reqif.reqif_bundle import ReqIFBundle
    from reqif.unparser import ReqIFUnparser

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    string = SpecObjectAttributeType.STRING
    datatype = ReqIFDataTypeDefinitionString(
        identifier=_ident("dt", "string"), long_name="T_String", max_length="1000000", last_change=now
    )
    definitions = {
        name: SpecAttributeDefinition(
            attribute_type=string,
            identifier=_ident("ad", name),
            datatype_definition=datatype.identifier,
            long_name=names[0],
            last_change=now,
        )
        for name, names in FIELDS.items()
    }
    # type names become grammar tags in some tools (StrictDoc: letters and '_' only)
    object_type = ReqIFSpecObjectType(
        identifier=_ident("sot", "requirement"),
        long_name="REQUIREMENT",
        attribute_definitions=list(definitions.values()),
        last_change=now,
    )
    relation_type = ReqIFSpecRelationType(
        identifier=_ident("srt", "derived_from"), long_name="derived_from", last_change=now
    )
    spec_type = ReqIFSpecificationType(
        identifier=_ident("st", "requirements"), long_name="mle3 requirements", last_change=now
    )
    requirements = sorted(ws.of_kind("requirement"), key=lambda r: r.id)
    objects, children, relations = [], [], []
    link_types: dict[str, Any] = {}
    for req in requirements:
        values = {
            "id": req.id,
            "title": req.title,
            "text": req.text,
            "type": req.type,
            "status": req.status,
            "criteria": json.dumps(req._raw.get("criteria")) if req._raw.get("criteria") else None,
            "derived_from": json.dumps(list(req.derived_from)) if req.derived_from else None,
        }
        attributes = [
            SpecObjectAttribute(attribute_type=string, definition_ref=definitions[k].identifier, value=str(v))
            for k, v in values.items()
            if v not in (None, "")
        ]
        objects.append(
            ReqIFSpecObject(
                identifier=_ident("so", req.id),
                attributes=attributes,
                spec_object_type=object_type.identifier,
                last_change=now,
                long_name=req.id,
            )
        )
        children.append(
            ReqIFSpecHierarchy(
                identifier=_ident("sh", req.id), spec_object=_ident("so", req.id), level=1, last_change=now
            )
        )
        for link in req.links:  # typed links go back as SPEC-RELATIONs of their own type
            other = ws.resolve(link.to)
            if other is not None and other.kind == "requirement":
                if link.type not in link_types:
                    link_types[link.type] = ReqIFSpecRelationType(
                        identifier=_ident("srt", link.type), long_name=link.type, last_change=now
                    )
                relations.append(
                    ReqIFSpecRelation(
                        identifier=_ident("rel", req.id, link.type, other.id),
                        relation_type_ref=link_types[link.type].identifier,
                        source=_ident("so", req.id),
                        target=_ident("so", other.id),
                        last_change=now,
                    )
                )
        for parent in req.derived_from:
            if ws.resolve(parent) is not None and ws.resolve(parent).kind == "requirement":
                relations.append(
                    ReqIFSpecRelation(
                        identifier=_ident("rel", req.id, parent),
                        relation_type_ref=relation_type.identifier,
                        source=_ident("so", req.id),
                        target=_ident("so", parent),
                        last_change=now,
                    )
                )
    specification = ReqIFSpecification(
        identifier=_ident("spec", ws.config.project),
        long_name=ws.config.project,
        specification_type=spec_type.identifier,
        children=children,
        last_change=now,
    )
    content = ReqIFReqIFContent(
        data_types=[datatype],
        spec_types=[object_type, relation_type, *link_types.values(), spec_type],
        spec_objects=objects,
        spec_relations=relations,
        specifications=[specification],
    )
    namespace = ReqIFNamespaceInfo(
        original_reqif_tag_dump=None,
        doctype_is_present=True,
        encoding="UTF-8",
        namespace=NAMESPACE,
        configuration=None,
        namespace_id=None,
        namespace_xhtml="http://www.w3.org/1999/xhtml",
        schema_namespace=None,
        schema_location=None,
        language=None,
    )
    header = ReqIFReqIFHeader(
        identifier=_ident("header", now),
        creation_time=now,
        req_if_tool_id=f"mle3 {__version__}",
        req_if_version="1.0",
        source_tool_id="mle3",
        title=ws.config.project,
    )
    bundle = ReqIFBundle(
        namespace_info=namespace,
        req_if_header=header,
        core_content=ReqIFCoreContent(content),
        tool_extensions_tag_exists=False,
        lookup=ReqIFObjectLookup({}, {}, {}, {}),
        exceptions=[],
    )
    xml = ReqIFUnparser.unparse(bundle)
    if target.suffix == ".reqifz":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(target.with_suffix(".reqif").name, xml)
        atomic_write_bytes(target, buffer.getvalue())
    else:
        atomic_write_text(target, xml)
    return {"file": str(target), "requirements": len(objects), "relations": len(relations)}


@dataclass
class ImportPlan:
    create: list[str] = field(default_factory=list)
    update: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)  # id -> unified diff
    unmapped: list[str] = field(default_factory=list)
    #: relations whose source or target SPEC-OBJECT is missing (file:line, relation, target)
    unresolved: list[str] = field(default_factory=list)
    #: SPEC-OBJECTs left out, and why (marked deleted by their tool)
    skipped: list[str] = field(default_factory=list)
    written: bool = False


#: The largest ReqIF document read (the ``.reqif`` file, or the ``.reqif`` entry of a
#: ``.reqifz`` once decompressed): far above real requirement exports, far below what
#: would exhaust memory (a 1 MB archive can unpack to gigabytes).
MAX_REQIF_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


def _too_large(path: Path, what: str) -> Mle3Error:
    return Mle3Error(
        f"{what} is larger than {MAX_REQIF_BYTES // (1024 * 1024)} MiB: refused (zip bomb?)", file=str(path)
    )


def _read_documents(path: Path) -> list[tuple[Path, bytes]]:
    """The ReqIF XML documents of ``path`` (one for a ``.reqif``, every ``.reqif`` entry of
    a ``.reqifz``), each labelled for messages (``x.reqifz/doc.reqif``) and never more than
    MAX_REQIF_BYTES in memory, nor all of them together: a plain file is measured before
    it is read; an entry is refused on its declared size and decompressed in chunks,
    counting the bytes produced (a lying header does not help)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"PK":
                if os.fstat(fh.fileno()).st_size > MAX_REQIF_BYTES:
                    raise _too_large(path, "the ReqIF file")
                fh.seek(0)
                return [(path, fh.read(MAX_REQIF_BYTES + 1))]
    except OSError as exc:
        raise Mle3Error(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        with zipfile.ZipFile(path) as z:
            entries = sorted(
                (i for i in z.infolist() if i.filename.endswith(".reqif") and not i.is_dir()), key=lambda i: i.filename
            )
            if not entries:
                raise Mle3Error("the .reqifz archive holds no .reqif file", file=str(path))
            documents: list[tuple[Path, bytes]] = []
            total = 0
            for entry in entries:
                if entry.file_size > MAX_REQIF_BYTES - total:
                    raise _too_large(path, f"{entry.filename} in the archive")
                out = io.BytesIO()
                with z.open(entry) as stream:
                    while True:
                        chunk = stream.read(_CHUNK)
                        if not chunk:
                            break
                        if total + out.tell() + len(chunk) > MAX_REQIF_BYTES:
                            raise _too_large(path, f"{entry.filename} in the archive")
                        out.write(chunk)
                total += out.tell()
                documents.append((Path(f"{path}/{entry.filename}"), out.getvalue()))
            return documents
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise Mle3Error(f"not a valid .reqifz archive ({exc})", file=str(path)) from None
    except NotImplementedError as exc:
        raise Mle3Error(f"the .reqifz archive cannot be read: {exc}", file=str(path)) from None
    except RuntimeError as exc:  # encrypted entries
        raise Mle3Error(f"the .reqifz archive cannot be read: {exc}", file=str(path)) from None
    except OSError as exc:
        raise Mle3Error(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


def _parse(path: Path, data: bytes):
    """Hardened first pass (exact errors with lines), then the reqif library."""
    from lxml import etree

    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Mle3Error("not UTF-8 (ReqIF files are UTF-8)", file=str(path), line=line) from None
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        line = data[: data.upper().find(b"<!")].count(b"\n") + 1
        raise Mle3Error(
            "DOCTYPE/ENTITY declarations are refused (no external entities, no entity expansion)",
            file=str(path),
            line=line,
        )
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise Mle3Error(f"not well-formed XML: {exc.msg}", file=str(path), line=exc.lineno) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # a DOCTYPE the byte scan did not see
        raise Mle3Error(
            "DOCTYPE/ENTITY declarations are refused (no external entities, no entity expansion)",
            file=str(path),
            line=1,
        )
    if etree.QName(root).namespace != NAMESPACE or etree.QName(root).localname != "REQ-IF":
        raise Mle3Error(
            f"not a ReqIF document: root element {etree.QName(root).localname!r} in namespace "
            f"{etree.QName(root).namespace!r}",
            file=str(path),
            line=root.sourceline,
        )
    for element in root.iter(f"{{{NAMESPACE}}}SPEC-OBJECT"):
        if not element.get("IDENTIFIER"):
            raise Mle3Error("SPEC-OBJECT without IDENTIFIER", file=str(path), line=element.sourceline)
    from reqif.parser import ReqIFParser

    try:
        return ReqIFParser.parse_from_string(data.decode("utf-8-sig")), root
    except Exception as exc:  # the library's own complaint, with the file named
        raise Mle3Error(f"ReqIF content not understood: {type(exc).__name__}: {exc}", file=str(path)) from None


@dataclass
class Unresolved:
    """A SPEC-RELATION whose source or target SPEC-OBJECT is not in the file."""

    relation: str
    line: int | None
    kind: str
    missing: str
    source_id: str | None

    def message(self, path: Path) -> str:
        return (
            f"{path.name}:{self.line}: {self.kind} relation {self.relation} names SPEC-OBJECT {self.missing}, "
            "which is not in the file"
        )


def read_requirements(path: Path) -> tuple[list[dict[str, Any]], list[str], list[Unresolved], list[str]]:
    """Requirements of a ReqIF file (every document of a ``.reqifz``) as mle3
    ``requirement`` mappings, what could not be mapped, the relations whose ends are
    missing, and the objects skipped (and why)."""
    documents = [(label, *_parse(label, data)) for label, data in _read_documents(path)]
    by_object: dict[str, dict[str, Any]] = {}
    where: dict[str, tuple[Path, int | None]] = {}  # SPEC-OBJECT identifier -> (document, line)
    unmapped: set[str] = set()
    skipped: list[str] = []
    for label, bundle, root in documents:
        _read_objects(label, bundle, root, by_object, where, unmapped, skipped)
    unresolved: list[Unresolved] = []
    for _label, bundle, root in documents:  # relations may name objects of another document
        unresolved += _read_relations(bundle, root, by_object)
    seen: dict[str, str] = {}
    for identifier, req in by_object.items():
        doc, line = where[identifier]
        check_id(req["id"], "requirement id", file=str(doc), line=line)
        if req["id"] in seen:
            raise Mle3Error(
                f"duplicate requirement id {req['id']!r} (SPEC-OBJECTs {seen[req['id']]} and {identifier})",
                file=str(doc),
                line=line,
            )
        seen[req["id"]] = identifier
    return list(by_object.values()), sorted(unmapped), unresolved, skipped


def _read_objects(
    label: Path,
    bundle: Any,
    root: Any,
    by_object: dict[str, dict[str, Any]],
    where: dict[str, tuple[Path, int | None]],
    unmapped: set[str],
    skipped: list[str],
) -> None:
    """The SPEC-OBJECTs of one document as requirement mappings (into ``by_object``)."""
    content = bundle.core_content.req_if_content
    names: dict[str, str] = {}
    for spec_type in content.spec_types or []:
        for definition in getattr(spec_type, "attribute_definitions", None) or []:
            names[definition.identifier] = definition.long_name or definition.identifier
    alias = {n.lower(): key for key, ns in FIELDS.items() for n in ns}  # DOORS writes Status, others STATUS
    # an enumeration value comes in by its label (LONG-NAME), not by its value identifier
    labels = {
        value.identifier: value.long_name or value.other_content or value.key or value.identifier
        for datatype in content.data_types or []
        for value in getattr(datatype, "values", None) or []
        if getattr(value, "identifier", None)
    }
    lines = {e.get("IDENTIFIER"): e.sourceline for e in root.iter(f"{{{NAMESPACE}}}SPEC-OBJECT")}
    for obj in content.spec_objects or []:
        req: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        xhtml: dict[str, str] = {}
        deleted = False
        for attribute in obj.attributes:
            long_name = names.get(attribute.definition_ref, attribute.definition_ref)
            raw = attribute.value
            value = raw if isinstance(raw, str) else ", ".join(labels.get(str(v), str(v)) for v in raw or [])
            if attribute.value_stripped_xhtml:
                xhtml[long_name] = value
                value = xhtml_text(attribute.value_stripped_xhtml)
            if long_name.lower() == "reqif.foreigndeleted":
                deleted = deleted or value.strip().lower() in ("true", "1")
                continue
            key = alias.get(long_name.lower())
            if key is None:
                extra[long_name] = value
                unmapped.add(long_name)
            elif key in JSON_FIELDS:
                try:
                    req[key] = json.loads(value)
                except json.JSONDecodeError:
                    raise Mle3Error(
                        f"attribute {long_name} is not JSON", file=str(label), line=lines.get(obj.identifier)
                    ) from None
            else:
                req[key] = value.strip()
        if deleted:  # ReqIF.ForeignDeleted: the tool's own word that it is gone
            skipped.append(f"{obj.identifier}: marked ReqIF.ForeignDeleted")
            continue
        if obj.identifier in by_object:
            raise Mle3Error(
                f"SPEC-OBJECT {obj.identifier} is in two documents of the archive",
                file=str(label),
                line=lines.get(obj.identifier),
            )
        # never LONG-NAME (Enterprise Architect writes the requirement's text there)
        req.setdefault("id", id_from_identifier(obj.identifier))
        if xhtml:
            extra["xhtml"] = xhtml  # the markup, kept for the round trip
        if extra:
            req["reqif_attributes"] = extra
        req["reqif_identifier"] = obj.identifier
        by_object[obj.identifier] = req
        where[obj.identifier] = (label, lines.get(obj.identifier))


def _read_relations(bundle: Any, root: Any, by_object: dict[str, dict[str, Any]]) -> list[Unresolved]:
    """One document's SPEC-RELATIONs onto the requirements; those with a missing end."""
    content = bundle.core_content.req_if_content
    relation_lines = {e.get("IDENTIFIER"): e.sourceline for e in root.iter(f"{{{NAMESPACE}}}SPEC-RELATION")}
    unresolved: list[Unresolved] = []
    for relation in content.spec_relations or []:
        try:
            relation_type = bundle.lookup.get_spec_type_by_ref(relation.relation_type_ref)
        except (AttributeError, KeyError):  # a relation type the file does not define: named by its ref
            relation_type = None
        kind = getattr(relation_type, "long_name", None) or relation.relation_type_ref
        source, target = by_object.get(relation.source), by_object.get(relation.target)
        if source is None or target is None:
            missing = relation.source if source is None else relation.target
            unresolved.append(
                Unresolved(
                    relation.identifier,
                    relation_lines.get(relation.identifier),
                    kind,
                    missing,
                    source["id"] if source else None,
                )
            )
            if source is not None and target is None and kind in PARENT_RELATIONS:
                source.setdefault("_dangling", []).append(relation.target)
            continue
        if kind in PARENT_RELATIONS:
            parents = source.setdefault("derived_from", [])
            if target["id"] not in parents:
                parents.append(target["id"])
        else:  # fulfills, realizes, deriveReq...: kept with its type, never dropped
            link = {"type": str(kind), "to": target["id"]}
            if link not in source.setdefault("links", []):
                source["links"].append(link)
    return unresolved


def xhtml_text(markup: str) -> str:
    """The text of an XHTML value (``<div>Carbon Trust &quot;Standard&quot;</div>`` ->
    ``Carbon Trust "Standard"``): tags dropped, entities resolved, white space collapsed."""
    import html
    import re

    from lxml import etree

    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)
        node = etree.fromstring(f"<root>{markup}</root>".encode(), parser)
        text = " ".join(node.itertext()) if node is not None else markup
    except etree.XMLSyntaxError:
        text = re.sub(r"<[^>]+>", " ", markup)
    return " ".join(html.unescape(text).split())


def id_from_identifier(identifier: str) -> str:
    """An mle3 id from a SPEC-OBJECT IDENTIFIER (DOORS and Eclipse RMF write XML ids such
    as ``_3f2a…``): characters an id cannot hold become ``-``, leading ones are dropped.
    The original stays in ``reqif_identifier``."""
    import re

    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", identifier).lstrip("._-")
    return cleaned or "REQIF-" + hashlib.sha256(identifier.encode()).hexdigest()[:12]


_HEADER = "# Imported from ReqIF by `mle3 reqif import` (body sha256 {digest})\n"


def _render(req: dict[str, Any]) -> str:
    body = yaml.safe_dump({"requirement": req}, sort_keys=False, allow_unicode=True, width=100)
    return _HEADER.format(digest=hashlib.sha256(body.encode()).hexdigest()) + body


def _imported_identifier(text: str) -> str | None:
    """The ``reqif_identifier`` an existing requirement file records (None: none, or unreadable)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    req = data.get("requirement") if isinstance(data, dict) else None
    value = req.get("reqif_identifier") if isinstance(req, dict) else None
    return value if isinstance(value, str) else None


def _locally_edited(text: str) -> bool:
    """True unless the file is exactly what an earlier import wrote (its header records
    the hash of the body): anything else is somebody's edit."""
    first, _, body = text.partition("\n")
    marker = "(body sha256 "
    if not first.startswith("# Imported from ReqIF") or marker not in first:
        return True
    recorded = first.split(marker, 1)[1].rstrip(")")
    return hashlib.sha256(body.encode()).hexdigest() != recorded


def import_file(root: Path, path: Path, *, dry_run: bool = False, force: bool = False) -> ImportPlan:
    """Plan (and unless ``dry_run`` write) the import. Locally edited files and relations
    whose target is missing stop the import unless ``force``: then a missing parent is
    kept as a dangling ``derived_from`` (its ReqIF identifier) that ``check`` reports."""
    requirements, unmapped, unresolved, skipped = read_requirements(path)
    plan = ImportPlan(unmapped=unmapped, unresolved=[u.message(path) for u in unresolved], skipped=skipped)
    writes: dict[Path, str] = {}
    for req in requirements:
        dangling = req.pop("_dangling", [])
        if force:
            req["derived_from"] = list(dict.fromkeys(list(req.get("derived_from") or []) + dangling))
        target = root / "requirements" / f"{req['id']}.yaml"  # a checked id: the file stays in requirements/
        text = _render(req)
        if not target.exists():
            plan.create.append(req["id"])
            writes[target] = text
            continue
        current = target.read_text(encoding="utf-8")
        if current == text:
            plan.unchanged.append(req["id"])
            continue
        plan.update.append(req["id"])
        writes[target] = text
        earlier = _imported_identifier(current)
        if earlier is not None and earlier != req["reqif_identifier"]:
            # two sources (a second DOORS module numbering from 1) would write one id: never an overwrite
            plan.conflicts[req["id"]] = (
                f"{req['id']} was imported from SPEC-OBJECT {earlier}; SPEC-OBJECT {req['reqif_identifier']} of "
                f"{path.name} has the same id and would replace it (give one of them another id in its tool, or "
                "--force)\n"
            )
        elif _locally_edited(current):
            plan.conflicts[req["id"]] = "".join(
                difflib.unified_diff(
                    current.splitlines(True), text.splitlines(True), f"local/{target.name}", f"reqif/{target.name}"
                )
            )
    if dry_run or ((plan.conflicts or plan.unresolved) and not force):
        return plan
    for target, text in writes.items():
        atomic_write_text(target, text)
    plan.written = True
    audit.append(
        root,
        AuditAction.REQIF_IMPORT,
        None,
        {
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "created": plan.create,
            "updated": plan.update,
            "unmapped": plan.unmapped,
        },
    )
    return plan
