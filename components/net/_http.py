"""HTTP in and out: a webhook source and a request sink (aiohttp).

:class:`HttpSource` answers a POST only once its body has been accepted into the
network (``202``): while the network is full, requests wait, so back-pressure reaches
the clients instead of a buffer. :class:`HttpSink` sends one request per IP, in order.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
from pydantic import BaseModel

from fbp import Component, InPort, OutPort, port

__all__ = ("HttpResponse", "HttpSink", "HttpSource")

INSTALL_HINT = "install the connectors extra: pip install 'fbp-causal[connectors]'"


def _aiohttp(address: str) -> Any:
    try:
        import aiohttp
        from aiohttp import web
    except ModuleNotFoundError as exc:
        msg = f"{address}: the HTTP connector needs aiohttp; {INSTALL_HINT}"
        raise ImportError(msg) from exc
    return aiohttp, web


class HttpSource(Component):
    """Serve a webhook: every POST body (JSON) becomes an IP; runs until stopped.

    The reply is ``202`` once the IP is in the network, ``400`` for a body that is not
    JSON, and ``503`` when the network has not taken it within TIMEOUT seconds (the
    send is withdrawn; in the rare case that the network took it at that very
    moment, a client that retries makes it twice: at least once, as everywhere).
    Example: ``8080 -> PORT Hook(net/HttpSource) OUT -> IN Work(...)``.
    """

    port_: InPort[int] = port(description="the TCP port to listen on")
    host: InPort[str] = port(default="127.0.0.1", description="the address to listen on")
    path: InPort[str] = port(default="/", description="the URL path that takes POSTs")
    timeout: InPort[float] = port(
        default=30.0, description="seconds a request may wait for room before a 503"
    )
    out: OutPort[Any] = port(description="one IP per request body")

    async def run(self) -> None:
        tcp_port = await self.port_.receive()
        host = await self.host.receive()
        path = await self.path.receive()
        timeout = await self.timeout.receive()
        _, web = _aiohttp(self.out.address)
        # One request at a time is handed to the process's own task, which sends it.
        handoff: asyncio.Queue[tuple[Any, asyncio.Future[None]]] = asyncio.Queue(maxsize=1)
        # The request being sent, and the scope that withdraws its send on a timeout.
        sending: list[tuple[asyncio.Future[None], anyio.CancelScope]] = []

        async def handle(request: Any) -> Any:
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"error": "the body is not JSON"}, status=400)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await handoff.put((body, done))
                    await asyncio.shield(done)
            except TimeoutError:
                if done.done() and not done.cancelled():
                    return web.json_response({"accepted": True}, status=202)
                done.cancel()
                for fut, scope in sending:
                    if fut is done:
                        scope.cancel()  # withdraw the send: the network did not take it
                return web.json_response({"error": "the network is full; retry"}, status=503)
            return web.json_response({"accepted": True}, status=202)

        app = web.Application()
        app.router.add_post(path, handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, tcp_port)
            await site.start()
            self.log.info("listening", url=f"http://{host}:{tcp_port}{path}")
            while True:
                body, done = await handoff.get()
                if done.done():  # its request timed out before the network took it
                    continue
                with anyio.CancelScope() as scope:
                    sending.append((done, scope))
                    try:
                        await self.out.send(body)
                    finally:
                        sending.clear()
                if not scope.cancelled_caught:
                    done.set_result(None)
        finally:
            await runner.cleanup()


class HttpResponse(BaseModel):
    """What :class:`HttpSink` got back for one IP."""

    status: int
    body: Any


class HttpSink(Component):
    """Send every IP as a JSON request to URL, in order (a non-looper).

    A reply of 400 or more, or a failed connection, raises: the activation goes to the
    ERROR port if it is connected (a dead letter), else the run stops naming the IP.
    """

    in_: InPort[Any] = port(description="payloads to send")
    url: InPort[str] = port(description="where to send them")
    method: InPort[str] = port(default="POST", description="the HTTP method")
    timeout: InPort[float] = port(default=30.0, description="seconds per request")
    out: OutPort[HttpResponse] = port(description="the reply to each request", optional=True)
    error: OutPort[Any] = port(description="dead letters of failed requests", optional=True)

    _session: Any = None

    async def process(self, in_: Any, url: str, method: str, timeout: float) -> None:  # noqa: ASYNC109
        aiohttp, _ = _aiohttp(self.in_.address)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), raise_for_status=False
            )
        data = in_.model_dump_json() if isinstance(in_, BaseModel) else json.dumps(in_, default=str)
        async with self._session.request(
            method, url, data=data, headers={"Content-Type": "application/json"}
        ) as resp:
            text = await resp.text()
            if resp.status >= 400:
                msg = f"{method} {url} answered {resp.status}: {text[:200]}"
                raise RuntimeError(msg)
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        if self.out.is_connected:
            await self.out.send(HttpResponse(status=resp.status, body=body))

    async def finish(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
