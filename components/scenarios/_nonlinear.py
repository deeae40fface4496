"""A non-linear, branching application.

A signal is routed by a threshold to one of two non-linear branches (a square and a
saturation), which a join merges; the join applies a soft maximum with a baseline. The
target is the join's output.

Knobs (``causal=False``): ``Signal.SHIFT`` (input shift), ``Saturate.GAIN`` (a changed
constant inside a non-linear component).
"""

from __future__ import annotations

import math
import random

from fbp import Component, InPort, OutPort, merge, port


class Signal(Component):
    """Emit N noisy values (reproducible with SEED)."""

    n: InPort[int] = port(description="how many values", causal=False)
    seed: InPort[int] = port(description="random seed", default=0, causal=False)
    shift: InPort[float] = port(
        description="fault knob: add to every value", default=0.0, causal=False
    )
    out: OutPort[float]

    async def run(self) -> None:
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        shift = await self.shift.receive()
        for _ in range(n):
            await self.out.send(rng.gauss(0.0, 1.0) + shift)


class Branch(Component):
    """Send values above CUT to HIGH, the rest to LOW."""

    in_: InPort[float]
    cut: InPort[float] = port(description="the routing threshold", default=0.5, causal=False)
    high: OutPort[float]
    low: OutPort[float]

    async def process(self, in_: float, cut: float) -> None:
        await (self.high if in_ > cut else self.low).send(in_)


class Square(Component):
    """Square a value, with a little noise."""

    in_: InPort[float]
    out: OutPort[float]

    def __init__(self) -> None:
        self._rng = random.Random(1)

    async def process(self, in_: float) -> None:
        await self.out.send(in_ * in_ + self._rng.gauss(0.0, 0.1))


class Saturate(Component):
    """Saturate a value: GAIN * tanh(x), with a little noise."""

    in_: InPort[float]
    gain: InPort[float] = port(
        description="fault knob: the saturation gain", default=2.0, causal=False
    )
    out: OutPort[float]

    def __init__(self) -> None:
        self._rng = random.Random(2)

    async def process(self, in_: float, gain: float) -> None:
        await self.out.send(gain * math.tanh(in_) + self._rng.gauss(0.0, 0.1))


class Join(Component):
    """Merge both branches: a soft maximum of the value and a baseline of 1."""

    a: InPort[float]
    b: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        async for source, x in merge(self.a, self.b):
            y = math.log(math.exp(x) + math.e)
            await self.out.send(y, parents=[source.last_ip] if source.last_ip else None)
