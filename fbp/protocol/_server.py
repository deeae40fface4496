"""The WebSocket server: connections, authentication, dispatch.

Each connection gets a :class:`~fbp.protocol._client.Client` (its bounded send queue)
and a task that sends what the queue holds. Requests from one client are handled in
order; a malformed request, an unknown command or a refused one gets an ``error``
message of its sub-protocol and the connection stays open. Graph changes, network
state and data events go to every client, so two editors see the same graphs.

With a secret, every message must carry it (at the top level, as protocol 0.8 has it,
or in the payload as 0.7 had it). Without it, ``runtime:getruntime`` is answered with
empty ``capabilities`` (the protocol's way to say "not for you") and every other
command with an error; the secret is never sent back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import shutil
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .._core._log import get_logger
from ._client import Client, ClientTooSlow
from ._commands import Commands
from ._components import ComponentLibrary
from ._graphs import GraphStore
from ._live import LIVE_COMMANDS, REFUSED_WHILE_RUNNING, apply_live
from ._messages import (
    PROTOCOLS,
    ProtocolError,
    Request,
    dumps,
    parse_request,
)
from ._network import NetworkSession
from ._options import RuntimeOptions
from ._output import OutputForwarder
from ._packets import EXPORT_COMMANDS, ports_payload
from ._persist import load_graphs
from ._trace import TraceRecorder

__all__ = ("RuntimeServer",)

log = get_logger(layer="protocol")

Origin = tuple[Client, str | None]

#: Seconds an exported output port's packet waits for a client's queue to have room.
PACKET_PATIENCE = 1.0


def _subprotocol(connection: Any, offered: Any) -> Any:
    return "noflo" if "noflo" in offered else None


class RuntimeServer(Commands):
    """An FBP network protocol runtime over WebSocket.

    Use it as an async context manager::

        async with RuntimeServer(RuntimeOptions(port=0)) as server:
            print(server.url)
            await server.wait_closed()

    Args:
        options: the settings; checked when the server starts.

    Raises:
        RuntimeConfigError: (on start) the settings are unsafe or invalid.
    """

    def __init__(self, options: RuntimeOptions | None = None) -> None:
        self.options = options or RuntimeOptions()
        self.registry = self.options.make_registry()
        self.library = ComponentLibrary(self.registry, self.options.collections)
        self.store = GraphStore(self.library)
        self.sessions: dict[str, NetworkSession] = {}
        self.recorders: dict[str, TraceRecorder] = {}
        self.clients: dict[Client, ServerConnection] = {}
        #: Component code clients sent (component:source), by component name.
        self.sources: dict[str, dict[str, Any]] = {}
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scratch: Path | None = None
        self._closed = asyncio.Event()
        self._handlers: dict[tuple[str, str], Callable[[Client, Request], Awaitable[None]]] = dict(
            self.handlers()
        )

    # -- life cycle ------------------------------------------------------------------------

    async def start(self, sock: Any = None) -> None:
        """Check the settings and start listening.

        Args:
            sock: a socket already bound and listening (``python -m fbp runtime``
                binds it before loading anything else, to accept connections early);
                by default the server binds ``options.host`` and ``options.port``.
        """
        self.options.check()
        if self.options.persist is not None:
            load_graphs(self.store, self.options.persist)
        where: dict[str, Any] = {"sock": sock}
        if sock is None:
            where = {"host": self.options.host, "port": self.options.port}
        self._server = await serve(
            self._connection,
            # "noflo" when the client offers it; clients that offer none are served too
            # (fbp-client and fbp-spec connect without a subprotocol).
            select_subprotocol=_subprotocol,
            max_size=self.options.max_message,
            **where,
        )

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._server is None:
            msg = "the server is not listening; start it first"
            raise RuntimeError(msg)
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        """The address clients connect to."""
        host = self.options.host or "0.0.0.0"
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.port}/"

    async def close(self) -> None:
        """Stop every network, close every connection, delete scratch files."""
        for session in list(self.sessions.values()):
            await session.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for recorder in self.recorders.values():
            with contextlib.suppress(Exception):
                recorder.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self._closed.set()

    async def wait_closed(self) -> None:
        """Wait until :meth:`close` has run."""
        await self._closed.wait()

    async def __aenter__(self) -> RuntimeServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @contextlib.contextmanager
    def forward_stdout(self) -> Iterator[None]:
        """Send what networks print to ``sys.stdout`` to the clients, as ``network:output``.

        Inside the block ``sys.stdout`` is replaced; call it from the event loop's thread.
        """
        saved = sys.stdout
        sys.stdout = OutputForwarder(self.emit_output, asyncio.get_running_loop())
        try:
            yield
        finally:
            sys.stdout = saved

    def emit_output(self, line: str) -> None:
        """Send a line of console output to every client (droppable, like data events)."""
        payload = {"message": line, "type": "message"}
        text = dumps({"protocol": "network", "command": "output", "payload": payload})
        for client in self.live_clients():
            client.offer(text)

    async def packet_out(self, payload: dict[str, Any]) -> None:
        """Send a ``runtime:packet`` to every client, once each has room for it.

        A client that reads nothing for :data:`PACKET_PATIENCE` seconds is not waited
        for: the packet is queued anyway, under the rule of announcements (a client
        twice its queue's capacity behind is disconnected), so that one stuck client
        cannot hold up the networks of all.
        """
        for client in self.live_clients():
            with anyio.move_on_after(PACKET_PATIENCE):
                await client.wait_room()
        self.announce("runtime", "packet", payload)

    def _spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        task = asyncio.ensure_future(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connections ------------------------------------------------------------------------

    async def _connection(self, ws: ServerConnection) -> None:
        peer = ws.remote_address
        client = Client(f"{peer[0]}:{peer[1]}" if peer else "?", self.options.queue_size)
        self.clients[client] = ws
        pump = asyncio.ensure_future(self._pump(ws, client))
        try:
            async for raw in ws:
                await client.wait_room()
                if client.closed:
                    break
                await self._handle(client, raw)
        except ConnectionClosed:
            pass
        finally:
            client.closed = True
            self.clients.pop(client, None)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(self, ws: ServerConnection, client: Client) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(await client.next_message())

    def live_clients(self) -> list[Client]:
        """The connected clients."""
        return [c for c in self.clients if not c.closed]

    def _deliver(self, client: Client, message: dict[str, Any] | str) -> None:
        try:
            client.send(message)
        except ClientTooSlow as e:
            log.warning("client too slow", client=client.name, error=str(e))
            ws = self.clients.get(client)
            if ws is not None:
                self._spawn(ws.close, 1008, "client too slow: its send queue overflowed")

    def _reply(
        self, client: Client, req: Request | None, protocol: str, command: str, payload: Any
    ) -> None:
        msg: dict[str, Any] = {"protocol": protocol, "command": command, "payload": payload}
        if req is not None and req.request_id is not None:
            msg["responseTo"] = req.request_id
        self._deliver(client, msg)

    def announce(
        self, protocol: str, command: str, payload: dict[str, Any], origin: Origin | None = None
    ) -> None:
        """Send a message to every client (the requester's copy answers its request)."""
        text = dumps({"protocol": protocol, "command": command, "payload": payload})
        for client in self.live_clients():
            if origin is not None and client is origin[0] and origin[1] is not None:
                msg = {"protocol": protocol, "command": command, "payload": payload}
                self._deliver(client, {**msg, "responseTo": origin[1]})
            else:
                self._deliver(client, text)

    # -- requests ---------------------------------------------------------------------------

    def _authorized(self, req: Request) -> bool:
        secret = self.options.secret
        if secret is None:
            return True
        given = req.secret if req.secret is not None else ""
        return hmac.compare_digest(given.encode(), secret.encode())

    async def _handle(self, client: Client, raw: str | bytes) -> None:
        try:
            req = parse_request(raw)
        except ProtocolError as e:
            self._reply(client, None, e.protocol, "error", {"message": e.message})
            return
        if not self._authorized(req):
            if (req.protocol, req.command) == ("runtime", "getruntime"):
                self._reply(client, req, "runtime", "runtime", self._runtime_info(False))
            else:
                message = (
                    f"access denied for {req.protocol}:{req.command}: this runtime requires"
                    " the secret it was started with; send it as 'secret' in the message"
                )
                protocol = req.protocol if req.protocol in PROTOCOLS else "runtime"
                self._reply(client, req, protocol, "error", {"message": message})
            return
        try:
            await self._dispatch(client, req)
        except ProtocolError as e:
            self._reply(client, req, e.protocol, "error", {"message": e.message})
        except Exception as e:  # a bug in a handler: answer, log, keep serving
            log.exception("request failed", protocol=req.protocol, command=req.command)
            protocol = req.protocol if req.protocol in PROTOCOLS else "runtime"
            message = f"internal error while handling {req.protocol}:{req.command}: {e!r}"
            self._reply(client, req, protocol, "error", {"message": message})

    async def _dispatch(self, client: Client, req: Request) -> None:
        if req.protocol not in PROTOCOLS:
            msg = f"unknown protocol {req.protocol!r}; this runtime speaks " + ", ".join(PROTOCOLS)
            raise ProtocolError(msg)
        if req.protocol == "graph":
            await self._graph_command(client, req)
            return
        handler = self._handlers.get((req.protocol, req.command))
        if handler is None:
            known = [c for p, c in self._handlers if p == req.protocol]
            msg = (
                f"unknown {req.protocol} command {req.command!r}; the {req.protocol}"
                f" protocol has: {', '.join(known)}"
            )
            raise ProtocolError(msg, req.protocol)
        await handler(client, req)

    async def _graph_command(self, client: Client, req: Request) -> None:
        """Carry out a graph command; apply it to the graph's running network, if any.

        ``clear`` replaces the graph: its running network, if any, is stopped first.
        """
        if req.command == "clear":
            gid = req.payload.get("id")
            running = self.sessions.get(gid) if isinstance(gid, str) else None
            if running is not None and running.running:
                self.announce("network", "stopped", await running.stop())
        session = None
        if req.command in LIVE_COMMANDS:
            gid = req.payload.get("graph")
            session = self.sessions.get(gid) if isinstance(gid, str) else None
            if session is not None and not session.running:
                session = None
        if session is not None:
            if req.command in REFUSED_WHILE_RUNNING:
                msg = (
                    f"graph:{req.command} is refused while the network of graph"
                    f" {session.graph_id!r} runs; stop it (network:stop) first"
                )
                raise ProtocolError(msg, "graph")
            rec = self.recorders.get(session.graph_id)
            if rec is not None and rec.recording:
                msg = (
                    f"graph:{req.command} is refused while the running network of graph"
                    f" {session.graph_id!r} is recorded (trace:start): a recorded run keeps"
                    " the ports it started with. Stop the network, or stop the recording"
                    " (trace:stop), first"
                )
                raise ProtocolError(msg, "graph")
        gid = req.payload.get("graph")
        lg = self.store.graphs.get(gid) if isinstance(gid, str) else None
        before = lg.graph.copy() if session is not None and lg is not None else None
        replies = self.store.handle(req)
        if session is not None and before is not None and lg is not None:
            try:
                apply_live(session, self.library, replies)
            except ProtocolError:
                lg.graph = before
                raise
        for protocol, command, payload in replies:
            self.announce(protocol, command, payload, (client, req.request_id))
        if lg is not None and any(command in EXPORT_COMMANDS for _, command, _ in replies):
            self.announce("runtime", "ports", ports_payload(lg, self.library))
