"""The graph model: processes, connections, IIPs and exported ports.

One model serves every format: ``.fbp`` text, FBP JSON and YAML load into a
:class:`Graph`, and a graph saves back to each. The JSON form is the NoFlo/flowbased
``fbp-graph`` format; metadata the runtime does not know is kept as it is.

Runtime settings live in metadata, where the ecosystem's schema allows any key:

- an edge's ``metadata.capacity`` (int >= 0) and ``metadata.overflow``
  (``"block"`` or ``"drop_oldest"``);
- a process's ``metadata.capacity``: the default capacity of the edges into it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from .._core._address import PortAddress
from .._core._component import Component
from .._core._exceptions import GraphIssue, GraphSyntaxError, GraphValidationError, SourceLocation

__all__ = ("Connection", "Export", "Graph", "Initial", "Node", "PortRef", "parse_address")

ComponentRef: TypeAlias = "str | type[Component] | Graph"

#: A port of a process in a graph, ``process.PORT[index]``: the runtime's one
#: :class:`~fbp._core._address.PortAddress`.
PortRef = PortAddress


def parse_address(text: str) -> PortRef:
    """Parse ``process.PORT`` or ``process.PORT[3]`` (:meth:`PortAddress.parse`).

    Raises:
        ValueError: the text is not an address; the message says what is wrong.
    """
    return PortAddress.parse(text)


@dataclass(slots=True)
class Node:
    """A process in a graph: its name, component and metadata."""

    name: str
    component: ComponentRef
    metadata: dict[str, Any] = field(default_factory=dict)
    location: SourceLocation | None = None

    @property
    def component_name(self) -> str:
        """The component as text: a collection path, an import path or a class path."""
        c = self.component
        if isinstance(c, str):
            return c
        if isinstance(c, Graph):
            return f"graph:{c.name}"
        return f"{c.__module__}:{c.__qualname__}"


@dataclass(slots=True)
class Connection:
    """An edge from an output port to an input port."""

    src: PortRef
    tgt: PortRef
    metadata: dict[str, Any] = field(default_factory=dict)
    location: SourceLocation | None = None

    def __str__(self) -> str:
        return f"{self.src} -> {self.tgt}"


@dataclass(slots=True)
class Initial:
    """An initial information packet (IIP): a constant given to an input port."""

    data: Any
    tgt: PortRef
    metadata: dict[str, Any] = field(default_factory=dict)
    location: SourceLocation | None = None

    def __str__(self) -> str:
        return f"IIP -> {self.tgt}"


@dataclass(slots=True)
class Export:
    """A port of an inner process exposed as a port of the graph (subnets)."""

    public: str
    process: str
    port: str
    index: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    location: SourceLocation | None = None

    @property
    def ref(self) -> PortRef:
        """The inner port."""
        return PortRef(self.process, self.port, self.index)


class Graph:
    """A flow-based program: processes, the connections between them, IIPs and exports.

    Build one in Python, or load one with :func:`fbp.graph.load_graph`::

        g = Graph("doubler")
        g.add_process("numbers", "core/Range")
        g.add_process("double", Double)          # a class works as well as a name
        g.add_process("show", "core/Output")
        g.connect("numbers.OUT", "double.IN")
        g.connect("double.OUT", "show.IN")
        g.add_initial(5, "numbers.COUNT")

    Port names in addresses may be written in any case.
    """

    def __init__(
        self,
        name: str = "graph",
        *,
        properties: Mapping[str, Any] | None = None,
        source: str | None = None,
        case_sensitive: bool = True,
    ) -> None:
        self.properties: dict[str, Any] = dict(properties or {})
        self.properties.setdefault("name", name)
        self.processes: dict[str, Node] = {}
        #: Edges and IIPs in the order they were given (as FBP JSON keeps them).
        self.connections: list[Connection | Initial] = []
        self.inports: dict[str, Export] = {}
        self.outports: dict[str, Export] = {}
        self.groups: list[dict[str, Any]] = []
        #: The file the graph came from, if any (for messages and relative paths).
        self.source = source
        self.case_sensitive = case_sensitive

    @property
    def name(self) -> str:
        """The graph's name (``properties.name``)."""
        return str(self.properties.get("name") or "graph")

    def __repr__(self) -> str:
        return (
            f"<Graph {self.name!r}: {len(self.processes)} processes,"
            f" {len(self.connections)} connections>"
        )

    @property
    def edges(self) -> list[Connection]:
        """The connections between processes (IIPs excluded)."""
        return [c for c in self.connections if isinstance(c, Connection)]

    @property
    def initials(self) -> list[Initial]:
        """The IIPs."""
        return [c for c in self.connections if isinstance(c, Initial)]

    # -- building -----------------------------------------------------------------------

    def add_process(self, name: str, component: ComponentRef, **metadata: Any) -> Graph:
        """Add a process running ``component`` (a name, a Component class or a Graph)."""
        if name in self.processes:
            msg = f"graph {self.name!r} already has a process named {name!r}"
            raise ValueError(msg)
        self.processes[name] = Node(name, component, dict(metadata))
        return self

    def connect(self, src: str | PortRef, tgt: str | PortRef, **metadata: Any) -> Graph:
        """Connect ``"a.OUT"`` to ``"b.IN"``; metadata may set ``capacity`` and ``overflow``."""
        s = src if isinstance(src, PortRef) else parse_address(src)
        t = tgt if isinstance(tgt, PortRef) else parse_address(tgt)
        self.connections.append(Connection(s, t, dict(metadata)))
        return self

    def add_initial(self, data: Any, tgt: str | PortRef, **metadata: Any) -> Graph:
        """Give the input port ``tgt`` the initial information packet ``data``."""
        t = tgt if isinstance(tgt, PortRef) else parse_address(tgt)
        self.connections.append(Initial(data, t, dict(metadata)))
        return self

    def set_initial(self, tgt: str | PortRef, data: Any) -> Graph:
        """Replace the IIPs of ``tgt`` by ``data`` (what ``--set PROC.PORT=JSON`` does)."""
        t = tgt if isinstance(tgt, PortRef) else parse_address(tgt)
        key = (t.process, t.port.lower(), t.index)
        kept = [
            c
            for c in self.connections
            if not (
                isinstance(c, Initial) and (c.tgt.process, c.tgt.port.lower(), c.tgt.index) == key
            )
        ]
        self.connections = kept
        self.connections.append(Initial(data, t, {}))
        return self

    def export_inport(self, public: str, target: str | PortRef, **metadata: Any) -> Graph:
        """Expose an inner input port as the graph's input port ``public``."""
        t = target if isinstance(target, PortRef) else parse_address(target)
        self.inports[public] = Export(public, t.process, t.port, t.index, dict(metadata))
        return self

    def export_outport(self, public: str, source: str | PortRef, **metadata: Any) -> Graph:
        """Expose an inner output port as the graph's output port ``public``."""
        s = source if isinstance(source, PortRef) else parse_address(source)
        self.outports[public] = Export(public, s.process, s.port, s.index, dict(metadata))
        return self

    def copy(self) -> Graph:
        """A deep copy (components that are classes or graphs are shared, not copied)."""
        g = Graph(
            self.name,
            properties=copy.deepcopy(self.properties),
            source=self.source,
            case_sensitive=self.case_sensitive,
        )
        for n in self.processes.values():
            g.processes[n.name] = Node(n.name, n.component, copy.deepcopy(n.metadata), n.location)
        for c in self.connections:
            if isinstance(c, Connection):
                g.connections.append(
                    Connection(c.src, c.tgt, copy.deepcopy(c.metadata), c.location)
                )
            else:
                g.connections.append(
                    Initial(copy.deepcopy(c.data), c.tgt, copy.deepcopy(c.metadata), c.location)
                )
        for src, dst in ((self.inports, g.inports), (self.outports, g.outports)):
            for k, e in src.items():
                dst[k] = Export(
                    e.public, e.process, e.port, e.index, copy.deepcopy(e.metadata), e.location
                )
        g.groups = copy.deepcopy(self.groups)
        return g

    # -- FBP JSON -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The FBP JSON form (``fbp-graph`` schema). Class components become import paths."""
        conns: list[dict[str, Any]] = []
        for c in self.connections:
            if isinstance(c, Connection):
                d: dict[str, Any] = {"src": c.src.to_dict(), "tgt": c.tgt.to_dict()}
            else:
                d = {"data": c.data, "tgt": c.tgt.to_dict()}
            if c.metadata:
                d["metadata"] = copy.deepcopy(c.metadata)
            conns.append(d)

        def export(e: Export) -> dict[str, Any]:
            d: dict[str, Any] = {"process": e.process, "port": e.port}
            if e.index is not None:
                d["index"] = e.index
            if e.metadata:
                d["metadata"] = copy.deepcopy(e.metadata)
            return d

        procs: dict[str, Any] = {}
        for n in self.processes.values():
            p: dict[str, Any] = {"component": n.component_name}
            if n.metadata:
                p["metadata"] = copy.deepcopy(n.metadata)
            procs[n.name] = p
        return {
            "caseSensitive": self.case_sensitive,
            "properties": copy.deepcopy(self.properties),
            "inports": {k: export(e) for k, e in self.inports.items()},
            "outports": {k: export(e) for k, e in self.outports.items()},
            "groups": copy.deepcopy(self.groups),
            "processes": procs,
            "connections": conns,
        }

    @classmethod
    def from_dict(
        cls,
        data: Any,
        *,
        source: str | None = None,
        locations: Mapping[tuple[str | int, ...], SourceLocation] | None = None,
    ) -> Graph:
        """Read the FBP JSON form, reporting every structural problem at once.

        Args:
            data: the parsed JSON object.
            source: the file it came from, for messages.
            locations: where each element was written (``.fbp`` line and column), by
                JSON path such as ``("connections", 3)``.

        Raises:
            GraphValidationError: the object is not an FBP JSON graph; each issue names
                its JSON path (``connections[3].tgt.port``).
        """
        reader = _Reader(source, locations or {})
        g = reader.read(data)
        if reader.issues:
            raise GraphValidationError(reader.issues, graph_name=source)
        return g

    def walk_ports(self) -> Iterator[tuple[str, PortRef, Connection | Initial | Export]]:
        """Every port reference in the graph, with the element that makes it."""
        for c in self.connections:
            if isinstance(c, Connection):
                yield "out", c.src, c
            yield "in", c.tgt, c
        for e in self.inports.values():
            yield "in", e.ref, e
        for e in self.outports.values():
            yield "out", e.ref, e


class _Reader:
    def __init__(
        self, source: str | None, locations: Mapping[tuple[str | int, ...], SourceLocation]
    ) -> None:
        self.source = source
        self.locations = locations
        self.issues: list[GraphIssue] = []

    def loc(self, *path: str | int) -> SourceLocation:
        for n in range(len(path), 0, -1):
            found = self.locations.get(tuple(path[:n]))
            if found is not None:
                return found
        return SourceLocation(source=self.source, path=tuple(path))

    def issue(self, msg: str, *path: str | int, hint: str = "") -> None:
        self.issues.append(GraphIssue(msg, self.loc(*path), hint))

    def obj(self, value: Any, *path: str | int) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.issue(f"expected an object, got {type(value).__name__}", *path)
            return None
        return value

    def read(self, data: Any) -> Graph:
        g = Graph(source=self.source)
        root = self.obj(data)
        if root is None:
            return g
        known = {
            "caseSensitive",
            "properties",
            "inports",
            "outports",
            "groups",
            "processes",
            "connections",
        }
        for key in root:
            if key not in known:
                self.issue(
                    f"unknown key {key!r}", key, hint=f"a graph has only {', '.join(sorted(known))}"
                )
        props = root.get("properties", {})
        if self.obj(props, "properties") is not None:
            g.properties = copy.deepcopy(props)
        default_name = Path(self.source).stem if self.source else "graph"
        if not g.properties.get("name"):
            g.properties["name"] = default_name
        cs = root.get("caseSensitive", True)
        g.case_sensitive = bool(cs)
        procs = root.get("processes", {})
        if self.obj(procs, "processes") is not None:
            for name, p in procs.items():
                po = self.obj(p, "processes", name)
                if po is None:
                    continue
                comp = po.get("component")
                if not isinstance(comp, str) or not comp:
                    self.issue("a process needs a component name", "processes", name, "component")
                    continue
                md = po.get("metadata", {})
                if self.obj(md, "processes", name, "metadata") is None:
                    md = {}
                g.processes[name] = Node(name, comp, copy.deepcopy(md), self.loc("processes", name))
        conns = root.get("connections", [])
        if not isinstance(conns, list):
            self.issue("expected a list of connections", "connections")
            conns = []
        for i, c in enumerate(conns):
            co = self.obj(c, "connections", i)
            if co is None:
                continue
            md = co.get("metadata", {})
            if self.obj(md, "connections", i, "metadata") is None:
                md = {}
            tgt = self.ref(co.get("tgt"), "connections", i, "tgt")
            where = self.loc("connections", i)
            if "data" in co:
                if "src" in co:
                    self.issue(
                        "a connection has both 'src' and 'data'",
                        "connections",
                        i,
                        hint="an IIP has 'data' and 'tgt'; an edge 'src' and 'tgt'",
                    )
                if tgt is not None:
                    g.connections.append(
                        Initial(copy.deepcopy(co["data"]), tgt, copy.deepcopy(md), where)
                    )
                continue
            src = self.ref(co.get("src"), "connections", i, "src")
            if src is not None and tgt is not None:
                g.connections.append(Connection(src, tgt, copy.deepcopy(md), where))
        for kind in ("inports", "outports"):
            exports = root.get(kind, {})
            if self.obj(exports, kind) is None:
                continue
            target = g.inports if kind == "inports" else g.outports
            for public, e in exports.items():
                ref = self.ref(e, kind, public)
                if ref is None:
                    continue
                md = e.get("metadata", {}) if isinstance(e.get("metadata", {}), dict) else {}
                target[public] = Export(
                    public,
                    ref.process,
                    ref.port,
                    ref.index,
                    copy.deepcopy(md),
                    self.loc(kind, public),
                )
        groups = root.get("groups", [])
        if isinstance(groups, list):
            g.groups = copy.deepcopy(groups)
        else:
            self.issue("expected a list of groups", "groups")
        return g

    def ref(self, value: Any, *path: str | int) -> PortRef | None:
        o = self.obj(value, *path) if value is not None else None
        if value is None:
            self.issue("missing", *path)
            return None
        if o is None:
            return None
        proc, port, index = o.get("process"), o.get("port"), o.get("index")
        ok = True
        for what, name in (("process", proc), ("port", port)):
            if name is not None and name != "" and not isinstance(name, str):
                msg = f"{what} name must be text, got {name!r}; quote it: '{name}'"
                self.issue(msg, *path, what)
                ok = False
            elif not name:
                self.issue(f"missing {what} name", *path, what)
                ok = False
        if index is not None and (
            not isinstance(index, int) or isinstance(index, bool) or index < 0
        ):
            self.issue(f"index must be an integer >= 0, got {index!r}", *path, "index")
            ok = False
        if not ok:
            return None
        return PortRef(proc, port, index)  # type: ignore[arg-type]


def syntax_error_at(
    source: str | None, exc: Exception, line: int | None = None, column: int | None = None
) -> GraphSyntaxError:
    """Wrap a JSON or YAML decoding error as a GraphSyntaxError with its place."""
    return GraphSyntaxError(str(exc), SourceLocation(source, line, column))
