"""Fused execution keeps what a process sees of asyncio: its own task, its context,
its cancel scopes and timeouts, its own task groups; and it ends and fails as tasks do."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, ClassVar

import anyio
import anyio.lowlevel
import pytest
import support as s

from fbp import Component, EndOfStream, InPort, Network, OutPort, ProcessError
from fbp._core import _fuse

pytestmark = pytest.mark.skipif(not _fuse.enabled(), reason="fused execution is off here")

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


class Tasks(Component):
    """Pass items on, noting the task and the scheduler state it runs under."""

    in_: InPort[int]
    out: OutPort[int]
    seen: ClassVar[dict[str, set[Any]]] = {}

    async def run(self) -> None:
        me = self.seen.setdefault(self.name, set())
        async for x in self.in_:
            me.add((asyncio.current_task(), asyncio.current_task().get_name()))  # type: ignore[union-attr]
            await self.out.send(x)


def chain(*stages: tuple[str, type[Component]], n: int = 200, capacity: int = 4) -> Network:
    net = Network("fuse", capacity=capacity)
    net.add_process("src", s.Numbers)
    net.add_initial(("src", "n", None), n)
    prev = "src"
    for name, cls in stages:
        net.add_process(name, cls)
        net.connect((prev, "out", None), (name, "in", None))
        prev = name
    net.add_process("sink", s.Sink)
    net.connect((prev, "out", None), ("sink", "in", None))
    return net


def items(net: Network) -> list[Any]:
    return net.processes["sink"].component.items  # type: ignore[attr-defined, no-any-return]


async def test_every_process_runs_as_its_own_task_throughout() -> None:
    Tasks.seen = {}
    net = chain(("a", Tasks), ("b", Tasks))
    await net.run()
    assert items(net) == list(range(200))
    (a,), (b,) = Tasks.seen["a"], Tasks.seen["b"]
    assert a[0] is not b[0]
    assert (a[1], b[1]) == ("fbp:a", "fbp:b")


class SetsVar(Component):
    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            VAR.set(f"{self.name}:{x}")
            await self.out.send(x)


class ReadsVar(Component):
    in_: InPort[int]
    out: OutPort[str]

    async def run(self) -> None:
        async for _ in self.in_:
            await self.out.send(VAR.get())


async def test_a_context_variable_set_by_one_process_is_not_seen_by_another() -> None:
    net = chain(("a", SetsVar), ("b", ReadsVar), n=20)
    await net.run()
    assert items(net) == ["unset"] * 20


class TimesOut(Component):
    """Receive with a deadline; count the timeouts, then read the rest."""

    in_: InPort[int]
    out: OutPort[int]
    timeouts: ClassVar[list[int]] = []

    async def run(self) -> None:
        while True:
            with anyio.move_on_after(0.05) as scope:
                try:
                    x = await self.in_.receive()
                except EndOfStream:
                    return
            if scope.cancelled_caught:
                self.timeouts.append(1)
                continue
            await self.out.send(x)


class Stalls(Component):
    """Send 0..4, stall long enough for a receiver's deadline, then send 5..9."""

    out: OutPort[int]

    async def run(self) -> None:
        for i in range(5):
            await self.out.send(i)
        await anyio.sleep(0.2)
        for i in range(5, 10):
            await self.out.send(i)


async def test_a_deadline_in_a_process_fires_and_the_process_goes_on() -> None:
    TimesOut.timeouts = []
    net = Network("deadline")
    net.add_process("src", Stalls)
    net.add_process("t", TimesOut)
    net.add_process("sink", s.Sink)
    net.connect(("src", "out", None), ("t", "in", None))
    net.connect(("t", "out", None), ("sink", "in", None))
    with anyio.fail_after(10):
        await net.run()
    assert items(net) == list(range(10))
    assert TimesOut.timeouts  # the deadline fired while the source stalled


class Helpers(Component):
    """Run two helper tasks per item in a task group of its own."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            got: list[int] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(_twice, x, got)
                tg.start_soon(_twice, x, got)
            await self.out.send(sum(got))


async def _twice(v: int, into: list[int]) -> None:
    await anyio.lowlevel.checkpoint()
    into.append(2 * v)


async def test_a_process_with_its_own_task_group() -> None:
    net = chain(("h", Helpers), n=30)
    with anyio.fail_after(10):
        await net.run()
    assert items(net) == [4 * i for i in range(30)]


class SleepsSometimes(Component):
    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            if x % 50 == 0:
                await anyio.sleep(0.001)
            await self.out.send(x)


async def test_a_process_that_sleeps_leaves_the_scheduler_and_the_rest_stay() -> None:
    net = chain(("a", s.Inc), ("z", SleepsSometimes), ("b", s.Inc), n=300)
    states: dict[str, Any] = {}

    class Spy(Component):
        in_: InPort[int]
        out: OutPort[int]

        async def run(self) -> None:
            async for x in self.in_:
                if x == 250:
                    states.update(
                        {name: p.fused is not None for name, p in net.processes.items()}
                    )
                await self.out.send(x)

    net.add_process("spy", Spy)
    net._wiring.edges = [e for e in net._wiring.edges if e.tgt.address != "sink.IN"]
    net.connect(("b", "out", None), ("spy", "in", None))
    net.connect(("spy", "out", None), ("sink", "in", None))
    with anyio.fail_after(10):
        await net.run()
    assert items(net) == [x + 2 for x in range(300)]
    assert states["z"] is False  # it slept: its own task runs it now
    assert states["a"] and states["b"] and states["spy"]  # channel waits only


class Fails(Component):
    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            if x == 7:
                msg = "seven"
                raise ValueError(msg)
            await self.out.send(x)


async def test_a_failure_under_the_scheduler_names_the_process_and_stops_every_task() -> None:
    net = chain(("a", s.Inc), ("bad", Fails), ("b", s.Inc), n=10_000)
    with anyio.fail_after(10), pytest.raises(ProcessError, match="bad") as info:
        await net.run()
    assert "seven" in str(info.value)
    assert all(p.ended for p in net.processes.values())


async def test_stopping_a_fused_network_from_outside_ends_every_process() -> None:
    net = Network("endless")
    net.add_process("src", s.Endless)
    net.add_process("a", s.Inc)
    net.add_process("sink", s.Sink)
    net.connect(("src", "out", None), ("a", "in", None))
    net.connect(("a", "out", None), ("sink", "in", None))
    with anyio.move_on_after(0.3) as scope:
        await net.run()
    assert scope.cancelled_caught
    assert all(p.ended for p in net.processes.values())


async def test_fuse_false_runs_each_process_through_the_event_loop() -> None:
    net = Network("plain", fuse=False)
    net.add_process("src", s.Numbers)
    net.add_initial(("src", "n", None), 50)
    net.add_process("sink", s.Sink)
    net.connect(("src", "out", None), ("sink", "in", None))
    await net.run()
    assert items(net) == list(range(50))
    assert not net._fuses()


@pytest.mark.compiled
def test_the_compiled_port_paths_are_built_and_installed() -> None:
    from fbp import InPort, OutPort
    from fbp._core import _fast

    assert _fast.unavailable() is None
    assert _fast.active()
    assert type(InPort.__dict__["__anext__"]).__name__ == "method_descriptor"
    assert type(OutPort.__dict__["send"]).__name__ == "method_descriptor"


async def test_missing_compiled_paths_are_reported_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fbp._core import _fast

    monkeypatch.delenv("FBP_NO_ACCEL", raising=False)
    monkeypatch.setattr(_fast, "_reported", False)
    monkeypatch.setattr(_fast, "unavailable", lambda: "not built (no C compiler)")
    for _ in range(2):
        net = chain(n=5)
        await net.run()
        assert items(net) == list(range(5))
    warned = [r for r in caplog.records if "compiled port paths are missing" in r.getMessage()]
    assert len(warned) == 1
    assert "FBP_NO_ACCEL=1" in warned[0].getMessage()


class NapsWithDeadline(Component):
    """A long sleep cut short by a deadline, then the stream passed on."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        with anyio.move_on_after(0.02):
            await anyio.sleep(30)
        async for x in self.in_:
            await self.out.send(x)


async def test_a_deadline_on_an_outside_wait_cancels_just_that_wait() -> None:
    net = chain(("n", NapsWithDeadline), ("a", s.Inc), n=100)
    with anyio.fail_after(10):
        await net.run()
    assert items(net) == [x + 1 for x in range(100)]
