"""Stream shapes for the example networks: an endless source and a concatenation."""

from __future__ import annotations

from typing import Any

from fbp import ArrayInPort, Component, InPort, OutPort, port

__all__ = ("Concat", "Naturals")


class Naturals(Component):
    """Send START, START+1, START+2, ... without end, until no receiver is left.

    An endless source: put ``flow/Take`` after it, which ends the stream after N IPs.
    """

    start: InPort[int] = port(description="the first number", default=0)
    out: OutPort[int] = port(description="the numbers, for ever")

    async def run(self) -> None:
        n = await self.start.receive()
        while True:
            await self.out.send(n)
            n += 1


class Concat(Component):
    """Send all of IN[0], then all of IN[1], and so on: the streams one after another.

    It reads one element to its end before it touches the next, so the senders of the
    later elements wait meanwhile; if they are also feeding IN[0], the network
    deadlocks once their edges fill up (``networks/deadlock.fbp`` shows this).
    """

    in_: ArrayInPort[Any] = port(description="the streams, in the order to send them")
    out: OutPort[Any] = port(description="every IP of IN[0], then of IN[1], ...")

    async def run(self) -> None:
        for element in self.in_:
            async for x in element:
                await self.out.send(x, parents=_last(element))


def _last(element: InPort[Any]) -> tuple[Any, ...]:
    last = element.last_ip
    return () if last is None else (last,)
