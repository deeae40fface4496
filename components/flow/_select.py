"""Choosing IPs: Filter, Map, Split and Take."""

from __future__ import annotations

from typing import Any

from fbp import Component, EndOfStream, InPort, OutPort, WouldBlock, port

from ._expr import Expression

__all__ = ("Filter", "Map", "Split", "Take")


class Filter(Component):
    """Pass on the IPs for which an expression is true, and drop the others.

    The expression (``EXPR``, usually an IIP) is Python over ``x``, the IP; see
    :mod:`fbp_components.flow` for what it may use. Brackets pass through.

    Example: ``'x.value > 3' -> EXPR Big(flow/Filter)``.
    """

    in_: InPort[Any] = port(description="IPs to test")
    expr: InPort[Expression] = port(description="the test, an expression over x, e.g. 'x > 3'")
    out: OutPort[Any] = port(description="the IPs for which EXPR is true, in order")

    async def run(self) -> None:
        test = await self.expr.receive()
        async for x in self.in_:
            if test(x):
                await self.out.send(x)


class Map(Component):
    """Replace every IP by the value of an expression over it.

    Example: ``"{'id': x['id'], 'v': x['v'] + 1}" -> EXPR Bump(flow/Map)``.
    """

    in_: InPort[Any] = port(description="IPs to transform")
    expr: InPort[Expression] = port(description="the new value, an expression over x, e.g. 'x * 2'")
    out: OutPort[Any] = port(description="the value of EXPR for each IP, in order")

    async def run(self) -> None:
        fn = await self.expr.receive()
        async for x in self.in_:
            await self.out.send(fn(x))


class Split(Component):
    """Route every IP to MATCH if an expression is true for it, else to REST.

    Brackets go to both outputs, so substreams keep their shape on each side.

    Example: ``'x % 2 == 0' -> EXPR Parity(flow/Split)``, then ``Parity MATCH -> ...``
    for the even numbers and ``Parity REST -> ...`` for the odd ones.
    """

    in_: InPort[Any] = port(description="IPs to route")
    expr: InPort[Expression] = port(description="the test, an expression over x")
    match: OutPort[Any] = port(description="the IPs for which EXPR is true", optional=True)
    rest: OutPort[Any] = port(description="the IPs for which EXPR is false", optional=True)

    async def run(self) -> None:
        test = await self.expr.receive()
        async for x in self.in_:
            await (self.match if test(x) else self.rest).send(x)


class Take(Component):
    """Pass on the first COUNT IPs, then end.

    Ending closes the input: an upstream source that only feeds this process stops at
    its next send (it sees :class:`fbp.DownstreamClosed`), so ``Take`` can cut an
    endless stream short. Brackets pass through and are not counted.
    """

    in_: InPort[Any] = port(description="IPs to pass on")
    count: InPort[int] = port(description="how many IPs to pass on (0 or more)")
    out: OutPort[Any] = port(description="the first COUNT IPs")

    async def run(self) -> None:
        left = await self.count.receive()
        if left < 0:
            msg = f"{self.count.address} must be 0 or more, got {left}"
            raise ValueError(msg)
        if left == 0:
            return
        async for x in self.in_:
            await self.out.send(x)
            left -= 1
            if left == 0:
                break
        _discard_buffered(self.in_)


def _discard_buffered(inp: InPort[Any]) -> None:
    """Take what is already buffered on ``inp``, so that ending discards it silently.

    The rest of the stream is unwanted by design; the runtime would otherwise warn
    about the IPs left in the port when the process ends.
    """
    while True:
        try:
            inp.receive_nowait()
        except (WouldBlock, EndOfStream):
            return
