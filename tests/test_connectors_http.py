"""HTTP connectors: a webhook source and a request sink, against real HTTP servers."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from redis_server import free_port

from fbp import Component, InPort, Network, OutPort

aiohttp = pytest.importorskip("aiohttp", reason="needs the connectors extra")
from aiohttp import web  # noqa: E402
from fbp_components.net import HttpResponse, HttpSink, HttpSource  # noqa: E402


class Double(Component):
    """Double the field x."""

    in_: InPort[Any]
    out: OutPort[Any]

    async def run(self) -> None:
        async for body in self.in_:
            await self.out.send({"x": body["x"], "double": 2 * body["x"]})


class Gate(Component):
    """Hold every IP until the test opens the gate."""

    in_: InPort[Any]
    out: OutPort[Any]
    open: anyio.Event

    async def run(self) -> None:
        async for x in self.in_:
            await self.open.wait()
            await self.out.send(x)


class Until(Component):
    """Collect; stop the network once N IPs have arrived."""

    in_: InPort[Any]
    got: list[Any]
    n: int
    net: Network

    async def run(self) -> None:
        self.got = []
        async for x in self.in_:
            self.got.append(x)
            if len(self.got) == self.n:
                self.net.stop()


async def receiver(status_of: Any) -> tuple[web.AppRunner, str, list[Any]]:
    seen: list[Any] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        status = status_of(body)
        return web.json_response({"ok": status < 400, "x": body["x"]}, status=status)

    app = web.Application()
    app.router.add_post("/in", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/in", seen


async def post_all(url: str, bodies: list[Any]) -> list[int]:
    async with aiohttp.ClientSession() as s:

        async def one(b: Any) -> int:
            for _ in range(200):  # the webhook may not listen yet
                try:
                    async with s.post(url, json=b) as resp:
                        return resp.status
                except aiohttp.ClientConnectorError:
                    await anyio.sleep(0.02)
            raise AssertionError("the webhook never listened")

        statuses: list[int] = [0] * len(bodies)

        async def at(i: int) -> None:
            statuses[i] = await one(bodies[i])

        async with anyio.create_task_group() as tg:
            for i in range(len(bodies)):
                tg.start_soon(at, i)
        return statuses


def hook_network(capacity: int, hook_port: int, sink_url: str, n: int) -> tuple[Network, Any]:
    net = Network("http", capacity=capacity)
    net.add_process("Hook", HttpSource)
    net.add_process("Double", Double)
    net.add_process("Send", HttpSink)
    until = net.add_process("Until", Until)
    dead = net.add_process("Dead", Until)
    net.add_initial(("Hook", "PORT", None), hook_port)
    net.add_initial(("Hook", "PATH", None), "/hook")
    net.add_initial(("Send", "URL", None), sink_url)
    net.connect(("Hook", "OUT", None), ("Double", "IN", None))
    net.connect(("Double", "OUT", None), ("Send", "IN", None))
    net.connect(("Send", "OUT", None), ("Until", "IN", None))
    net.connect(("Send", "ERROR", None), ("Dead", "IN", None))
    until.component.n = n  # type: ignore[attr-defined]
    until.component.net = net  # type: ignore[attr-defined]
    dead.component.n = -1  # type: ignore[attr-defined]
    return net, (until.component, dead.component)


@pytest.mark.parametrize("capacity", [0, 1, 8])
async def test_webhook_in_requests_out(capacity: int) -> None:
    runner, sink_url, seen = await receiver(lambda b: 500 if b["x"] == 7 else 200)
    port = free_port()
    n = 30
    net, (until, dead) = hook_network(capacity, port, sink_url, n - 1)
    statuses: list[int] = []
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(net.run)
                statuses = await post_all(
                    f"http://127.0.0.1:{port}/hook", [{"x": i} for i in range(n)]
                )
    finally:
        await runner.cleanup()
    assert statuses == [202] * n
    assert sorted(b["x"] for b in seen) == list(range(n))
    assert all(b["double"] == 2 * b["x"] for b in seen)
    replies = until.got
    assert all(isinstance(r, HttpResponse) and r.status == 200 for r in replies)
    assert sorted(r.body["x"] for r in replies) == [i for i in range(n) if i != 7]
    # The request that failed is a dead letter, with the IP that caused it.
    (letter,) = dead.got
    assert letter.inputs["in"] == {"x": 7, "double": 14}
    assert "answered 500" in letter.message


async def test_a_full_network_answers_503_and_a_bad_body_400() -> None:
    port = free_port()
    net = Network("full", capacity=0)
    net.add_process("Hook", HttpSource)
    gate = net.add_process("Gate", Gate)
    until = net.add_process("Until", Until)
    net.add_initial(("Hook", "PORT", None), port)
    net.add_initial(("Hook", "TIMEOUT", None), 0.3)
    net.connect(("Hook", "OUT", None), ("Gate", "IN", None))
    net.connect(("Gate", "OUT", None), ("Until", "IN", None))
    gate.component.open = anyio.Event()  # type: ignore[attr-defined]
    until.component.n = 1  # type: ignore[attr-defined]
    until.component.net = net  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}/"
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(net.run)
            # Gate holds the first; a rendezvous edge takes no second one: 503.
            first = await post_all(url, [{"x": 1}])
            second = await post_all(url, [{"x": 2}])
            async with aiohttp.ClientSession() as s, s.post(url, data=b"{not json") as resp:
                bad = resp.status
            gate.component.open.set()  # type: ignore[attr-defined]
    assert first == [202]
    assert second == [503]
    assert bad == 400
    assert until.component.got == [{"x": 1}]  # type: ignore[attr-defined]
