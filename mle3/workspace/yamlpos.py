"""YAML parsing that remembers where every mapping key and list entry stood.

Findings must name ``file:line`` for the exact field, so the loader records line numbers
while it builds ordinary dicts and lists. It reuses PyYAML's C parser (``CSafeLoader``)
and only overrides the Python-side constructors, which keeps the parse rate close to
plain ``yaml.load`` (see ``benchmarks/bench_check.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

import yaml

try:  # pragma: no cover - the C loader is present on every supported platform
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader

#: Refuse documents that expand to more nodes than this through aliases (billion laughs).
MAX_ALIAS_EXPANSION = 100_000
#: Refuse single files larger than this many bytes before parsing them.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Refuse nesting deeper than this before parsing: libyaml recurses in C and a few
#: thousand levels crash the interpreter (seen: 100,000 '[' segfaults). Items need < 10.
MAX_DEPTH = 100
#: Refuse integers written with more characters than this: Python cannot print an int of
#: more than 4,300 digits (every report, JSON output and error message would crash), and
#: no item field needs more than a seed's 20 digits.
MAX_INT_CHARS = 100
_DEEP_INDENT = re.compile(rb"(?m)^[ \t]{%d,}\S" % (2 * MAX_DEPTH))
_DEEP_DASHES = re.compile(rb"(?:-[ \t]+){%d}" % MAX_DEPTH)


class LineDict(dict):
    """A dict that knows the line of itself and of each of its keys (1-based)."""

    __slots__ = ("line", "key_lines")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.key_lines: dict[str, int] = {}

    def __reduce__(self):  # keep positions through pickle (cache, worker processes)
        return (_rebuild_dict, (dict(self), self.line, self.key_lines))


class LineList(list):
    """A list that knows the line of itself and of each entry (1-based)."""

    __slots__ = ("line", "item_lines")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line = 0
        self.item_lines: list[int] = []

    def __reduce__(self):
        return (_rebuild_list, (list(self), self.line, self.item_lines))


def _rebuild_dict(data: dict, line: int, key_lines: dict) -> LineDict:
    d = LineDict(data)
    d.line, d.key_lines = line, key_lines
    return d


def _rebuild_list(data: list, line: int, item_lines: list) -> LineList:
    lst = LineList(data)
    lst.line, lst.item_lines = line, item_lines
    return lst


class YamlProblem(Exception):
    """A YAML file that cannot be used, with the position of the problem."""

    def __init__(self, message: str, line: int = 0, column: int = 0, rule: str = "load.yaml-syntax"):
        super().__init__(message)
        self.message, self.line, self.column, self.rule = message, line, column, rule


@dataclass
class DuplicateKey:
    key: str
    line: int
    first_line: int


class _LineLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """CSafeLoader whose mappings and sequences carry line numbers."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[DuplicateKey] = []

    def construct_document(self, node: yaml.Node) -> Any:
        _refuse_alias_bombs(node)
        return super().construct_document(node)


def _refuse_alias_bombs(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_ALIAS_EXPANSION nodes.

    PyYAML shares aliased objects, so parsing is cheap, but anything that walks the data
    (validation, JSON, reports) would expand them ("billion laughs"). The expanded size is
    computed over the node graph with memoisation, in time linear in the distinct nodes."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if depth > MAX_DEPTH:
            raise YamlProblem(
                f"YAML nested deeper than {MAX_DEPTH} levels",
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                "load.yaml-too-large",
            )
        sizes[id(node)] = 1  # cycles (recursive aliases) count once
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        else:
            total = 1
        if total > MAX_ALIAS_EXPANSION:
            raise YamlProblem(
                f"document expands to more than {MAX_ALIAS_EXPANSION} values through aliases (alias bomb?)",
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                "load.yaml-too-large",
            )
        sizes[id(node)] = total
        return total

    size(root, 0)


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)
    key_lines: dict[str, int] = {}
    for key_node, _ in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key_node.value)
        line = key_node.start_mark.line + 1
        if key in key_lines:
            loader.duplicate_keys.append(DuplicateKey(key, line, key_lines[key]))
        key_lines[key] = line
    data.update(loader.construct_mapping(node))
    data.key_lines = key_lines


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    yield data
    data.extend(loader.construct_sequence(node))
    data.item_lines = [child.start_mark.line + 1 for child in node.value]


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    """An integer, refused (at its position) when it is written with over MAX_INT_CHARS."""
    if len(node.value) > MAX_INT_CHARS:
        raise yaml.constructor.ConstructorError(
            None, None, f"integer of {len(node.value)} characters (at most {MAX_INT_CHARS})", node.start_mark
        )
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


def _construct_timestamp(loader: Any, node: yaml.ScalarNode) -> Any:
    """A date or time; one that looks like a timestamp but is none (``2026-13-45``)
    is a YAML error at its position, not a ValueError from ``datetime``."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid date {node.value[:40]!r}: {exc}", node.start_mark
        ) from None


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


class _FastLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Plain-dict loader for the hot path; only notices that a mapping lost a duplicate key."""

    has_duplicates = False

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        mapping = super().construct_mapping(node, deep=deep)
        if len(mapping) < len(node.value):
            self.has_duplicates = True
        return mapping


for _loader in (_LineLoader, _FastLoader):
    _loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def refuse_deep_nesting(text: bytes) -> None:
    """Raise :class:`YamlProblem` for nesting deeper than MAX_DEPTH. Cheap for ordinary
    files: the bracket scan runs only when a file has many brackets at all."""
    if _DEEP_INDENT.search(text) or _DEEP_DASHES.search(text):
        raise YamlProblem(f"YAML nested deeper than {MAX_DEPTH} levels", 1, 1, "load.yaml-too-large")
    if text.count(b"[") + text.count(b"{") <= MAX_DEPTH:
        return
    depth, quote, line = 0, 0, 1
    for byte in text:
        if byte == 10:
            line += 1
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (34, 39):  # " '
            quote = byte
        elif byte in (91, 123):  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlProblem(f"YAML nested deeper than {MAX_DEPTH} levels", line, 1, "load.yaml-too-large")
        elif byte in (93, 125) and depth:
            depth -= 1


def _all_documents(loader: Any) -> list[Any]:
    docs = []
    while loader.check_data():
        docs.append(loader.get_data())
    return docs


def parse_fast(text: bytes) -> tuple[list[Any], bool]:
    """Parse to plain dicts as fast as PyYAML's C loader allows.

    Returns the documents and whether some mapping repeated a key. Files with anchors
    take the guarded loader (alias expansion is bounded there)."""
    if len(text) > MAX_FILE_BYTES or b"&" in text:
        docs, dups = parse_documents(text)
        return docs, bool(dups)
    refuse_deep_nesting(text)
    loader = _FastLoader(text)
    try:
        return _all_documents(loader), loader.has_duplicates
    except (yaml.YAMLError, RecursionError):
        loader.dispose()
        return parse_documents(text)[0], False  # raises YamlProblem with the position
    finally:
        loader.dispose()


def parse_documents(text: str | bytes) -> tuple[list[Any], list[DuplicateKey]]:
    """Parse every YAML document in ``text`` with positions; raise :class:`YamlProblem`."""
    if len(text) > MAX_FILE_BYTES:
        raise YamlProblem(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", 1, 1, "load.yaml-too-large")
    refuse_deep_nesting(text if isinstance(text, bytes) else text.encode("utf-8", errors="replace"))
    loader = _LineLoader(text)
    try:
        return _all_documents(loader), loader.duplicate_keys
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        what = "YAML value" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax"
        raise YamlProblem(f"{what}: {_one_line(problem)}", line, col) from None
    except yaml.reader.ReaderError as exc:  # not UTF-8/UTF-16, or a control character
        raw = text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")
        line = raw[: exc.position].count(b"\n") + 1 if isinstance(exc.position, int) else 1
        what = f"byte 0x{exc.character:02x} " if isinstance(exc.character, int) and exc.character >= 0 else ""
        raise YamlProblem(
            f"not readable as YAML text: {what}at offset {exc.position} ({_one_line(str(exc.reason))}); item files are UTF-8",
            line,
            1,
            "load.unreadable",
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML: {_one_line(str(exc))}", 1, 1) from None
    except RecursionError:
        raise YamlProblem("YAML nesting too deep", 1, 1, "load.yaml-too-large") from None
    finally:
        loader.dispose()


def _one_line(message: str) -> str:
    """PyYAML's messages span lines ("in <byte string>, position 0"): findings take one."""
    return " ".join(message.split())


def line_of(data: Any, path: tuple[Any, ...], default: int = 0) -> int:
    """Line of the value at ``path`` (keys and list indexes) inside parsed data.

    Falls back to the nearest enclosing line that is known, so a finding always points
    somewhere useful even when the exact field is missing.
    """
    line = getattr(data, "line", default) or default
    node = data
    for step in path:
        if isinstance(node, LineDict):
            line = node.key_lines.get(str(step), line)
            node = node.get(step)
        elif isinstance(node, LineList) and isinstance(step, int) and 0 <= step < len(node):
            if step < len(node.item_lines):
                line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line
