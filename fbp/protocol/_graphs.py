"""The graph sub-protocol: build and edit graphs live.

The runtime keeps one :class:`~fbp.graph.Graph` per graph id. ``clear`` creates (or
replaces) a graph; every other command names its graph and edits it. A command is
acknowledged by echoing it, with the state the graph now holds (``changenode`` answers
with the merged metadata, ``removeinitial`` with the data it removed); removing a node
first removes, and announces, the edges, IIPs and exported ports attached to it.

A running network also gets the structural edits (see :mod:`fbp.protocol._live`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._core._address import PortAddress
from .._core._exceptions import ComponentNotFoundError
from .._core._ports import PortSpec
from ..graph import Connection, Graph, Initial, Node, PortRef
from ._components import ComponentLibrary
from ._graph_ports import ExportsAndGroups, Reply, merge
from ._messages import (
    Endpoint,
    ProtocolError,
    Request,
    endpoint,
    endpoint_dict,
    opt_dict,
    opt_str,
    req_dict,
    req_str,
)

__all__ = ("GraphStore", "LiveGraph", "Reply")

_CLEAR_KEYS = ("id", "name", "library", "main", "icon", "description")


@dataclass
class LiveGraph:
    """A graph the runtime holds, under the id clients use for it."""

    id: str
    graph: Graph
    main: bool = False
    info: dict[str, Any] = field(default_factory=dict)


def _ref(end: Endpoint) -> PortRef:
    return PortRef(end.node, end.port, end.index)


def _end(ref: PortRef) -> dict[str, Any]:
    return endpoint_dict(Endpoint(ref.process, ref.port, ref.index))


def _key(ref: PortRef) -> tuple[str, str, int | None]:
    return (ref.process, ref.port.lower(), ref.index)


class GraphStore(ExportsAndGroups):
    """The graphs of a runtime, and the handlers of the graph sub-protocol.

    Args:
        library: checks component names and port names as nodes and edges are added.
    """

    def __init__(self, library: ComponentLibrary) -> None:
        self.library = library
        self.graphs: dict[str, LiveGraph] = {}
        #: The id of the last graph cleared with ``main: true``.
        self.main: str | None = None
        self._handlers: dict[str, Callable[[Request, LiveGraph], list[Reply]]] = {
            "addnode": self._addnode,
            "removenode": self._removenode,
            "renamenode": self._renamenode,
            "changenode": self._changenode,
            "addedge": self._addedge,
            "removeedge": self._removeedge,
            "changeedge": self._changeedge,
            "addinitial": self._addinitial,
            "removeinitial": self._removeinitial,
            "addinport": self._addport,
            "addoutport": self._addport,
            "removeinport": self._removeport,
            "removeoutport": self._removeport,
            "renameinport": self._renameport,
            "renameoutport": self._renameport,
            "addgroup": self._addgroup,
            "removegroup": self._removegroup,
            "renamegroup": self._renamegroup,
            "changegroup": self._changegroup,
        }

    @property
    def commands(self) -> tuple[str, ...]:
        """Every command of the graph sub-protocol this store handles."""
        return ("clear", *self._handlers)

    def get(self, req: Request) -> LiveGraph:
        """The graph a request names in ``payload.graph``.

        Raises:
            ProtocolError: no graph named, or no such graph (the two messages the
                protocol's test suite checks word for word).
        """
        gid = req.payload.get("graph")
        if gid is None or gid == "":
            msg = "No graph specified"
            raise ProtocolError(msg, req.protocol)
        if not isinstance(gid, str) or gid not in self.graphs:
            msg = "Requested graph not found"
            raise ProtocolError(msg, req.protocol)
        return self.graphs[gid]

    def handle(self, req: Request) -> list[Reply]:
        """Carry out a graph command; return the messages that announce the change.

        Raises:
            ProtocolError: unknown command, malformed payload, or an edit that does not
                fit the graph (unknown node, port or component; duplicate id).
        """
        if req.command == "clear":
            return self._clear(req)
        handler = self._handlers.get(req.command)
        if handler is None:
            known = ", ".join(self.commands)
            msg = f"unknown graph command {req.command!r}; the graph protocol has: {known}"
            raise ProtocolError(msg, "graph")
        return handler(req, self.get(req))

    # -- graphs --------------------------------------------------------------------------

    def _clear(self, req: Request) -> list[Reply]:
        p = req.payload
        gid = req_str(p, "id", req)
        reply: dict[str, Any] = {k: p[k] for k in _CLEAR_KEYS if k in p}
        for k in ("name", "library", "icon", "description"):
            opt_str(p, k, req)
        main = p.get("main", False)
        if not isinstance(main, bool):
            msg = f"graph:clear: 'main' must be true or false, got {main!r}"
            raise ProtocolError(msg, "graph")
        props: dict[str, Any] = {"name": p.get("name") or gid}
        for k in ("description", "icon", "library"):
            if p.get(k):
                props[k] = p[k]
        self.graphs[gid] = LiveGraph(gid, Graph(gid, properties=props), main, reply)
        if main:
            self.main = gid
        return [("graph", "clear", reply)]

    # -- nodes ---------------------------------------------------------------------------

    def _node(self, lg: LiveGraph, node: str, req: Request) -> Node:
        found = lg.graph.processes.get(node)
        if found is None:
            names = ", ".join(sorted(lg.graph.processes)) or "none"
            msg = f"graph {lg.id!r} has no node {node!r} (its nodes: {names})"
            raise ProtocolError(msg, "graph")
        return found

    def _addnode(self, req: Request, lg: LiveGraph) -> list[Reply]:
        p = req.payload
        nid = req_str(p, "id", req)
        component = req_str(p, "component", req)
        metadata = opt_dict(p, "metadata", req)
        if nid in lg.graph.processes:
            msg = f"graph {lg.id!r} already has a node {nid!r}; remove or rename it first"
            raise ProtocolError(msg, "graph")
        try:
            self.library.resolve(component)
        except ComponentNotFoundError as e:
            msg = f"graph:addnode {nid!r}: {e}; list what this runtime offers with component:list"
            raise ProtocolError(msg, "graph") from None
        lg.graph.processes[nid] = Node(nid, component, copy.deepcopy(metadata))
        return [
            (
                "graph",
                "addnode",
                {"id": nid, "component": component, "metadata": metadata, "graph": lg.id},
            )
        ]

    def _removenode(self, req: Request, lg: LiveGraph) -> list[Reply]:
        nid = req_str(req.payload, "id", req)
        self._node(lg, nid, req)
        g = lg.graph
        out: list[Reply] = []
        kept: list[Connection | Initial] = []
        for c in g.connections:
            if isinstance(c, Connection) and nid in (c.src.process, c.tgt.process):
                payload = {"src": _end(c.src), "tgt": _end(c.tgt), "graph": lg.id}
                out.append(("graph", "removeedge", payload))
            elif isinstance(c, Initial) and c.tgt.process == nid:
                payload = {"src": {"data": c.data}, "tgt": _end(c.tgt), "graph": lg.id}
                out.append(("graph", "removeinitial", payload))
            else:
                kept.append(c)
        g.connections = kept
        for kind, exports in (("inport", g.inports), ("outport", g.outports)):
            for public in [k for k, e in exports.items() if e.process == nid]:
                del exports[public]
                out.append(("graph", f"remove{kind}", {"public": public, "graph": lg.id}))
        for group in g.groups:
            if nid in group.get("nodes", []):
                group["nodes"] = [n for n in group["nodes"] if n != nid]
        del g.processes[nid]
        out.append(("graph", "removenode", {"id": nid, "graph": lg.id}))
        return out

    def _renamenode(self, req: Request, lg: LiveGraph) -> list[Reply]:
        old = req_str(req.payload, "from", req)
        new = req_str(req.payload, "to", req)
        node = self._node(lg, old, req)
        g = lg.graph
        if new != old and new in g.processes:
            msg = f"graph {lg.id!r} already has a node {new!r}; pick another name"
            raise ProtocolError(msg, "graph")

        def rn(ref: PortRef) -> PortRef:
            return PortRef(new, ref.port, ref.index) if ref.process == old else ref

        g.processes = {(new if k == old else k): v for k, v in g.processes.items()}
        node.name = new
        for c in g.connections:
            if isinstance(c, Connection):
                c.src = rn(c.src)
            c.tgt = rn(c.tgt)
        for e in [*g.inports.values(), *g.outports.values()]:
            if e.process == old:
                e.process = new
        for group in g.groups:
            group["nodes"] = [new if n == old else n for n in group.get("nodes", [])]
        return [("graph", "renamenode", {"from": old, "to": new, "graph": lg.id})]

    def _changenode(self, req: Request, lg: LiveGraph) -> list[Reply]:
        nid = req_str(req.payload, "id", req)
        changes = req_dict(req.payload, "metadata", req)
        node = self._node(lg, nid, req)
        merge(node.metadata, changes)
        payload = {"id": nid, "metadata": copy.deepcopy(node.metadata), "graph": lg.id}
        return [("graph", "changenode", payload)]

    # -- ports of nodes ------------------------------------------------------------------

    def _port(self, lg: LiveGraph, end: Endpoint, direction: str, req: Request) -> None:
        """Check that a node has the port an edge, IIP or export names."""
        node = self._node(lg, end.node, req)
        if not isinstance(node.component, str):
            return
        try:
            ports = self.library.ports(node.component)
        except ComponentNotFoundError:
            return  # the node's component was reported when the node was added
        if ports is None:
            return  # a subnet: its exported ports are checked when the network starts
        specs: list[PortSpec] = ports[0] if direction == "in" else ports[1]
        spec = next((s for s in specs if s.name == end.port.lower()), None)
        kind = "input" if direction == "in" else "output"
        if spec is None:
            names = ", ".join(s.name for s in specs) or "none"
            msg = (
                f"{req.protocol}:{req.command}: node {end.node!r} ({node.component}) has no"
                f" {kind} port {end.port!r} (its {kind} ports: {names})"
            )
            raise ProtocolError(msg, "graph")
        if end.index is not None and not spec.array:
            msg = (
                f"{req.protocol}:{req.command}: {end.node}.{spec.display} is not an array"
                f" port; drop the index {end.index}"
            )
            raise ProtocolError(msg, "graph")

    # -- edges ---------------------------------------------------------------------------

    def _find_edge(self, lg: LiveGraph, src: Endpoint, tgt: Endpoint) -> Connection:
        for c in lg.graph.edges:
            if _key(c.src) == src.key and _key(c.tgt) == tgt.key:
                return c
        msg = (
            f"graph {lg.id!r} has no edge {PortAddress(src.node, src.port)} ->"
            f" {PortAddress(tgt.node, tgt.port)}"
        )
        raise ProtocolError(msg, "graph")

    def _ends(self, req: Request) -> tuple[Endpoint, Endpoint]:
        return (
            endpoint(req.payload.get("src"), "src", req),
            endpoint(req.payload.get("tgt"), "tgt", req),
        )

    def _addedge(self, req: Request, lg: LiveGraph) -> list[Reply]:
        src, tgt = self._ends(req)
        metadata = opt_dict(req.payload, "metadata", req)
        self._port(lg, src, "out", req)
        self._port(lg, tgt, "in", req)
        exists = any(_key(c.src) == src.key and _key(c.tgt) == tgt.key for c in lg.graph.edges)
        if not exists:
            lg.graph.connections.append(Connection(_ref(src), _ref(tgt), copy.deepcopy(metadata)))
        payload = {
            "src": endpoint_dict(src),
            "tgt": endpoint_dict(tgt),
            "metadata": metadata,
            "graph": lg.id,
        }
        return [("graph", "addedge", payload)]

    def _removeedge(self, req: Request, lg: LiveGraph) -> list[Reply]:
        src, tgt = self._ends(req)
        edge = self._find_edge(lg, src, tgt)
        lg.graph.connections.remove(edge)
        payload = {"src": _end(edge.src), "tgt": _end(edge.tgt), "graph": lg.id}
        return [("graph", "removeedge", payload)]

    def _changeedge(self, req: Request, lg: LiveGraph) -> list[Reply]:
        src, tgt = self._ends(req)
        changes = req_dict(req.payload, "metadata", req)
        edge = self._find_edge(lg, src, tgt)
        merge(edge.metadata, changes)
        payload = {
            "src": _end(edge.src),
            "tgt": _end(edge.tgt),
            "metadata": copy.deepcopy(edge.metadata),
            "graph": lg.id,
        }
        return [("graph", "changeedge", payload)]

    # -- IIPs ----------------------------------------------------------------------------

    def _addinitial(self, req: Request, lg: LiveGraph) -> list[Reply]:
        src = req_dict(req.payload, "src", req)
        if "data" not in src:
            msg = "graph:addinitial: 'src' must be {\"data\": <the IIP value>}"
            raise ProtocolError(msg, "graph")
        tgt = endpoint(req.payload.get("tgt"), "tgt", req)
        metadata = opt_dict(req.payload, "metadata", req)
        self._port(lg, tgt, "in", req)
        data = src["data"]
        lg.graph.connections.append(
            Initial(copy.deepcopy(data), _ref(tgt), copy.deepcopy(metadata))
        )
        payload = {
            "src": {"data": data},
            "tgt": endpoint_dict(tgt),
            "metadata": metadata,
            "graph": lg.id,
        }
        return [("graph", "addinitial", payload)]

    def _removeinitial(self, req: Request, lg: LiveGraph) -> list[Reply]:
        tgt = endpoint(req.payload.get("tgt"), "tgt", req)
        src = req.payload.get("src")
        match_data = isinstance(src, dict) and "data" in src
        removed: list[Initial] = []
        kept: list[Connection | Initial] = []
        for c in lg.graph.connections:
            if (
                isinstance(c, Initial)
                and _key(c.tgt) == tgt.key
                and (not match_data or c.data == src["data"])  # type: ignore[index]
            ):
                removed.append(c)
            else:
                kept.append(c)
        if not removed:
            msg = f"graph {lg.id!r} has no IIP into {PortAddress(tgt.node, tgt.port)}"
            raise ProtocolError(msg, "graph")
        lg.graph.connections = kept
        return [
            (
                "graph",
                "removeinitial",
                {"src": {"data": c.data}, "tgt": _end(c.tgt), "graph": lg.id},
            )
            for c in removed
        ]
