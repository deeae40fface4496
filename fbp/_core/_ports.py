"""Ports: the typed ends of a process.

A component declares its ports as annotated class attributes::

    class Scale(Component):
        in_: InPort[Reading]
        factor: InPort[float] = port(description="multiplier, usually an IIP")
        out: OutPort[Reading]

The runtime gives every process its own port objects when the network is built. An
input port reads from one channel (fan-in: every edge into the port shares it); an
output port writes to the channels of every edge it has (fan-out: each receiver gets the
same IP, and a send waits until every receiver has room).

Channels carry bare payloads (and :class:`IP` objects for brackets) when the network is
not traced. When it is traced they carry the trace records themselves, plain tuples
``(ip_id, kind, port_id, activation, t_ns, parents, payload)`` (see
:mod:`fbp._core._tracehook`): the record of a send is made once and serves as the
packet, and :class:`IP` objects are made only for the API that returns them. Ports are
switched to their traced classes (:mod:`fbp._core._port_variants`) when wired.

Lineage: every IP sent records its parents. In a non-looper (``process()``) the parents
are the IPs consumed by the activation that sent it. In a looper (``run()``) they are,
by default, the IPs received since its previous send (see :mod:`fbp._core._lineage`);
``send(..., parents=...)`` names them explicitly (IP ids, or IPs from
:meth:`InPort.receive_packet`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from ._address import PortAddress
from ._channel import EMPTY, Channel, ChannelStatistics, Overflow
from ._exceptions import EndOfStream, PortClosedError, WouldBlock
from ._ip import CLOSE, DATA, IP, OPEN
from ._types import Validator

if TYPE_CHECKING:
    from ._process import Process

__all__ = (
    "DownstreamClosed",
    "InPort",
    "OutPort",
    "OutPortStatistics",
    "PortSpec",
    "address",
    "port",
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


def _all_exactly_py(values: Sequence[Any], cls: type) -> bool:
    return set(map(type, values)) == {cls}


#: Whether every value's class is exactly the given one (compiled where built).
_all_exactly: Callable[[Sequence[Any], type], bool] = _all_exactly_py


class DownstreamClosed(Exception):
    """Every receiver of an output port has ended; nothing sent there can be used.

    Raised by :meth:`OutPort.send`. If it escapes ``run()``, the process ends normally,
    the way a Unix program ends on a closed pipe: a source feeding a consumer that has
    taken all it wants stops without error.
    """


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
NOTHING: Any = object()

# What ends a batch in an untraced channel: a bracket (a data payload is bare).
_BRACKET_TYPES = frozenset({IP})


@dataclass(frozen=True, slots=True)
class OutPortStatistics:
    """A snapshot of an output port, for observers (its input port's counterpart is
    the :class:`ChannelStatistics` of the channel feeding it)."""

    #: IPs sent through this port (brackets not counted).
    items_sent: int


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A port as a component declares it (read from the class's annotations)."""

    name: str
    attr: str
    direction: Literal["in", "out"]
    tp: Any
    array: bool = False
    optional: bool = False
    description: str = ""
    default: Any = MISSING
    fixed_size: int | None = None
    causal: bool = True

    @property
    def has_default(self) -> bool:
        """Whether an unconnected input port reads a default value."""
        return self.default is not MISSING

    @property
    def display(self) -> str:
        """The port's name as addresses show it (``IN``)."""
        return self.name.upper()


@dataclass(frozen=True, slots=True)
class _PortOptions:
    description: str
    optional: bool
    default: Any
    fixed_size: int | None
    causal: bool


def port(
    *,
    description: str = "",
    optional: bool = False,
    default: Any = MISSING,
    fixed_size: int | None = None,
    causal: bool = True,
) -> Any:
    """Describe a port declared by annotation.

    Args:
        description: one line that ``python -m fbp components`` shows.
        optional: an input port that need not be connected (it ends at once), or an
            output port whose IPs may be discarded. Input ports are required by default.
        default: for an input port, the value it reads (as an IIP) when the graph gives
            it neither an edge nor an IIP. Implies ``optional``.
        fixed_size: for an array port, the exact number of elements it must have.
        causal: False for a switch that stands for a code change rather than for data
            (a fault-injection knob, a debug flag): the causal layer leaves it out of
            the model, so that what it changes is found in the mechanisms it affects.

    Returns:
        A marker the component class reads when it is defined.
    """
    return _PortOptions(
        description, optional or default is not MISSING, default, fixed_size, causal
    )


def address(process: str, name: str, index: int | None = None) -> str:
    """Format a port address ``process.PORT[index]`` (see :class:`PortAddress`)."""
    return str(PortAddress(process, name, index))


class InPort(Generic[T_co]):
    """An input port: receive IPs with ``await port.receive()`` or ``async for``.

    Iteration ends when every sender upstream has closed. Brackets arriving on a port
    read with ``receive()`` or ``async for`` are forwarded to all the process's
    output ports, so that substreams keep their shape through simple components; read
    :meth:`packets` to handle brackets yourself.
    """

    __slots__ = (
        "_chan",
        "_last",
        "_pending",
        "_proc",
        "_validator",
        "address",
        "index",
        "port_id",
        "spec",
        "static",
    )

    # How a bracket is told from data in the channel (see Channel.take_data): the
    # type of what it carries (bare payloads, IP objects for brackets) here, a record's
    # kind in TracedInPort.
    _head_key: ClassVar[Any] = type
    _brackets: ClassVar[frozenset[Any]] = _BRACKET_TYPES

    def __init__(self, spec: PortSpec, proc: Process, index: int | None = None) -> None:
        self.spec = spec
        self.index = index
        self._proc = proc
        self.address = address(proc.name, spec.name, index)
        # Unconnected until wired: a channel with no sender ends at once.
        self._chan: Channel[Any] = Channel(1, name=self.address)
        self._chan.receiver = proc.waiter
        self._validator: Validator | None = None
        # The last data item received: an IP when the network is traced, else the payload.
        self._last: Any = NOTHING
        # Traced loopers: the list that collects what this port receives for lineage.
        self._pending: list[Any] | None = None
        #: True when the port is fed only by an IIP (or a default): a constant.
        self.static = False
        self.port_id = -1

    def __repr__(self) -> str:
        return f"<InPort {self.address}>"

    # -- wiring (runtime only) --------------------------------------------------------

    def _enable_checks(self, validator: Validator) -> None:
        from ._port_variants import CheckedInPort, TracedInPort

        self._validator = validator
        if type(self) is not TracedInPort:  # the traced class checks as it unwraps
            self.__class__ = CheckedInPort

    def _enable_tracing(self) -> None:
        from ._port_variants import TracedInPort

        self.__class__ = TracedInPort
        proc = self._proc
        if proc.looper and not self.static and proc.out_list:
            self._pending = proc.pending  # a looper's sends descend from what it received

    def _attach(self, capacity: int, overflow: Overflow) -> Channel[Any]:
        ch: Channel[Any] = Channel(capacity, overflow, name=self.address)
        ch.receiver = self._proc.waiter
        self._chan = ch
        return ch

    # -- receiving --------------------------------------------------------------------
    #
    # These are the untraced forms: channels carry bare payloads, and IP objects for
    # brackets. TracedInPort has the forms for channels of records.

    @property
    def is_connected(self) -> bool:
        """Whether any edge or IIP feeds this port."""
        return self._chan.open_senders > 0 or len(self._chan) > 0

    @property
    def last_ip(self) -> IP | None:
        """The last data IP received here (its ``id`` names it as a parent).

        IPs carry ids when the network is traced; otherwise the id is 0.
        """
        last = self._last
        return None if last is NOTHING else IP(0, DATA, last)

    async def _wait_next(self) -> Any:
        """The next data payload, whatever it takes (the slow path of ``async for``)."""
        receive = self._chan.receive
        while True:
            try:
                item = await receive()
            except EndOfStream:
                raise StopAsyncIteration from None
            if type(item) is IP:  # a bracket
                await self._proc.forward_bracket(item)
                continue
            self._last = item
            return item

    async def receive_packet(self) -> IP:
        """Receive the next IP, bracket or data, as an :class:`IP`.

        Raises:
            EndOfStream: every sender has closed and nothing is left.
        """
        item = await self._chan.receive()
        if type(item) is IP:
            return item  # a bracket
        self._last = item
        v = self._validator
        return IP(0, DATA, item if v is None else v.check(item))

    async def receive(self) -> T_co:
        """Receive the next data payload, forwarding any brackets before it.

        Raises:
            EndOfStream: every sender has closed and nothing is left.
        """
        item = await self._chan.receive()
        while type(item) is IP:  # a bracket
            await self._proc.forward_bracket(item)
            item = await self._chan.receive()
        self._last = item
        v = self._validator
        return item if v is None else v.check(item)  # type: ignore[no-any-return]

    def receive_nowait(self) -> T_co:
        """Receive the next data payload if one is buffered.

        Raises:
            WouldBlock: nothing is buffered, or a bracket is next (use ``receive``).
            EndOfStream: every sender has closed and nothing is left.
        """
        item = self._chan.take_data(self._head_key, self._brackets)
        if item is EMPTY:
            raise WouldBlock
        return self._took(item)  # type: ignore[no-any-return]

    def _took(self, item: Any) -> Any:
        """Note a data item received; return the payload the component gets."""
        self._last = item
        v = self._validator
        return item if v is None else v.check(item)

    def __aiter__(self) -> InPort[T_co]:
        return self

    async def __anext__(self) -> T_co:
        item = self._chan.take_ready()
        if type(item) is not IP and item is not EMPTY:  # a bare payload was buffered
            self._last = item
            return item  # type: ignore[no-any-return]
        if item is not EMPTY:  # a bracket
            await self._proc.forward_bracket(item)
        # The wait for an item.
        return await self._wait_next()  # type: ignore[no-any-return]

    async def packets(self) -> AsyncIterator[IP]:
        """Iterate over every IP, brackets included, until the port ends."""
        while True:
            try:
                yield await self.receive_packet()
            except EndOfStream:
                return

    async def collect(self) -> list[T_co]:
        """Receive every remaining data payload into a list."""
        return [x async for x in self]

    async def receive_batch(self, max_items: int = 1024) -> list[T_co]:
        """Receive every data payload buffered now, at least one and at most ``max_items``.

        The batched form of :meth:`receive`: one await moves many IPs, which makes the
        per-IP cost several times smaller in tight pipelines. IPs keep their identity
        and lineage: with :meth:`OutPort.send_batch`, the i-th payload sent has the i-th
        payload received as its parent. A bracket ends a batch; it is forwarded before
        the next batch begins.

        Raises:
            EndOfStream: every sender has closed and nothing is left.
        """
        first = await self._chan.receive()
        while type(first) is IP:  # a bracket
            await self._proc.forward_bracket(first)
            first = await self._chan.receive()
        items = [first]
        self._chan.take_batch(items, max_items, type, _BRACKET_TYPES)
        self._last = items[-1]
        v = self._validator
        return items if v is None else [v.check(x) for x in items]

    def batches(self, max_items: int = 1024) -> AsyncIterator[list[T_co]]:
        """Iterate over batches (:meth:`receive_batch`) until the port ends."""
        return self._batches(max_items)

    async def _batches(self, max_items: int) -> AsyncIterator[list[T_co]]:
        while True:
            try:
                yield await self.receive_batch(max_items)
            except EndOfStream:
                return

    def _close(self) -> int:
        return self._chan.close_receiver()

    def statistics(self) -> ChannelStatistics:
        """The statistics of the channel feeding this port."""
        return self._chan.statistics()


class OutPort(Generic[T]):
    """An output port: ``await port.send(value)``; brackets delimit substreams."""

    __slots__ = (
        "_chan",
        "_chans",
        "_closed",
        "_loop",
        "_next_id",
        "_proc",
        "_sent_slow",
        "_trace",
        "_trace_batch",
        "_validator",
        "address",
        "index",
        "port_id",
        "sent_fast",
        "spec",
    )

    def __init__(self, spec: PortSpec, proc: Process, index: int | None = None) -> None:
        self.spec = spec
        self.index = index
        self._proc = proc
        self.address = address(proc.name, spec.name, index)
        self._chans: tuple[Channel[Any], ...] = ()
        # The only channel, when there is exactly one and the port is open: the fast path.
        self._chan: Channel[Any] | None = None
        self._closed = False
        self._validator: Validator | None = None
        self.port_id = -1
        # Set by _enable_tracing: the traced send's own handles on its process's state.
        self._trace: list[Any] | None = None
        self._trace_batch = 0
        self._next_id: Callable[[], int] | None = None
        #: IPs sent by the fast path (one receiver with room); see ``sent``.
        self.sent_fast = 0
        self._sent_slow = 0
        # A compiled receive loop sending here while it runs (see fbp._core._loops): it
        # adds its sends to sent_fast when it stops running; until then, ``unsent``.
        self._loop: Any = None

    def __repr__(self) -> str:
        return f"<OutPort {self.address}>"

    def _enable_checks(self, validator: Validator | None, traced: bool) -> None:
        from ._port_variants import CheckedOutPort, TracedOutPort

        self._validator = validator
        if traced:
            self.__class__ = TracedOutPort
        elif validator is not None:
            self.__class__ = CheckedOutPort

    def _enable_tracing(self) -> None:
        proc = self._proc
        self._trace = proc.trace
        self._trace_batch = proc.trace_batch
        self._next_id = proc.ids.__next__

    @property
    def sent(self) -> int:
        """IPs sent through this port."""
        return self.fast_sent + self._sent_slow

    @property
    def fast_sent(self) -> int:
        """IPs sent by the fast paths (counted by the channels it feeds as their own)."""
        loop = self._loop
        return self.sent_fast if loop is None else self.sent_fast + loop.unsent

    def _attach(self, ch: Channel[Any]) -> None:
        ch.add_sender()
        ch.feeders.append(self)
        self._chans = (*self._chans, ch)
        self._chan = self._chans[0] if len(self._chans) == 1 else None

    @property
    def is_connected(self) -> bool:
        """Whether any edge leaves this port."""
        return bool(self._chans)

    @property
    def is_closed(self) -> bool:
        """Whether this port is closed, or every receiver behind it has ended."""
        return self._closed or (bool(self._chans) and all(c.receiver_closed for c in self._chans))

    async def send(self, value: T, *, parents: Iterable[int | IP] | None = None) -> None:
        """Send a data IP carrying ``value``, waiting while a receiver is full.

        Args:
            value: the payload; validated against the port's type unless the network
                runs with validation off.
            parents: the IPs (or their ids) that caused this one, overriding the
                default lineage rule.

        Raises:
            DownstreamClosed: every receiver has ended.
            PortClosedError: this port was closed.
            PacketTypeError: the value does not match the port's type.
        """
        # This is the hot path of an unchecked, untraced port: see _port_variants.
        ch = self._chan
        if ch is not None:
            if ch.offer(value):  # one receiver, with room
                self.sent_fast += 1
                return
            # One open receiver, full, and a policy of waiting: wait for room.
            if ch.holds_senders:
                self._sent_slow += 1
                await ch.wait_send(value, self._proc.waiter)
                return
        await self._send_item(value)

    async def send_batch(
        self, values: Sequence[T], *, parents: Iterable[int | IP] | None = None
    ) -> None:
        """Send many data IPs with one await (the batched form of :meth:`send`).

        Each value is its own IP. Lineage: given ``parents``, every IP has them; else,
        when the process's last :meth:`InPort.receive_batch` returned as many payloads,
        the i-th IP's parent is the i-th IP received (with the latest IP of the
        process's other input ports, as the looper rule has it); else the default rule.
        """
        if not values:
            return
        given = values  # lineage asks whether the values given are ones received
        v = self._validator
        if v is not None:
            plain = v._plain
            # Check one by one only when some value is not an instance of exactly the
            # port's class (looked at in one pass, compiled where built).
            if plain is None or not _all_exactly(values, plain):
                values = [x if type(x) is plain else v.check(x) for x in values]
        proc = self._proc
        items: list[Any]
        if proc.trace is not None:
            items = proc.batch_records(self.port_id, values, parents, given)
        else:
            items = list(values)
        ch = self._chan
        if ch is None:
            for item in items:
                await self._send_item(item, record=False)
            return
        start, n = 0, len(items)
        while start < n:
            # Put in what fits at once; then wait for room for the next one.
            put = ch.offer_many(items, start)
            if put:
                self.sent_fast += put
                start += put
                continue
            if self._chan is None or ch.receiver_closed:
                for item in items[start:]:
                    await self._send_item(item, record=False)
                return
            self._sent_slow += 1
            await ch.wait_send(items[start], proc.waiter)
            start += 1

    async def _send_item(self, item: Any, *, record: bool = True) -> None:
        """Send an item to every edge: a bare payload or a bracket IP, or, when the
        network is traced, a record (appended to the trace once it is sure to go out,
        unless ``record`` is False)."""
        if self._closed:
            msg = f"{self.address} is closed; it cannot send {item!r}"
            raise PortClosedError(msg)
        chans = self._chans
        proc = self._proc
        if chans and Channel.put_all(chans, item):
            # Room everywhere (a closed receiver has none): the IP went out.
            if record and proc.trace is not None:
                proc.append_record(item)
            self._sent_slow += 1
            return
        if chans and all(c.receiver_closed for c in chans):
            raise DownstreamClosed(self.address)
        if record and proc.trace is not None:
            proc.append_record(item)
        self._sent_slow += 1
        for ch in chans:
            try:
                ch.send_nowait(item)
            except WouldBlock:
                await ch.wait_send(item, proc.waiter)

    async def open_bracket(
        self, tag: Any = None, *, parents: Iterable[int | IP] | None = None
    ) -> None:
        """Send an open bracket: the start of a substream, with an optional tag."""
        await self._send_item(self._proc.packet(OPEN, self.port_id, tag, parents))

    async def close_bracket(
        self, tag: Any = None, *, parents: Iterable[int | IP] | None = None
    ) -> None:
        """Send a close bracket: the end of the current substream."""
        await self._send_item(self._proc.packet(CLOSE, self.port_id, tag, parents))

    @asynccontextmanager
    async def substream(self, tag: Any = None) -> AsyncIterator[None]:
        """Wrap the sends inside the block in an open/close bracket pair."""
        await self.open_bracket(tag)
        yield
        await self.close_bracket(tag)

    def close(self) -> None:
        """Close the port: receivers see end of stream once every other sender closes."""
        if self._closed:
            return
        self._closed = True
        self._chan = None
        for ch in self._chans:
            ch.close_sender()

    def statistics(self) -> OutPortStatistics:
        """A snapshot of this port's counts, for observers."""
        return OutPortStatistics(items_sent=self.sent)
