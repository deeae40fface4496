"""Helpers of the protocol runtime's tests: a real WebSocket client, test components.

Imported by ``tests/test_protocol_*.py`` as ``protocol.fbpclient``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect

from fbp import Component, InPort, OutPort, port
from fbp.graph import Registry
from fbp.protocol import RuntimeOptions, RuntimeServer

_REPLY = {
    ("network", "start"): "started",
    ("runtime", "packet"): "packetsent",
    ("component", "getsource"): "source",
    ("network", "getstatus"): "status",
    ("network", "stop"): "stopped",
    ("network", "debug"): "status",
    ("runtime", "getruntime"): "runtime",
}

#: Seconds any single wait for a message may take before the test fails.
WAIT = 10.0


class Point(BaseModel):
    """A typed payload, to check port schemas."""

    x: float
    y: float


class Explode(Component):
    """Raise on the first IP (a component that fails)."""

    in_: InPort[Any]

    async def run(self) -> None:
        async for x in self.in_:
            raise ValueError(f"cannot handle {x!r}")


class Typed(Component):
    """Ports with precise types, to check the component listing."""

    points: InPort[Point] = port(description="points to move")
    mode: InPort[Literal["fast", "slow"]] = port(default="fast")
    out: OutPort[list[Point]]

    async def run(self) -> None:
        async for p in self.points:
            await self.out.send([p])


class Tagged(Component):
    """Wrap every IP in a bracket pair tagged 'batch'."""

    in_: InPort[Any]
    out: OutPort[Any]

    async def run(self) -> None:
        async for x in self.in_:
            async with self.out.substream("batch"):
                await self.out.send(x)


class Shout(Component):
    """Print every IP in capitals on standard output."""

    in_: InPort[str]

    async def run(self) -> None:
        async for x in self.in_:
            print(x.upper())


class Iconic(Component):
    """Forward every IP; show the icon 'check' once it has forwarded one."""

    icon = "cog"
    in_: InPort[Any]
    out: OutPort[Any]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x)
            self.set_icon("check")


class Paced(Component):
    """Forward every IP, one every 5 ms (a steady, slow stream to watch)."""

    in_: InPort[Any]
    out: OutPort[Any]

    async def run(self) -> None:
        async for x in self.in_:
            await anyio.sleep(0.005)
            await self.out.send(x)


EXTRA: dict[str, Any] = {
    "test/Iconic": Iconic,
    "test/Paced": Paced,
    "test/Explode": Explode,
    "test/Typed": Typed,
    "test/Tagged": Tagged,
    "test/Shout": Shout,
}


def options(**kw: Any) -> RuntimeOptions:
    """Options of a test server: a free port, test components, fast watchdog."""
    kw.setdefault("port", 0)
    kw.setdefault("registry", Registry(allow_imports=False, extra=EXTRA))
    kw.setdefault("deadlock_interval", 0.05)
    kw.setdefault("flush_interval", 0.01)
    return RuntimeOptions(**kw)


@asynccontextmanager
async def serving(**kw: Any) -> AsyncIterator[RuntimeServer]:
    """A running server on a free loopback port."""
    async with RuntimeServer(options(**kw)) as server:
        yield server


class Peer:
    """A protocol client over a real WebSocket connection.

    Every message received is kept in :attr:`log` (raw text in :attr:`raw`).
    """

    def __init__(self, ws: ClientConnection, secret: str | None) -> None:
        self.ws = ws
        self.secret = secret
        self.log: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._held: list[dict[str, Any]] = []

    async def send(
        self,
        protocol: str,
        command: str,
        payload: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        secret: str | None = None,
    ) -> None:
        """Send a message (with the peer's secret unless another is given)."""
        msg: dict[str, Any] = {"protocol": protocol, "command": command, "payload": payload or {}}
        use = secret if secret is not None else self.secret
        if use is not None:
            msg["secret"] = use
        if request_id is not None:
            msg["requestId"] = request_id
        await self.ws.send(json.dumps(msg))

    async def recv(self) -> dict[str, Any]:
        """The next message (held ones first)."""
        if self._held:
            return self._held.pop(0)
        with anyio.fail_after(WAIT):
            text = await self.ws.recv()
        assert isinstance(text, str)
        self.raw.append(text)
        msg: dict[str, Any] = json.loads(text)
        self.log.append(msg)
        return msg

    async def expect(
        self, protocol: str, command: str, *, allow_errors: bool = False
    ) -> dict[str, Any]:
        """Receive until a ``protocol:command`` message; return it.

        Other messages are skipped, but an unexpected ``error`` fails the test.
        """
        while True:
            msg = await self.recv()
            if (msg["protocol"], msg["command"]) == (protocol, command):
                return msg
            if msg["command"] == "error" and not allow_errors and command != "error":
                raise AssertionError(f"unexpected error while waiting for {command}: {msg}")

    async def collect_until(self, protocol: str, command: str) -> list[dict[str, Any]]:
        """Receive every message up to and including a ``protocol:command`` one."""
        out: list[dict[str, Any]] = []
        while True:
            msg = await self.recv()
            out.append(msg)
            if (msg["protocol"], msg["command"]) == (protocol, command):
                return out

    async def request(
        self, protocol: str, command: str, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send a message and wait for its reply (``network:getstatus`` is answered by
        ``status``, ``network:stop`` by ``stopped``, most commands by themselves)."""
        await self.send(protocol, command, payload)
        return await self.expect(protocol, _REPLY.get((protocol, command), command))

    async def error(
        self, protocol: str, command: str, payload: dict[str, Any] | None = None
    ) -> str:
        """Send a message that must be refused; return the error message.

        ``runtime:ports`` announcements (which follow changes of exported ports) are
        skipped.
        """
        await self.send(protocol, command, payload)
        msg = await self.recv()
        while (msg["protocol"], msg["command"]) == ("runtime", "ports"):
            msg = await self.recv()
        assert msg["command"] == "error", msg
        assert msg["protocol"] == protocol, msg
        text = msg["payload"]["message"]
        assert isinstance(text, str)
        return text


@asynccontextmanager
async def client(
    server: RuntimeServer, secret: str | None = None, *, subprotocol: bool = True
) -> AsyncIterator[Peer]:
    """A client connected to ``server``."""
    kw: dict[str, Any] = {"subprotocols": ["noflo"]} if subprotocol else {}
    async with connect(f"ws://127.0.0.1:{server.port}/", max_size=None, **kw) as ws:
        yield Peer(ws, secret)


async def build(peer: Peer, graph: str, spec: dict[str, Any]) -> None:
    """Create ``graph`` from a compact spec through graph commands.

    ``spec``: ``{"nodes": {id: component}, "edges": [("A.OUT", "B.IN")],
    "iips": [(value, "A.IN")]}``.
    """
    await peer.request("graph", "clear", {"id": graph, "main": True})
    for nid, comp in spec.get("nodes", {}).items():
        await peer.request("graph", "addnode", {"id": nid, "component": comp, "graph": graph})
    for src, tgt in spec.get("edges", []):
        (sn, sp), (tn, tp) = src.split("."), tgt.split(".")
        await peer.request(
            "graph",
            "addedge",
            {"src": {"node": sn, "port": sp}, "tgt": {"node": tn, "port": tp}, "graph": graph},
        )
    for value, tgt in spec.get("iips", []):
        tn, tp = tgt.split(".")
        await peer.request(
            "graph",
            "addinitial",
            {"src": {"data": value}, "tgt": {"node": tn, "port": tp}, "graph": graph},
        )


NPM = Path(__file__).resolve().parent.parent / "npm"
SESSION_JS = Path(__file__).resolve().parent / "fbp_client_session.js"


async def fbp_client(address: str, steps: list[dict[str, Any]], secret: str = "") -> dict[str, Any]:
    """Run ``steps`` with fbp-client (npm), the schema-checking client of noflo-ui.

    See ``fbp_client_session.js`` for the steps; returns its report: ``replies``,
    ``signals`` (every message that answered no request), ``protocolErrors`` (messages
    that failed fbp-protocol's schemas) and ``failure``.
    """
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; fbp-client needs Node.js 18 or newer")
    if not (NPM / "node_modules" / "fbp-client").exists():
        pytest.fail("fbp-client is not installed: run `npm ci --prefix tests/npm`")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps({"secret": secret, "steps": steps}))
        env = {**os.environ, "NODE_PATH": str(NPM / "node_modules")}
        with anyio.fail_after(60):
            async with await anyio.open_process(
                [node, str(SESSION_JS), address, str(script)], env=env
            ) as proc:
                # The report is one line; the process may linger after it (its
                # transport's timers), so it is not waited for.
                assert proc.stdout is not None and proc.stderr is not None
                data = b""
                async for chunk in proc.stdout:
                    data += chunk
                    if data.endswith(b"\n"):
                        break
                proc.kill()
                errors = b"".join([chunk async for chunk in proc.stderr])
    assert data, errors.decode()[-3000:]
    report: dict[str, Any] = json.loads(data)
    return report
