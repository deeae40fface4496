"""A running network's openings to the outside, and edits applied while it runs.

**Inlets and outlets.** An :class:`Inlet` feeds an input port from outside the network
(the FBP protocol's exported input ports): it is one more sender of the port's
channel, so the port's stream stays open while the inlet is open, and a process
waiting on it is idle, not deadlocked. An :class:`Outlet` reads an output port from
outside (exported output ports): one more receiver channel of the port, with its own
capacity, so a reader that falls behind holds the sender up like any receiver.

**Live edits** (:class:`LiveEdits`, from :meth:`fbp.Network.edits` while the network
runs), with the semantics NoFlo gives them:

- *add a process*: it is created at once and **started when every required input port
  it has is fed** by an edge or an IIP (at once when it has none), so that the edges
  and IIPs a client adds right after the node reach it before it runs;
- *connect* ``A.OUT -> B.IN``: ``A.OUT`` sends to ``B.IN`` from its next send on (a
  fan-out when it already had receivers; one more sender of ``B.IN``). Refused when
  ``A`` has ended or ``B.IN``'s stream has already ended (a closed stream cannot be
  reopened);
- *disconnect*: ``A.OUT`` stops sending to ``B.IN``; a send of ``A`` waiting for room
  there completes first. When it was ``B.IN``'s last sender, ``B.IN``'s stream ends,
  as it would if ``A`` had ended. When it was ``A.OUT``'s last edge, ``A``'s next send
  there raises ``DownstreamClosed``, which ends ``A`` as a closed pipe ends a program;
- *add an IIP*: it is delivered at once, ahead of nothing (after what the channel
  holds); refused when the port's stream has ended;
- *remove a process*: it is cancelled; what it held is discarded, and its ports close,
  which ends the streams it fed.

Everything is checked before anything changes, so a refused edit leaves the network
as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio

from ._arrays import ArrayInPort
from ._channel import Channel, Waiter
from ._component import Component
from ._exceptions import FbpError, WouldBlock
from ._ip import DATA, IP
from ._ports import InPort, OutPort
from ._record import IP_ID, KIND, PAYLOAD, PROTOCOL_COMMANDS
from ._tracehook import KIND_IIP, PortInfo, TraceRecord
from ._types import Compat, Validator, compatibility, type_name

if TYPE_CHECKING:
    from ._network import Network
    from ._process import Process

__all__ = ("Inlet", "LiveEditError", "LiveEdits", "Outlet")

Ref = tuple[str, str, int | None]


class LiveEditError(FbpError):
    """An edit that cannot be applied to the running network; it changed nothing."""


class Inlet:
    """Feeds an input port from outside the network (see the module docstring).

    Made by :meth:`fbp.Network.add_inlet` before the run; usable once it runs.
    """

    def __init__(self, net: Network, tgt: Ref) -> None:
        self._net = net
        self.port: InPort[Any] = net._in(*tgt)
        self._chan: Channel[Any] | None = None
        self._wired = anyio.Event()
        self.closed = False

    def __repr__(self) -> str:
        return f"<Inlet -> {self.port.address}>"

    def _attach(self, ch: Channel[Any]) -> None:
        ch.add_sender()
        self._chan = ch
        self._wired.set()

    @property
    def is_open(self) -> bool:
        """Whether packets sent now can still reach the process."""
        ch = self._chan
        return ch is not None and not self.closed and not ch.receiver_closed

    async def send(self, value: Any) -> int:
        """Send a data packet, waiting while the port's channel is full (and, before
        the run, until the network is wired).

        The value is validated against the port's type. When the network is traced,
        the packet is recorded as an IIP of the port (it has no parent).

        Returns:
            The IP's id (0 when the network is not traced).

        Raises:
            LiveEditError: the inlet is closed, or the process has ended.
            PacketTypeError: the value does not fit the port.
        """
        if self._chan is None and not self.closed:
            await self._wired.wait()
        ch = self._chan
        if ch is None or self.closed:
            msg = f"the inlet into {self.port.address} is closed"
            raise LiveEditError(msg)
        if ch.receiver_closed:
            msg = f"{self.port._proc.name} has ended; {self.port.address} takes no more packets"
            raise LiveEditError(msg)
        value = Validator(self.port.spec.tp, self.port.address).check(value)
        net = self._net
        item: Any = value
        ip_id = 0
        if net.sink is not None:
            ip_id = next(net.ids)
            rec = (ip_id, KIND_IIP, self.port.port_id, 0, time.perf_counter_ns(), (), value)
            net.trace_buf.append(rec)
            item = (ip_id, DATA, *rec[2:])
        await ch.send(item)
        return ip_id

    async def send_records(self, records: Iterable[TraceRecord]) -> int:
        """Send records of an earlier traced run as they were recorded: their ids,
        kinds (data or brackets), activations, parents and payloads are kept, and they
        are not recorded again. This is how a replay feeds a port from a trace; the
        network must be traced. Records go in without waiting while the channel has
        room.

        Returns:
            How many were delivered: all, unless the process ended first.

        Raises:
            LiveEditError: the inlet is closed.
        """
        if self._chan is None and not self.closed:
            await self._wired.wait()
        ch = self._chan
        if ch is None or self.closed:
            msg = f"the inlet into {self.port.address} is closed"
            raise LiveEditError(msg)
        n = 0
        for record in records:
            if ch.receiver_closed:
                break
            try:
                ch.send_nowait(record)
            except WouldBlock:
                await ch.wait_send(record)
                if ch.receiver_closed:  # it ended while this one waited
                    break
            n += 1
        return n

    def close(self) -> None:
        """End the stream this inlet feeds (the port ends once its other senders end)."""
        if not self.closed:
            self.closed = True
            if self._chan is not None:
                self._chan.close_sender()


class Outlet:
    """Reads an output port from outside the network (see the module docstring).

    Made by :meth:`fbp.Network.add_outlet` before the run.
    """

    def __init__(self, net: Network, src: Ref, capacity: int) -> None:
        self._net = net
        self.port: OutPort[Any] = net._out(*src)
        self.waiter = Waiter()
        self._chan: Channel[Any] = Channel(capacity, name=f"{self.port.address} -> outside")
        self._chan.receiver = self.waiter

    def __repr__(self) -> str:
        return f"<Outlet {self.port.address} ->>"

    async def receive(self) -> tuple[str, Any]:
        """The next packet the port sent: ``("data" | "begingroup" | "endgroup", payload)``.

        Raises:
            EndOfStream: the port has closed and everything it sent was read.
        """
        ch = self._chan
        while True:
            try:
                item = ch.receive_nowait()
                break
            except WouldBlock:
                await ch.wait_receivable()
        if self._net.sink is not None:
            kind, payload = item[KIND], item[PAYLOAD]
        elif type(item) is IP:
            kind, payload = item.kind, item.payload
        else:
            kind, payload = DATA, item
        return PROTOCOL_COMMANDS.get(kind, "data"), payload

    def close(self) -> None:
        """Stop reading: what the port sends from now on is discarded."""
        self._chan.close_receiver()




class LiveEdits:
    """Edits of a running network (see the module docstring for their semantics).

    Each method checks everything first and raises :class:`LiveEditError` (or
    ``ValueError``/``TypeError`` for a port that does not exist or does not fit)
    without changing anything.
    """

    def __init__(self, net: Network) -> None:
        self.net = net
        #: Processes added but not started yet, by name.
        self.pending: dict[str, Process] = {}
        #: Port table entries added by edits, for trace sinks that follow them.
        self.new_ports: list[PortInfo] = []

    # -- processes ------------------------------------------------------------------

    def add_process(self, name: str, cls: type[Component], *, component_name: str) -> bool:
        """Add a process; return whether it started at once (it had nothing to wait for)."""
        net = self.net
        if name in net.processes:
            msg = f"the running network already has a process {name!r}"
            raise LiveEditError(msg)
        from ._process import Process

        proc = Process(net, name, cls, component_name=component_name)
        for inp in proc.in_list:
            inp.port_id = self._new_port(proc, inp, "in")
        for op in proc.out_list:
            op.port_id = self._new_port(proc, op, "out")
            op._enable_checks(
                Validator(op.spec.tp, op.address) if net.validate else None,
                traced=net.sink is not None,
            )
        if net.sink is not None:
            proc.trace = net.trace_buf
            for inp in proc.in_list:
                inp._enable_tracing()
            for op in proc.out_list:
                op._enable_tracing()
        net.processes[name] = proc
        self.pending[name] = proc
        return self._start_if_ready(proc)

    def remove_process(self, name: str) -> None:
        """Cancel a process (its ports close) and forget it."""
        net = self.net
        proc = net.processes.get(name)
        if proc is None:
            msg = f"the running network has no process {name!r}"
            raise LiveEditError(msg)
        del net.processes[name]
        if self.pending.pop(name, None) is not None:
            proc.ended = True
            proc.close_ports()
            return
        scope = net._scopes.pop(name, None)
        if scope is not None:
            scope.cancel()

    def _new_port(self, proc: Process, port: InPort[Any] | OutPort[Any], direction: str) -> int:
        net = self.net
        info = PortInfo(
            process=proc.name,
            component=proc.component_name,
            port=port.spec.display,
            index=port.index,
            direction="in" if direction == "in" else "out",
            type_name=type_name(port.spec.tp),
        )
        pid = len(net._port_infos)
        net._port_infos = (*net._port_infos, info)
        self.new_ports.append(info)
        return pid

    def _start_if_ready(self, proc: Process) -> bool:
        for p in proc.spec.inports:
            if p.optional:
                continue
            port = proc.inports[p.name]
            elements = list(port) if isinstance(port, ArrayInPort) else [port]
            if not elements or not all(_fed(el) for el in elements):
                return False
        del self.pending[proc.name]
        for inp in proc.in_list:
            if not _fed(inp) and inp.spec.has_default:
                inp._attach(1, "block").put_initial(self._initial(inp, inp.spec.default))
            inp.static = inp._chan.open_senders == 0 and len(inp._chan) > 0
        self.net._start_process(proc)
        return True

    # -- edges ----------------------------------------------------------------------

    def _ended(self, proc: Process) -> bool:
        return proc.ended or proc.name not in self.net.processes

    def connect(self, src: Ref, tgt: Ref, *, capacity: int | None = None) -> None:
        """Connect ``src`` (process, port, index) to ``tgt`` in the running network."""
        net = self.net
        out = net._out(*src)
        inp = net._in(*tgt)
        if compatibility(out.spec.tp, inp.spec.tp) is Compat.NEVER:
            msg = (
                f"edge {out.address} -> {inp.address}: {inp.address} accepts"
                f" {type_name(inp.spec.tp)} but {out.address} sends {type_name(out.spec.tp)}"
            )
            raise TypeError(msg)
        if any(e.src is out and e.tgt is inp for e in net._edges_out):
            return  # already connected
        if self._ended(out._proc) or out.is_closed:
            msg = f"{out._proc.name} has ended; {out.address} can send nothing more"
            raise LiveEditError(msg)
        pending = inp._proc.name in self.pending
        ch = inp._chan
        if not pending:
            if self._ended(inp._proc) or ch.receiver_closed:
                msg = f"{inp._proc.name} has ended; {inp.address} takes nothing more"
                raise LiveEditError(msg)
            if ch.open_senders == 0:
                msg = (
                    f"{inp.address}'s stream has already ended (every sender closed), and"
                    " an ended stream cannot be reopened; stop and start the network to"
                    " apply this edge"
                )
                raise LiveEditError(msg)
        elif ch not in net._senders:
            ch = inp._attach(capacity if capacity is not None else net.capacity, "block")
            net._channels.append(ch)
            net._senders[ch] = []
        out._attach(ch)
        net._senders.setdefault(ch, []).append(out._proc)
        if compatibility(out.spec.tp, inp.spec.tp) is Compat.CHECK and inp._validator is None:
            inp._enable_checks(Validator(inp.spec.tp, inp.address))
        from ._network import _Edge

        net._edges_out.append(_Edge(out, inp, capacity, "block", None))
        info = net._port_infos[out.port_id]
        net._port_infos = tuple(
            replace(info, targets=(*info.targets, inp.address)) if i == out.port_id else p
            for i, p in enumerate(net._port_infos)
        )
        if pending:
            self._start_if_ready(inp._proc)

    def disconnect(self, src: Ref, tgt: Ref) -> None:
        """Remove the edge ``src -> tgt`` from the running network."""
        net = self.net
        out = net._out(*src)
        inp = net._in(*tgt)
        edge = next((e for e in net._edges_out if e.src is out and e.tgt is inp), None)
        if edge is None:
            msg = f"the running network has no edge {out.address} -> {inp.address}"
            raise LiveEditError(msg)
        net._edges_out.remove(edge)
        ch = inp._chan
        if ch in out._chans:
            out._chans = tuple(c for c in out._chans if c is not ch)
            if not out._chans:
                # Its last edge: the next send ends the process as a closed pipe does
                # (DownstreamClosed), rather than discarding IPs without end.
                gone: Channel[Any] = Channel(0, name=f"{out.address} (edge removed)")
                gone.add_sender()  # closed with the port, like any channel it feeds
                gone.close_receiver()
                out._chans = (gone,)
            out._chan = out._chans[0] if len(out._chans) == 1 and not out._closed else None
            # A send waiting for room here completes: its IP was sent while the edge existed.
            ch.complete_sends_of(out._proc.waiter)
            if not out._closed:
                ch.close_sender()
        senders = net._senders.get(ch)
        if senders is not None and out._proc in senders:
            senders.remove(out._proc)
        info = net._port_infos[out.port_id]
        targets = list(info.targets)
        if inp.address in targets:
            targets.remove(inp.address)
        net._port_infos = tuple(
            replace(info, targets=tuple(targets)) if i == out.port_id else p
            for i, p in enumerate(net._port_infos)
        )

    # -- IIPs -----------------------------------------------------------------------

    def add_initial(self, tgt: Ref, value: Any) -> int:
        """Deliver an IIP to a port of the running network; return its IP id (0 untraced)."""
        net = self.net
        inp = net._in(*tgt)
        value = Validator(inp.spec.tp, inp.address).check(value)
        pending = inp._proc.name in self.pending
        ch = inp._chan
        if not pending and (self._ended(inp._proc) or ch.receiver_closed or ch.open_senders == 0):
            msg = (
                f"{inp.address}'s stream has already ended (its IIPs were read, or every"
                " sender closed); an IIP cannot reopen it: stop and start the network to"
                " apply it"
            )
            raise LiveEditError(msg)
        if pending and ch not in net._senders:
            ch = inp._attach(net.capacity, "block")
            net._channels.append(ch)
            net._senders[ch] = []
        item = self._initial(inp, value)
        ch.put_initial(item)  # wakes the receiver if it waits
        if pending:
            self._start_if_ready(inp._proc)
        return int(item[IP_ID]) if net.sink is not None else 0

    def _initial(self, inp: InPort[Any], value: Any) -> Any:
        """What the channel carries for an IIP (its record, when traced, is appended)."""
        net = self.net
        if net.sink is None:
            return value
        ip_id = next(net.ids)
        rec = (ip_id, KIND_IIP, inp.port_id, 0, time.perf_counter_ns(), (), value)
        net.trace_buf.append(rec)
        return (ip_id, DATA, *rec[2:])


def _fed(inp: InPort[Any]) -> bool:
    ch = inp._chan
    return ch.open_senders > 0 or len(ch) > 0


async def _run_scoped(net: Network, proc: Process) -> None:
    """Run a process under its own cancel scope, so that an edit can remove it."""
    with anyio.CancelScope() as scope:
        net._scopes[proc.name] = scope
        await proc.main()
    net._scopes.pop(proc.name, None)
