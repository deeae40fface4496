"""Aggregates over a stream or over each substream: Sum, Mean and Count.

Each emits one value for every outermost substream (in place of the substream: the
brackets do not pass through), and one value at the end of the stream for the IPs
outside any substream. A stream without brackets so gives a single value at its end;
an empty stream gives ``Sum`` 0 and ``Count`` 0, and ``Mean`` nothing. Each value's
parents are the IPs it aggregates.
"""

from __future__ import annotations

from typing import Any

from fbp import Component, InPort, OutPort, port

from ._arith import Number

__all__ = ("Count", "Mean", "Sum")

_NOTHING: Any = object()


class _Fold:
    """One running aggregate and the ids of the IPs in it."""

    __slots__ = ("ids", "n", "total")

    def __init__(self) -> None:
        self.n = 0
        self.total: Number = 0
        self.ids: list[int] = []


async def _aggregate(
    inp: InPort[Any], out: OutPort[Any], result: Any, *, numeric: bool = True
) -> None:
    """Read ``inp`` bracket by bracket, sending ``result(fold)`` for each group."""
    depth = 0
    group = _Fold()
    loose = _Fold()
    substreams = 0
    async for ip in inp.packets():
        if ip.is_open:
            depth += 1
            continue
        if ip.is_close:
            if depth == 0:
                msg = (
                    f"{inp.address}: a close bracket (tag {ip.payload!r}) arrived outside"
                    " any substream; check that the sender balances its brackets"
                )
                raise ValueError(msg)
            depth -= 1
            if depth == 0:
                substreams += 1
                value = result(group)
                if value is not _NOTHING:
                    await out.send(value, parents=group.ids)
                group = _Fold()
            continue
        fold = group if depth else loose
        fold.n += 1
        if numeric:
            fold.total += ip.payload
        if ip.id:
            fold.ids.append(ip.id)
    if depth:
        msg = (
            f"{inp.address}: the input ended inside a substream ({depth} open bracket(s)"
            " never closed); check that the sender balances its brackets"
        )
        raise ValueError(msg)
    if loose.n or not substreams:
        value = result(loose)
        if value is not _NOTHING:
            await out.send(value, parents=loose.ids)


class Sum(Component):
    """Add up the numbers of the stream, or of each substream."""

    in_: InPort[Number] = port(description="numbers, possibly in substreams")
    out: OutPort[Number] = port(description="the sum of each substream, or of the stream")

    async def run(self) -> None:
        await _aggregate(self.in_, self.out, lambda f: f.total)


class Mean(Component):
    """Average the numbers of the stream, or of each substream.

    An empty group (an empty substream, or an empty stream) gives no value.
    """

    in_: InPort[Number] = port(description="numbers, possibly in substreams")
    out: OutPort[float] = port(description="the mean of each substream, or of the stream")

    async def run(self) -> None:
        await _aggregate(self.in_, self.out, lambda f: f.total / f.n if f.n else _NOTHING)


class Count(Component):
    """Count the IPs of the stream, or of each substream (brackets are not counted)."""

    in_: InPort[Any] = port(description="IPs of any kind, possibly in substreams")
    out: OutPort[int] = port(description="how many IPs each substream, or the stream, holds")

    async def run(self) -> None:
        await _aggregate(self.in_, self.out, lambda f: f.n, numeric=False)
