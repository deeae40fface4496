"""Port classes the network switches ports to when they need checks or tracing.

Keeping these apart lets the plain :class:`~fbp.InPort` and :class:`~fbp.OutPort`
hot paths carry no test for validation or tracing at all: the network sets a port's
class once, when it wires the port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import itemgetter
from time import perf_counter_ns
from typing import Any, TypeVar

from ._channel import EMPTY
from ._exceptions import EndOfStream
from ._ip import DATA, IP
from ._lineage import WINDOW_RECORDS
from ._ports import NOTHING, InPort, OutPort
from ._record import IP_ID, KIND, PAYLOAD, Kind

__all__ = ("CheckedInPort", "CheckedOutPort", "TracedInPort", "TracedOutPort")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# What ends a batch in a traced channel: a record whose kind is not DATA (a bracket).
_kind = itemgetter(KIND)
_BRACKET_KINDS = frozenset(Kind) - {DATA}


def _accelerator() -> Callable[[Any, Any], int] | None:
    """The C fast path of the traced send (``fbp._core._accel``), configured with the
    slots it reads; None when it is not built or ``FBP_NO_ACCEL`` is set."""
    from ._compiled import load

    _accel: Any = load("fbp._core._accel")
    if _accel is None:
        return None
    from ._channel import Channel
    from ._lineage import Window
    from ._process import Process

    slots = (
        (OutPort, "_chan"),
        (OutPort, "_proc"),
        (OutPort, "_trace"),
        (OutPort, "_trace_batch"),
        (OutPort, "_next_id"),
        (OutPort, "port_id"),
        (OutPort, "sent_fast"),
        (Process, "in_list"),
        (Process, "activation"),
        (Process, "looper"),
        (Process, "consumed"),
        (Process, "pending"),
        (Process, "pending_old"),
        (Process, "window"),
        (InPort, "_last"),
        (InPort, "static"),
        (Channel, "_buf"),
        (Channel, "_room"),
        (Channel, "_recv_signal"),
        (Window, "used"),
    )
    descriptors = tuple(cls.__dict__[name] for cls, name in slots)
    _accel.configure(descriptors, (OutPort, InPort, Process, Channel, Window), NOTHING, DATA)
    put: Callable[[Any, Any], int] = _accel.put
    return put


_put = _accelerator()

# The Python OutPort.send (the compiled paths replace the class attribute): a checked
# send is the check, then the plain send's channel rules, written once there.
_plain_send = OutPort.send


class CheckedOutPort(OutPort[T]):
    """An output port that validates what it sends.

    The network turns a port into this class when it is wired with validation on, so
    that the plain :meth:`OutPort.send` stays free of the check.
    """

    __slots__ = ()

    async def send(self, value: T, *, parents: Iterable[int | IP] | None = None) -> None:
        v = self._validator
        if v is not None and type(value) is not v._plain:
            value = v.check(value)
        await _plain_send(self, value)


class TracedOutPort(OutPort[T]):
    """An output port whose IPs are recorded in the network's trace.

    Every send makes the IP's record (see :mod:`fbp._core._tracehook`), appends it to
    the network's trace buffer and puts that same tuple in the channel: the record is
    the packet. It is written out here, not through a call, because it is on every
    traced hop.
    """

    __slots__ = ()

    async def send(self, value: T, *, parents: Iterable[int | IP] | None = None) -> None:
        given = value  # lineage asks whether the value given is one received
        v = self._validator
        if v is not None and type(value) is not v._plain:
            value = v.check(value)
        proc = self._proc
        if parents is None and _put is not None and value is given:
            # The common case in C: the default lineage rules, one channel with room.
            # 0: not handled, go on below.
            done = _put(self, value)
            if done:
                if done == 2:
                    proc.net.flush_trace()
                return
        ps: tuple[int, ...]
        if parents is not None:
            ps = proc.parent_ids(parents)
        elif proc.in_list:
            ps = proc.default_parents(given)
        else:
            ps = ()
        rec = (self._next_id(), DATA, self.port_id, proc.activation, perf_counter_ns(), ps, value)  # type: ignore[misc]
        ch = self._chan
        if ch is not None:
            # One receiver, with room or a policy of waiting for it: the IP goes out.
            # Recorded only then, so that the trace and the counts agree however the
            # run ends.
            if ch.offer(rec):
                self.sent_fast += 1
                self._record(rec)
                return
            if ch.holds_senders:
                self._record(rec)
                self._sent_slow += 1
                await ch.wait_send(rec, proc.waiter)
                return
        await self._send_item(rec)

    def _record(self, rec: Any) -> None:
        trace = self._trace
        trace.append(rec)  # type: ignore[union-attr]
        if len(trace) >= self._trace_batch:  # type: ignore[arg-type]
            self._proc.net.flush_trace()


class CheckedInPort(InPort[T_co]):
    """An input port that validates what it receives (edges from a looser type).

    The network turns a port into this class when it needs checking, so that the
    plain :meth:`InPort.__anext__` stays free of the check.
    """

    __slots__ = ()

    async def __anext__(self) -> T_co:
        value = await InPort.__anext__(self)
        v = self._validator
        return value if v is None else v.check(value)


class TracedInPort(InPort[T_co]):
    """An input port of a traced network, whose channel carries records.

    A record is ``(ip_id, kind, port_id, activation, t_ns, parents, payload)``; data
    records have kind ``DATA``, brackets ``OPEN`` or ``CLOSE``. The port keeps the
    last data record in ``_last`` (its id is the parent of what the process sends)
    and checks payloads itself when its edges need it.
    """

    __slots__ = ()
    _head_key = _kind
    _brackets = _BRACKET_KINDS

    @property
    def last_ip(self) -> IP | None:
        last = self._last
        return None if last is NOTHING else IP(last[IP_ID], DATA, last[PAYLOAD])

    def _took(self, rec: Any) -> Any:
        """Note a data record received; return the payload the component gets.

        A check that converts the payload (a dict validated into a new one) makes the
        record that stands for the IP from here on carry the converted value, so that
        a value passed on is recognised by lineage (see fbp._core._lineage).
        """
        self._last = rec
        v = self._validator
        if v is not None:
            x = v.check(rec[PAYLOAD])
            if x is not rec[PAYLOAD]:
                rec = self._last = (*rec[:PAYLOAD], x)
        pending = self._pending
        if pending is not None and not self.static:  # (a port made static by a live edit)
            pending.append(rec)
            if len(pending) > WINDOW_RECORDS:
                self._proc.let_go()
        return rec[PAYLOAD]

    async def receive_packet(self) -> IP:
        rec = await self._chan.receive()
        if rec[KIND] != DATA:
            return IP(rec[IP_ID], rec[KIND], rec[PAYLOAD])
        return IP(rec[IP_ID], DATA, self._took(rec))

    async def receive(self) -> T_co:
        rec = await self._chan.receive()
        while rec[KIND] != DATA:
            await self._proc.forward_bracket(rec)
            rec = await self._chan.receive()
        return self._took(rec)  # type: ignore[no-any-return]

    async def __anext__(self) -> T_co:
        rec = self._chan.take_ready()
        if rec is EMPTY:
            try:
                rec = await self._chan.receive()
            except EndOfStream:
                raise StopAsyncIteration from None
        while rec[KIND] != DATA:
            await self._proc.forward_bracket(rec)
            try:
                rec = await self._chan.receive()
            except EndOfStream:
                raise StopAsyncIteration from None
        if self._validator is not None:
            return self._took(rec)  # type: ignore[no-any-return]
        # The common case inlined: no check.
        self._last = rec
        pending = self._pending
        if pending is not None:
            pending.append(rec)
            if len(pending) > WINDOW_RECORDS:
                self._proc.let_go()
        return rec[PAYLOAD]  # type: ignore[no-any-return]

    async def receive_batch(self, max_items: int = 1024) -> list[T_co]:
        first = await self._chan.receive()
        while first[KIND] != DATA:
            await self._proc.forward_bracket(first)
            first = await self._chan.receive()
        recs = [first]
        self._chan.take_batch(recs, max_items, _kind, _BRACKET_KINDS)
        self._last = recs[-1]
        v = self._validator
        if v is not None:
            values = [v.check(r[PAYLOAD]) for r in recs]
            recs = [
                r if x is r[PAYLOAD] else (*r[:PAYLOAD], x)
                for r, x in zip(recs, values, strict=True)
            ]
            self._last = recs[-1]
        self._proc.last_batch = recs
        pending = self._pending
        if pending is not None:
            pending.extend(recs)
            if len(pending) > WINDOW_RECORDS:
                self._proc.let_go()
        return [r[PAYLOAD] for r in recs]
