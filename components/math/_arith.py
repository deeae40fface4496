"""Arithmetic on numbers: Add, Multiply (non-loopers) and Scale (a looper)."""

from __future__ import annotations

from fbp import Component, InPort, OutPort, port

__all__ = ("Add", "Multiply", "Number", "Scale")

#: What the math components take and give: ints stay ints, floats stay floats.
Number = int | float


class Add(Component):
    """Add the n-th number of A to the n-th number of B.

    A non-looper: each activation takes one IP from each port (an IIP on a port gives
    the same value to every activation). Example: ``1 -> B Inc(math/Add)`` adds 1 to
    every number arriving on ``Inc.A``.
    """

    a: InPort[Number] = port(description="the first term")
    b: InPort[Number] = port(description="the second term")
    sum: OutPort[Number] = port(description="A + B")

    async def process(self, a: Number, b: Number) -> None:
        await self.sum.send(a + b)


class Multiply(Component):
    """Multiply the n-th number of A by the n-th number of B.

    A non-looper, like ``Add``. Example: ``A OUT -> A Area(math/Multiply)`` and
    ``B OUT -> B Area``.
    """

    a: InPort[Number] = port(description="the first factor")
    b: InPort[Number] = port(description="the second factor")
    product: OutPort[Number] = port(description="A * B")

    async def process(self, a: Number, b: Number) -> None:
        await self.product.send(a * b)


class Scale(Component):
    """Multiply every number by a FACTOR that arrives once, usually as an IIP.

    Example: ``2 -> FACTOR Double(math/Scale)``.
    """

    in_: InPort[Number] = port(description="numbers to scale")
    factor: InPort[Number] = port(description="the multiplier")
    out: OutPort[Number] = port(description="each number times FACTOR")

    async def run(self) -> None:
        factor = await self.factor.receive()
        async for x in self.in_:
            await self.out.send(x * factor)
