"""Components for the Ray backend's tests and benchmarks (importable by Ray workers,
which get the driver's import path)."""

from __future__ import annotations

import os
import time
from typing import Any

import anyio
from pydantic import BaseModel

from fbp import Component, InPort, OutPort


class Job(BaseModel):
    user: str
    n: int


class Jobs(Component):
    """Emit COUNT jobs for USERS users in turn: Job(user="u0", n=0), ..."""

    count: InPort[int]
    users: InPort[int]
    out: OutPort[Job]

    async def run(self) -> None:
        count, users = await self.count.receive(), await self.users.receive()
        for i in range(count):
            await self.out.send(Job(user=f"u{i % users}", n=i))


class Where(Component):
    """Tag every job with the process id that handled it: (user, n, pid)."""

    in_: InPort[Job]
    out: OutPort[tuple[str, int, int]]

    async def process(self, in_: Job) -> None:
        await self.out.send((in_.user, in_.n, os.getpid()))


class Spin(Component):
    """Burn MS milliseconds of pure-Python CPU per IP, then forward it."""

    in_: InPort[Any]
    ms: InPort[float]
    out: OutPort[Any]

    async def process(self, in_: Any, ms: float) -> None:
        end = time.process_time() + ms / 1000
        x = 0
        while time.process_time() < end:
            x += 1
        await self.out.send(in_)


class Stall(Component):
    """Forward AFTER IPs, then send its process id on PID and wait forever."""

    in_: InPort[int]
    after: InPort[int]
    out: OutPort[int]
    pid: OutPort[int]

    async def run(self) -> None:
        after = await self.after.receive()
        n = 0
        async for x in self.in_:
            await self.out.send(x)
            n += 1
            if n == after:
                await self.pid.send(os.getpid())
                await anyio.sleep_forever()


class Ticks(Component):
    """Emit 0, 1, 2, ... every PERIOD seconds, forever."""

    period: InPort[float]
    out: OutPort[int]

    async def run(self) -> None:
        period = await self.period.receive()
        i = 0
        while True:
            await self.out.send(i)
            i += 1
            await anyio.sleep(period)
