"""Redis Streams connectors against a real redis-server started by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from redis_server import redis_server

from fbp import Component, InPort, Network, OutPort

redis = pytest.importorskip("redis", reason="needs the connectors extra")
from fbp_components.net import RedisAck, RedisSink, RedisSource, StreamMessage  # noqa: E402


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as u:
        yield u


def client(url: str) -> Any:
    return redis.Redis.from_url(url, decode_responses=True)


def produce(url: str, stream: str, n: int) -> list[str]:
    r = client(url)
    pipe = r.pipeline()
    for i in range(n):
        pipe.xadd(stream, {"data": f'{{"n": {i}}}'})
    return [str(x) for x in pipe.execute()]


class Work(Component):
    """Double n, keeping the message (so that it can be acknowledged)."""

    in_: InPort[StreamMessage]
    out: OutPort[StreamMessage]

    async def run(self) -> None:
        async for m in self.in_:
            data = {"n": m.data["n"], "double": 2 * m.data["n"], "src": m.id}
            await self.out.send(m.model_copy(update={"data": data}))


class Tally(Component):
    """Count acknowledged messages; act at given counts (stop, or a callback)."""

    in_: InPort[StreamMessage]
    seen: list[str]
    at: dict[int, Any]

    async def run(self) -> None:
        self.seen = []
        async for m in self.in_:
            self.seen.append(m.id)
            action = self.at.get(len(self.seen))
            if action is not None:
                await action()


class Slow(Component):
    """Pass messages on slowly; note the group's state after the 100th."""

    in_: InPort[StreamMessage]
    out: OutPort[StreamMessage]
    url: str
    state: dict[str, Any]

    async def run(self) -> None:
        k = 0
        async for m in self.in_:
            k += 1
            if k == 100:
                r = redis.asyncio.Redis.from_url(self.url, decode_responses=True)
                (group,) = await r.xinfo_groups(m.stream)
                self.state = {"pending": group["pending"], "read": group["entries-read"]}
                await r.aclose()
            await anyio.sleep(0.001)
            await self.out.send(m)


def pipeline(
    url: str, stream: str, out_stream: str | None, *, capacity: int = 8, batch: int = 8
) -> tuple[Network, Any]:
    net = Network("redis", capacity=capacity)
    net.add_process("In", RedisSource)
    net.add_process("Work", Work)
    net.add_process("Ack", RedisAck)
    tally = net.add_process("Tally", Tally)
    for proc, key, value in (
        ("In", "STREAM", stream), ("In", "URL", url), ("In", "BATCH", batch),
        ("In", "BLOCK_MS", 50), ("Ack", "URL", url),
    ):  # fmt: skip
        net.add_initial((proc, key, None), value)
    net.connect(("In", "OUT", None), ("Work", "IN", None))
    if out_stream is None:
        net.connect(("Work", "OUT", None), ("Ack", "IN", None))
    else:
        net.add_process("Out", RedisSink)
        net.add_initial(("Out", "STREAM", None), out_stream)
        net.add_initial(("Out", "URL", None), url)
        net.connect(("Work", "OUT", None), ("Out", "IN", None))
        net.connect(("Out", "OUT", None), ("Ack", "IN", None))
    net.connect(("Ack", "OUT", None), ("Tally", "IN", None))
    return net, tally.component


async def test_messages_are_processed_written_and_acknowledged(url: str) -> None:
    ids = produce(url, "orders", 100)
    net, tally = pipeline(url, "orders", "doubled")

    async def stop() -> None:
        net.stop()

    tally.at = {100: stop}
    with anyio.fail_after(20):
        result = await net.run()
    assert result.status == "interrupted"  # drained by stop()
    assert sorted(tally.seen) == sorted(ids)
    r = client(url)
    written = [f for _, f in r.xrange("doubled")]
    assert [__import__("json").loads(f["data"])["double"] for f in written] == [
        2 * i for i in range(100)
    ]
    assert r.xpending("orders", "fbp")["pending"] == 0


async def test_back_pressure_leaves_the_stream_in_redis(url: str) -> None:
    produce(url, "flood", 2000)
    net = Network("flood", capacity=2)
    net.add_process("In", RedisSource)
    slow = net.add_process("Slow", Slow)
    net.add_process("Ack", RedisAck)
    tally = net.add_process("Tally", Tally)
    net.add_initial(("In", "STREAM", None), "flood")
    net.add_initial(("In", "URL", None), url)
    net.add_initial(("In", "BATCH", None), 8)
    net.add_initial(("Ack", "URL", None), url)
    net.connect(("In", "OUT", None), ("Slow", "IN", None))
    net.connect(("Slow", "OUT", None), ("Ack", "IN", None))
    net.connect(("Ack", "OUT", None), ("Tally", "IN", None))
    slow.component.url = url  # type: ignore[attr-defined]

    async def stop() -> None:
        net.stop()

    tally.component.at = {150: stop}  # type: ignore[attr-defined]
    with anyio.fail_after(30):
        await net.run()
    state = slow.component.state  # type: ignore[attr-defined]
    # Read from Redis at the 100th message: what the network holds (a batch, two
    # channels of 2, one IP in each process's hands, Ack's unflushed batch) and no more.
    bound = 8 + 2 + 2 + 3 + 2
    assert state["pending"] <= bound, state
    assert state["read"] <= 100 + bound, state
    group = client(url).xinfo_groups("flood")[0]
    assert group["lag"] >= 2000 - 150 - bound  # the rest never left the broker


async def test_a_consumer_restarted_mid_stream_loses_nothing(url: str) -> None:
    ids = produce(url, "jobs", 300)
    # First run: a hard stop after 100 acknowledgements, whatever is in flight.
    net, tally = pipeline(url, "jobs", "done", capacity=4)
    scope = anyio.CancelScope()

    async def crash() -> None:
        scope.cancel()

    tally.at = {100: crash}
    with anyio.fail_after(20), scope:
        await net.run()
    r = client(url)
    assert r.xpending("jobs", "fbp")["pending"] > 0  # delivered, never acknowledged
    # Second run, same group and consumer: it finishes the stream.
    net2, tally2 = pipeline(url, "jobs", "done", capacity=4)

    async def check() -> None:
        done = {__import__("json").loads(f["data"])["src"] for _, f in r.xrange("done")}
        if done >= set(ids):
            net2.stop()

    tally2.at = {k: check for k in range(1, 301)}
    with anyio.fail_after(20):
        await net2.run()
    done = [__import__("json").loads(f["data"])["src"] for _, f in r.xrange("done")]
    assert set(done) == set(ids)  # at least once: every message has its result
    assert r.xpending("jobs", "fbp")["pending"] == 0
    first = set(tally.seen)
    assert first.isdisjoint(tally2.seen)  # acknowledged ones are not delivered again


def test_a_graph_names_the_connectors(url: str, tmp_path: Path) -> None:
    from fbp.graph import Registry

    assert {"RedisSource", "RedisSink", "RedisAck"} <= set(Registry().collection_members("net"))
