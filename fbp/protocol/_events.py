"""The live sink: a running network's trace records become the protocol's data events.

Every network the runtime starts runs with a :class:`LiveSink` as its trace sink. The
network hands it batches of records (when a batch fills, when the runtime's flusher
asks, about every 50 ms, and at the end of the run); the sink turns each record into
one event per edge the IP crossed:

- a data IP gives ``data`` (``{id, graph, src, tgt, data}``), an IIP gives ``data``
  without ``src``;
- brackets give ``begingroup`` / ``endgroup`` with the bracket's tag as ``group``;
- the first event of an edge in a run is preceded by ``connect``, and every edge that
  connected gets ``disconnect`` when the run ends.

Each event goes to every client that watches the edge (see
:meth:`fbp.protocol._client.Client.watches`), serialised once, and through the
client's bounded queue; when recording is on it also goes to the graph's
:class:`~fbp.protocol._trace.TraceRecorder`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .._core._record import PROTOCOL_COMMANDS
from ..lowlevel import KIND, PAYLOAD, PORT_ID, PortInfo, RunInfo, RunStatus, TraceRecord, address
from ._client import Client
from ._messages import Endpoint, dumps, edge_id, endpoint_dict, jsonable
from ._trace import TraceRecorder

__all__ = ("LiveSink", "Route")

_COMMANDS = PROTOCOL_COMMANDS


class Route:
    """One edge a port's IPs travel, with the parts of its events computed once."""

    __slots__ = ("base", "connected", "id", "src", "tgt")

    def __init__(self, graph: str, src: Endpoint | None, tgt: Endpoint, subgraph: list[str]):
        self.src = src
        self.tgt = tgt
        self.id = edge_id(src, tgt)
        self.base: dict[str, Any] = {"id": self.id, "graph": graph}
        if src is not None:
            self.base["src"] = endpoint_dict(src)
        self.base["tgt"] = endpoint_dict(tgt)
        if subgraph:
            self.base["subgraph"] = subgraph
        self.connected = False


class LiveSink:
    """The trace sink of a network started through the protocol.

    Args:
        graph: the graph id events carry.
        clients: returns the connected, authenticated clients.
        recorder: the graph's trace recorder.
        batch_size: how many records the network buffers before handing them over.
    """

    def __init__(
        self,
        graph: str,
        clients: Callable[[], Iterable[Client]],
        recorder: TraceRecorder,
        *,
        batch_size: int = 1024,
    ) -> None:
        self.graph = graph
        self.clients = clients
        self.recorder = recorder
        self.batch_size = batch_size
        self.routes: dict[int, list[Route]] = {}
        self.events = 0

    # -- the TraceSink protocol -----------------------------------------------------------

    def start_run(self, info: RunInfo) -> None:
        """Compute the routes of every port from the network's port table."""
        top = set((info.graph or {}).get("processes", {}))
        ends: dict[str, Endpoint] = {}
        subgraphs: dict[str, list[str]] = {}
        for p in info.ports:
            if p.direction == "in":
                key = address(p.process, p.port, p.index)
                ends[key], subgraphs[key] = self._end(p, top)
        # IIPs the graph gives (not the defaults the runtime feeds unconnected ports).
        iips: set[tuple[str, str]] = set()
        for c in (info.graph or {}).get("connections", []):
            if "data" in c and isinstance(c.get("tgt"), dict):
                iips.add((str(c["tgt"].get("process")), str(c["tgt"].get("port")).lower()))
        # Exported input ports: packets sent to them arrive as IIPs of their port.
        exported = {
            (str(e.get("process")), str(e.get("port")).lower())
            for e in (info.graph or {}).get("inports", {}).values()
            if isinstance(e, dict)
        }
        self.routes = {}
        for pid, p in enumerate(info.ports):
            if p.direction == "in":
                key = address(p.process, p.port, p.index)
                given = (
                    p.process not in top
                    or (p.process, p.port.lower()) in iips
                    or (p.process, p.port.lower()) in exported
                )
                self.routes[pid] = (
                    [Route(self.graph, None, ends[key], subgraphs[key])] if given else []
                )
                continue
            src, sub = self._end(p, top)
            self.routes[pid] = [
                Route(self.graph, src, ends[t], sub) for t in p.targets if t in ends
            ]
        self.recorder.start_run(info)

    @staticmethod
    def _end(p: PortInfo, top: set[str]) -> tuple[Endpoint, list[str]]:
        """A port's protocol endpoint; flattened subnet processes name their subgraph."""
        node, subgraph = p.process, []
        if node not in top and "/" in node:
            *subgraph, node = node.split("/")
        return Endpoint(node, p.port.lower(), p.index), subgraph

    # -- live edits ------------------------------------------------------------------------

    def add_route(self, port_id: int, src: Endpoint, tgt: Endpoint) -> None:
        """An edge added to the running network: its IPs become events too."""
        self.routes.setdefault(port_id, []).append(Route(self.graph, src, tgt, []))

    def remove_route(self, port_id: int, src: Endpoint, tgt: Endpoint) -> None:
        """An edge removed from the running network (``disconnect`` if it connected)."""
        routes = self.routes.get(port_id, [])
        for route in [r for r in routes if r.src == src and r.tgt == tgt]:
            routes.remove(route)
            if route.connected:
                clients = [c for c in self.clients() if not c.closed]
                watching = [c for c in clients if c.watches(self.graph, route.src, route.tgt)]
                self._emit(watching, "disconnect", dict(route.base))

    def add_iip_route(self, port_id: int, tgt: Endpoint) -> None:
        """An IIP given to a port of the running network: it becomes an event."""
        if not self.routes.get(port_id):
            self.routes[port_id] = [Route(self.graph, None, tgt, [])]

    def write(self, records: list[TraceRecord]) -> None:
        """Turn records into events for the clients watching their edges."""
        self.recorder.write(records)
        clients = [c for c in self.clients() if not c.closed]
        if not clients:
            return
        routes = self.routes
        for rec in records:
            command = _COMMANDS.get(rec[KIND])
            if command is None:
                continue
            for route in routes.get(rec[PORT_ID], ()):
                watching = []
                for c in clients:
                    if c.watches(self.graph, route.src, route.tgt):
                        if c.has_room:
                            watching.append(c)
                        else:
                            c.drop()  # full: drop without building the message
                if not watching:
                    continue
                if not route.connected:
                    route.connected = True
                    self._emit(watching, "connect", dict(route.base))
                payload = dict(route.base)
                if command == "data":
                    payload["data"] = jsonable(rec[PAYLOAD])
                else:
                    payload["group"] = "" if rec[PAYLOAD] is None else str(rec[PAYLOAD])
                self._emit(watching, command, payload)

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        """Send ``disconnect`` for every edge that connected, and end the recording."""
        clients = [c for c in self.clients() if not c.closed]
        for routes in self.routes.values():
            for route in routes:
                if route.connected:
                    route.connected = False
                    watching = [c for c in clients if c.watches(self.graph, route.src, route.tgt)]
                    self._emit(watching, "disconnect", dict(route.base))
        self.recorder.finish_run(status, error, stats)

    def _emit(self, clients: list[Client], command: str, payload: dict[str, Any]) -> None:
        if not clients:
            return
        self.events += 1
        text = dumps({"protocol": "network", "command": command, "payload": payload})
        for c in clients:
            c.offer(text)
