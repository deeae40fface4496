"""Grouping IPs: Collate and GroupBy (substreams), Batch and Unbatch (lists)."""

from __future__ import annotations

from typing import Any

from fbp import IP, Component, InPort, OutPort, port

from ._expr import Expression

__all__ = ("Batch", "Collate", "GroupBy", "Unbatch")


class Collate(Component):
    """Wrap each run of consecutive IPs with the same key in a bracketed substream.

    For every run it sends an open bracket tagged with the key, the IPs, and a close
    bracket with the same tag. Sort the stream by the key first to get one substream
    per key. Brackets arriving on IN end the current run and pass through, so the
    runs nest inside the incoming substreams.

    Example: ``"x['user']" -> KEY ByUser(flow/Collate)``.
    """

    in_: InPort[Any] = port(description="IPs to group, sorted by key")
    key: InPort[Expression] = port(description="the key of an IP, an expression over x")
    out: OutPort[Any] = port(description="one bracketed substream per run of equal keys")

    async def run(self) -> None:
        key_of = await self.key.receive()
        out = self.out
        open_key: list[Any] = []  # the key of the open run, if one is open
        last: IP | None = None
        async for ip in self.in_.packets():
            if not ip.is_data:
                if open_key:
                    await out.close_bracket(open_key.pop(), parents=(last,) if last else None)
                await _forward(out, ip)
                continue
            k = key_of(ip.payload)
            if open_key and open_key[0] != k:
                await out.close_bracket(open_key.pop(), parents=(last,) if last else None)
            if not open_key:
                await out.open_bracket(k, parents=(ip,))
                open_key.append(k)
            await out.send(ip.payload)
            last = ip
        if open_key:
            await out.close_bracket(open_key.pop(), parents=(last,) if last else None)


async def _forward(out: OutPort[Any], bracket: IP) -> None:
    if bracket.is_open:
        await out.open_bracket(bracket.payload, parents=(bracket,))
    else:
        await out.close_bracket(bracket.payload, parents=(bracket,))


class GroupBy(Component):
    """Turn each bracketed substream into one list of its IPs.

    The outermost brackets delimit the groups; brackets nested inside a group are
    dropped and their IPs join the group. An IP outside any substream becomes a list
    of its own. Each list's parents are the IPs in it.

    Example: ``ByUser OUT -> IN Groups(flow/GroupBy)`` after a ``flow/Collate``.
    """

    in_: InPort[Any] = port(description="substreams (open bracket, IPs, close bracket)")
    out: OutPort[list[Any]] = port(description="one list per outermost substream")

    async def run(self) -> None:
        depth = 0
        items: list[Any] = []
        ids: list[int] = []
        async for ip in self.in_.packets():
            if ip.is_open:
                depth += 1
            elif ip.is_close:
                if depth == 0:
                    msg = (
                        f"{self.in_.address}: a close bracket (tag {ip.payload!r}) arrived"
                        " outside any substream; check that the sender balances its brackets"
                    )
                    raise ValueError(msg)
                depth -= 1
                if depth == 0:
                    await self.out.send(items, parents=ids)
                    items, ids = [], []
            elif depth == 0:
                await self.out.send([ip.payload], parents=(ip,))
            else:
                items.append(ip.payload)
                if ip.id:
                    ids.append(ip.id)
        if depth:
            msg = (
                f"{self.in_.address}: the input ended inside a substream ({depth} open"
                " bracket(s) never closed); check that the sender balances its brackets"
            )
            raise ValueError(msg)


class Batch(Component):
    """Gather IPs into lists of SIZE; the last list may be shorter.

    A bracket ends the current list early and passes through, so no list spans two
    substreams. Each list's parents are the IPs in it.

    Example: ``100 -> SIZE Chunks(flow/Batch)``.
    """

    in_: InPort[Any] = port(description="IPs to gather")
    size: InPort[int] = port(description="how many IPs go in each list (1 or more)")
    out: OutPort[list[Any]] = port(description="lists of SIZE IPs, in order")

    async def run(self) -> None:
        size = await self.size.receive()
        if size < 1:
            msg = f"{self.size.address} must be 1 or more, got {size}"
            raise ValueError(msg)
        items: list[Any] = []
        ids: list[int] = []
        async for ip in self.in_.packets():
            if ip.is_data:
                items.append(ip.payload)
                if ip.id:
                    ids.append(ip.id)
                if len(items) < size:
                    continue
            if items:
                await self.out.send(items, parents=ids)
                items, ids = [], []
            if not ip.is_data:
                await _forward(self.out, ip)
        if items:
            await self.out.send(items, parents=ids)


class Unbatch(Component):
    """Send the items of every list IP one by one: the inverse of ``Batch``.

    Each item's parent is the list it came from.
    """

    in_: InPort[list[Any]] = port(description="lists (or other sequences) of items")
    out: OutPort[Any] = port(description="the items, in order")

    async def run(self) -> None:
        async for items in self.in_:
            for item in items:
                await self.out.send(item)
