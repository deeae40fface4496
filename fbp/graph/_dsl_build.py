"""Building the JSON graph while the ``.fbp`` text is parsed.

The grammar calls the ``add_*``/``register_*`` methods as it recognises elements;
:meth:`GraphBuilder.result` then assembles the graph and :meth:`GraphBuilder.problem`
finds the first semantic error. Both follow the format's reference parser (npm
``fbp``), so the graph is exactly the JSON it produces:

* A connection statement yields a flat run of endpoint items (``src``, ``data``,
  ``tgt``); every ``src``/``data`` item directly followed by a ``tgt`` item becomes a
  connection. A process written with ports on both sides in the middle of a chain
  (``-> IN Proc OUT ->``) yields a ``tgt`` then a ``src`` item.
* Anonymous processes ``(lib/Comp)`` are named ``_<Comp>_<n>``, where ``<Comp>`` is the
  component with its first run of characters outside ``[a-zA-Z0-9]`` replaced by
  ``_`` and ``<n>`` counts the anonymous processes of that ``<Comp>``.
* Node metadata ``(Comp:k=v,bare)`` gives string values, ``routes`` for a bare token,
  and numbers (JavaScript ``parseFloat``) for ``x`` and ``y``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fbp.graph._dsl_json import js_number

__all__ = ("Component", "Endpoint", "GraphBuilder", "Port", "Problem")

Port = tuple[str, str | None]
"""A written port: its name and the digits of its array index, if any."""

_FIRST_NON_ALNUM_RUN = re.compile(r"[^a-zA-Z0-9]+")
_PARSE_FLOAT = re.compile(r"Infinity|[0-9]+(?:[eE][0-9]+)?")


@dataclass(frozen=True, slots=True)
class Component:
    """The ``(name:meta)`` part of a process mention."""

    name: str
    meta: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One item of a connection statement: ``kind`` is ``src``, ``tgt`` or ``data``."""

    kind: str
    value: Any
    offset: int


@dataclass(frozen=True, slots=True)
class Problem:
    """A semantic error: what is wrong, where, and what to do about it."""

    message: str
    offset: int
    hint: str


@dataclass
class _Export:
    process: str
    port: str
    offset: int


@dataclass
class GraphBuilder:
    """Collects what the grammar recognises; see the module docstring for the rules."""

    case_sensitive: bool
    default_inport: str = "IN"
    default_outport: str = "OUT"
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    process_offsets: dict[str, int] = field(default_factory=dict)
    items: list[Endpoint] = field(default_factory=list)
    inports: dict[str, _Export] | None = None
    outports: dict[str, _Export] | None = None
    properties: dict[str, Any] | None = None
    property_offsets: dict[str, int] = field(default_factory=dict)
    _anonymous_counts: dict[str, int] = field(default_factory=dict)
    _anonymous_names: dict[int, str] = field(default_factory=dict)
    _declared_at: dict[str, int] = field(default_factory=dict)
    #: Processes declared again with another component (the reference parser keeps the
    #: last): ``(name, first component, its offset, other component, its offset)``.
    redeclared: list[tuple[str, str, int, str, int]] = field(default_factory=list)

    # -- processes -------------------------------------------------------------------

    def add_process(self, name: str, component: Component, offset: int) -> str:
        """Declare (or re-declare) process ``name``; return the name."""
        node = self.processes.setdefault(name, {})
        self.process_offsets.setdefault(name, offset)
        if component.name:
            before = node.get("component")
            if before is not None and before != component.name:
                first = self._declared_at.get(name, offset)
                self.redeclared.append((name, before, first, component.name, offset))
            node["component"] = component.name
            self._declared_at.setdefault(name, offset)
        if component.meta is not None:
            node["metadata"] = _metadata(component.meta)
        return name

    def add_anonymous(self, component: Component, offset: int) -> str:
        """Name the anonymous process written at ``offset`` (once per offset)."""
        name = self._anonymous_names.get(offset)
        if name is None:
            stem = _FIRST_NON_ALNUM_RUN.sub("_", component.name, count=1)
            count = self._anonymous_counts.get(stem, 0) + 1
            self._anonymous_counts[stem] = count
            name = f"_{stem}_{count}"
            self._anonymous_names[offset] = name
            self.add_process(name, component, offset)
        return name

    # -- ports -----------------------------------------------------------------------

    def endpoint(self, kind: str, process: str, port: Port | None, offset: int) -> Endpoint:
        """A ``src``/``tgt`` item; a missing port takes the current default."""
        if port is None:
            name = self.default_outport if kind == "src" else self.default_inport
            value: dict[str, Any] = {"process": process, "port": self._case(name)}
        else:
            value = {"process": process, "port": port[0]}
            if port[1] is not None:
                # parseInt: a double; beyond the doubles it is Infinity, null in JSON.
                value["index"] = js_number(float(port[1]))
        return Endpoint(kind, value, offset)

    def port(self, name: str, index: str | None) -> Port:
        """A written port: its name (lowercased unless case-sensitive) and index digits."""
        return self._case(name), index

    def register_export(self, inport: bool, process: str, port: str, public: str, at: int) -> None:
        """Record ``INPORT=process.port:public`` (or ``OUTPORT=``)."""
        export = _Export(process, self._case(port), at)
        if inport:
            self.inports = self.inports or {}
            self.inports[self._case(public)] = export
        else:
            self.outports = self.outports or {}
            self.outports[self._case(public)] = export

    def _case(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    # -- annotations -----------------------------------------------------------------

    def register_annotation(self, key: str, value: str, offset: int) -> None:
        """Record ``# @key value``; ``@runtime`` sets ``environment.type``."""
        if self.properties is None:
            self.properties = {}
        if key == "runtime":
            self.properties["environment"] = {"type": value}
            self.property_offsets["environment"] = offset
        else:
            self.properties[key] = value
            self.property_offsets[key] = offset

    # -- result ----------------------------------------------------------------------

    def connections(self) -> list[tuple[dict[str, Any], int]]:
        """Pair the endpoint items into connections, each with its offset."""
        items = self.items
        out: list[tuple[dict[str, Any], int]] = []
        i = 1
        while i < len(items):
            first, second = items[i - 1], items[i]
            if first.kind != "tgt" and second.kind == "tgt":
                out.append(({first.kind: first.value, "tgt": second.value}, first.offset))
                i += 1
            i += 1
        return out

    def result(self) -> dict[str, Any]:
        """The graph, as the reference parser gives it."""
        graph: dict[str, Any] = {
            "inports": _exports(self.inports),
            "outports": _exports(self.outports),
            "groups": [],
            "processes": self.processes,
            "connections": [c for c, _ in self.connections()],
        }
        if self.properties is not None:
            graph["properties"] = self.properties
        graph["caseSensitive"] = self.case_sensitive
        return graph

    def problem(self) -> Problem | None:
        """The first semantic error, checked in the reference parser's order."""
        for name, node in self.processes.items():
            if not node.get("component"):
                return Problem(
                    f"process {name!r} has no component",
                    self.process_offsets[name],
                    f"declare it once with its component, e.g. {name}(lib/Component)",
                )
        for kind, exports in (("INPORT", self.inports), ("OUTPORT", self.outports)):
            for public, export in (exports or {}).items():
                if export.process not in self.processes:
                    return Problem(
                        f"{kind} {public!r} refers to undefined process {export.process!r}",
                        export.offset,
                        _declare_hint(export.process),
                    )
        for connection, offset in self.connections():
            tgt = connection["tgt"]
            if tgt["process"] not in self.processes:
                what = (
                    f"IIP {_short(connection['data'])}"
                    if "data" in connection
                    else "connection from {process}.{port}".format(**connection["src"])
                )
                return Problem(
                    f"{what} goes to undefined process {tgt['process']!r}",
                    offset,
                    _declare_hint(tgt["process"]),
                )
            src = connection.get("src")
            if src is not None and src["process"] not in self.processes:
                return Problem(
                    f"connection to {tgt['process']}.{tgt['port']} comes from undefined"
                    f" process {src['process']!r}",
                    offset,
                    _declare_hint(src["process"]),
                )
        return None

    def declaration_offset(self, name: str) -> int:
        """Where process ``name`` got its component (else where it was first seen)."""
        return self._declared_at.get(name, self.process_offsets[name])


def _exports(exports: dict[str, _Export] | None) -> dict[str, dict[str, str]]:
    return {k: {"process": e.process, "port": e.port} for k, e in (exports or {}).items()}


def _metadata(items: tuple[str, ...]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for item in items:
        parts = item.split("=")
        key, value = ("routes", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        metadata[key] = _parse_float(value) if key in ("x", "y") else value
    return metadata


def _parse_float(text: str) -> int | float | None:
    """JavaScript ``parseFloat`` over the metadata charset, as JSON would carry it."""
    match = _PARSE_FLOAT.match(text)
    if match is None or match.group() == "Infinity":
        return None  # NaN and Infinity are both null in JSON
    return js_number(float(match.group()))


def _declare_hint(name: str) -> str:
    return f"declare it with its component where it is first used, e.g. {name}(lib/Component)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
