"""The per-image metadata table given with a data set (ASPICE 4.0 03-53: "the datum has to
be attributed by metadata, e.g. unique ID and data characteristics").

A table keyed by the image's path below the data set folder (CSV, Parquet or JSON Lines),
declared in the data.yaml (``metadata: metadata.csv`` or ``{file: ..., key: ...}``) or
given with ``mle3 dataset register --metadata FILE``. It lies in the data set folder, so
it is in the manifest and the fingerprint: changing one value is ``data.changed``.

Reading is pyarrow's (multi-threaded, bounded: CSV is parsed in blocks, a table over
:data:`MAX_TABLE_BYTES` is refused before it is read). Validation against the ODD is over
whole columns; only rows that fail are looked at one by one, to name their line. A table
that cannot be read at all (not CSV/Parquet/JSON Lines, no key column, garbage) is a
one-line :class:`~mle3.errors.Mle3Error` (exit 2, nothing written); wrong rows are
findings recorded with the data set (exit 1), like label errors.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import Mle3Error
from ..optional import require
from ..workspace.characteristics import DERIVED

#: a larger table is not per-image metadata (850,000 images with 10 columns are ~100 MB)
MAX_TABLE_BYTES = 2 << 30
#: findings kept in the record (every finding is counted)
MAX_FINDINGS = 200
MAX_WARNINGS = 50
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_KEY = "image"
#: without an ODD, a column is aggregated when it has at most this many distinct values, and
#: at most :data:`MAX_FREE_COLUMNS` columns are (the joint distribution stays small)
MAX_FREE_VALUES = 20
MAX_FREE_COLUMNS = 6
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}

# (severity, kind, file, line, column, message)
Finding = tuple[str, str, str, "int | None", "str | None", str]


@dataclass
class MetadataSpec:
    """Where the table is (store-relative) and its key column."""

    file: str
    key: str = DEFAULT_KEY


@dataclass
class MetadataTable:
    """A read and validated table: ``keys`` are store-relative image paths (aligned with
    ``columns``), ``columns`` the characteristics it gives as text (nulls where empty)."""

    spec: MetadataSpec
    format: str
    sha256: str
    rows: int
    keys: Any  # pyarrow string array
    columns: dict[str, Any]  # name -> pyarrow string array
    #: characteristics aggregated into cells (categorical and boolean), in ODD order
    conditions: list[str]
    #: role: group characteristics (sequence, drive ids)
    groups: list[str]
    findings: list[Finding] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    #: (severity, kind) -> how many (``findings`` keeps the first :data:`MAX_FINDINGS` errors
    #: and :data:`MAX_WARNINGS` warnings: warnings never crowd errors out)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    #: the CSV's bytes when its rows are not one line each (quoted line breaks, blank lines)
    text: bytes | None = None
    #: what ``keys`` carry before the path the table wrote (the data set folder, store-relative)
    prefix: str = ""

    def as_written(self, path: Any) -> str:
        """A store-relative image path as the table writes it (below the data set folder)."""
        text = str(path)
        return text[len(self.prefix) :] if self.prefix and text.startswith(self.prefix) else text

    _lines: list[int] | None = None

    def add(self, finding: Finding, count: int = 1) -> None:
        key = (finding[0], finding[1])
        self.counts[key] = self.counts.get(key, 0) + count
        kept = sum(1 for f in self.findings if f[0] == finding[0])
        if kept < (MAX_FINDINGS if finding[0] == "error" else MAX_WARNINGS):
            self.findings.append(finding)

    def line(self, row: int) -> int:
        """A row's line in the file: the header is line 1 for CSV (counted exactly where a
        quoted value holds a line break or blank lines are skipped); Parquet rows count from 1."""
        if self.format != "csv":
            return row + 1
        if self.text is None:
            return row + 2
        if self._lines is None:
            reader = csv.reader(io.StringIO(self.text.decode("utf-8-sig", errors="replace"), newline=""))
            starts, at = [], 1
            for record in reader:
                if record:  # pyarrow skips blank lines
                    starts.append(at)
                at = reader.line_num + 1
            self._lines = starts[1:]  # after the header
        return self._lines[row] if row < len(self._lines) else row + 2


def spec_of(written: Any, given: str | None, layout: Any, store: Any, label: str) -> MetadataSpec | None:
    """The table a registration reads: ``--metadata`` (``given``: a path on this machine,
    ``ROOT:path`` as mle3 prints it, or a path below the data set folder) over the
    data.yaml's ``metadata:`` (``written``, relative to the data set folder); store-relative,
    inside the data set folder."""
    key = DEFAULT_KEY
    if isinstance(written, dict):
        key = str(written.get("key") or DEFAULT_KEY)
        if not isinstance(written.get("file"), str) or not written.get("file"):
            raise Mle3Error("'metadata' names its table with 'file: NAME.csv'", file=label, field="metadata.file")
        written = written["file"]
    elif written is not None and not isinstance(written, str):
        raise Mle3Error("'metadata' must name a table file or be {file: ..., key: ...}", file=label, field="metadata")
    if given is None and not written:
        return None
    prefix = f"{layout.root}/" if layout.root else ""
    field_name = "--metadata" if given is not None else "metadata"
    if given is not None:
        local = store.local_path()
        path = os.path.abspath(given)
        label_prefix, colon, rest = given.partition(":")
        if local is not None and os.path.isfile(path):
            rel = os.path.relpath(os.path.realpath(path), os.path.realpath(local)).replace(os.sep, "/")
        elif colon and store.label == f"{label_prefix}:":  # nas:ds/metadata.csv, as mle3 prints it
            rel = rest
        else:
            rel = prefix + given.removeprefix("./")
    else:
        text = str(written)
        if text.startswith("/") or "\\" in text:
            raise Mle3Error(
                "'metadata' is relative to the data set folder (the data.yaml's 'path'), with '/'",
                file=label,
                field="metadata",
            )
        rel = prefix + text.removeprefix("./")
    rel = os.path.normpath(rel).replace(os.sep, "/")
    if rel.startswith("..") or (prefix and not rel.startswith(prefix)):
        raise Mle3Error(
            "the metadata table must lie in the data set folder (the data.yaml's 'path'), which is what is "
            "fingerprinted",
            file=given or label,
            field=field_name,
        )
    return MetadataSpec(rel, key)


def check_size(store: Any, spec: MetadataSpec) -> None:
    """Refuse a table over :data:`MAX_TABLE_BYTES` before anything reads it (a 10 GB file
    given as metadata is a mistake, not a table to hash)."""
    where = store.url(spec.file)
    try:
        size, _ = store.stat(spec.file)
    except (OSError, Mle3Error):
        raise Mle3Error("the metadata table does not exist", file=where) from None
    if size > MAX_TABLE_BYTES:
        raise Mle3Error(
            f"the metadata table is {size / 1e9:.1f} GB; per-image metadata over {MAX_TABLE_BYTES >> 30} GiB is not "
            "accepted (one row per image, a few columns)",
            file=where,
        )


def read_table(store: Any, spec: MetadataSpec, digest: str | None = None) -> tuple[Any, str, str, bytes | None]:
    """(pyarrow table with every column as text, format, sha256, the CSV's bytes when its
    rows are not one line each). ``digest`` (the manifest's) is checked against the bytes
    read: the table aggregated is the one fingerprinted."""
    require("pyarrow")
    import pyarrow as pa

    fmt = FORMATS.get(os.path.splitext(spec.file)[1].lower())
    where = store.url(spec.file)
    if fmt is None:
        raise Mle3Error(
            "a metadata table is CSV (.csv), Parquet (.parquet) or JSON Lines (.jsonl)", file=where, field="metadata"
        )
    check_size(store, spec)
    with store.open(spec.file) as handle:
        data = handle.read(MAX_TABLE_BYTES + 1)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as side:  # hashed while parsed (both release the GIL)
        hashed = side.submit(lambda: hashlib.sha256(data).hexdigest())
        try:
            table = _parse(pa.BufferReader(data), fmt, data)
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            raise Mle3Error(f"cannot be read as {fmt}: {_arrow_message(exc)}", file=where) from None
        sha = hashed.result()
    if digest is not None and sha != digest:
        raise Mle3Error(
            "the metadata table differs from the one registered with the data set (its sha256 changed); register "
            "the changed table as a new version",
            file=where,
        )
    if spec.key not in table.column_names:
        raise Mle3Error(
            f"no key column {spec.key!r} (the image's path below the data set folder); columns: "
            f"{', '.join(table.column_names[:12]) or 'none'} (another key column: metadata: {{file: ..., key: "
            "COLUMN}} in the data.yaml)",
            file=where,
            line=1 if fmt == "csv" else None,
            field=spec.key,
        )
    irregular = fmt == "csv" and (b'"' in data or b"\n\n" in data or b"\n\r\n" in data)
    return table, fmt, sha, data if irregular else None


def _parse(source: Any, fmt: str, data: bytes) -> Any:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(source)
    elif fmt == "jsonl":
        import pyarrow.json as pj

        table = pj.read_json(source)
    else:
        import pyarrow.csv as pcsv

        header = data[: data.find(b"\n") if b"\n" in data[: 1 << 20] else 1 << 20]
        if len(header) >= 1 << 20:
            raise pa.ArrowInvalid("the header line is over 1 MiB long")
        try:
            names: list[str] = next(iter(csv.reader([header.decode("utf-8-sig")])), [])
        except (csv.Error, UnicodeDecodeError) as exc:
            raise pa.ArrowInvalid(f"the header line is not CSV text in UTF-8 ({exc})") from None
        table = pcsv.read_csv(
            source,
            read_options=pcsv.ReadOptions(block_size=8 << 20),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                null_values=[""],  # "NA" is a region, "null" a value: only an empty cell is missing
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    try:
        names = list(table.column_names)
    except UnicodeDecodeError as exc:
        raise pa.ArrowInvalid(f"a column name is not UTF-8 ({exc})") from None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise pa.ArrowInvalid(f"column {twice[0]!r} appears {names.count(twice[0])} times in the header")
    return table.combine_chunks()


def _arrow_message(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:240]


def _text(column: Any) -> Any:
    """A column as text (Parquet and JSON give typed columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type):
        return column
    if pa.types.is_large_string(column.type):  # what polars writes
        return pc.cast(column, pa.string())
    if pa.types.is_boolean(column.type):
        return pc.if_else(column, "true", "false")
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowException:
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def load(store: Any, spec: MetadataSpec, odd: Any, layout_root: str, digest: str | None = None) -> MetadataTable:
    """Read and validate the table against the ODD's characteristics (every column kept
    as found, with no ODD). Row problems are findings; the table is otherwise usable."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table, fmt, sha, text = read_table(store, spec, digest)
    out = MetadataTable(spec, fmt, sha, table.num_rows, None, {}, [], [], text=text)
    keys = _clean(_text(table.column(spec.key).combine_chunks()))
    empty = pc.is_null(keys)
    _rows_where(out, empty, "missing-key", spec.key, lambda i: f"no image path in column {spec.key!r}")
    if pc.any(pc.starts_with(keys, "./")).as_py():
        keys = pc.replace_substring_regex(keys, r"^(\./)+", "")
    prefix = f"{layout_root}/" if layout_root else ""
    out.keys = pc.binary_join_element_wise(pa.scalar(prefix), keys, "") if prefix else keys
    out.prefix = prefix
    declared = dict(odd.characteristics) if odd is not None else {}
    for name in table.column_names:
        if name == spec.key:
            continue
        spec_c = declared.get(name)
        if spec_c is None and odd is not None:
            out.ignored.append(name)
            out.add(
                ("warning", "unknown-column", spec.file, 1 if fmt == "csv" else None, name, _unknown_column(name, odd))
            )
            continue
        if name in DERIVED:
            out.add(
                ("error", "derived-column", spec.file, None, name, f"{name!r} is derived by mle3; rename the column")
            )
            continue
        column = _clean(_text(table.column(name).combine_chunks()))
        out.columns[name] = column
        _validate(out, name, column, spec_c)
    for name, spec_c in declared.items():
        if spec_c.derived or name in out.columns or not spec_c.required:
            continue
        message = f"no column {name!r}, which the ODD {odd.id} requires"
        out.add(("error", "missing-column", spec.file, 1 if fmt == "csv" else None, name, message))
    return out


def _clean(column: Any) -> Any:
    """Surrounding blanks removed and empty values null (each only where a value needs it:
    the passes over 850,000 values are what reading costs)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = pc.utf8_trim_whitespace(column)
    if pc.any(pc.equal(column, "")).as_py():
        column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    return column


def _unknown_column(name: str, odd: Any) -> str:
    return f"column {name!r} is no characteristic of {odd.id} ({', '.join(odd.characteristics) or 'none'}); ignored"


def _validate(out: MetadataTable, name: str, column: Any, spec: Any) -> None:
    """Missing values, values outside the vocabulary, wrong types; decide how it aggregates."""
    import pyarrow as pa
    import pyarrow.compute as pc

    required = spec.required if spec is not None else False
    if required:
        _rows_where(out, pc.is_null(column), "missing-value", name, lambda i: f"no value for {name!r}")
    if spec is not None and spec.role == "group":
        out.groups.append(name)
        return
    kind = spec.type if spec is not None else "category"
    if kind == "category" and spec is not None and spec.values:
        if set(spec.values) == {"true", "false"}:  # the ODD's yes/no: the table's yes, True, 1 mean the same
            lowered = pc.utf8_lower(column)
            column = pc.if_else(
                pc.is_in(lowered, value_set=pa.array(sorted(_TRUE))),
                "true",
                pc.if_else(pc.is_in(lowered, value_set=pa.array(sorted(_FALSE))), "false", column),
            )
            out.columns[name] = column
        allowed = pa.array(spec.values, pa.string())
        bad = pc.invert(pc.is_in(column, value_set=allowed, skip_nulls=True))
        bad = pc.and_kleene(bad, pc.is_valid(column))
        shown = ", ".join(spec.values[:8])
        _rows_where(out, bad, "unknown-value", name, lambda i: f"{column[i].as_py()!r} is not one of {shown}")
        out.conditions.append(name)
        return
    if kind == "category":  # no ODD: aggregated as found when it has few values
        distinct = len(pc.unique(column.drop_null()))
        if distinct <= MAX_FREE_VALUES and len(out.conditions) >= MAX_FREE_COLUMNS:
            message = f"more than {MAX_FREE_COLUMNS} columns without an ODD: {name!r} is not aggregated; declare an ODD"
            out.add(("warning", "many-columns", out.spec.file, None, name, message))
        elif distinct <= MAX_FREE_VALUES:
            out.conditions.append(name)
        else:
            message = f"{distinct} distinct values: declare {name!r} in an ODD (values, or role: group) to aggregate it"
            out.add(("warning", "many-values", out.spec.file, None, name, message))
        return
    pattern = {
        "integer": r"^[+-]?[0-9]+$",
        "number": r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$",
        "boolean": r"^(?i)(true|false|yes|no|0|1)$",
    }.get(kind)
    if pattern is not None:
        bad = pc.and_kleene(pc.invert(pc.match_substring_regex(column, pattern)), pc.is_valid(column))
        _rows_where(out, bad, "wrong-type", name, lambda i: f"{column[i].as_py()!r} is not a {kind}")
    if kind == "boolean":
        lowered = pc.utf8_lower(column)
        out.columns[name] = pc.if_else(
            pc.is_in(lowered, value_set=pa.array(sorted(_TRUE))),
            "true",
            pc.if_else(pc.is_in(lowered, value_set=pa.array(sorted(_FALSE))), "false", pa.scalar(None, pa.string())),
        )
        out.conditions.append(name)


def _rows_where(out: MetadataTable, mask: Any, kind: str, column: str, message: Any) -> None:
    """A finding for each row where ``mask`` holds (the first :data:`MAX_FINDINGS` named,
    every one counted)."""
    import pyarrow.compute as pc

    mask = pc.fill_null(mask, False)
    count = pc.sum(mask).as_py() or 0
    if not count:
        return
    room = max(0, MAX_FINDINGS - len(out.findings))
    rows = pc.indices_nonzero(mask).slice(0, room).to_pylist() if room else []
    for i in rows:
        out.add(("error", kind, out.spec.file, out.line(i), column, message(i)))
    if count > len(rows):
        out.counts[("error", kind)] = out.counts.get(("error", kind), 0) + count - len(rows)
