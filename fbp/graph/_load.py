"""Loading and saving graphs in the three formats: ``.fbp``, FBP JSON and YAML.

The YAML form is the same model written for people::

    properties: {name: Scaling}
    processes:
      Source: core/Repeat                 # or {component: core/Repeat, metadata: {...}}
      Scale: examples/Scale
    connections:
      - Source.OUT -> Scale.IN
      - {src: Scale.OUT, tgt: Show.IN, metadata: {capacity: 4}}
      - {data: 2.0, tgt: Scale.FACTOR}
    inports: {FACTOR: Scale.FACTOR}

A YAML document in the plain FBP JSON shape loads as well.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml

from .._core._exceptions import (
    GraphFileError,
    GraphIssue,
    GraphSyntaxError,
    GraphValidationError,
    SourceLocation,
)
from ._model import Graph, PortRef, parse_address

__all__ = ("MAX_DEPTH", "Format", "dump_graph", "format_of", "load_graph", "loads_graph")

Format = Literal["fbp", "json", "yaml"]

_SUFFIX: dict[str, Format] = {".fbp": "fbp", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}

#: How deeply the values of a graph (IIPs, metadata) may nest, in lists and objects.
MAX_DEPTH = 100

#: How many values a YAML graph may expand to once its aliases are followed.
MAX_YAML_VALUES = 1_000_000

_EXAMPLE: dict[Format, str] = {
    "fbp": "Source(core/Repeat) OUT -> IN Show(core/Output)",
    "json": '{"processes": {"Show": {"component": "core/Output"}}, "connections": []}',
    "yaml": "processes: {Show: core/Output}",
}


def format_of(path: str | Path) -> Format:
    """The format a file name implies.

    Raises:
        GraphFileError: the suffix is not .fbp, .json, .yaml or .yml.
    """
    suffix = Path(path).suffix.lower()
    fmt = _SUFFIX.get(suffix)
    if fmt is None:
        what = f"unknown graph format {suffix!r}" if suffix else "no suffix to tell its format"
        reason = f"{what}; name the file .fbp, .json, .yaml or .yml after its format"
        raise GraphFileError(str(path), reason)
    return fmt


def load_graph(path: str | Path) -> Graph:
    """Load a graph file, choosing the format by its suffix.

    Raises:
        GraphFileError: there is no such file, it is a folder or unreadable, or its
            suffix names no graph format.
        GraphSyntaxError: the text does not parse (with line and column), is not UTF-8,
            is empty, or nests values too deeply.
        GraphValidationError: the graph's structure is wrong (with JSON paths).
    """
    p = Path(path)
    fmt = format_of(p)
    text = _decode(_read(p), str(p))
    return loads_graph(text, fmt, source=str(p))


def _read(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except FileNotFoundError:
        where = "" if p.is_absolute() else f" (a relative path starts from {os.getcwd()})"
        reason = f"no such file; check the path{where}"
    except IsADirectoryError:
        found = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in _SUFFIX)[:5]
        inside = f" (in it: {', '.join(found)})" if found else ""
        reason = f"is a folder, not a graph file; give a graph file{inside}"
    except NotADirectoryError:
        reason = "a part of the path is a file, not a folder; check the path"
    except PermissionError:
        reason = "cannot be read: permission denied; check the file's permissions"
    except OSError as e:
        reason = f"cannot be read: {e.strerror or e}"
    raise GraphFileError(str(p), reason)


def _decode(data: bytes, source: str) -> str:
    """The text of a graph file, which must be UTF-8."""
    nul = data.find(b"\0", 0, 1 << 16)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        at = e.start if nul < 0 else nul
    else:
        if nul < 0:
            return text
        at = nul
    line = data.count(b"\n", 0, at) + 1
    column = at - (data.rfind(b"\n", 0, at) + 1) + 1
    if at == nul:
        msg = "a NUL byte: this is binary data or UTF-16 text, not a graph; save it as UTF-8 text"
    else:
        msg = f"byte 0x{data[at]:02x} is not UTF-8 text; save the file as UTF-8"
    raise GraphSyntaxError(msg, SourceLocation(source, line, column))


def loads_graph(text: str, fmt: Format, *, source: str | None = None) -> Graph:
    """Parse graph text in the given format.

    Raises:
        GraphSyntaxError: the text does not parse, is empty, or nests too deeply.
        GraphValidationError: the graph's structure is wrong.
    """
    if not text.strip():
        msg = f"the graph is empty; write one, e.g. {_EXAMPLE[fmt]}"
        raise GraphSyntaxError(msg, SourceLocation(source, 1, 1))
    locations: dict[tuple[str | int, ...], SourceLocation] = {}
    if fmt == "fbp":
        from ._dsl import parse_fbp

        parsed = parse_fbp(text, source=source)
        if parsed.redeclared:
            raise GraphValidationError(
                [
                    GraphIssue(
                        f"process {name!r} is declared as {other} here, but as {first} at"
                        f" line {at.line}",
                        again,
                        "a process has one component: rename one of them, or write the"
                        " component once",
                    )
                    for name, first, at, other, again in parsed.redeclared
                ],
                graph_name=source,
            )
        data: Any = parsed.graph
        locations = dict(parsed.locations)
        _check_data_depth(data, source, locations)
    elif fmt == "json":
        text = text.removeprefix("\ufeff")  # a byte-order mark says nothing more in UTF-8
        _check_bracket_depth(text, source)
        data = _load_json(text, source)
        _check_schema(data, source)
    else:
        data, locations = _load_yaml(text.removeprefix("\ufeff"), source)
    return Graph.from_dict(data, source=source, locations=locations)


def _load_json(text: str, source: str | None) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_JsonObject(source, text))
    except json.JSONDecodeError as e:
        raise GraphSyntaxError(e.msg, SourceLocation(source, e.lineno, e.colno)) from None
    except (ValueError, RecursionError) as e:  # a number too long to convert, say
        raise _value_error(e, text, source) from None


class _JsonObject:
    """Builds JSON objects, refusing a key given twice (JSON would keep the last)."""

    def __init__(self, source: str | None, text: str) -> None:
        self.source = source
        self.text = text

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    where = self._find(key)
                    msg = (
                        f"the key {key!r} is given twice in one object (the first would be"
                        " lost); rename or remove one"
                    )
                    raise GraphSyntaxError(msg, where)
                seen.add(key)
        return out

    def _find(self, key: str) -> SourceLocation:
        # The second place the key is written as a key; good enough for a message.
        pattern = re.compile(re.escape(json.dumps(key)) + r"\s*:")
        hits = [m.start() for m in pattern.finditer(self.text)]
        if len(hits) < 2:
            return SourceLocation(self.source)
        at = hits[1]
        line = self.text.count("\n", 0, at) + 1
        return SourceLocation(self.source, line, at - (self.text.rfind("\n", 0, at) + 1) + 1)


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_bracket_depth(text: str, source: str | None) -> None:
    """Refuse text whose brackets nest deeper than :data:`MAX_DEPTH` (before parsing,
    which would run out of stack)."""
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        token = m.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                at = m.start()
                line = text.count("\n", 0, at) + 1
                column = at - (text.rfind("\n", 0, at) + 1) + 1
                raise GraphSyntaxError(_too_deep(), SourceLocation(source, line, column))
        elif token in "]}":
            depth -= 1


def _too_deep() -> str:
    return f"values nest more than {MAX_DEPTH} levels deep here; flatten the data"


def _check_data_depth(
    data: Any, source: str | None, locations: dict[tuple[str | int, ...], SourceLocation]
) -> None:
    """Refuse parsed data nested deeper than :data:`MAX_DEPTH`, naming where."""
    for path, depth in _walk(data):
        if depth > MAX_DEPTH:
            where = next(
                (locations[path[:n]] for n in range(len(path), 0, -1) if path[:n] in locations),
                SourceLocation(source, path=path),
            )
            raise GraphSyntaxError(_too_deep(), where)


def _walk(data: Any) -> Iterator[tuple[tuple[str | int, ...], int]]:
    """Every list and object in ``data``: its path and depth (without recursion)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            yield path, len(path) + 1
            stack.extend((v, (*path, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            yield path, len(path) + 1
            stack.extend((v, (*path, i)) for i, v in enumerate(value))


_LONG_NUMBER = re.compile(r"\d{4301,}")


def _value_error(e: BaseException, text: str, source: str | None) -> GraphSyntaxError:
    """A value the parser could not convert: most likely a number too long for Python."""
    m = _LONG_NUMBER.search(text)
    if m is not None and "digits" in str(e):
        at = m.start()
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        msg = (
            f"a number of {len(m.group()):,} digits is too long to read (at most 4,300);"
            " write it as text in quotes"
        )
        return GraphSyntaxError(msg, SourceLocation(source, line, column))
    lines = str(e).strip().splitlines()
    return GraphSyntaxError(lines[0] if lines else type(e).__name__, SourceLocation(source))


def _check_schema(data: Any, source: str | None) -> None:
    try:
        from ._schema import schema_issues
    except ImportError:  # pragma: no cover - the schema module ships with the package
        return
    issues = [
        GraphIssue(i.msg, SourceLocation(source=source, path=i.location.path), i.hint)
        for i in schema_issues(data)
    ]
    if issues:
        raise GraphValidationError(issues, graph_name=source)


# -- YAML --------------------------------------------------------------------------------


_YAML_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL = "tag:yaml.org,2002:bool"
_STR = "tag:yaml.org,2002:str"


class _YamlLoader(_YAML_BASE):  # type: ignore[misc]
    """LibYAML's parser when PyYAML has it (ten times faster, and it limits nesting
    itself), reading booleans as YAML 1.2 does: only ``true`` and ``false``. PyYAML
    follows YAML 1.1, where ``yes``, ``no``, ``on`` and ``off`` are booleans too, so a
    process named ``Off`` would be named ``False``."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
        for first, resolvers in _YAML_BASE.yaml_implicit_resolvers.items()
    }


_YamlLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_YAML_LOADER: Any = _YamlLoader


def _load_yaml(
    text: str, source: str | None
) -> tuple[Any, dict[tuple[str | int, ...], SourceLocation]]:
    try:
        _check_bracket_depth(text, source)
        node = yaml.compose(text, Loader=_YAML_LOADER)
        data = None
        if node is not None:
            _check_yaml_nodes(node, source)
            data = yaml.SafeLoader("").construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = str(e.problem or e.context or e)
        raise GraphSyntaxError(
            _too_deep() if "maximum nesting depth" in problem else problem,
            SourceLocation(
                source, mark.line + 1 if mark else None, mark.column + 1 if mark else None
            ),
        ) from None
    except yaml.YAMLError as e:
        raise GraphSyntaxError(str(e), SourceLocation(source)) from None
    except RecursionError:
        _check_bracket_depth(text, source)
        raise GraphSyntaxError(_too_deep(), SourceLocation(source)) from None
    except ValueError as e:  # a number too long to convert, say
        raise _value_error(e, text, source) from None
    locations: dict[tuple[str | int, ...], SourceLocation] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            if key in ("processes", "inports", "outports") and isinstance(
                value_node, yaml.MappingNode
            ):
                for k, v in value_node.value:
                    locations[(key, k.value)] = _mark(source, v)
            elif key == "connections" and isinstance(value_node, yaml.SequenceNode):
                for i, v in enumerate(value_node.value):
                    locations[(key, i)] = _mark(source, v)
    if data is None:
        data = {}
    return _from_readable(data, source), locations


def _check_yaml_nodes(root: yaml.Node, source: str | None) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH`, a key given twice in one mapping
    (YAML would keep the last silently), and aliases that expand to more than
    :data:`MAX_YAML_VALUES` values (each alias is a copy once the data is used)."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk; a node reached again through an alias is counted again
    # from its memoised size.
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if id(node) in sizes and not done:
            continue
        if depth > MAX_DEPTH:
            raise GraphSyntaxError(_too_deep(), _mark(source, node))
        children = _children(node)
        if not done and isinstance(node, yaml.MappingNode):
            _check_unique_keys(node, source)
            for key_node, _ in node.value:  # keys are names: `1:` and `null:` are text
                if isinstance(key_node, yaml.ScalarNode) and not key_node.tag.endswith(":merge"):
                    key_node.tag = _STR
        if not done:
            stack.append((node, depth, True))
            stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(c), 1) for c in children)
        if total > MAX_YAML_VALUES:
            msg = (
                f"this value expands to more than {MAX_YAML_VALUES:,} values once its"
                " aliases are followed; write the data out, or use fewer aliases"
            )
            raise GraphSyntaxError(msg, _mark(source, node))
        sizes[id(node)] = total


def _check_unique_keys(node: yaml.MappingNode, source: str | None) -> None:
    seen: dict[str, yaml.Node] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
            continue
        key = key_node.value
        if key in seen:
            msg = (
                f"the key {key!r} is given twice in one mapping (first at line"
                f" {seen[key].start_mark.line + 1}, which would be lost); rename or remove one"
            )
            raise GraphSyntaxError(msg, _mark(source, key_node))
        seen[key] = key_node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _mark(source: str | None, node: yaml.Node) -> SourceLocation:
    return SourceLocation(source, node.start_mark.line + 1, node.start_mark.column + 1)


def _ref(text: Any, where: str, source: str | None) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return parse_address(text).to_dict()
    except ValueError as e:
        raise GraphSyntaxError(str(e), SourceLocation(source, path=(where,))) from None


def _from_readable(data: Any, source: str | None) -> Any:
    """Turn the readable YAML shape into FBP JSON (the JSON shape passes through)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if "name" in out and "properties" not in out:
        out["properties"] = {"name": out.pop("name")}
    procs = out.get("processes")
    if isinstance(procs, dict):
        out["processes"] = {
            k: {"component": v} if isinstance(v, str) else v for k, v in procs.items()
        }
    conns = out.get("connections")
    if isinstance(conns, list):
        fixed: list[Any] = []
        for i, c in enumerate(conns):
            if isinstance(c, str):
                src, sep, tgt = c.partition("->")
                if not sep:
                    msg = f"connection {c!r} is not 'proc.PORT -> proc.PORT'"
                    raise GraphSyntaxError(msg, SourceLocation(source, path=("connections", i)))
                fixed.append(
                    {
                        "src": _ref(src.strip(), "connections", source),
                        "tgt": _ref(tgt.strip(), "connections", source),
                    }
                )
            elif isinstance(c, dict):
                d = dict(c)
                for end in ("src", "tgt"):
                    if end in d:
                        d[end] = _ref(d[end], "connections", source)
                fixed.append(d)
            else:
                fixed.append(c)
        out["connections"] = fixed
    for kind in ("inports", "outports"):
        exports = out.get(kind)
        if isinstance(exports, dict):
            out[kind] = {k: _ref(v, kind, source) for k, v in exports.items()}
    return out


def _to_readable(graph: Graph) -> dict[str, Any]:
    d = graph.to_dict()
    out: dict[str, Any] = {}
    if d["properties"]:
        out["properties"] = d["properties"]
    if not d["caseSensitive"]:
        out["caseSensitive"] = False
    out["processes"] = {
        k: p["component"] if set(p) == {"component"} else p for k, p in d["processes"].items()
    }

    def addr(r: dict[str, Any]) -> str:
        return str(PortRef(r["process"], r["port"], r.get("index")))

    conns: list[Any] = []
    for c in d["connections"]:
        if "data" in c:
            item: dict[str, Any] = {"data": c["data"], "tgt": addr(c["tgt"])}
            if "metadata" in c:
                item["metadata"] = c["metadata"]
            conns.append(item)
        elif "metadata" in c:
            conns.append({"src": addr(c["src"]), "tgt": addr(c["tgt"]), "metadata": c["metadata"]})
        else:
            conns.append(f"{addr(c['src'])} -> {addr(c['tgt'])}")
    out["connections"] = conns
    for kind in ("inports", "outports"):
        if d[kind]:
            out[kind] = {
                k: addr(v) if set(v) <= {"process", "port", "index"} else v
                for k, v in d[kind].items()
            }
    if d["groups"]:
        out["groups"] = d["groups"]
    return out


def dump_graph(graph: Graph, fmt: Format) -> str:
    """Write a graph as text in ``fmt``.

    Raises:
        NotExpressibleError: ``fmt`` is ``fbp`` and the graph holds something the DSL
            cannot express (the error lists each loss).
    """
    if fmt == "json":
        return json.dumps(graph.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return str(yaml.safe_dump(_to_readable(graph), sort_keys=False, allow_unicode=True))
    from ._dsl_write import to_fbp

    return to_fbp(graph.to_dict())
