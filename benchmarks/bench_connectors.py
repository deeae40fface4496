"""Throughput of the connectors: Redis Streams and the HTTP webhook, against bare loops.

Run: ``python benchmarks/bench_connectors.py`` (``--quick`` for a short run). Needs
``redis-server`` on the PATH and the ``connectors`` extra.

Each case moves N messages and reports messages per second; the baselines do the same
broker or HTTP work without fbp, measured in the same run, and the table gives fbp's
throughput as a fraction of its baseline. Cases run interleaved, REPEATS times each;
medians are reported (the machine is shared and noisy).

- ``redis bare``: XREADGROUP of a batch, XACK of that batch, in one redis-py loop.
- ``redis fbp source->ack``: net/RedisSource -> net/RedisAck.
- ``redis fbp source->work->sink->ack``: a looper that rewrites the message in between,
  and net/RedisSink writing every result to a second stream before the ack.
- ``http bare``: an aiohttp handler that answers 202 at once; C concurrent clients.
- ``http fbp webhook``: net/HttpSource -> core/Drop; the same clients.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from fbp import Component, InPort, Network, OutPort

try:
    import aiohttp
    import redis
    from aiohttp import web
except ModuleNotFoundError:  # pragma: no cover
    sys.exit("install the connectors extra: pip install -e '.[connectors]'")

from fbp_components.core import Drop
from fbp_components.net import HttpSource, RedisAck, RedisSink, RedisSource, StreamMessage

BATCH = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(folder: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    r = redis.Redis.from_url(url)
    for _ in range(500):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.01)
    return proc, url


def fill(url: str, stream: str, n: int) -> None:
    r = redis.Redis.from_url(url)
    r.delete(stream)
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(stream, {"data": f'{{"n": {i}, "amount": {i * 0.5}}}'})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


async def redis_bare(url: str, stream: str, n: int) -> None:
    r = redis.asyncio.Redis.from_url(url, decode_responses=True)
    await r.xgroup_create(stream, "bare", id="0")
    done = 0
    while done < n:
        reply = await r.xreadgroup("bare", "c", {stream: ">"}, count=BATCH, block=100)
        ids = [i for i, _ in reply[0][1]] if reply else []
        if ids:
            await r.xack(stream, "bare", *ids)
            done += len(ids)
    await r.aclose()


class Work(Component):
    """Rewrite each message's data (keeps its identity for the ack)."""

    in_: InPort[StreamMessage]
    out: OutPort[StreamMessage]

    async def run(self) -> None:
        async for m in self.in_:
            data = {"n": m.data["n"], "tax": m.data["amount"] * 0.2}
            await self.out.send(m.model_copy(update={"data": data}))


class StopAt(Component):
    """Stop the network after N messages."""

    in_: InPort[Any]
    n: int
    net: Network

    async def run(self) -> None:
        k = 0
        async for batch in self.in_.batches():
            k += len(batch)
            if k >= self.n:
                self.net.stop()


async def redis_fbp(url: str, stream: str, n: int, work: bool) -> None:
    net = Network("bench", capacity=BATCH, validate=False)
    net.add_process("In", RedisSource)
    net.add_process("Ack", RedisAck)
    stop = net.add_process("Stop", StopAt)
    for key, value in (("STREAM", stream), ("URL", url), ("BATCH", BATCH), ("GROUP", "fbp")):
        net.add_initial(("In", key, None), value)
    net.add_initial(("Ack", "URL", None), url)
    if work:
        net.add_process("Work", Work)
        net.add_process("Out", RedisSink)
        net.add_initial(("Out", "STREAM", None), stream + ":out")
        net.add_initial(("Out", "URL", None), url)
        net.connect(("In", "OUT", None), ("Work", "IN", None))
        net.connect(("Work", "OUT", None), ("Out", "IN", None))
        net.connect(("Out", "OUT", None), ("Ack", "IN", None))
    else:
        net.connect(("In", "OUT", None), ("Ack", "IN", None))
    net.connect(("Ack", "OUT", None), ("Stop", "IN", None))
    stop.component.n = n  # type: ignore[attr-defined]
    stop.component.net = net  # type: ignore[attr-defined]
    await net.run()


async def post_many(url: str, n: int, clients: int) -> None:
    async with aiohttp.ClientSession() as s:

        async def client(k: int) -> None:
            for i in range(k, n, clients):
                for _ in range(500):
                    try:
                        async with s.post(url, json={"n": i}) as resp:
                            assert resp.status == 202, resp.status
                        break
                    except aiohttp.ClientConnectorError:
                        await asyncio.sleep(0.01)

        await asyncio.gather(*(client(k) for k in range(clients)))


async def http_bare(n: int, clients: int) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response({"accepted": True}, status=202)

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await post_many(f"http://127.0.0.1:{port}/", n, clients)
    finally:
        await runner.cleanup()


async def http_fbp(n: int, clients: int) -> None:
    port = free_port()
    net = Network("hook", validate=False)
    net.add_process("Hook", HttpSource)
    net.add_process("Drop", Drop)
    net.add_initial(("Hook", "PORT", None), port)
    net.connect(("Hook", "OUT", None), ("Drop", "IN", None))
    async with anyio.create_task_group() as tg:
        tg.start_soon(net.run)
        await post_many(f"http://127.0.0.1:{port}/", n, clients)
        net.stop()


def timed(fn: Callable[[], Awaitable[None]]) -> float:
    t0 = time.perf_counter()
    anyio.run(fn)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n = 3000 if args.quick else 30000
    n_http = 1000 if args.quick else 5000
    repeats = 2 if args.quick else args.repeats
    clients = 16
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_redis(tmp)
        try:
            times: dict[str, list[float]] = {}
            for rep in range(repeats):
                cases: list[tuple[str, int, Callable[[], Awaitable[None]]]] = [
                    ("redis bare", n, lambda s=f"b{rep}": redis_bare(url, s, n)),
                    ("redis fbp source->ack", n, lambda s=f"f{rep}": redis_fbp(url, s, n, False)),
                    (
                        "redis fbp source->work->sink->ack",
                        n,
                        lambda s=f"w{rep}": redis_fbp(url, s, n, True),
                    ),
                    ("http bare", n_http, lambda: http_bare(n_http, clients)),
                    ("http fbp webhook", n_http, lambda: http_fbp(n_http, clients)),
                ]
                for i, (name, _, _) in enumerate(cases):
                    if name.startswith("redis"):
                        fill(url, {0: f"b{rep}", 1: f"f{rep}", 2: f"w{rep}"}[i], n)
                for name, count, fn in cases:
                    times.setdefault(name, []).append(count / timed(fn))
        finally:
            server.terminate()
            server.wait()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"connectors: {n} Redis messages, {n_http} HTTP requests ({clients} clients),"
          f" medians of {repeats} interleaved repeats")  # fmt: skip
    print(f"{'case':38} {'msgs/s':>10} {'vs bare':>8}")
    for name, rate in med.items():
        base = med["redis bare"] if name.startswith("redis") else med["http bare"]
        print(f"{name:38} {rate:10,.0f} {rate / base:8.2f}")


if __name__ == "__main__":
    main()
