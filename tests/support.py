"""Components used by the tests (importable as ``support:Name``)."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
from pydantic import BaseModel

from fbp import ArrayInPort, ArrayOutPort, Component, InPort, OutPort, port


class Reading(BaseModel):
    sensor: str
    value: float


class Numbers(Component):
    """Emit 0..N-1."""

    n: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        for i in range(await self.n.receive()):
            await self.out.send(i)


class Endless(Component):
    """Emit 0, 1, 2, ... forever (until every receiver has gone)."""

    out: OutPort[int]

    async def run(self) -> None:
        i = 0
        while True:
            await self.out.send(i)
            i += 1


class SendThenBlock(Component):
    """Send COUNT ints, say so on stdout, then block the event loop (a long synchronous
    call, as a component calling a slow library does)."""

    count: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        import sys
        import time

        n = await self.count.receive()
        for i in range(n):
            await self.out.send(i)
        print(f"sent {n}", flush=True)
        sys.stdout.flush()
        time.sleep(60)  # noqa: ASYNC251 - blocking the loop is the point


class Inc(Component):
    """Add one (a looper)."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x + 1)


class Add(Component):
    """Add pairs (a non-looper)."""

    a: InPort[int]
    b: InPort[int]
    sum: OutPort[int]

    async def process(self, a: int, b: int) -> None:
        await self.sum.send(a + b)


class Scale(Component):
    """Multiply by FACTOR, a constant IIP (a non-looper)."""

    in_: InPort[float]
    factor: InPort[float]
    out: OutPort[float]

    async def process(self, in_: float, factor: float) -> None:
        await self.out.send(in_ * factor)


class Sink(Component):
    """Collect payloads into ``items``."""

    in_: InPort[Any]
    items: list[Any]

    async def run(self) -> None:
        self.items = []
        async for x in self.in_:
            self.items.append(x)


class PacketSink(Component):
    """Collect every packet (brackets too) as (kind, payload)."""

    in_: InPort[Any]
    packets: list[tuple[str, Any]]

    async def run(self) -> None:
        self.packets = []
        async for ip in self.in_.packets():
            kind = "data" if ip.is_data else ("open" if ip.is_open else "close")
            self.packets.append((kind, ip.payload))


class SlowSink(Component):
    """Receive slowly, recording how far ahead the upstream port has run each time."""

    in_: InPort[int]
    ahead: list[int]

    async def run(self) -> None:
        self.ahead = []
        src = self.upstream  # set by the test
        got = 0
        async for _ in self.in_:
            got += 1
            self.ahead.append(src.sent - got)
            await anyio.lowlevel.checkpoint()


class MergeAll(Component):
    """Merge an array port."""

    in_: ArrayInPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for _i, x in self.in_:
            await self.out.send(x)


class Fan(Component):
    """Send every IP to each element of an array port."""

    in_: InPort[int]
    out: ArrayOutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send_all(x)


class Chunks(Component):
    """Wrap every SIZE IPs in brackets tagged with the chunk number."""

    in_: InPort[int]
    size: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        size = await self.size.receive()
        buf: list[int] = []
        n = 0
        async for x in self.in_:
            buf.append(x)
            if len(buf) == size:
                async with self.out.substream(n):
                    for y in buf:
                        await self.out.send(y)
                buf, n = [], n + 1
        if buf:
            async with self.out.substream(n):
                for y in buf:
                    await self.out.send(y)


class GroupSum(Component):
    """Sum each bracketed substream (bracket-aware)."""

    in_: InPort[int]
    out: OutPort[tuple[Any, int]]

    async def run(self) -> None:
        total, tag = 0, None
        async for ip in self.in_.packets():
            if ip.is_open:
                total, tag = 0, ip.payload
            elif ip.is_close:
                await self.out.send((tag, total))
            else:
                total += ip.payload


class Explode(Component):
    """Raise on the value BAD (a non-looper; routes failures to ERROR if connected)."""

    in_: InPort[int]
    bad: InPort[int] = port(default=3)
    out: OutPort[int]
    error: OutPort[Any]

    async def process(self, in_: int, bad: int) -> None:
        if in_ == bad:
            msg = f"cannot handle {in_}"
            raise ValueError(msg)
        await self.out.send(in_)


class ExplodeLooper(Component):
    """Raise on the value 3 (a looper)."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            if x == 3:
                msg = "three is not allowed"
                raise RuntimeError(msg)
            await self.out.send(x)


class WrongType(Component):
    """Send a string on an int port (a bug validation catches)."""

    out: OutPort[int]

    async def run(self) -> None:
        await self.out.send("not a number")  # type: ignore[arg-type]


class Concat(Component):
    """Read all of A, then all of B (classic FBP concatenation: deadlock-prone)."""

    a: InPort[int]
    b: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.a:
            await self.out.send(x)
        async for x in self.b:
            await self.out.send(x)


class Twice(Component):
    """Send every IP to both A and B (fan-out by two ports)."""

    in_: InPort[int]
    a: OutPort[int]
    b: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.a.send(x)
            await self.b.send(x)


class Readings(Component):
    """Emit readings."""

    n: InPort[int]
    out: OutPort[Reading]

    async def run(self) -> None:
        for i in range(await self.n.receive()):
            await self.out.send(Reading(sensor=f"s{i}", value=float(i)))


class TakesReading(Component):
    """Receive readings."""

    in_: InPort[Reading]
    out: OutPort[float]

    async def run(self) -> None:
        async for r in self.in_:
            await self.out.send(r.value)


class Forever(Component):
    """Sleep forever (for interruption tests)."""

    out: OutPort[int]

    async def run(self) -> None:
        await self.out.send(1)
        await anyio.sleep_forever()


class IncBatch(Component):
    """Add one, a batch at a time."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for batch in self.in_.batches():
            await self.out.send_batch([x + 1 for x in batch])


class Slow(Component):
    """Pass IPs on, sleeping DELAY seconds for each (a performance fault knob)."""

    in_: InPort[int]
    delay: InPort[float] = port(default=0.0, causal=False)
    out: OutPort[int]

    async def process(self, in_: int, delay: float) -> None:
        if delay:
            await anyio.sleep(delay)
        else:
            await anyio.lowlevel.checkpoint()
        await self.out.send(in_)


class Paced(Component):
    """Emit 0..N-1 at about RATE IPs per second."""

    n: InPort[int]
    rate: InPort[float] = port(default=2000.0, causal=False)
    out: OutPort[int]

    async def run(self) -> None:
        n, rate = await self.n.receive(), await self.rate.receive()
        loop_start = anyio.current_time()
        for i in range(n):
            wait = loop_start + i / rate - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)
            await self.out.send(i)


class SlowDrop(Component):
    """Take IPs slowly (a checkpoint each) and drop them: keeps channels full."""

    in_: InPort[Any]

    async def run(self) -> None:
        async for _ in self.in_:
            for _ in range(3):
                await anyio.lowlevel.checkpoint()
