"""The basic components."""

from __future__ import annotations

import json
import sys
from typing import Any, ClassVar

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, port

__all__ = ("Collect", "Drop", "Kick", "Output", "Range", "Repeat", "render")


def render(value: Any) -> str:
    """Render a payload as one line of text: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)


class Repeat(Component):
    """Forward every IP unchanged, brackets included.

    Example: ``'hello' -> IN Greet(core/Repeat) OUT -> IN Show(core/Output)``.
    """

    in_: InPort[Any] = port(description="IPs to forward")
    out: OutPort[Any] = port(description="the same IPs, in order")

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x)


class Drop(Component):
    """Consume and discard every IP (a sink for streams nobody needs)."""

    in_: InPort[Any] = port(description="IPs to discard")

    async def run(self) -> None:
        async for _ in self.in_:
            pass


class Output(Component):
    """Print every IP on standard output, one per line, and forward it.

    Strings print as they are; other payloads as JSON. Brackets are forwarded and
    not printed.
    """

    in_: InPort[Any] = port(description="IPs to print")
    out: OutPort[Any] = port(description="the same IPs, for chaining", optional=True)

    async def run(self) -> None:
        try:
            write = sys.stdout.write
            async for x in self.in_:
                write(render(x) + "\n")
                if self.out.is_connected:
                    await self.out.send(x)
            sys.stdout.flush()
        except BrokenPipeError:
            from ..io._files import stdout_reader_gone

            stdout_reader_gone(self.in_)  # `| head -1`: a normal end


class Collect(Component):
    """Collect every IP into a list, emitted once the input ends.

    The list is also kept as ``self.items`` on the component, which tests read.
    """

    in_: InPort[Any] = port(description="IPs to collect")
    out: OutPort[list[Any]] = port(description="all IPs received, as one list")

    items: list[Any]
    forward_brackets: ClassVar[bool] = False

    async def run(self) -> None:
        self.items = []
        ids: list[int] = []
        async for x in self.in_:
            self.items.append(x)
            last = self.in_.last_ip
            if last is not None and last.id:
                ids.append(last.id)
        if self.out.is_connected:
            await self.out.send(self.items, parents=ids)


class Range(Component):
    """Emit the integers START, START+STEP, ... below START+COUNT*STEP.

    ``COUNT`` is required (usually an IIP); ``START`` defaults to 0, ``STEP`` to 1.
    """

    count: InPort[int] = port(description="how many numbers to emit")
    start: InPort[int] = port(description="the first number", default=0)
    step: InPort[int] = port(description="the difference between numbers", default=1)
    out: OutPort[int] = port(description="the numbers")

    async def run(self) -> None:
        count = await self.count.receive()
        start = await self.start.receive()
        step = await self.step.receive()
        for i in range(count):
            await self.out.send(start + i * step)


class Kick(Component):
    """Send one IP (DATA, or null) when the network starts, then end."""

    data: InPort[Any] = port(description="what to send", default=None)
    out: OutPort[Any] = port(description="the single IP")

    async def run(self) -> None:
        await self.out.send(await self.data.receive())
