"""A process: one component instance running in a network, and its driver."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterable, Sequence
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ._arrays import ArrayInPort, ArrayOutPort
from ._channel import EMPTY, Waiter
from ._component import Component, ComponentSpec
from ._exceptions import EndOfStream, SourceLocation
from ._ip import DATA, IP
from ._lineage import (
    PLAIN,
    WINDOW_RECORDS,
    Older,
    Window,
    compact,
    leftover,
    others,
    window_of,
)
from ._log import get_logger
from ._loops import run_looper
from ._ports import NOTHING, DownstreamClosed, InPort, OutPort
from ._record import IP_ID, KIND, PAYLOAD, T_NS
from ._tracehook import KIND_DEAD, TraceRecord
from ._waits import stopped_state

if TYPE_CHECKING:
    from ._network import Network

__all__ = ("DeadLetter", "Process")


class DeadLetter(BaseModel):
    """What a process's ERROR port receives when an activation raises.

    A non-looper whose ``error`` output port is connected does not stop the network
    when ``process()`` raises: the inputs of the failed activation go out on ``ERROR``
    as a dead letter, with the error, and the process goes on with the next activation.
    """

    process: str
    component: str
    error_type: str
    message: str
    traceback: str
    #: The payloads of the failed activation, by input port name.
    inputs: dict[str, Any]
    #: The ids of the IPs consumed by the failed activation.
    input_ids: list[int]


class Process(Waiter):
    """A running component: its ports, its lineage state and its driver."""

    __slots__ = (
        "activation",
        "component",
        "component_name",
        "consumed",
        "coro",
        "dead_letters",
        "ended",
        "ids",
        "in_list",
        "inports",
        "last_batch",
        "location",
        "looper",
        "name",
        "net",
        "out_list",
        "outcome",
        "outports",
        "pending",
        "pending_old",
        "spec",
        "task",
        "trace",
        "trace_batch",
        "waiter",
        "window",
    )

    def __init__(
        self,
        net: Network,
        name: str,
        cls: type[Component],
        *,
        component_name: str | None = None,
        location: SourceLocation | None = None,
        array_sizes: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.name = name
        self.spec: ComponentSpec = cls.spec()
        self.component_name = component_name or self.spec.qualname
        self.location = location
        self.looper = self.spec.looper
        self.waiter: Waiter = self
        self.ids = net.ids
        self.trace: list[Any] | None = None
        self.trace_batch = net.trace_batch
        self.activation = 0
        self.consumed: tuple[int, ...] = ()
        #: The records of the last InPort.receive_batch (traced networks), for send_batch.
        self.last_batch: list[TraceRecord] | None = None
        self.ended = False
        #: The task that runs the process (set when it starts).
        self.task: asyncio.Task[Any] | None = None
        #: The coroutine of :meth:`main` when a fused scheduler made it (its task then
        #: only stands by: what the process awaits is read from this coroutine).
        self.coro: Any = None
        #: How it ended: ``ended``, ``failed``, or what it was doing when stopped.
        self.outcome: str | None = None
        #: Dead letters sent on the ERROR port (activations that raised).
        self.dead_letters = 0
        comp = cls()
        comp.name = name
        comp.log = get_logger(process=name)
        self.component = comp
        sizes = array_sizes or {}
        self.inports: dict[str, InPort[Any] | ArrayInPort[Any]] = {}
        self.outports: dict[str, OutPort[Any] | ArrayOutPort[Any]] = {}
        for ps in self.spec.inports:
            ip_obj: InPort[Any] | ArrayInPort[Any] = (
                ArrayInPort(ps, self, sizes.get(ps.name, 0)) if ps.array else InPort(ps, self)
            )
            self.inports[ps.name] = ip_obj
            setattr(comp, ps.attr, ip_obj)
        for ps in self.spec.outports:
            op_obj: OutPort[Any] | ArrayOutPort[Any] = (
                ArrayOutPort(ps, self, sizes.get(ps.name, 0)) if ps.array else OutPort(ps, self)
            )
            self.outports[ps.name] = op_obj
            setattr(comp, ps.attr, op_obj)
        self.in_list: list[InPort[Any]] = [
            el for p in self.inports.values() for el in (p if isinstance(p, ArrayInPort) else [p])
        ]
        self.out_list: list[OutPort[Any]] = [
            el for p in self.outports.values() for el in (p if isinstance(p, ArrayOutPort) else [p])
        ]
        #: Traced loopers: the data records received on stream ports since the last
        #: data send (see fbp._core._lineage), and the ids of older ones let go.
        self.pending: list[TraceRecord] = []
        self.pending_old: Older | None = None
        #: What the last data send was computed from: None, a record, or a Window (a
        #: list of records, as the C path leaves it, until Python reads it).
        self.window: Any = None

    def __str__(self) -> str:
        return f"{self.name} ({self.component_name})"

    def __repr__(self) -> str:
        return f"<Process {self}>"

    def last_input(self) -> InPort[Any] | None:
        """The input port that received the most recent data IP (for error reports)."""
        received = [p for p in self.in_list if p.last_ip is not None]
        if not received:
            return None
        return max(received, key=lambda p: p.last_ip.id)  # type: ignore[union-attr]

    # -- lineage -----------------------------------------------------------------------

    def default_parents(self, value: Any = NOTHING, *, data: bool = True) -> tuple[int, ...]:
        """The parents of an IP sent now under the default lineage rules (traced).

        A non-looper's sends descend from the IPs its activation consumed; a looper's
        follow :mod:`fbp._core._lineage`. ``data`` is False for brackets, which do not
        take the IPs received so far from the next data send.
        """
        if not self.looper:
            return self.consumed
        if not self.in_list:
            return ()
        pending = self.pending
        if (
            data
            and len(pending) > 1
            and type(value) in PLAIN
            and self.pending_old is None
            and (type(self.window) is not Window or self.window.used is None)
            and all(r[PAYLOAD] is not value for r in pending)
        ):
            # Every record of the window is a parent (as the C path does it).
            ids = [r[IP_ID] for r in pending]
            self.window = list(pending)
            pending.clear()
            held = {id(r) for r in self.window}
            for p in self.in_list:
                last = p._last
                if last is not NOTHING and id(last) not in held:
                    ids.append(last[IP_ID])
            return tuple(ids)
        if type(self.window) is list:  # records the C path took as a window
            self.window = Window(self.window, None)
        if self.pending:
            if data:
                self.take_window()
                window = self.window
            else:
                window = window_of(leftover(self.window) + self.pending, self.pending_old)
        else:
            window = self.window
        if window is None:
            stream: tuple[int, ...] = ()
            passed = False
        elif type(window) is tuple:
            stream = (window[IP_ID],)
            passed = value is window[PAYLOAD]
        else:
            stream, passed = window.select(value)
        rest = others(self.in_list, window, passed, NOTHING)
        return (*stream, *rest) if rest else stream

    def take_window(self) -> None:
        """A data send takes the IPs received since the last one as its window."""
        pending = self.pending
        rest = leftover(self.window)
        if rest:
            pending[:0] = rest
        self.window = window_of(pending, self.pending_old)
        self.pending_old = None
        pending.clear()

    def let_go(self) -> None:
        """Keep only the ids of the oldest pending records (a long window)."""
        if len(self.pending) > WINDOW_RECORDS:
            self.pending_old = compact(self.pending, self.pending_old)

    def parent_ids(
        self, parents: Iterable[int | IP] | None, value: Any = NOTHING, *, data: bool = True
    ) -> tuple[int, ...]:
        """Parents as a send names them (IPs or ids), or by the default rule if None."""
        if parents is None:
            return self.default_parents(value, data=data)
        if data and self.pending:
            self.take_window()
        return tuple(p.id if type(p) is IP else int(p) for p in parents)

    def packet(
        self, kind: int, port_id: int, payload: Any, parents: Iterable[int | IP] | None
    ) -> Any:
        """What a send of ``kind`` puts in the channels: the trace record when the
        network is traced, else a bare payload (data) or an :class:`IP` (brackets)."""
        if self.trace is not None:
            ps = self.parent_ids(parents, payload, data=kind == DATA)
            return (next(self.ids), kind, port_id, self.activation, perf_counter_ns(), ps, payload)
        return payload if kind == DATA else IP(next(self.ids), kind, payload)

    def append_record(self, rec: TraceRecord) -> None:
        """Add a record to the trace (flushing a full buffer)."""
        buf = self.trace
        buf.append(rec)  # type: ignore[union-attr]
        if len(buf) >= self.trace_batch:  # type: ignore[arg-type]
            self.net.flush_trace()

    def batch_records(
        self,
        port_id: int,
        values: Sequence[Any],
        parents: Iterable[int | IP] | None,
        given: Sequence[Any] | None = None,
    ) -> list[TraceRecord]:
        """The records of a batch of data sends, appended to the trace.

        Lineage: given ``parents``, every IP has them; else see :meth:`batch_parents`
        (``given``: the values as the component gave them, before any check).
        """
        ids, act = self.ids, self.activation
        pairs: Iterable[tuple[int, ...]]
        if parents is not None:
            pairs = [self.parent_ids(parents)] * len(values)
        else:
            pairs = self.batch_parents(values if given is None else given)
        recs = [
            (next(ids), DATA, port_id, act, perf_counter_ns(), ps, x)
            for x, ps in zip(values, pairs, strict=True)
        ]
        for rec in recs:
            self.append_record(rec)
        return recs

    def batch_parents(self, values: Sequence[Any]) -> list[tuple[int, ...]]:
        """Parents of a batch of sends by the default rules.

        Element-wise when the values are those of the last ``InPort.receive_batch``:
        as many (the i-th IP sent descends from the i-th received), or some of its
        payloads themselves, in order (a filter); with the IPs of the process's other
        input ports as the looper rule adds them. Else the rule of single sends, value
        by value.
        """
        batch = self.last_batch
        if batch is not None:
            matched = batch if len(batch) == len(values) else _passed_on(batch, values)
            if matched is not None:
                if self.pending:
                    self.take_window()
                port = next((p for p in self.in_list if p._last is batch[-1]), None)
                side = [p for p in self.in_list if p is not port and p._last is not NOTHING]
                fixed = tuple(p._last[IP_ID] for p in side if p.static)
                every = tuple(p._last[IP_ID] for p in side)
                return [
                    (rec[IP_ID], *(fixed if x is rec[PAYLOAD] else every))
                    for rec, x in zip(matched, values, strict=True)
                ]
        return [self.default_parents(x) for x in values]

    async def forward_bracket(self, item: Any) -> None:
        """Pass a bracket received on an input port to every live output port.

        ``item`` is the bracket as the channel carried it: an :class:`IP`, or a record
        when the network is traced.
        """
        if not self.looper and not self.spec.cls.forward_brackets:
            return
        parents: tuple[int, ...]
        if self.trace is not None:
            kind, tag, parents = item[KIND], item[PAYLOAD], (item[IP_ID],)
        else:
            kind, tag, parents = item.kind, item.payload, ()
        for op in self.out_list:
            if op.is_connected and not op.is_closed:
                await op._send_item(self.packet(kind, op.port_id, tag, parents))

    # -- driver ------------------------------------------------------------------------

    async def main(self) -> None:
        """Run the component to its end, then close its ports."""
        self.task = asyncio.current_task()
        outcome = "ended"
        try:
            if self.looper:
                self.activation = next(self.net.activations)
                await run_looper(self.component)
            else:
                await self._run_nonlooper()
        except (EndOfStream, DownstreamClosed):
            pass  # normal ends: an input ran dry, or every receiver has gone
        except Exception as e:
            outcome = "failed"
            self.net.process_failed(self, e)
        except BaseException as e:  # cancelled: Ctrl-C, SIGTERM, or another process failed
            outcome = stopped_state(e, self.last_wait)
            raise
        finally:
            self.outcome = outcome
            self.ended = True
            self.waiting = None
            self.close_ports()

    def close_ports(self) -> None:
        """Close every output port (ending streams downstream) and input port.

        IPs left unread on an input port are discarded: when the process ended on its
        own (not when it failed or the run was stopped), that is said in the run's
        warnings.
        """
        for op in self.out_list:
            op.close()
        for inp in self.in_list:
            n = inp._close()
            if n and self.outcome == "ended":  # not when it failed or the run was stopped
                self.component.log.warning("unread IPs discarded", port=inp.address, count=n)
                self.net.warnings.append(
                    f"{self.name} ({self.component_name}) ended with {n} IP"
                    f"{'s' if n != 1 else ''} unread on {inp.address}, which"
                    f" {'were' if n != 1 else 'was'} discarded; read the port to its end"
                    " (or take what is buffered with receive_nowait() before returning)"
                    " if that was not meant"
                )

    async def _run_nonlooper(self) -> None:
        comp = self.component
        spec = self.spec
        ports: list[tuple[str, InPort[Any]]] = []
        for name in spec.activation_ports:
            p = self.inports[name]
            assert isinstance(p, InPort)
            ports.append((p.spec.attr, p))
        statics: dict[str, tuple[Any, int | None]] = {}
        traced = self.trace is not None
        for attr, p in ports:
            if p.static:
                try:
                    value = await p.receive()
                    statics[attr] = (value, p._last[IP_ID] if traced else None)
                except EndOfStream:
                    statics[attr] = (None, None)
        only_static = len(statics) == len(ports)
        process = comp.process  # type: ignore[attr-defined]
        error_port = self.outports.get("error")
        constants = {attr: value for attr, (value, _) in statics.items()}
        # Parents in signature order: a constant's IIP, or the IP a stream port gave.
        parent_of = [(p, statics[attr][1] if attr in statics else None) for attr, p in ports]
        # With how each port's channel tells a bracket from data (see Channel.take_data).
        streams = [(attr, p, p._head_key, p._brackets) for attr, p in ports if attr not in statics]
        activations = self.net.activations
        while True:
            kwargs = dict(constants)
            for attr, p, key, brackets in streams:
                # Take what is buffered without a coroutine; wait only when there is
                # nothing (or a bracket, which receive() forwards).
                try:
                    x = p._chan.take_data(key, brackets)
                    kwargs[attr] = await p.receive() if x is EMPTY else p._took(x)
                except EndOfStream:
                    await comp.finish()
                    return
            if traced:
                self.activation = next(activations)
                ids: list[int] = []
                for p, fixed in parent_of:
                    if fixed is not None:
                        ids.append(fixed)
                    elif not p.static:
                        ids.append(p._last[IP_ID])
                self.consumed = tuple(ids)
            try:
                await process(**kwargs)
            except DownstreamClosed:
                raise
            except Exception as e:
                if isinstance(error_port, OutPort) and error_port.is_connected:
                    await self._dead_letter(error_port, e, kwargs)
                else:
                    raise
            if only_static:
                await comp.finish()
                return

    async def _dead_letter(self, port: OutPort[Any], e: Exception, inputs: dict[str, Any]) -> None:
        letter = DeadLetter(
            process=self.name,
            component=self.component_name,
            error_type=type(e).__name__,
            message=str(e),
            traceback="".join(traceback.format_exception(e)),
            inputs={k.rstrip("_"): v for k, v in inputs.items()},
            input_ids=list(self.consumed),
        )
        item: Any = letter
        self.dead_letters += 1
        if self.trace is not None:
            item = self.packet(DATA, port.port_id, letter, self.consumed)
            self.trace.append(
                (
                    item[IP_ID],
                    KIND_DEAD,
                    port.port_id,
                    self.activation,
                    item[T_NS],
                    self.consumed,
                    None,
                )
            )
        self.component.log.warning(
            "activation failed; dead letter sent",
            error=f"{type(e).__name__}: {e}",
            port=port.address,
            ip_ids=list(self.consumed),
        )
        await port._send_item(item)


def _passed_on(batch: list[TraceRecord], values: Sequence[Any]) -> list[TraceRecord] | None:
    """The records of ``batch`` whose payloads are ``values``, in order, or None."""
    out: list[TraceRecord] = []
    j, n = 0, len(batch)
    for x in values:
        while j < n and batch[j][PAYLOAD] is not x:
            j += 1
        if j == n:
            return None
        out.append(batch[j])
        j += 1
    return out
