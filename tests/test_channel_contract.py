"""The channel contract, over every port class, execution path and capacity.

Whatever carries an edge (a plain, checked or traced port; a scalar or an array port
element; the C fast paths or Python; fused or on the event loop), the same rules hold:

- **ordering**: a receiver gets a sender's IPs in the order they were sent;
- **back-pressure**: a sender is never more than ``capacity`` IPs ahead of what the
  receiver has taken (a rendezvous, capacity 0, hands each IP over directly);
- **close**: when every sender has ended, the receiver drains what is buffered, then
  its iteration ends, and ``receive`` and ``receive_nowait`` raise ``EndOfStream``;
- **brackets** keep their place among the data IPs;
- **batches** deliver the same IPs, in order, at most ``max_items`` per batch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import anyio
import anyio.lowlevel
import pytest

from fbp import (
    IP,
    ArrayInPort,
    ArrayOutPort,
    Component,
    EndOfStream,
    InPort,
    OutPort,
    OutPortStatistics,
    ProcessError,
    WouldBlock,
    port,
)
from fbp.graph import Graph, build_network
from fbp.testing import MemorySink

N = 40
LOG: list[tuple[str, int]] = []  # ("sent" | "got", how many so far), in event order


class Source(Component):
    """Send 0..N-1, one at a time or in batches, logging each send that returned."""

    n: InPort[int]
    batch: InPort[int] = port(default=0)
    out: OutPort[int]
    sent: ClassVar[int] = 0

    async def run(self) -> None:
        n, batch = await self.n.receive(), await self.batch.receive()
        sent = 0
        while sent < n:
            if batch:
                chunk = list(range(sent, min(n, sent + batch)))
                await self.out.send_batch(chunk)
                sent += len(chunk)
            else:
                await self.out.send(sent)
                sent += 1
            LOG.append(("sent", sent))


class LooseSource(Source):
    """The same, declared as sending anything: the receiver checks what it gets."""

    out: OutPort[Any]


class ArraySource(Component):
    """Send 0..N-1 on element 0 of an array port."""

    n: InPort[int]
    batch: InPort[int] = port(default=0)
    out: ArrayOutPort[int]

    async def run(self) -> None:
        n = await self.n.receive()
        await self.batch.receive()
        for i in range(n):
            await self.out[0].send(i)
            LOG.append(("sent", i + 1))


class Sink(Component):
    """Receive everything with ``async for``, logging each IP taken."""

    in_: InPort[int]
    got: list[int]

    async def run(self) -> None:
        self.got = []
        async for x in self.in_:
            self.got.append(x)
            LOG.append(("got", len(self.got)))
        # Ended: the port stays ended.
        for _ in range(2):
            with pytest.raises(EndOfStream):
                await self.in_.receive()
            with pytest.raises(EndOfStream):
                self.in_.receive_nowait()


class ArraySink(Component):
    """Receive element 0 of an array port."""

    in_: ArrayInPort[int]
    got: list[int]

    async def run(self) -> None:
        self.got = []
        async for x in self.in_[0]:
            self.got.append(x)
            LOG.append(("got", len(self.got)))
        with pytest.raises(EndOfStream):
            await self.in_[0].receive()


class BatchSink(Component):
    """Receive with ``receive_batch`` until the port ends."""

    in_: InPort[int]
    max_items: InPort[int]
    got: list[int]
    batches: list[int]

    async def run(self) -> None:
        k = await self.max_items.receive()
        self.got, self.batches = [], []
        while True:
            try:
                batch = await self.in_.receive_batch(k)
            except EndOfStream:
                break
            self.got += batch
            self.batches.append(len(batch))
            LOG.append(("got", len(self.got)))


SOURCES = {"plain": Source, "checked": LooseSource, "traced": Source}


def _run(graph: Graph, capacity: int, variant: str) -> Any:
    LOG.clear()
    trace = MemorySink() if variant == "traced" else None
    net = build_network(graph, capacity=capacity, trace=trace)
    return net, trace


def _check_back_pressure(capacity: int) -> None:
    sent = got = 0
    for what, count in LOG:
        if what == "sent":
            sent = count
        else:
            got = count
        assert sent - got <= capacity, f"sender {sent - got} ahead at capacity {capacity}"


@pytest.mark.usefixtures("execution")
@pytest.mark.parametrize("variant", ["plain", "checked", "traced"])
@pytest.mark.parametrize("shape", ["scalar", "array"])
async def test_order_back_pressure_and_close(capacity: int, variant: str, shape: str) -> None:
    g = Graph("contract")
    if shape == "scalar":
        g.add_process("src", SOURCES[variant]).add_process("snk", Sink)
        g.connect("src.OUT", "snk.IN")
    else:
        g.add_process("src", ArraySource).add_process("snk", ArraySink)
        g.connect("src.OUT[0]", "snk.IN[0]")
    g.add_initial(N, "src.N")
    net, trace = _run(g, capacity, variant)
    with anyio.fail_after(10):
        await net.run()
    snk = net.processes["snk"].component
    assert snk.got == list(range(N))
    _check_back_pressure(capacity)
    inp = snk.in_ if shape == "scalar" else snk.in_[0]
    assert inp.statistics().peak_buffer_used <= max(capacity, 1)
    src = net.processes["src"].component
    out = src.out if shape == "scalar" else src.out[0]
    assert out.statistics() == OutPortStatistics(items_sent=N)  # counted on every path
    if variant == "traced":
        assert [r[6] for r in trace.sent("src.OUT" if shape == "scalar" else "src.OUT[0]")] == (
            list(range(N))
        )
    if variant == "checked" and shape == "scalar":
        assert type(inp).__name__ == "CheckedInPort"


@pytest.mark.usefixtures("execution")
@pytest.mark.parametrize("variant", ["plain", "traced"])
async def test_batches_keep_order_and_bound(capacity: int, variant: str) -> None:
    g = Graph("batches").add_process("src", Source).add_process("snk", BatchSink)
    g.connect("src.OUT", "snk.IN").add_initial(N, "src.N").add_initial(7, "src.BATCH")
    g.add_initial(5, "snk.MAX_ITEMS")
    net, _ = _run(g, capacity, variant)
    with anyio.fail_after(10):
        await net.run()
    snk = net.processes["snk"].component
    assert snk.got == list(range(N))
    assert all(1 <= b <= 5 for b in snk.batches)


class Grouped(Component):
    """Send N data IPs in groups of three, each group in brackets tagged by its number."""

    out: OutPort[int]

    async def run(self) -> None:
        for i in range(N):
            if i % 3 == 0:
                await self.out.open_bracket(i // 3)
            await self.out.send(i)
            if i % 3 == 2 or i == N - 1:
                await self.out.close_bracket(i // 3)


class Packets(Component):
    """Read every IP, brackets included."""

    in_: InPort[int]
    seen: list[tuple[str, Any]]

    async def run(self) -> None:
        self.seen = []
        async for ip in self.in_.packets():
            assert isinstance(ip, IP)
            kind = "open" if ip.is_open else "close" if ip.is_close else "data"
            self.seen.append((kind, ip.payload))


@pytest.mark.usefixtures("execution")
@pytest.mark.parametrize("variant", ["plain", "traced"])
async def test_brackets_keep_their_place(capacity: int, variant: str) -> None:
    g = Graph("brackets").add_process("src", Grouped).add_process("snk", Packets)
    g.connect("src.OUT", "snk.IN")
    net, _ = _run(g, capacity, variant)
    with anyio.fail_after(10):
        await net.run()
    expected: list[tuple[str, Any]] = []
    for i in range(N):
        if i % 3 == 0:
            expected.append(("open", i // 3))
        expected.append(("data", i))
        if i % 3 == 2 or i == N - 1:
            expected.append(("close", i // 3))
    assert net.processes["snk"].component.seen == expected


class Merging(Component):
    """Pass on what its array port's elements deliver (brackets are forwarded for it)."""

    in_: ArrayInPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for _i, x in self.in_:
            await self.out.send(x)


class TakesWhatIsBuffered(Component):
    """Take what is buffered with ``receive_nowait``, and wait with ``receive`` only when
    nothing is (a bracket next makes ``receive_nowait`` refuse, ``receive`` forwards it)."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        while True:
            try:
                x = self.in_.receive_nowait()
            except WouldBlock:
                try:
                    x = await self.in_.receive()
                except EndOfStream:
                    return
            except EndOfStream:
                return
            await self.out.send(x)


@pytest.mark.usefixtures("execution")
@pytest.mark.parametrize("variant", ["plain", "traced"])
@pytest.mark.parametrize("middle", [Merging, TakesWhatIsBuffered])
async def test_brackets_pass_through_a_merge_and_nowait_receives(
    capacity: int, variant: str, middle: type[Component]
) -> None:
    """A process that takes from an array port or with ``receive_nowait`` never gets a
    bracket as data, whatever the capacity (at 0 the next item is a waiting sender's)."""
    g = (
        Graph("brackets-through")
        .add_process("src", Grouped)
        .add_process("mid", middle)
        .add_process("snk", Packets)
    )
    g.connect("src.OUT", "mid.IN[0]" if middle is Merging else "mid.IN")
    g.connect("mid.OUT", "snk.IN")
    net, _ = _run(g, capacity, variant)
    with anyio.fail_after(10):
        await net.run()
    seen = net.processes["snk"].component.seen
    assert [p for kind, p in seen if kind == "data"] == list(range(N))
    assert all(type(p) is int for _kind, p in seen)
    assert [p for kind, p in seen if kind == "open"] == list(range((N + 2) // 3))


class Forgetful(Component):
    """Send N IPs, forgetting to await the sends (the bug under test)."""

    n: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        for i in range(await self.n.receive()):
            self.out.send(i)  # type: ignore[unused-coroutine]  # the mistake under test
            await anyio.lowlevel.checkpoint()


class LooseForgetful(Forgetful):
    """The same, declared as sending anything (no check on its sends)."""

    out: OutPort[Any]


@pytest.mark.usefixtures("execution")
@pytest.mark.parametrize("variant", ["plain", "checked", "traced", "unvalidated"])
@pytest.mark.parametrize("loose", [False, True], ids=["int", "any"])
async def test_a_send_never_awaited_fails_its_process(
    capacity: int, variant: str, loose: bool
) -> None:
    # Wherever the send runs (a coroutine that never runs, or the compiled paths, which
    # send at the call), forgetting its await fails the process and says what to write.
    g = Graph("forgetful")
    g.add_process("src", LooseForgetful if loose else Forgetful).add_process("snk", Sink)
    g.connect("src.OUT", "snk.IN").add_initial(N, "src.N")
    trace = MemorySink() if variant == "traced" else None
    net = build_network(g, capacity=capacity, trace=trace, validate=variant != "unvalidated")
    with anyio.fail_after(10), pytest.raises(ProcessError) as info:
        await net.run()
    err = info.value
    assert err.process == "src"
    assert "src.OUT.send() was called without await" in str(err)
    assert "write 'await self.out.send(...)'" in str(err)


class Trickle(Component):
    """Takes an item, then lets the event loop run a while, N times: its senders block."""

    in_: InPort[int]
    got: list[int]

    async def run(self) -> None:
        self.got = []
        async for x in self.in_:
            self.got.append(x)
            LOG.append(("got", len(self.got)))
            await anyio.sleep(0.001)


@pytest.mark.usefixtures("execution")
async def test_a_blocked_sender_is_accounted_and_released(capacity: int) -> None:
    """A sender that finds the channel full queues itself and is let in by the
    receiver's next take (in C for fused processes, in Python otherwise): either way
    the items arrive in order, the time senders spent blocked is counted, the peak is
    the capacity and no process is left marked as waiting."""
    g = Graph("blocked").add_process("src", Source).add_process("snk", Trickle)
    g.connect("src.OUT", "snk.IN").add_initial(N, "src.N")
    net, _ = _run(g, capacity, "plain")
    with anyio.fail_after(10):
        await net.run()
    assert net.processes["snk"].component.got == list(range(N))
    (port,) = [p for p in net.port_statistics() if p.address == "snk.IN"]
    assert port.send_blocked_s > 0.001 * (N - capacity - 2) / 2
    assert port.send_blocked_s < net.result().duration_s
    if capacity:
        assert port.peak == capacity
    assert all(p.waiting is None for p in net.processes.values())
    _check_back_pressure(capacity)
