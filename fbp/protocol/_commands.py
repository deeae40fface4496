"""The command handlers of the runtime, network, component and trace sub-protocols.

:class:`Commands` is the part of :class:`~fbp.protocol.RuntimeServer` that carries out
requests once they are parsed and authorized; the graph sub-protocol has its own
module (:mod:`fbp.protocol._graphs`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._client import Client
from ._components import ComponentLibrary
from ._events import LiveSink
from ._graphs import GraphStore
from ._messages import PROTOCOL_VERSION, ProtocolError, Request, dumps, endpoint, req_str
from ._network import NetworkSession
from ._options import RuntimeOptions
from ._packets import ports_payload
from ._persist import persist_graphs
from ._setsource import compile_component
from ._trace import TraceRecorder

__all__ = ("CAPABILITIES", "RUNTIME_TYPE", "Commands")

#: The runtime type reported by ``getruntime``.
RUNTIME_TYPE = "fbp-causal"

#: What this runtime can always do; ``network:persist`` and ``component:setsource``
#: are added when the operator enables them (``--persist``, ``--allow-setsource``).
CAPABILITIES = (
    "protocol:runtime",
    "protocol:graph",
    "protocol:network",
    "network:status",
    "network:data",
    "network:control",
    "protocol:component",
    "component:getsource",
    "protocol:trace",
)


class Commands:
    """Handlers of every command but the graph ones; mixed into the server."""

    if TYPE_CHECKING:  # provided by RuntimeServer
        options: RuntimeOptions
        library: ComponentLibrary
        store: GraphStore
        sessions: dict[str, NetworkSession]
        recorders: dict[str, TraceRecorder]
        _scratch: Path | None

        def _reply(
            self, client: Client, req: Request | None, protocol: str, command: str, payload: Any
        ) -> None: ...

        def announce(
            self, protocol: str, command: str, payload: dict[str, Any], origin: Any = None
        ) -> None: ...

        def live_clients(self) -> list[Client]: ...

        def _spawn(self, fn: Callable[..., Any], *args: Any) -> None: ...

        async def packet_out(self, payload: dict[str, Any]) -> None: ...

        sources: dict[str, dict[str, Any]]

    def handlers(self) -> Iterable[tuple[tuple[str, str], Any]]:
        """The handlers by (protocol, command)."""
        return [
            (("runtime", "getruntime"), self._getruntime),
            (("runtime", "packet"), self._packet),
            (("network", "start"), self._start),
            (("network", "stop"), self._stop),
            (("network", "getstatus"), self._getstatus),
            (("network", "debug"), self._debug),
            (("network", "edges"), self._edges),
            (("network", "persist"), self._persist),
            (("component", "list"), self._list),
            (("component", "getsource"), self._getsource),
            (("component", "source"), self._setsource),
            (("trace", "start"), self._trace),
            (("trace", "stop"), self._trace),
            (("trace", "clear"), self._trace),
            (("trace", "dump"), self._trace_dump),
        ]

    # -- runtime ----------------------------------------------------------------------------

    def capabilities(self) -> list[str]:
        """What this runtime can do, as its settings allow."""
        caps = list(CAPABILITIES)
        if self.options.persist is not None:
            caps.append("network:persist")
        if self.options.allow_setsource:
            caps.append("component:setsource")
        return caps

    def _runtime_info(self, authorized: bool) -> dict[str, Any]:
        caps = self.capabilities()
        d: dict[str, Any] = {
            "type": RUNTIME_TYPE,
            "version": PROTOCOL_VERSION,
            "capabilities": caps if authorized else [],
            "allCapabilities": caps,
            "id": self.options.runtime_id,
            "label": self.options.label,
        }
        if authorized and self.store.main is not None:
            d["graph"] = self.store.main
        return d

    async def _getruntime(self, client: Client, req: Request) -> None:
        self._reply(client, req, "runtime", "runtime", self._runtime_info(True))
        main = self.store.graphs.get(self.store.main) if self.store.main else None
        if main is not None:
            self._reply(client, None, "runtime", "ports", ports_payload(main, self.library))

    async def _packet(self, client: Client, req: Request) -> None:
        lg = self.store.get(req)
        port = req_str(req.payload, "port", req)
        event = req_str(req.payload, "event", req)
        events = ("connect", "begingroup", "data", "endgroup", "disconnect")
        if event not in events:
            msg = f"runtime:packet: 'event' must be one of {', '.join(events)}, got {event!r}"
            raise ProtocolError(msg, "runtime")
        session = self.sessions.get(lg.id)
        if session is None:
            msg = (
                f"runtime:packet: the network of graph {lg.id!r} is not running; start it"
                " (network:start) before sending packets to its ports"
            )
            raise ProtocolError(msg, "runtime")
        public = await session.send_packet(port, event, req.payload.get("payload"))
        payload: dict[str, Any] = {"port": public, "event": event, "graph": lg.id}
        if "payload" in req.payload:
            payload["payload"] = req.payload["payload"]
        self._reply(client, req, "runtime", "packetsent", payload)

    async def _persist(self, client: Client, req: Request) -> None:
        folder = self.options.persist
        if folder is None:
            msg = (
                "network:persist is not enabled on this runtime (no network:persist"
                " capability); start it with --persist DIR to keep graphs across restarts"
            )
            raise ProtocolError(msg, "network")
        try:
            persist_graphs(self.store, folder)
        except OSError as e:
            msg = f"network:persist: cannot write the graphs to {folder}: {e}"
            raise ProtocolError(msg, "network") from None
        self._reply(client, req, "network", "persist", {})

    async def _setsource(self, client: Client, req: Request) -> None:
        if not self.options.allow_setsource:
            msg = (
                "component:source is refused: this runtime does not run code sent by"
                " clients (no component:setsource capability; the operator can allow it"
                " with --allow-setsource, which requires a secret)"
            )
            raise ProtocolError(msg, "component")
        name = req_str(req.payload, "name", req)
        code = req_str(req.payload, "code", req)
        language = req_str(req.payload, "language", req)
        library = req.payload.get("library")
        if library is not None and (not isinstance(library, str) or "/" in library):
            msg = f"component:source: 'library' must be a name without '/', got {library!r}"
            raise ProtocolError(msg, "component")
        cls = compile_component(name, library, language, code)
        full = f"{library}/{name}" if library else name
        self.library.add(full, cls)
        self.sources[full] = {"name": name, "language": language, "code": code}
        if library:
            self.sources[full]["library"] = library
        self._reply(client, req, "component", "component", self.library.describe(full))

    # -- network ----------------------------------------------------------------------------

    def _session(self, req: Request) -> NetworkSession:
        lg = self.store.get(req)
        session = self.sessions.get(lg.id)
        if session is None:
            o = self.options
            session = NetworkSession(
                lg.id,
                self.announce,
                registry=self.library.network_registry(),
                capacity=o.capacity,
                flush_interval=o.flush_interval,
                deadlock_interval=o.deadlock_interval,
                packet_out=self.packet_out,
            )
            self.sessions[lg.id] = session
        return session

    def recorder(self, graph_id: str) -> TraceRecorder:
        """The trace recorder of a graph."""
        rec = self.recorders.get(graph_id)
        if rec is None:
            rec = TraceRecorder(graph_id, self._scratch_folder)
            self.recorders[graph_id] = rec
        return rec

    def _scratch_folder(self) -> Path:
        """The server's folder for trace files, made on first use (most never trace)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="fbp-runtime-"))
        return self._scratch

    async def _start(self, client: Client, req: Request) -> None:
        session = self._session(req)
        lg = self.store.graphs[session.graph_id]
        sink = LiveSink(session.graph_id, self.live_clients, self.recorder(session.graph_id))
        session.start(lg.graph, sink, self._spawn, (client, req.request_id))

    async def _stop(self, client: Client, req: Request) -> None:
        session = self._session(req)
        payload = await session.stop()
        self.announce("network", "stopped", payload, (client, req.request_id))

    async def _getstatus(self, client: Client, req: Request) -> None:
        self._reply(client, req, "network", "status", self._session(req).status())

    async def _debug(self, client: Client, req: Request) -> None:
        session = self._session(req)
        enable = req.payload.get("enable")
        if not isinstance(enable, bool):
            msg = f"network:debug: 'enable' must be true or false, got {enable!r}"
            raise ProtocolError(msg, "network")
        session.debug = enable
        self._reply(client, req, "network", "status", {**session.status(), "debug": enable})

    async def _edges(self, client: Client, req: Request) -> None:
        gid = self.store.get(req).id
        edges = req.payload.get("edges")
        if not isinstance(edges, list):
            msg = "network:edges: 'edges' must be a list of {src, tgt} objects"
            raise ProtocolError(msg, "network")
        selected = set()
        for i, e in enumerate(edges):
            if not isinstance(e, dict):
                msg = f"network:edges: edges[{i}] must be an object with 'src' and 'tgt'"
                raise ProtocolError(msg, "network")
            src = endpoint(e.get("src"), f"edges[{i}].src", req)
            tgt = endpoint(e.get("tgt"), f"edges[{i}].tgt", req)
            selected.add((src.key, tgt.key))
        client.watch(gid, selected)
        self._reply(client, req, "network", "edges", {"graph": gid, "edges": edges})

    # -- component --------------------------------------------------------------------------

    async def _list(self, client: Client, req: Request) -> None:
        count = 0
        for payload in self.library.describe_all():
            await client.wait_room()
            self._reply(client, req, "component", "component", payload)
            count += 1
        self._reply(client, req, "component", "componentsready", count)

    async def _getsource(self, client: Client, req: Request) -> None:
        name = req_str(req.payload, "name", req)
        lg = self.store.graphs.get(name)
        if lg is not None:
            payload = {"name": name, "language": "json", "code": dumps(lg.graph.to_dict())}
            self._reply(client, req, "component", "source", payload)
            return
        sent = self.sources.get(name)
        if sent is not None:
            self._reply(client, req, "component", "source", sent)
            return
        try:
            payload = self.library.source(name)
        except (OSError, TypeError) as e:
            msg = f"component:getsource: the source of {name!r} is not available: {e}"
            raise ProtocolError(msg, "component") from None
        except Exception as e:
            msg = f"component:getsource: {e}"
            raise ProtocolError(msg, "component") from None
        self._reply(client, req, "component", "source", payload)

    # -- trace ------------------------------------------------------------------------------

    async def _trace(self, client: Client, req: Request) -> None:
        lg = self.store.get(req)
        rec = self.recorder(lg.id)
        payload: dict[str, Any] = {"graph": lg.id}
        if req.command == "start":
            size = req.payload.get("buffersize")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
                msg = f"trace:start: 'buffersize' must be a number of bytes, got {size!r}"
                raise ProtocolError(msg, "trace")
            if size is not None and size < 1:
                msg = f"trace:start: 'buffersize' must be at least 1 byte, got {size}"
                raise ProtocolError(msg, "trace")
            rec.start(size)
            if size is not None:
                payload["buffersize"] = size
        elif req.command == "stop":
            rec.stop()
        else:
            rec.clear()
        self._reply(client, req, "trace", req.command, payload)

    async def _trace_dump(self, client: Client, req: Request) -> None:
        lg = self.store.get(req)
        kind = req.payload.get("type", "flowtrace.json")
        if kind != "flowtrace.json":
            msg = f"trace:dump: unknown trace type {kind!r}; this runtime writes 'flowtrace.json'"
            raise ProtocolError(msg, "trace")
        text = await self.recorder(lg.id).dump(lg.graph.to_dict())
        payload = {"graph": lg.id, "type": "flowtrace.json", "flowtrace": text}
        self._reply(client, req, "trace", "dump", payload)
