"""Networks: processes wired by channels, run under structured concurrency.

This is the low-level wiring API; :mod:`fbp.graph` builds networks from graph specs and
checks them first. A network runs once: every process runs as a task in one task
group, and the run ends when every process has ended, when one fails (the others are
cancelled, and the error names the process, port and IP), on a deadlock (detected by a
watchdog, reported with its wait-for cycle) or on cancellation (Ctrl-C).
"""

from __future__ import annotations

import functools
import gc
import itertools
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import anyio
import anyio.abc

from . import _fast  # installs the C port methods where built
from ._arrays import ArrayInPort, ArrayOutPort
from ._channel import Channel, Overflow
from ._component import Component
from ._deadlock import find_deadlock, progress_mark
from ._exceptions import (
    DeadlockError,
    NetworkError,
    ProcessError,
    SourceLocation,
)
from ._fuse import Scheduler
from ._fuse import enabled as fuse_enabled
from ._ip import DATA
from ._live import Inlet, LiveEditError, LiveEdits, Outlet, _run_scoped
from ._log import get_logger
from ._ports import InPort, OutPort, address
from ._process import Process
from ._record import IP_ID
from ._tracehook import KIND_DROP, KIND_IIP, PortInfo, RunInfo, RunStatus, TraceSink
from ._types import Compat, Validator, compatibility, type_name
from ._unawaited import watch_unawaited
from ._waits import live_state

__all__ = (
    "DEFAULT_CAPACITY",
    "EdgeStats",
    "Network",
    "PortStats",
    "ProcessStats",
    "RunResult",
)

#: A traced run hands its records to the sink at least this often (seconds), from the
#: flusher thread (see ``Network._flusher``).
_FLUSH_S = 0.05

#: Capacity of an edge whose metadata does not set one.
DEFAULT_CAPACITY = 32

# Networks running now. While any runs, the objects that existed before the first one
# started are frozen out of the garbage collector's scans (gc.freeze): the collector's
# periodic full scans then cost in proportion to what the networks allocate, not to
# the whole heap of imported libraries. Measured: 25-45% less time per hop.
_running = 0


def _gc_enter() -> None:
    global _running
    if _running == 0:
        gc.freeze()
    _running += 1


def _gc_exit() -> None:
    global _running
    _running -= 1
    if _running == 0:
        gc.unfreeze()


log = get_logger()


@dataclass(frozen=True, slots=True)
class ProcessStats:
    """What a process did: IPs received and sent, whether it has ended, and its state.

    ``state`` is ``ended`` (it ran to its end), ``failed`` (it raised), what it waits on
    while the run goes on (``waits to receive on B.IN (empty; open senders: A)``,
    ``awaits Event.wait() (comp.py:12, in Comp.run)``, ``running``), or, for a run that
    was stopped, what it was doing then (``stopped while it waited to receive on B.IN``).
    """

    name: str
    component: str
    received: int
    sent: int
    ended: bool
    state: str = ""


@dataclass(frozen=True, slots=True)
class EdgeStats:
    """An edge's traffic: IPs sent by its source port, and its buffer."""

    src: str
    tgt: str
    ips: int
    buffered: int
    capacity: int
    peak: int
    dropped: int


@dataclass(frozen=True, slots=True)
class PortStats:
    """One port's counters, read when asked (for metrics; nothing is counted per IP
    beyond what the runtime keeps anyway).

    For an input port the buffer figures are those of the channel feeding it (shared by
    every edge into the port).
    """

    process: str
    component: str
    address: str
    direction: Literal["in", "out"]
    #: Output port: items sent (data and brackets). Input port: items taken by the
    #: process (IIPs included).
    ips: int
    buffered: int = 0
    capacity: int = 0
    peak: int = 0
    dropped: int = 0
    #: Input port: seconds senders waited for room in its channel (back-pressure).
    send_blocked_s: float = 0.0
    #: Input port: seconds the process waited for an item here.
    receive_wait_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of a run."""

    name: str
    run_id: str
    status: RunStatus
    duration_s: float
    processes: tuple[ProcessStats, ...]
    edges: tuple[EdgeStats, ...]
    error: str | None = None
    #: What each collecting sink kept, by process name: the ``items`` list of every
    #: component that has one (``fbp.testing.ListSink``, ``core/Collect``).
    outputs: Mapping[str, list[Any]] = field(default_factory=dict)
    #: Things that went wrong without stopping the run, such as IPs a process left
    #: unread when it ended (they were discarded).
    warnings: tuple[str, ...] = ()

    @property
    def ips(self) -> int:
        """IPs sent by all processes."""
        return sum(p.sent for p in self.processes)

    def _repr_html_(self) -> str:
        """The run as tables, for notebooks."""
        from ._html import html_table, short

        head = f"{self.name}: {self.status}, {self.ips:,} IPs in {self.duration_s:.3f} s"
        if self.error:
            head += f"; {self.error}"
        parts = [
            html_table(
                head,
                ("process", "component", "received", "sent", "ended"),
                ((p.name, p.component, p.received, p.sent, p.ended) for p in self.processes),
                numeric=3,
            ),
            html_table(
                "edges",
                ("edge", "IPs", "peak buffered", "capacity", "dropped"),
                ((f"{e.src} -> {e.tgt}", e.ips, e.peak, e.capacity, e.dropped) for e in self.edges),
                numeric=4,
            ),
        ]
        if self.outputs:
            parts.append(
                html_table(
                    "outputs",
                    ("process", "items", "first items"),
                    (
                        (name, len(items), ", ".join(short(x, 40) for x in items[:5]))
                        for name, items in self.outputs.items()
                    ),
                )
            )
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (``python -m fbp run --json``)."""
        return {
            "name": self.name,
            "run_id": self.run_id,
            "status": self.status,
            "duration_s": round(self.duration_s, 6),
            "ips": self.ips,
            "error": self.error,
            "warnings": list(self.warnings),
            "processes": [vars_of(p) for p in self.processes],
            "edges": [vars_of(e) for e in self.edges],
        }


def vars_of(obj: Any) -> dict[str, Any]:
    """The fields of a slotted dataclass, as a dict."""
    return {k: getattr(obj, k) for k in obj.__slots__}


@dataclass
class _Edge:
    src: OutPort[Any]
    tgt: InPort[Any]
    capacity: int | None
    overflow: Overflow
    location: SourceLocation | None


@dataclass
class _Initial:
    tgt: InPort[Any]
    value: Any
    location: SourceLocation | None
    ip_id: int | None = None


@dataclass
class _Wiring:
    edges: list[_Edge] = field(default_factory=list)
    initials: list[_Initial] = field(default_factory=list)


class Network:
    """Processes wired by bounded channels.

    Args:
        name: shown in logs, errors and traces.
        capacity: capacity of every edge whose own capacity is not set.
        validate: check every IP a process sends against its port's type. Off, only
            edges from a looser type into a stricter one (``Any`` into a model) are
            checked, as the receiver could not work otherwise.
        trace: where to record every IP (see :mod:`fbp.tracing`), or None.
        graph: the graph spec as FBP JSON, stored with the trace.
        settings: run settings stored with the trace (``--set`` values and such).
        deadlock_interval: seconds between two looks of the deadlock watchdog; a
            deadlock is reported after two looks that see the same blocked state.
        fuse: step the processes with one scheduler, in turn, rather than through the
            event loop (see docs/runtime.md, "Fused execution"); each process keeps its
            own task. ``FBP_NO_FUSE=1`` turns it off for every network.
        quiet_period: seconds without any IP moving after which the watchdog logs a
            warning saying what every live process waits on (once per quiet stretch);
            None never warns. A network quiet for a while may be waiting for the outside
            world, or be stuck on something that is not a channel.
    """

    def __init__(
        self,
        name: str = "network",
        *,
        capacity: int = DEFAULT_CAPACITY,
        validate: bool = True,
        trace: TraceSink | None = None,
        graph: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        deadlock_interval: float = 0.25,
        fuse: bool = True,
        quiet_period: float | None = 10.0,
    ) -> None:
        if capacity < 0:
            msg = f"capacity must be >= 0, got {capacity}"
            raise ValueError(msg)
        self.name = name
        self.capacity = capacity
        self.validate = validate
        self.sink = trace
        self.graph = graph or {}
        self.settings = settings or {}
        self.deadlock_interval = deadlock_interval
        self.fuse = fuse
        self.quiet_period = quiet_period
        self.run_id = uuid.uuid4().hex
        self.processes: dict[str, Process] = {}
        self.ids = itertools.count(1)
        self.activations = itertools.count(1)
        self.trace_batch = trace.batch_size if trace is not None else 1 << 62
        self.trace_buf: list[Any] = []
        # Hand-overs to the sink come from the event loop and from the trace flusher
        # thread (which hands records over when the loop has not for a while, such as
        # while a component blocks it in a long synchronous call): one at a time.
        self._trace_lock = threading.Lock()
        self._trace_open = False
        self._last_flush = 0.0  # when the event loop last handed records over
        self._wiring = _Wiring()
        self._channels: list[Channel[Any]] = []
        self._senders: dict[Channel[Any], list[Process]] = {}
        self._edges_out: list[_Edge] = []
        self._error: NetworkError | None = None
        #: See :attr:`RunResult.warnings`.
        self.warnings: list[str] = []
        self._status: RunStatus = "completed"
        self._scope: anyio.CancelScope | None = None
        self._state: Literal["new", "running", "done"] = "new"
        self._started = 0.0
        self._ended = 0.0
        self._port_infos: tuple[PortInfo, ...] = ()
        # Openings to the outside and live edits (fbp._core._live).
        self._inlets: list[Inlet] = []
        self._outlets: list[Outlet] = []
        #: Inlets and outlets by name, for who made them (exported ports' public names).
        self.inlets: dict[str, Inlet] = {}
        self.outlets: dict[str, Outlet] = {}
        self._live: LiveEdits | None = None
        self._procs: anyio.abc.TaskGroup | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        # Stopping: the cancel scope of each process, and whether stop() was called.
        self._stops: dict[Process, anyio.CancelScope] = {}
        self._stop_requested = False

    def __repr__(self) -> str:
        return f"<Network {self.name} {len(self.processes)} processes>"

    # -- building -----------------------------------------------------------------------

    def add_process(
        self,
        name: str,
        cls: type[Component],
        *,
        component_name: str | None = None,
        location: SourceLocation | None = None,
        array_sizes: dict[str, int] | None = None,
    ) -> Process:
        """Add a process running a new instance of ``cls``."""
        self._check_new()
        if name in self.processes:
            msg = f"a process named {name!r} already exists"
            raise ValueError(msg)
        proc = Process(
            self,
            name,
            cls,
            component_name=component_name,
            location=location,
            array_sizes=array_sizes,
        )
        self.processes[name] = proc
        return proc

    def _process(self, proc: str) -> Process:
        """The process named ``proc``, or a ValueError naming it, the near names and
        the fix (a bare KeyError said none of that)."""
        found = self.processes.get(proc)
        if found is not None:
            return found
        from ._suggest import close_matches

        near = close_matches(proc, self.processes)
        hint = f"did you mean {near[0]!r}? " if near else ""
        have = ", ".join(sorted(self.processes)[:10]) or "none yet"
        msg = (
            f"network {self.name!r} has no process {proc!r} (it has: {have}); {hint}"
            "add it first with add_process(name, ComponentClass)"
        )
        raise ValueError(msg)

    @staticmethod
    def _no_port(proc: str, port: str, kind: str, ports: Mapping[str, Any]) -> ValueError:
        from ._suggest import close_matches

        near = close_matches(port.lower(), ports)
        hint = f"; did you mean {address(proc, near[0])}?" if near else ""
        names = ", ".join(p.upper() for p in ports) or "none"
        return ValueError(f"{address(proc, port)} is not an {kind} port ({kind}s: {names}){hint}")

    def _in(self, proc: str, port: str, index: int | None) -> InPort[Any]:
        return cast("InPort[Any]", self._port(proc, port, index, "input"))

    def _out(self, proc: str, port: str, index: int | None) -> OutPort[Any]:
        return cast("OutPort[Any]", self._port(proc, port, index, "output"))

    def _port(self, proc: str, port: str, index: int | None, kind: str) -> Any:
        """An input or output port of a process (an element of an array port with an
        index), or a ValueError naming it and the fix."""
        p_ = self._process(proc)
        ports = p_.inports if kind == "input" else p_.outports
        p = ports.get(port.lower())
        if p is None:
            raise self._no_port(proc, port, kind, ports)
        if isinstance(p, (ArrayInPort, ArrayOutPort)):
            if index is None or not 0 <= index < len(p):
                msg = f"{address(proc, port)} is an array port of {len(p)}; give an index"
                raise ValueError(msg)
            return p[index]
        if index is not None:
            msg = f"{address(proc, port)} is not an array port; drop the index [{index}]"
            raise ValueError(msg)
        return p

    def connect(
        self,
        src: tuple[str, str, int | None],
        tgt: tuple[str, str, int | None],
        *,
        capacity: int | None = None,
        overflow: Overflow = "block",
        location: SourceLocation | None = None,
    ) -> None:
        """Connect an output port to an input port: ``(process, port, index)`` each."""
        self._check_new()
        out = self._out(*src)
        inp = self._in(*tgt)
        compat = compatibility(out.spec.tp, inp.spec.tp)
        if compat is Compat.NEVER:
            msg = (
                f"edge {out.address} -> {inp.address}: {inp.address} accepts"
                f" {type_name(inp.spec.tp)} but {out.address} sends {type_name(out.spec.tp)}"
            )
            raise TypeError(msg)
        self._wiring.edges.append(_Edge(out, inp, capacity, overflow, location))

    def add_initial(
        self,
        tgt: tuple[str, str, int | None],
        value: Any,
        *,
        location: SourceLocation | None = None,
        ip_id: int | None = None,
    ) -> None:
        """Give an input port an initial information packet (IIP).

        ``ip_id`` is the id the IIP gets in the trace (by default the next one): a
        replay gives an IIP the id it had in the recorded run.
        """
        self._check_new()
        inp = self._in(*tgt)
        value = Validator(inp.spec.tp, inp.address).check(value)
        self._wiring.initials.append(_Initial(inp, value, location, ip_id))

    def add_inlet(self, tgt: tuple[str, str, int | None]) -> Inlet:
        """Open an input port to packets sent from outside the network while it runs.

        The port's stream then stays open until the inlet closes (or the run ends).
        """
        self._check_new()
        inlet = Inlet(self, tgt)
        self._inlets.append(inlet)
        return inlet

    def add_outlet(self, src: tuple[str, str, int | None], capacity: int | None = None) -> Outlet:
        """Let the outside read what an output port sends (one more receiver of it,
        buffering ``capacity`` IPs, by default the network's edge capacity)."""
        self._check_new()
        outlet = Outlet(self, src, self.capacity if capacity is None else capacity)
        self._outlets.append(outlet)
        return outlet

    def allow_edits(self) -> None:
        """Make the network editable while it runs (see :meth:`edits`); call before the run."""
        self._check_new()
        self._live = LiveEdits(self)

    def edits(self) -> LiveEdits:
        """Edit the running network: add and remove processes, edges and IIPs.

        Raises:
            LiveEditError: the network was not made editable, or is not running.
        """
        if self._live is None:
            msg = f"network {self.name!r} was not made editable (call allow_edits() before run)"
            raise LiveEditError(msg)
        if self._state != "running" or self._procs is None:
            msg = f"network {self.name!r} is not running; edits apply to a running network"
            raise LiveEditError(msg)
        return self._live

    def _start_process(self, proc: Process) -> None:
        if self._procs is None:
            msg = f"network {self.name!r} has ended; {proc.name} cannot start"
            raise LiveEditError(msg)
        self._procs.start_soon(_run_scoped, self, proc, name=f"fbp:{proc.name}")

    def _check_new(self) -> None:
        if self._state != "new":
            msg = f"network {self.name!r} has already run; build a new one to run again"
            raise RuntimeError(msg)

    # -- wiring -------------------------------------------------------------------------

    def _wire(self) -> None:
        by_target: dict[InPort[Any], list[_Edge]] = {}
        for e in self._wiring.edges:
            by_target.setdefault(e.tgt, []).append(e)
        iips: dict[InPort[Any], list[_Initial]] = {}
        for i in self._wiring.initials:
            iips.setdefault(i.tgt, []).append(i)
        inlets: dict[InPort[Any], list[Inlet]] = {}
        for inlet in self._inlets:
            inlets.setdefault(inlet.port, []).append(inlet)
        for proc in self.processes.values():
            for inp in proc.in_list:
                if inp.spec.has_default and not (inp in by_target or inp in iips or inp in inlets):
                    iips[inp] = [_Initial(inp, inp.spec.default, None)]
        ports: list[PortInfo] = []
        targets: dict[OutPort[Any], list[str]] = {}
        for e in self._wiring.edges:
            targets.setdefault(e.src, []).append(e.tgt.address)
        for proc in self.processes.values():
            for inp in proc.in_list:
                inp.port_id = len(ports)
                ports.append(_port_info(proc, inp, "in", ()))
            for op in proc.out_list:
                op.port_id = len(ports)
                ports.append(_port_info(proc, op, "out", tuple(targets.get(op, ()))))
                # A port of type Any takes every value: nothing to check on its sends.
                checked = self.validate and op.spec.tp is not Any
                op._enable_checks(
                    Validator(op.spec.tp, op.address) if checked else None,
                    traced=self.sink is not None,
                )
        for inp in dict.fromkeys([*by_target, *iips, *inlets]):  # in graph order: reproducible ids
            edges = by_target.get(inp, [])
            caps = [e.capacity for e in edges if e.capacity is not None]
            overflow: Overflow = (
                "drop_oldest" if any(e.overflow == "drop_oldest" for e in edges) else "block"
            )
            cap = max(caps) if caps else self.capacity
            if overflow == "drop_oldest":
                cap = max(cap, 1)
            ch = inp._attach(cap, overflow)
            self._channels.append(ch)
            senders = self._senders.setdefault(ch, [])
            for e in edges:
                e.src._attach(ch)
                senders.append(e.src._proc)
                if compatibility(e.src.spec.tp, inp.spec.tp) is Compat.CHECK:
                    inp._enable_checks(Validator(inp.spec.tp, inp.address))
            for init in iips.get(inp, []):
                if self.sink is not None:
                    # The channel carries it as data; the trace records it as an IIP.
                    t_ns = time.perf_counter_ns()
                    ip_id = next(self.ids) if init.ip_id is None else init.ip_id
                    rec = (ip_id, KIND_IIP, inp.port_id, 0, t_ns, (), init.value)
                    ch.put_initial((ip_id, DATA, *rec[2:]))
                    self.trace_buf.append(rec)
                else:
                    ch.put_initial(init.value)
            for inlet in inlets.get(inp, []):
                inlet._attach(ch)
            inp.static = not edges and inp not in inlets
            if self.sink is not None and overflow == "drop_oldest":
                pid = inp.port_id
                ch.on_drop = lambda old, pid=pid: self._record_drop(old, pid)
        for outlet in self._outlets:
            outlet.port._attach(outlet._chan)
            self._channels.append(outlet._chan)
            self._senders[outlet._chan] = [outlet.port._proc]
        self._edges_out = list(self._wiring.edges)
        self._port_infos = tuple(ports)
        if self.sink is not None:
            for proc in self.processes.values():
                proc.trace = self.trace_buf
                for inp in proc.in_list:
                    inp._enable_tracing()
                for op in proc.out_list:
                    op._enable_tracing()

    def _record_drop(self, rec: Any, port_id: int) -> None:
        self.trace_buf.append((rec[IP_ID], KIND_DROP, port_id, 0, time.perf_counter_ns(), (), None))

    def flush_trace(self) -> None:
        """Hand the buffered trace records to the sink (which then owns the list)."""
        if self.sink is not None and self.trace_buf:
            with self._trace_lock:
                self._last_flush = time.monotonic()
                self._hand_over()

    def _hand_over(self) -> None:
        """Hand the buffer's records to the sink; the caller holds the trace lock.

        Safe against the event loop appending meanwhile (this may run in the flusher
        thread): the records copied are removed, whatever was appended since stays.
        """
        if not self._trace_open:
            return
        buf = self.trace_buf
        batch = buf[:]
        del buf[: len(batch)]
        assert self.sink is not None
        self.sink.write(batch)  # an empty batch hands over what the sink gathered

    def _flusher(self, stop: threading.Event) -> None:
        """The trace flusher thread: every ``_FLUSH_S``, hand the buffered records over
        (with whatever the sink gathered) if the event loop has not handed any over
        meanwhile, as when a component blocks it in a long synchronous call or records
        come slowly; else tell the sink the time (an empty batch), so that it stores
        what it gathered a while ago. A process killed outright thus loses at most the
        last moments of its run."""
        while not stop.wait(_FLUSH_S):
            with self._trace_lock:
                if time.monotonic() - self._last_flush >= _FLUSH_S:
                    self._hand_over()
                elif self._trace_open:
                    assert self.sink is not None
                    self.sink.write([])

    def finish_trace_now(self, status: RunStatus, error: str, *, timeout: float) -> bool:
        """End the run's trace from any thread, as a process about to exit does: hand
        over every record buffered and mark the run ``status``.

        Returns:
            False when the trace could not be finished within ``timeout`` seconds
            (another hand-over was under way), True otherwise.
        """
        if self.sink is None:
            return True
        if not self._trace_lock.acquire(timeout=timeout):
            return False
        try:
            if self._trace_open:
                self._hand_over()
                self._trace_open = False
                self.sink.finish_run(status, error, self.result().to_dict())
        finally:
            self._trace_lock.release()
        return True

    # -- running ------------------------------------------------------------------------

    async def run(self) -> RunResult:
        """Run the network until every process ends; return what happened.

        Raises:
            ProcessError: a component raised (and no ERROR port took the failure).
            DeadlockError: every live process was blocked on a channel.
        """
        self._check_new()
        _fast.report_missing(log)
        # Anchor trace times before wiring, which records the IIPs.
        t0_wall, t0_perf = time.time_ns(), time.perf_counter_ns()
        self._wire()
        self._state = "running"
        self._started = time.perf_counter()
        stop_flusher = threading.Event()
        if self.sink is not None:
            self.sink.start_run(
                RunInfo(
                    run_id=self.run_id,
                    graph_name=self.name,
                    graph=self.graph,
                    ports=self._port_infos,
                    t0_wall_ns=t0_wall,
                    t0_perf_ns=t0_perf,
                    settings=self.settings,
                )
            )
            self._trace_open = True
            threading.Thread(
                target=self._flusher,
                args=(stop_flusher,),
                name=f"fbp-trace-flusher {self.name}",
                daemon=True,
            ).start()
        _gc_enter()
        watch_unawaited()
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                tg.start_soon(self._watch)
                async with anyio.create_task_group() as procs:
                    todo = list(self.processes.values())
                    if self._stop_requested:  # stopped before it started: no source runs
                        for proc in [p for p in todo if self._is_source(p)]:
                            todo.remove(proc)
                            proc.outcome = "stopped before it started"
                            proc.ended = True
                            proc.close_ports()
                    if self._fuses() and len(todo) > 1:
                        sched = Scheduler(todo)
                        procs.start_soon(sched.run, name=f"fbp:{self.name}:scheduler")
                        for m in sched.members:
                            if self._is_source(m.proc):
                                host = functools.partial(sched.host, m)
                                procs.start_soon(
                                    self._stoppable, m.proc, host, name=f"fbp:{m.proc.name}"
                                )
                            else:
                                procs.start_soon(sched.host, m, name=f"fbp:{m.proc.name}")
                    else:
                        for proc in todo:
                            if self._live is not None:
                                procs.start_soon(_run_scoped, self, proc, name=f"fbp:{proc.name}")
                            elif self._is_source(proc):
                                procs.start_soon(
                                    self._stoppable, proc, proc.main, name=f"fbp:{proc.name}"
                                )
                            else:
                                procs.start_soon(proc.main, name=f"fbp:{proc.name}")
                    self._procs = procs
                self._procs = None
                tg.cancel_scope.cancel()
        except BaseException:
            self._status = "interrupted"
            raise
        finally:
            self._procs = None
            _gc_exit()
            self._state = "done"
            self._ended = time.perf_counter()
            if self._error is not None:
                self._status = "deadlock" if isinstance(self._error, DeadlockError) else "failed"
            elif self._stop_requested:
                self._status = "interrupted"
            stop_flusher.set()
            self._finish_trace()
        if self._error is not None:
            raise self._error
        return self.result()

    def _fuses(self) -> bool:
        """Whether this run steps its processes with one scheduler (see ``fuse``)."""
        return (
            self.fuse
            and fuse_enabled()
            and self._live is None
            and not self._inlets
            and not self._outlets
            and len(self.processes) > 1
        )

    async def _stoppable(self, proc: Process, main: Callable[[], Awaitable[None]]) -> None:
        """Run a source under a cancel scope of its own, for :meth:`stop`."""
        try:
            with anyio.CancelScope() as scope:
                self._stops[proc] = scope
                if self._stop_requested:
                    scope.cancel()
                await main()
        finally:
            self._stops.pop(proc, None)
            if not proc.ended:  # stopped before its coroutine ever ran
                proc.outcome = "stopped before it started"
                proc.ended = True
                proc.close_ports()

    @staticmethod
    def _is_source(proc: Process) -> bool:
        return all(p.static or not p.is_connected for p in proc.in_list)

    def stop(self) -> None:
        """Drain the network: stop its sources and let everything else finish.

        Sources (processes no edge feeds) are cancelled at their next wait (a send
        blocked on a full channel completes: its IP is delivered); their output ports
        close, so every IP already sent is processed and the network ends as at
        the end of its streams. The run's status is ``interrupted``. Call it from the
        event loop running the network (a signal handler, a task); to stop at once
        instead, cancel the task that runs :meth:`run`.
        """
        self._stop_requested = True
        scopes = list(self._stops.items())
        for name, scope in self._scopes.items():  # the processes of a live network
            proc = self.processes.get(name)
            if proc is not None and self._is_source(proc):
                scopes.append((proc, scope))
        for proc, scope in scopes:
            # A send it is blocked in completes: the IP is delivered, not lost.
            for op in proc.out_list:
                for ch in op._chans:
                    ch.keep_sends = True
            scope.cancel()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop_requested

    def _finish_trace(self) -> None:
        if self.sink is None:
            return
        with self._trace_lock:
            if not self._trace_open:  # finished already (finish_trace_now)
                return
            self._hand_over()
            self._trace_open = False
            self.sink.finish_run(
                self._status,
                str(self._error) if self._error is not None else None,
                self.result().to_dict(),
            )

    async def _watch(self) -> None:
        mark = progress_mark(self._channels)
        since = time.monotonic()
        suspect: int | None = None  # the mark at which the last look saw a deadlock
        warned = False
        while True:
            await anyio.sleep(self.deadlock_interval)
            procs = list(self.processes.values())  # live edits may add processes
            now = progress_mark(self._channels)
            if now != mark:
                mark, since, warned = now, time.monotonic(), False
            dl = find_deadlock(procs, self._senders)
            if dl is not None and self._outside_can_move(procs):
                dl = None
            if dl is None:
                suspect = None
            elif suspect == now:
                self._fail(dl)
                return
            else:
                suspect = now
            quiet = time.monotonic() - since
            if not warned and self.quiet_period is not None and quiet >= self.quiet_period:
                warned = True
                self._warn_quiet(quiet)

    def _warn_quiet(self, seconds: float) -> None:
        states = [
            f"{p.name} {live_state(p, self._senders)}"
            for p in self.processes.values()
            if not p.ended
        ]
        log.warning(f"no IP has moved for {seconds:.3g} s", network=self.name, waiting=states)

    def _outside_can_move(self, procs: list[Process]) -> bool:
        """Whether a waiting process waits on an inlet or outlet (the outside may act)."""
        if not self._inlets and not self._outlets:
            return False
        external = {i._chan for i in self._inlets if i.is_open}
        external.update(o._chan for o in self._outlets)
        return any(
            p.waiting is not None and any(ch in external for ch in p.waiting[0]) for p in procs
        )

    def process_failed(self, proc: Process, exc: Exception) -> None:
        """Stop the network because ``proc`` raised ``exc``."""
        last = proc.last_input()
        err = ProcessError(
            proc.name,
            proc.component_name,
            exc,
            port=last.address if last is not None else None,
            ip=repr(last.last_ip) if last is not None and last.last_ip is not None else None,
            location=proc.location,
        )
        err.__cause__ = exc
        log.error("process failed", process=proc.name, error=f"{type(exc).__name__}: {exc}")
        self._fail(err)

    def _fail(self, err: NetworkError) -> None:
        if self._error is None:
            self._error = err
        if self._scope is not None:
            self._scope.cancel()

    # -- observing ----------------------------------------------------------------------

    @property
    def status(self) -> str:
        """``new``, ``running`` or ``done``."""
        return self._state

    def port_statistics(self) -> tuple[PortStats, ...]:
        """Every port's counters now (see :class:`PortStats`), cheap enough to call
        from a metrics scrape: it reads what the runtime keeps, it counts nothing."""
        return _port_statistics(self)

    def edges(self) -> list[tuple[str, str]]:
        """Every edge, as ``(source port address, target port address)``."""
        return [(e.src.address, e.tgt.address) for e in self._wiring.edges]

    @property
    def error(self) -> NetworkError | None:
        """The error that stopped the run, once it has."""
        return self._error

    def result(self) -> RunResult:
        """What the network has done so far (complete once the run is over)."""
        end = self._ended or time.perf_counter()
        procs = tuple(
            ProcessStats(
                name=p.name,
                component=p.component_name,
                received=sum(inp._chan.received for inp in p.in_list),
                sent=sum(op.sent for op in p.out_list),
                ended=p.ended,
                state=(p.outcome or "ended") if p.ended else live_state(p, self._senders),
            )
            for p in self.processes.values()
        )
        edges = tuple(
            EdgeStats(
                src=e.src.address,
                tgt=e.tgt.address,
                ips=e.src.sent,
                buffered=len(e.tgt._chan),
                capacity=e.tgt._chan.capacity,
                peak=e.tgt._chan.peak,
                dropped=e.tgt._chan.dropped,
            )
            for e in self._edges_out
        )
        return RunResult(
            name=self.name,
            run_id=self.run_id,
            status=self._status if self._state == "done" else "completed",
            duration_s=(end - self._started) if self._started else 0.0,
            processes=procs,
            edges=edges,
            error=str(self._error) if self._error is not None else None,
            outputs={
                p.name: items
                for p in self.processes.values()
                if isinstance(items := getattr(p.component, "items", None), list)
            },
            warnings=tuple(self.warnings),
        )


def _port_statistics(net: Network) -> tuple[PortStats, ...]:
    out: list[PortStats] = []
    for p in net.processes.values():
        for inp in p.in_list:
            ch = inp._chan
            out.append(
                PortStats(
                    process=p.name,
                    component=p.component_name,
                    address=inp.address,
                    direction="in",
                    ips=ch.received,
                    buffered=len(ch),
                    capacity=ch.capacity,
                    peak=ch.peak,
                    dropped=ch.dropped,
                    send_blocked_s=ch.blocked_send_ns / 1e9,
                    receive_wait_s=ch.waiting_receive_ns / 1e9,
                )
            )
        for op in p.out_list:
            out.append(
                PortStats(
                    process=p.name,
                    component=p.component_name,
                    address=op.address,
                    direction="out",
                    ips=op.sent,
                )
            )
    return tuple(out)


def _port_info(
    proc: Process,
    port: InPort[Any] | OutPort[Any],
    direction: Literal["in", "out"],
    targets: tuple[str, ...],
) -> PortInfo:
    return PortInfo(
        process=proc.name,
        component=proc.component_name,
        port=port.spec.display,
        index=port.index,
        direction=direction,
        type_name=type_name(port.spec.tp),
        targets=targets,
    )
