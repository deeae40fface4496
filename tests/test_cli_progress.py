"""The live progress view of ``fbp run``: what each process is doing."""

from __future__ import annotations

import io
from typing import ClassVar

import anyio
from rich.console import Console
from support import Numbers

from fbp import Component, InPort, Network, OutPort
from fbp.cli._run import _table, waits


class Trigger(Component):
    """Send one IP when the test says so."""

    out: OutPort[int]
    go: ClassVar[anyio.Event]

    async def run(self) -> None:
        await self.go.wait()
        await self.out.send(1)


class Hold(Component):
    """Wait for GO, then drain IN."""

    go: InPort[int]
    in_: InPort[int]

    async def run(self) -> None:
        await self.go.receive()
        async for _ in self.in_:
            pass


async def test_the_view_says_what_each_process_waits_for() -> None:
    Trigger.go = anyio.Event()
    net = Network("held", capacity=1, deadlock_interval=60)
    net.add_process("Gen", Numbers)
    net.add_process("Trigger", Trigger)
    net.add_process("Hold", Hold)
    net.add_initial(("Gen", "n", None), 10)
    net.connect(("Gen", "out", None), ("Hold", "in", None))
    net.connect(("Trigger", "out", None), ("Hold", "go", None))
    seen: dict[str, str] = {}
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(net.run)
            await anyio.wait_all_tasks_blocked()
            seen = waits(net)
            Trigger.go.set()
    assert seen == {
        "Gen": "blocked sending to Hold.IN (1/1 full)",
        "Trigger": "running",
        "Hold": "waits for GO",
    }
    assert set(waits(net).values()) == {"done"}
    out = io.StringIO()
    Console(file=out, width=200).print(_table(net.result(), {"Gen": 5.0}, seen))
    text = out.getvalue()
    assert text.count("held: ") == 1  # the header, once
    assert "blocked sending to Hold.IN (1/1 full)" in text
    assert "IPs/s" in text and "state" in text


def test_the_final_table_has_a_state_per_process() -> None:
    net = Network("empty")
    out = io.StringIO()
    Console(file=out, width=120).print(_table(net.result()))
    assert "state" in out.getvalue() and "IPs/s" not in out.getvalue()


