"""The network sub-protocol: start, stop and watch the network of a graph.

A graph has at most one running network. ``start`` checks the graph and wires a new
:class:`fbp.Network` from its current state (so a graph edited while stopped runs as
edited), announces ``started`` and runs it in the background; data events flow while
it runs. How a run ends is announced to every client:

- it completes: ``stopped`` with ``started: true, running: false`` (``getstatus``
  reports the same until the next ``start`` or ``stop``);
- a component raises: ``processerror`` (``{id: process, error}``; in debug mode the
  error text ends with the Python traceback), then ``stopped``;
- a deadlock, or any other failure: ``network:error`` with the full explanation (for
  a deadlock, the wait-for cycle), then ``stopped``;
- ``stop``: the run is cancelled, and ``stopped`` says ``started: false``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio

from .._core._exceptions import (
    ComponentNotFoundError,
    EndOfStream,
    GraphError,
    NetworkError,
    PacketTypeError,
    ProcessError,
)
from .._core._live import LiveEditError, Outlet
from .._core._log import get_logger
from .._core._network import DEFAULT_CAPACITY, Network
from ..graph import Graph, build_network
from ._events import LiveSink
from ._messages import ProtocolError, jsonable

__all__ = ("NetworkSession", "iso_now")

log = get_logger(layer="protocol")

#: Sends a message to every client: (protocol, command, payload, origin), where the
#: origin (the requesting client and its request id) marks the copy that answers it.
Announce = Callable[[str, str, dict[str, Any], Any], None]

#: Sends a ``runtime:packet`` to every client, waiting for room in their queues.
PacketOut = Callable[[dict[str, Any]], Awaitable[None]]

#: Seconds a finished run waits for its exported output ports' last packets to go out.
DRAIN_TIMEOUT = 5.0


def iso_now() -> str:
    """The current time as an ISO 8601 date-time (UTC)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NetworkSession:
    """The network of one graph: its state and its run.

    Args:
        graph_id: the graph's id.
        announce: sends a message to every client.
        registry: where the network's components are found.
        capacity: the default edge capacity.
        flush_interval: seconds between two deliveries of data events during a run.
        deadlock_interval: the deadlock watchdog's interval (see :class:`fbp.Network`).
        packet_out: sends the packets of exported output ports to the clients.
    """

    def __init__(
        self,
        graph_id: str,
        announce: Announce,
        *,
        registry: Any,
        capacity: int = DEFAULT_CAPACITY,
        flush_interval: float = 0.05,
        deadlock_interval: float = 0.25,
        packet_out: PacketOut | None = None,
    ) -> None:
        self.graph_id = graph_id
        self.packet_out = packet_out
        self.announce = announce
        self.registry = registry
        self.capacity = capacity
        self.flush_interval = flush_interval
        self.deadlock_interval = deadlock_interval
        self.started = False
        self.debug = False
        self.network: Network | None = None
        self.sink: LiveSink | None = None
        self._scope: anyio.CancelScope | None = None
        self._done = anyio.Event()
        self._done.set()
        self._t0 = 0.0
        self._stopping = False
        #: Whether the running network was edited live (its trace port table grew).
        self.edited = False

    @property
    def running(self) -> bool:
        """Whether a run is in progress."""
        return not self._done.is_set()

    def uptime(self) -> float:
        """Seconds since the last start (0 if never started)."""
        return round(time.monotonic() - self._t0, 3) if self._t0 else 0.0

    def status(self) -> dict[str, Any]:
        """The payload of a ``status`` message."""
        d: dict[str, Any] = {
            "graph": self.graph_id,
            "running": self.running,
            "started": self.started,
        }
        if self.debug:
            d["debug"] = True
        return d

    def _ended(self, started: bool) -> dict[str, Any]:
        return {
            "graph": self.graph_id,
            "time": iso_now(),
            "uptime": self.uptime(),
            "running": False,
            "started": started,
        }

    def start(
        self,
        graph: Graph,
        sink: LiveSink,
        spawn: Callable[..., None],
        origin: Any = None,
    ) -> None:
        """Wire a network from ``graph`` and run it in the background.

        Args:
            graph: the graph to run (copied: later edits do not reach this run).
            sink: the live sink that turns the run's records into events.
            spawn: starts a background task: ``spawn(async_fn, *args)``.
            origin: the request that asked, for the reply's ``responseTo``.

        Raises:
            ProtocolError: the network is already running, or the graph is invalid
                (the message lists every problem).
        """
        if self.running:
            msg = f"the network of graph {self.graph_id!r} is already running; stop it first"
            raise ProtocolError(msg, "network")
        g = graph.copy()
        g.properties["name"] = self.graph_id  # the network's name is what events carry
        try:
            net = build_network(
                g,
                registry=self.registry,
                capacity=self.capacity,
                trace=sink,
                deadlock_interval=self.deadlock_interval,
                open_exports=True,
            )
        except (GraphError, ComponentNotFoundError) as e:
            msg = f"cannot start graph {self.graph_id!r}: {e}"
            raise ProtocolError(msg, "network") from None
        except (ValueError, TypeError) as e:
            msg = f"cannot start graph {self.graph_id!r}: {e}"
            raise ProtocolError(msg, "network") from None
        net.allow_edits()
        for proc in net.processes.values():
            self.watch_icon(proc.component)
        self.network = net
        self.sink = sink
        self.started = True
        self.edited = False
        self._stopping = False
        self._t0 = time.monotonic()
        self._done = anyio.Event()
        self._scope = anyio.CancelScope()
        payload = {"graph": self.graph_id, "time": iso_now(), "started": True, "running": True}
        if self.debug:
            payload["debug"] = True
        self.announce("network", "started", payload, origin)
        spawn(self._run, net, self._scope, self._done)

    async def _run(self, net: Network, scope: anyio.CancelScope, done: anyio.Event) -> None:
        failure: NetworkError | None = None
        try:
            with scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._flush, net)
                    pumps = anyio.create_task_group()
                    async with pumps:
                        for public, outlet in net.outlets.items():
                            pumps.start_soon(self._pump, public, outlet)
                        try:
                            await net.run()
                        except NetworkError as e:
                            failure = e
                            pumps.cancel_scope.cancel()
                        else:
                            # What the exported ports sent last still goes out.
                            pumps.cancel_scope.deadline = anyio.current_time() + DRAIN_TIMEOUT
                    tg.cancel_scope.cancel()
        except Exception as e:  # a failure of the runtime itself: report it, keep serving
            log.exception("network failed", graph=self.graph_id)
            message = f"the runtime failed while running graph {self.graph_id!r}: {e!r}"
            self.announce("network", "error", {"message": message, "graph": self.graph_id}, None)
        finally:
            done.set()
        if isinstance(failure, ProcessError):
            text = str(failure)
            if self.debug and failure.cause.__traceback__ is not None:
                text += "\n" + "".join(traceback.format_exception(failure.cause))
            payload = {"id": failure.process, "error": text, "graph": self.graph_id}
            self.announce("network", "processerror", payload, None)
        elif failure is not None:  # a deadlock (with its wait-for cycle), or another failure
            payload = {"message": str(failure), "graph": self.graph_id}
            self.announce("network", "error", payload, None)
        if not self._stopping:
            self.announce("network", "stopped", self._ended(started=True), None)

    def watch_icon(self, component: Any) -> None:
        """Announce the icon changes of a process (``Component.set_icon``) as ``network:icon``."""
        component._icon_listener = self._icon

    def _icon(self, process: str, icon: str) -> None:
        node = process.split("/", 1)[0]  # a subnet's inner process shows on the subnet node
        payload = {"id": node, "icon": icon, "graph": self.graph_id}
        self.announce("network", "icon", payload, None)

    async def _pump(self, public: str, outlet: Outlet) -> None:
        """Send what an exported output port sends to the clients, as ``runtime:packet``."""
        while True:
            try:
                event, value = await outlet.receive()
            except EndOfStream:
                return
            payload: dict[str, Any] = {"port": public, "event": event, "graph": self.graph_id}
            if event == "data":
                payload["payload"] = jsonable(value)
            elif value is not None:
                payload["payload"] = str(value)
            if self.packet_out is not None:
                await self.packet_out(payload)

    async def send_packet(self, port: str, event: str, value: Any) -> str:
        """Send a packet into an exported input port of the running network.

        Returns:
            The exported port's name as the graph spells it.

        Raises:
            ProtocolError: the network is not running, the port is not exported, the
                event is a bracket, or the value does not fit the port.
        """
        net = self.network
        if not self.running or net is None:
            msg = (
                f"runtime:packet: the network of graph {self.graph_id!r} is not running;"
                " start it (network:start) before sending packets to its ports"
            )
            raise ProtocolError(msg, "runtime")
        public = (
            port
            if port in net.inlets
            else next((p for p in net.inlets if p.lower() == port.lower()), None)
        )
        if public is None:
            names = ", ".join(sorted(net.inlets)) or "none"
            msg = (
                f"runtime:packet: graph {self.graph_id!r} exports no input port {port!r} in"
                f" its running network (its exported input ports: {names}); ports exported"
                " after the start reach the next run"
            )
            raise ProtocolError(msg, "runtime")
        if event in ("connect", "disconnect"):
            return public
        if event != "data":
            msg = (
                f"runtime:packet: {event!r} events are not taken by exported input ports"
                " here; send 'data' packets (connect and disconnect are accepted and ignored)"
            )
            raise ProtocolError(msg, "runtime")
        try:
            await net.inlets[public].send(value)
        except (LiveEditError, PacketTypeError) as e:
            msg = f"runtime:packet to {public!r}: {e}"
            raise ProtocolError(msg, "runtime") from None
        return public

    async def _flush(self, net: Network) -> None:
        while True:
            await anyio.sleep(self.flush_interval)
            net.flush_trace()

    async def wait(self) -> None:
        """Wait until the current run (if any) has ended and been announced."""
        await self._done.wait()

    async def stop(self) -> dict[str, Any]:
        """Cancel the run if one is going, wait for its end; return ``stopped``'s payload."""
        if self.running and self._scope is not None:
            self._stopping = True
            self._scope.cancel()
            await self._done.wait()
        self.started = False
        return self._ended(started=False)
