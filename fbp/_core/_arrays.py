"""Array ports, and receiving from whichever of several input ports delivers first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._channel import EMPTY
from ._exceptions import EndOfStream
from ._fuse import wait_future
from ._ip import DATA, IP
from ._ports import InPort, OutPort, PortSpec, address
from ._record import KIND

if TYPE_CHECKING:
    from ._process import Process

__all__ = ("ArrayInPort", "ArrayOutPort", "merge", "receive_any")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


async def receive_any(ports: Sequence[InPort[T_co]], start: int = 0) -> tuple[int, T_co]:
    """Receive a data payload from whichever of ``ports`` has one first.

    Ports are tried in turn from ``start``, so a caller that moves ``start`` past the
    last winner gets round-robin fairness. Brackets met on the way are forwarded as
    ``receive()`` forwards them.

    Returns:
        The position of the port in ``ports`` and the payload.

    Raises:
        EndOfStream: every port has ended.
    """
    n = len(ports)
    # A traced network's channels carry records, whose kind is their second field. (The
    # test is written out here, not as the ports' _head_key/_brackets: 5% of a traced
    # merge's time.)
    traced = n > 0 and ports[0]._proc.trace is not None
    while True:
        live = 0
        for k in range(n):
            i = (start + k) % n
            el = ports[i]
            ch = el._chan
            # Look before taking: an empty port costs a test, not an exception.
            head = ch.peek()
            if head is not EMPTY:
                if head[KIND] != DATA if traced else type(head) is IP:
                    # A bracket is next on this port: pass it on, then look again.
                    await el._proc.forward_bracket(ch.receive_nowait())
                    return await receive_any(ports, i)
                return i, el._took(ch.receive_nowait())
            if ch.open_senders:
                live += 1
        if live == 0:
            raise EndOfStream
        await _wait_any(ports)


async def _wait_any(ports: Sequence[InPort[Any]]) -> None:
    waiter = ports[0]._proc.waiter
    fut = wait_future(waiter)
    chans = tuple(p._chan for p in ports)
    for ch in chans:
        ch.set_shared_signal(fut)
    waiter.waiting = (chans, "receive")
    try:
        await fut
    finally:
        waiter.waiting = None
        for ch in chans:
            ch.clear_shared_signal(fut)


async def merge(*ports: InPort[T_co]) -> AsyncIterator[tuple[InPort[T_co], T_co]]:
    """Iterate over ``(port, payload)`` from several input ports as IPs arrive.

    Ends when every port has ended. A value sent on unchanged descends from the IP it
    came in (the default lineage rule); a value computed from it and from the latest IP
    of the other ports descends from all of them (name the parents, ``send(y,
    parents=[port.last_ip])``, when the other ports played no part).
    """
    nxt = 0
    while True:
        try:
            i, value = await receive_any(ports, nxt)
        except EndOfStream:
            return
        nxt = (i + 1) % len(ports)
        yield ports[i], value


class ArrayInPort(Generic[T_co]):
    """An array input port: numbered elements ``port[0]``, ``port[1]``, ...

    Each element is an :class:`InPort` with its own channel. ``async for index, value in
    port`` merges the elements as IPs arrive (fairly, round-robin when several are
    ready) until all have ended.
    """

    __slots__ = ("_next", "_proc", "address", "elements", "spec")

    def __init__(self, spec: PortSpec, proc: Process, size: int) -> None:
        self.spec = spec
        self._proc = proc
        self.address = address(proc.name, spec.name)
        self.elements: list[InPort[T_co]] = [InPort(spec, proc, i) for i in range(size)]
        self._next = 0

    def __repr__(self) -> str:
        return f"<ArrayInPort {self.address} x{len(self.elements)}>"

    def __len__(self) -> int:
        return len(self.elements)

    def __getitem__(self, index: int) -> InPort[T_co]:
        return self.elements[index]

    def __iter__(self) -> Iterator[InPort[T_co]]:
        return iter(self.elements)

    async def receive_any(self) -> tuple[int, T_co]:
        """Receive a data payload from whichever element has one first.

        Raises:
            EndOfStream: every element has ended.
        """
        i, value = await receive_any(self.elements, self._next)
        self._next = (i + 1) % len(self.elements)
        return i, value

    def __aiter__(self) -> ArrayInPort[T_co]:
        return self

    async def __anext__(self) -> tuple[int, T_co]:
        try:
            i, value = await receive_any(self.elements, self._next)
        except EndOfStream:
            raise StopAsyncIteration from None
        self._next = (i + 1) % len(self.elements)
        return i, value

    @property
    def connected(self) -> list[int]:
        """Indices of the elements that have an edge or IIP."""
        return [i for i, el in enumerate(self.elements) if el.is_connected]


class ArrayOutPort(Generic[T]):
    """An array output port: numbered elements ``port[0]``, ``port[1]``, ..."""

    __slots__ = ("address", "elements", "spec")

    def __init__(self, spec: PortSpec, proc: Process, size: int) -> None:
        self.spec = spec
        self.address = address(proc.name, spec.name)
        self.elements: list[OutPort[T]] = [OutPort(spec, proc, i) for i in range(size)]

    def __repr__(self) -> str:
        return f"<ArrayOutPort {self.address} x{len(self.elements)}>"

    def __len__(self) -> int:
        return len(self.elements)

    def __getitem__(self, index: int) -> OutPort[T]:
        return self.elements[index]

    def __iter__(self) -> Iterator[OutPort[T]]:
        return iter(self.elements)

    @property
    def connected(self) -> list[int]:
        """Indices of the elements that have an edge."""
        return [i for i, el in enumerate(self.elements) if el.is_connected]

    async def send_all(self, value: T, *, parents: Sequence[int | IP] | None = None) -> None:
        """Send ``value`` to every connected element."""
        for el in self.elements:
            if el.is_connected:
                await el.send(value, parents=parents)
