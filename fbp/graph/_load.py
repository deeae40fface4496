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
from pathlib import Path
from typing import Any, Literal

import yaml

from .._core._exceptions import GraphIssue, GraphSyntaxError, GraphValidationError, SourceLocation
from ._model import Graph, PortRef, parse_address

__all__ = ("Format", "dump_graph", "format_of", "load_graph", "loads_graph")

Format = Literal["fbp", "json", "yaml"]

_SUFFIX: dict[str, Format] = {".fbp": "fbp", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def format_of(path: str | Path) -> Format:
    """The format a file name implies.

    Raises:
        ValueError: the suffix is not .fbp, .json, .yaml or .yml.
    """
    suffix = Path(path).suffix.lower()
    fmt = _SUFFIX.get(suffix)
    if fmt is None:
        msg = f"{path}: unknown graph format {suffix!r}; use .fbp, .json, .yaml or .yml"
        raise ValueError(msg)
    return fmt


def load_graph(path: str | Path) -> Graph:
    """Load a graph file, choosing the format by its suffix.

    Raises:
        GraphSyntaxError: the text does not parse (with line and column).
        GraphValidationError: the graph's structure is wrong (with JSON paths).
        FileNotFoundError: there is no such file.
    """
    p = Path(path)
    text = p.read_bytes().decode("utf-8")
    return loads_graph(text, format_of(p), source=str(p))


def loads_graph(text: str, fmt: Format, *, source: str | None = None) -> Graph:
    """Parse graph text in the given format."""
    locations: dict[tuple[str | int, ...], SourceLocation] = {}
    if fmt == "fbp":
        from ._dsl import parse_fbp

        parsed = parse_fbp(text, source=source)
        data: Any = parsed.graph
        locations = dict(parsed.locations)
    elif fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise GraphSyntaxError(e.msg, SourceLocation(source, e.lineno, e.colno)) from None
        _check_schema(data, source)
    else:
        data, locations = _load_yaml(text, source)
    return Graph.from_dict(data, source=source, locations=locations)


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


def _load_yaml(
    text: str, source: str | None
) -> tuple[Any, dict[tuple[str | int, ...], SourceLocation]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise GraphSyntaxError(
            str(e.problem or e.context or e),
            SourceLocation(
                source, mark.line + 1 if mark else None, mark.column + 1 if mark else None
            ),
        ) from None
    except yaml.YAMLError as e:
        raise GraphSyntaxError(str(e), SourceLocation(source)) from None
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
