"""Port classes the network switches ports to when they need checks or tracing.

Keeping these apart lets the plain :class:`~fbp.InPort` and :class:`~fbp.OutPort`
hot paths carry no test for validation or tracing at all: the network sets a port's
class once, when it wires the port.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter_ns
from typing import TypeVar

from ._ip import DATA, IP
from ._ports import InPort, OutPort

__all__ = ("CheckedInPort", "CheckedOutPort", "TracedOutPort")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


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
        await self._send_item(value, parents)


class TracedOutPort(OutPort[T]):
    """An output port whose IPs are recorded in the network's trace.

    Every send makes an :class:`IP` with a new id and appends its record (see
    :mod:`fbp._core._tracehook`) to the network's trace buffer; the record is written
    out here, not through a call, because it is on every traced hop.
    """

    __slots__ = ()

    async def send(self, value: T, *, parents: Iterable[int | IP] | None = None) -> None:
        v = self._validator
        if v is not None and type(value) is not v._plain:
            value = v.check(value)
        proc = self._proc
        ch = self._chan
        if ch is not None and len(ch._buf) < ch._room:
            # Recorded only once it is sure to be delivered, so that the trace and the
            # counts agree however the run ends.
            ip_id = next(proc.ids)
            ip = IP(ip_id, DATA, value)
            if parents is None:
                single = proc.single_in
                if single is not None:
                    last = single._last
                    ps: tuple[int, ...] = (last.id,) if type(last) is IP else ()
                else:
                    ps = proc.default_parents()
            else:
                ps = tuple(p.id if type(p) is IP else int(p) for p in parents)
            rec = proc.trace
            rec.append((ip_id, DATA, self.port_id, proc.activation, perf_counter_ns(), ps, value))  # type: ignore[union-attr]
            if len(rec) >= proc.trace_batch:  # type: ignore[arg-type]
                proc.net.flush_trace()
            self.sent_fast += 1
            ch._buf.append(ip)
            if ch._recv_signal is not None:
                ch._wake_receiver()
            return
        await self._send_item(IP(next(proc.ids), DATA, value), parents)


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
