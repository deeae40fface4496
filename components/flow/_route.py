"""Joining and copying streams: Merge, Replicate and Zip."""

from __future__ import annotations

from typing import Any

from fbp import ArrayInPort, ArrayOutPort, Component, DownstreamClosed, InPort, OutPort, port

__all__ = ("Merge", "Replicate", "Zip")


class Merge(Component):
    """Merge the elements of the array port IN[] into one stream, as IPs arrive.

    Each element's order is kept; between elements, IPs go out in the order they
    arrive (round-robin when several are waiting). The output ends when every
    element has ended.

    Example: ``A OUT -> IN[0] M(flow/Merge)`` and ``B OUT -> IN[1] M``.
    """

    in_: ArrayInPort[Any] = port(description="the streams to merge (IN[0], IN[1], ...)")
    out: OutPort[Any] = port(description="every IP of every element")

    async def run(self) -> None:
        elements = self.in_.elements
        async for i, x in self.in_:
            await self.out.send(x, parents=_parent(elements[i]))


def _parent(element: InPort[Any]) -> tuple[Any, ...]:
    last = element.last_ip
    return () if last is None else (last,)


class Replicate(Component):
    """Send every IP to each element of the array port OUT[].

    An element whose receiver has ended is left out from then on; the process ends
    when every element's receiver has ended, or when the input ends.

    Example: ``S OUT -> IN R(flow/Replicate)``, then ``R OUT[0] -> ...`` and
    ``R OUT[1] -> ...``.
    """

    in_: InPort[Any] = port(description="IPs to copy")
    out: ArrayOutPort[Any] = port(description="each gets every IP (OUT[0], OUT[1], ...)")

    async def run(self) -> None:
        live = [el for el in self.out if el.is_connected]
        if not live:
            return
        async for x in self.in_:
            for el in tuple(live):
                try:
                    await el.send(x)
                except DownstreamClosed:
                    live.remove(el)
            if not live:
                return


class Zip(Component):
    """Pair the n-th IP of A with the n-th IP of B, as a tuple ``(a, b)``.

    A non-looper: each activation takes one IP from each port. The output ends when
    either input ends; what is left on the other is discarded.
    """

    a: InPort[Any] = port(description="the first item of each pair")
    b: InPort[Any] = port(description="the second item of each pair")
    out: OutPort[tuple[Any, Any]] = port(description="the pairs (a, b), in order")

    async def process(self, a: Any, b: Any) -> None:
        await self.out.send((a, b))
