"""Components that misbehave on purpose (importable as ``faults:Name``).

Used by the fault matrix (``test_fault_matrix.py``) and the watchdog's tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio

from fbp import Component, InPort, OutPort


class Heartbeat(Component):
    """Wait for IPs with a deadline; after BEATS quiet deadlines, end.

    How the deadline is set is chosen by ``HOW``: ``move_on_after``, ``fail_after``,
    ``asyncio.timeout`` or ``wait_for``.
    """

    in_: InPort[Any]
    how: InPort[str]
    beats: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        how = await self.how.receive()
        beats = await self.beats.receive()
        quiet = 0
        while quiet < beats:
            try:
                if how == "move_on_after":
                    with anyio.move_on_after(0.3) as scope:
                        await self.in_.receive()
                    if scope.cancelled_caught:
                        raise TimeoutError
                elif how == "fail_after":
                    with anyio.fail_after(0.3):
                        await self.in_.receive()
                elif how == "asyncio.timeout":
                    async with asyncio.timeout(0.3):
                        await self.in_.receive()
                else:
                    await asyncio.wait_for(self.in_.receive(), 0.3)
            except TimeoutError:
                quiet += 1  # nothing moves meanwhile


class Echo(Component):
    """Pass IPs on (a looper that waits on its input)."""

    in_: InPort[Any]
    out: OutPort[Any]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x)


class Stuck(Component):
    """Send one IP, then await an event that never comes."""

    out: OutPort[int]

    async def run(self) -> None:
        await self.out.send(1)
        await anyio.Event().wait()


class Hoarder(Component):
    """Receive one IP and stop reading (a looper that stops consuming), then end."""

    in_: InPort[Any]

    async def run(self) -> None:
        await self.in_.receive()


class Forgetful(Component):
    """Forget to await a send."""

    in_: InPort[Any]
    out: OutPort[Any]

    async def run(self) -> None:
        async for x in self.in_:
            self.out.send(x)  # type: ignore[unused-coroutine]  # the mistake under test


class Flood(Component):
    """Send N IPs before reading any (two of them in a cycle fill each other up)."""

    n: InPort[int]
    in_: InPort[Any]
    out: OutPort[int]

    async def run(self) -> None:
        for i in range(await self.n.receive()):
            await self.out.send(i)
        async for _ in self.in_:
            pass


class Boom(Component):
    """Raise on the third IP (a looper that fails)."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            if x == 2:
                raise RuntimeError("two is too many")
            await self.out.send(x)


class Halve(Component):
    """Halve numbers (a non-looper that fails on odd ones)."""

    in_: InPort[int]
    out: OutPort[int]

    async def process(self, in_: int) -> None:
        if in_ % 2:
            raise ValueError(f"cannot halve {in_}")
        await self.out.send(in_ // 2)


class Liar(Component):
    """Send text on a port typed int."""

    out: OutPort[int]

    async def run(self) -> None:
        await self.out.send("seven")  # type: ignore[arg-type]  # the mistake under test


class Dawdle(Component):
    """Forward IPs slowly (a live network that is slow, not deadlocked)."""

    in_: InPort[Any]
    out: OutPort[Any]

    async def run(self) -> None:
        async for x in self.in_:
            await anyio.sleep(0.2)
            await self.out.send(x)
