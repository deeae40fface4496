"""What a JSON graph loses when written as ``.fbp``, and the form it comes back in.

The ``.fbp`` language cannot express everything the JSON graph format can:

* connection metadata (``route``, ``schema``, ``secure``, ...), export metadata and
  groups;
* process, port and exported names outside the grammar (process names are
  ``[a-zA-Z_][a-zA-Z0-9_-]*``, port and exported names ``[a-zA-Z_][a-zA-Z.0-9_]*``),
  components outside ``[a-zA-Z0-9/_-]+``, and processes without a component;
* exports with an array index, and connections or exports to undeclared processes;
* node metadata beyond ``key=value`` pairs over ``[a-zA-Z0-9/_]`` (so no ``.``,
  ``-``, spaces, ``=`` or ``,`` in keys or values), values that are not strings,
  except ``x`` and ``y``, which must be non-negative integers (or ``null``);
* properties other than string values over ``[a-zA-Z0-9_. -]`` (not starting with a
  space) under keys over ``[a-zA-Z0-9_-]``, plus ``environment`` as ``{"type": ...}``;
  a ``runtime`` property (``# @runtime`` sets ``environment.type``);
* non-finite numbers in IIPs, and any value that is not JSON.

:func:`fbp_normal_form` states what a graph reads back as: the shape the parser gives
(``inports``, ``outports``, ``groups``, ``processes``, ``connections``, then
``properties`` when there are any, then ``caseSensitive``); ``caseSensitive`` is true,
as the text does not carry it and :func:`~fbp.graph._dsl.parse_fbp` reads
case-sensitively by default; empty ``metadata`` and ``properties`` are dropped; numbers
are doubles (:func:`~fbp.graph._dsl_json.js_number`); key order is not significant.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from fbp.graph._dsl_json import js_number

__all__ = ("PROCESS_NAME", "fbp_losses", "fbp_normal_form")

PROCESS_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_\-]*")
PORT_NAME = re.compile(r"[a-zA-Z_][a-zA-Z.0-9_]*")
COMPONENT = re.compile(r"[a-zA-Z/\-0-9_]+")
META_TEXT = re.compile(r"[a-zA-Z/_0-9]*")
ANNOTATION_KEY = re.compile(r"[a-zA-Z0-9\-_]+")
ANNOTATION_VALUE = re.compile(r"[a-zA-Z0-9\-_.][a-zA-Z0-9\-_ .]*")

_TOP_KEYS = (
    "caseSensitive",
    "properties",
    "inports",
    "outports",
    "groups",
    "processes",
    "connections",
)


def fbp_losses(graph: Any) -> list[str]:
    """List what writing ``graph`` as ``.fbp`` would lose; ``[]`` if nothing.

    Args:
        graph: a JSON graph (``processes``, ``connections``, ...).

    Returns:
        One line per loss, each naming the element by its JSON path.
    """
    if not isinstance(graph, Mapping):
        return ["graph: not a JSON object"]
    losses: list[str] = []
    for key in graph:
        if key not in _TOP_KEYS:
            losses.append(f"{key}: not part of the graph format")
    case = graph.get("caseSensitive", True)
    if not isinstance(case, bool):
        losses.append("caseSensitive: not true or false")
    processes = _mapping(graph, "processes", losses)
    losses.extend(_properties_losses(_mapping(graph, "properties", losses)))
    for kind in ("inports", "outports"):
        losses.extend(_export_losses(kind, _mapping(graph, kind, losses), processes))
    groups = graph.get("groups", [])
    if not isinstance(groups, list):
        losses.append("groups: not a list")
    elif groups:
        losses.append(f"groups: {len(groups)} group(s); .fbp has no groups")
    for name, process in processes.items():
        losses.extend(_process_losses(name, process))
    connections = graph.get("connections", [])
    if not isinstance(connections, list):
        losses.append("connections: not a list")
        connections = []
    for i, connection in enumerate(connections):
        losses.extend(_connection_losses(i, connection, processes))
    return losses


def _mapping(graph: Mapping[str, Any], key: str, losses: list[str]) -> Mapping[str, Any]:
    value = graph.get(key, {})
    if isinstance(value, Mapping):
        return value
    losses.append(f"{key}: not a JSON object")
    return {}


def _properties_losses(properties: Mapping[str, Any]) -> list[str]:
    losses = []
    for key, value in properties.items():
        where = f"properties.{key}"
        if key == "runtime":
            losses.append(f"{where}: '# @runtime' sets environment.type instead")
        elif key == "environment" and isinstance(value, Mapping):
            if set(value) != {"type"} or not _annotation_value(value["type"]):
                losses.append(
                    f"{where}: only {{\"type\": <text>}} can be written (as '# @runtime')"
                )
        elif not ANNOTATION_KEY.fullmatch(key):
            losses.append(f"{where}: annotation keys are letters, digits, '-' and '_'")
        elif not _annotation_value(value):
            losses.append(
                f"{where}: annotation values are text of letters, digits, '-', '_', '.'"
                " and spaces, not starting with a space"
            )
    return losses


def _annotation_value(value: Any) -> bool:
    return isinstance(value, str) and ANNOTATION_VALUE.fullmatch(value) is not None


def _export_losses(
    kind: str, exports: Mapping[str, Any], processes: Mapping[str, Any]
) -> list[str]:
    losses = []
    for public, export in exports.items():
        where = f"{kind}.{public}"
        if not PORT_NAME.fullmatch(public):
            losses.append(f"{where}: exported names must match {PORT_NAME.pattern}")
        if not isinstance(export, Mapping):
            losses.append(f"{where}: not a JSON object")
            continue
        for key in export:
            if key == "metadata" and export[key] == {}:
                continue
            if key not in ("process", "port"):
                losses.append(f"{where}.{key}: .fbp exports carry only process and port")
        losses.extend(_endpoint_name_losses(where, export, processes))
    return losses


def _process_losses(name: str, process: Any) -> list[str]:
    where = f"processes.{name}"
    losses = []
    if not PROCESS_NAME.fullmatch(name):
        losses.append(f"{where}: process names must match {PROCESS_NAME.pattern}")
    if not isinstance(process, Mapping):
        return [*losses, f"{where}: not a JSON object"]
    component = process.get("component")
    if not isinstance(component, str) or not COMPONENT.fullmatch(component):
        losses.append(f"{where}.component: must be text matching {COMPONENT.pattern}")
    for key in process:
        if key not in ("component", "metadata"):
            losses.append(f"{where}.{key}: .fbp processes carry only component and metadata")
    metadata = process.get("metadata", {})
    if not isinstance(metadata, Mapping):
        losses.append(f"{where}.metadata: not a JSON object")
        return losses
    for key, value in metadata.items():
        at = f"{where}.metadata.{key}"
        if not META_TEXT.fullmatch(key):
            losses.append(f"{at}: metadata keys are letters, digits, '/' and '_'")
        elif key in ("x", "y"):
            if not (value is None or _whole_number(value)):
                losses.append(f"{at}: x and y must be non-negative integers")
        elif not isinstance(value, str) or not META_TEXT.fullmatch(value):
            losses.append(f"{at}: metadata values are text of letters, digits, '/' and '_'")
    return losses


def _whole_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, float) and value.is_integer() and value >= 0


def _connection_losses(i: int, connection: Any, processes: Mapping[str, Any]) -> list[str]:
    where = f"connections[{i}]"
    if not isinstance(connection, Mapping):
        return [f"{where}: not a JSON object"]
    losses = []
    for key, value in connection.items():
        if key == "metadata":
            if value != {}:
                losses.append(f"{where}.metadata: .fbp has no connection metadata")
        elif key not in ("src", "tgt", "data"):
            losses.append(f"{where}.{key}: not part of a connection")
    if ("src" in connection) == ("data" in connection):
        losses.append(f"{where}: needs exactly one of src and data")
    if "data" in connection:
        losses.extend(_data_losses(f"{where}.data", connection["data"]))
    for end in ("src", "tgt"):
        if end not in connection:
            if end == "tgt":
                losses.append(f"{where}: has no tgt")
            continue
        endpoint = connection[end]
        at = f"{where}.{end}"
        if not isinstance(endpoint, Mapping):
            losses.append(f"{at}: not a JSON object")
            continue
        for key in endpoint:
            if key not in ("process", "port", "index"):
                losses.append(f"{at}.{key}: not part of a connection end")
        index = endpoint.get("index")
        if "index" in endpoint and not _whole_number(index):
            losses.append(f"{at}.index: must be a non-negative integer")
        losses.extend(_endpoint_name_losses(at, endpoint, processes))
    return losses


def _endpoint_name_losses(
    where: str, end: Mapping[str, Any], processes: Mapping[str, Any]
) -> list[str]:
    losses = []
    process, port = end.get("process"), end.get("port")
    if not isinstance(process, str) or not PROCESS_NAME.fullmatch(process):
        losses.append(f"{where}.process: must be a process name ({PROCESS_NAME.pattern})")
    elif process not in processes:
        losses.append(f"{where}.process: {process!r} is not among the processes")
    if not isinstance(port, str) or not PORT_NAME.fullmatch(port):
        losses.append(f"{where}.port: must be a port name ({PORT_NAME.pattern})")
    return losses


def _data_losses(where: str, data: Any) -> list[str]:
    if data is None or isinstance(data, bool | str | int):
        return []
    if isinstance(data, float):
        return [] if math.isfinite(data) else [f"{where}: {data} is not a JSON number"]
    if isinstance(data, list):
        return [loss for i, item in enumerate(data) for loss in _data_losses(f"{where}[{i}]", item)]
    if isinstance(data, Mapping):
        losses = []
        for key, value in data.items():
            if not isinstance(key, str):
                losses.append(f"{where}: key {key!r} is not text")
            losses.extend(_data_losses(f"{where}.{key}", value))
        return losses
    return [f"{where}: {type(data).__name__} is not a JSON value"]


def fbp_normal_form(graph: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``graph`` as it reads back from ``.fbp`` (see the module docstring).

    Args:
        graph: a graph for which :func:`fbp_losses` is empty.

    Returns:
        A new graph in the parser's shape.
    """
    result: dict[str, Any] = {
        "inports": _normal_exports(graph.get("inports", {})),
        "outports": _normal_exports(graph.get("outports", {})),
        "groups": [],
        "processes": {
            name: _normal_process(process) for name, process in graph.get("processes", {}).items()
        },
        "connections": [_normal_connection(c) for c in graph.get("connections", [])],
    }
    if graph.get("properties"):
        result["properties"] = normal_data(graph["properties"])
    result["caseSensitive"] = True
    return result


def _normal_exports(exports: Mapping[str, Any]) -> dict[str, Any]:
    return {k: {"process": e["process"], "port": e["port"]} for k, e in exports.items()}


def _normal_process(process: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"component": process["component"]}
    if process.get("metadata"):
        out["metadata"] = normal_data(process["metadata"])
    return out


def _normal_connection(connection: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "src" in connection:
        out["src"] = normal_data(connection["src"])
    else:
        out["data"] = normal_data(connection["data"])
    out["tgt"] = normal_data(connection["tgt"])
    return out


def normal_data(value: Any) -> Any:
    """Copy a JSON value with every number read as a double."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        try:
            return js_number(float(value))
        except OverflowError:  # an int beyond the doubles: Infinity, which JSON writes as null
            return None
    if isinstance(value, list):
        return [normal_data(v) for v in value]
    return {k: normal_data(v) for k, v in value.items()}
