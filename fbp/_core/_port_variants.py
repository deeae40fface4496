"""Port classes the network switches ports to when they need checks or tracing.

Keeping these apart lets the plain :class:`~fbp.InPort` and :class:`~fbp.OutPort`
hot paths carry no test for validation or tracing at all: the network sets a port's
class once, when it wires the port.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from time import perf_counter_ns
from typing import Any, TypeVar

from ._exceptions import EndOfStream, WouldBlock
from ._ip import DATA, IP
from ._ports import NOTHING, InPort, OutPort

__all__ = ("CheckedInPort", "CheckedOutPort", "TracedInPort", "TracedOutPort")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


def _accelerator() -> Callable[[Any, Any], int] | None:
    """The C fast path of the traced send (``fbp._core._accel``), configured with the
    slots it reads; None when it is not built or ``FBP_NO_ACCEL`` is set."""
    if os.environ.get("FBP_NO_ACCEL"):
        return None
    try:
        from . import _accel  # type: ignore[attr-defined]
    except ImportError:
        return None
    from ._channel import Channel
    from ._process import Process

    slots = (
        (OutPort, "_chan"),
        (OutPort, "_proc"),
        (OutPort, "_trace"),
        (OutPort, "_trace_batch"),
        (OutPort, "_next_id"),
        (OutPort, "port_id"),
        (OutPort, "sent_fast"),
        (Process, "single_in"),
        (Process, "in_list"),
        (Process, "activation"),
        (Process, "looper"),
        (Process, "consumed"),
        (InPort, "_last"),
        (Channel, "_buf"),
        (Channel, "_room"),
        (Channel, "_recv_signal"),
    )
    descriptors = tuple(cls.__dict__[name] for cls, name in slots)
    _accel.configure(descriptors, (OutPort, InPort, Process, Channel), NOTHING, DATA)
    put: Callable[[Any, Any], int] = _accel.put
    return put


_put = _accelerator()


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
        ch = self._chan
        if ch is not None:
            buf = ch._buf
            if len(buf) < ch._room:
                self.sent_fast += 1
                buf.append(value)
                if ch._recv_signal is not None:
                    ch._wake_receiver()
                return
            if ch._room == ch.capacity and not ch.drop_oldest:  # full: wait for room
                self._sent_slow += 1
                await ch.wait_send(value, self._proc.waiter)
                return
        await self._send_item(value)


class TracedOutPort(OutPort[T]):
    """An output port whose IPs are recorded in the network's trace.

    Every send makes the IP's record (see :mod:`fbp._core._tracehook`), appends it to
    the network's trace buffer and puts that same tuple in the channel: the record is
    the packet. It is written out here, not through a call, because it is on every
    traced hop.
    """

    __slots__ = ()

    async def send(self, value: T, *, parents: Iterable[int | IP] | None = None) -> None:
        v = self._validator
        if v is not None and type(value) is not v._plain:
            value = v.check(value)
        proc = self._proc
        if parents is None and _put is not None:
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
        elif (single := proc.single_in) is not None:
            last = single._last
            ps = () if last is NOTHING else (last[0],)
        elif proc.in_list:
            ps = proc.default_parents()
        else:
            ps = ()
        rec = (self._next_id(), DATA, self.port_id, proc.activation, perf_counter_ns(), ps, value)  # type: ignore[misc]
        ch = self._chan
        if ch is not None:
            buf = ch._buf
            room = len(buf) < ch._room
            # One receiver, with room or a policy of waiting for it: the IP will go out.
            # Recorded only then, so that the trace and the counts agree however the
            # run ends.
            if room or (ch._room == ch.capacity and not ch.drop_oldest):
                trace = self._trace
                trace.append(rec)  # type: ignore[union-attr]
                if len(trace) >= self._trace_batch:  # type: ignore[arg-type]
                    proc.net.flush_trace()
                if room:
                    self.sent_fast += 1
                    buf.append(rec)
                    if ch._recv_signal is not None:
                        ch._wake_receiver()
                    return
                self._sent_slow += 1
                await ch.wait_send(rec, proc.waiter)
                return
        await self._send_item(rec)


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

    @property
    def last_ip(self) -> IP | None:
        last = self._last
        return None if last is NOTHING else IP(last[0], DATA, last[6])

    async def receive_packet(self) -> IP:
        rec = await self._next_item()
        if rec[1] != DATA:
            return IP(rec[0], rec[1], rec[6])
        self._last = rec
        v = self._validator
        return IP(rec[0], DATA, rec[6] if v is None else v.check(rec[6]))

    async def receive(self) -> T_co:
        rec = await self._next_item()
        while rec[1] != DATA:
            await self._proc.forward_bracket(rec)
            rec = await self._next_item()
        self._last = rec
        v = self._validator
        return rec[6] if v is None else v.check(rec[6])  # type: ignore[no-any-return]

    def receive_nowait(self) -> T_co:
        ch = self._chan
        buf = ch._buf
        if buf and buf[0][1] != DATA:
            raise WouldBlock
        rec = ch.receive_nowait()
        self._last = rec
        v = self._validator
        return rec[6] if v is None else v.check(rec[6])  # type: ignore[no-any-return]

    async def __anext__(self) -> T_co:
        ch = self._chan
        buf = ch._buf
        if buf:
            rec = buf.popleft()
            if ch._send_waiters:
                ch._admit_sender()
        else:
            try:
                rec = await self._next_item()
            except EndOfStream:
                raise StopAsyncIteration from None
        while rec[1] != DATA:
            await self._proc.forward_bracket(rec)
            try:
                rec = await self._next_item()
            except EndOfStream:
                raise StopAsyncIteration from None
        self._last = rec
        v = self._validator
        return rec[6] if v is None else v.check(rec[6])  # type: ignore[no-any-return]

    async def receive_batch(self, max_items: int = 1024) -> list[T_co]:
        ch = self._chan
        first = await self._next_item()
        while first[1] != DATA:
            await self._proc.forward_bracket(first)
            first = await self._next_item()
        recs = [first]
        buf = ch._buf
        take = buf.popleft
        for _ in range(min(len(buf), max_items - 1)):
            if buf[0][1] != DATA:
                break
            recs.append(take())
        while ch._send_waiters and len(buf) < ch.capacity:
            ch._admit_sender()
        self._last = recs[-1]
        self._proc.last_batch = recs
        v = self._validator
        return [r[6] for r in recs] if v is None else [v.check(r[6]) for r in recs]
