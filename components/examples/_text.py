"""Text helpers for the example networks: SplitWords and Sort."""

from __future__ import annotations

import re
from typing import Any

from fbp import IP, Component, InPort, OutPort, port

__all__ = ("Sort", "SplitWords")

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


class SplitWords(Component):
    """Split each line into its words, lowercased (letters and digits; "don't" is one).

    Example: ``Read OUT -> IN Words(examples/SplitWords)``.
    """

    in_: InPort[str] = port(description="lines of text")
    out: OutPort[str] = port(description="the words of each line, in order, lowercased")

    async def run(self) -> None:
        find = _WORD.findall
        async for line in self.in_:
            for word in find(line):
                await self.out.send(word.lower())


class Sort(Component):
    """Collect the whole stream, then send it in sorted order.

    Brackets are dropped: the whole stream is sorted as one. Each IP sent has the IP it
    copies as its parent.

    Example: ``Words OUT -> IN Sorted(examples/Sort)``.
    """

    in_: InPort[Any] = port(description="IPs of one comparable kind (numbers, strings, ...)")
    reverse: InPort[bool] = port(description="sort largest first", default=False)
    out: OutPort[Any] = port(description="the same IPs, sorted, once the input has ended")

    async def run(self) -> None:
        reverse = await self.reverse.receive()
        ips = [ip async for ip in self.in_.packets() if ip.is_data]
        ips.sort(key=_payload, reverse=reverse)
        for ip in ips:
            await self.out.send(ip.payload, parents=(ip,))


def _payload(ip: IP) -> Any:
    return ip.payload
