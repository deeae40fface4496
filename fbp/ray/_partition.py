"""One instance of a partition as an ordinary in-process network, with its bridges.

:func:`build_partition` wires the processes of one partition, the edges between them,
their IIPs, and a bridge for every edge that crosses into or out of the partition
(:mod:`fbp.ray._link`). IP ids and activation ids are drawn from counters strided by
the number of instances, so they are unique across the whole run.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .._core._network import Network
from .._core._tracehook import RunInfo, RunStatus, TraceRecord, TraceSink
from ..graph._model import Connection, Initial
from ..graph._wiring import FlatProcess
from ._frames import ACK, FINISH, HEADER, HELLO, TRACE, frame
from ._link import BridgeIn, BridgeOut, InLink, OutLink, Target
from ._plan import Instance, Plan

__all__ = (
    "Built",
    "RunSpec",
    "SerialSink",
    "TraceTarget",
    "build_partition",
    "capacity_of",
    "port_key",
)

PortKey = tuple[str, str, int | None, str]


def port_key(process: str, port: str, index: int | None, direction: str) -> PortKey:
    """How a port is found in the run's global port table."""
    return (process, port.upper(), index, direction)


@dataclass(frozen=True, slots=True)
class TraceTarget:
    """Where a partition's trace records go, and how its port ids map to the run's."""

    #: The driver's collector, for partitions that run in actors.
    address: tuple[str, int]
    batch_size: int
    port_ids: dict[PortKey, int]
    t0_wall_ns: int
    t0_perf_ns: int


@dataclass(frozen=True)
class RunSpec:
    """Everything a host needs to build its partitions of a run."""

    run_id: str
    token: str
    name: str
    processes: dict[str, FlatProcess]
    edges: list[Connection]
    initials: list[Initial]
    array_sizes: dict[str, dict[str, int]]
    plan: Plan
    capacity: int
    validate: bool
    deadlock_interval: float
    trace: TraceTarget | None
    #: Whether partitions step their processes with one scheduler (as the driver would).
    fuse: bool = True
    graph: dict[str, Any] = field(default_factory=dict)


def _edge_capacity(spec: RunSpec, e: Connection) -> tuple[int | None, Any]:
    from ..graph._wiring import _settings

    cap, overflow = _settings(e.metadata, "", _nowhere(), [])
    if cap is None:
        cap = _settings(spec.processes[e.tgt.process].metadata, "", _nowhere(), [])[0]
    return cap, overflow


def _nowhere() -> Any:
    from .._core._exceptions import SourceLocation

    return SourceLocation()


def capacity_of(spec: RunSpec, target: str) -> int:
    """The capacity of the channel of input port ``target`` (as the in-process rule has it:
    the largest capacity of its edges, else the network default)."""
    caps = [
        c
        for e in spec.edges
        if str(e.tgt) == target
        if (c := _edge_capacity(spec, e)[0]) is not None
    ]
    return max(caps) if caps else spec.capacity


@dataclass
class Built:
    """A partition instance, wired and ready to run."""

    instance: Instance
    net: Network
    #: Incoming bridges, by the key their sender says hello with.
    in_links: dict[str, InLink]
    out_links: list[OutLink]
    bridges: set[str]


def link_key(run_id: str, source: int, target: int, port: str) -> str:
    """The name an incoming connection gives to find its bridge."""
    return f"{run_id}:{source}>{target}:{port}"


def build_partition(
    spec: RunSpec,
    inst: Instance,
    addresses: Mapping[int, tuple[str, int]] | None,
    sink: TraceSink | None,
) -> Built:
    """Wire one instance of a partition; ``addresses`` (instance -> host address) may
    be given later with :func:`connect_targets`."""
    plan = spec.plan
    part = plan.partitions[inst.partition]
    net = Network(
        spec.name,
        capacity=spec.capacity,
        validate=spec.validate,
        trace=sink,
        graph=spec.graph,
        deadlock_interval=spec.deadlock_interval,
        fuse=spec.fuse,
    )
    # Ids unique across the run: every instance draws from its own residue class.
    n = len(plan.instances)
    net.ids = itertools.count(inst.index + 1, n)
    net.activations = itertools.count(inst.index + 1, n)
    mine = set(part.processes)
    for name in part.processes:
        p = spec.processes[name]
        net.add_process(
            name,
            p.cls,
            component_name=p.component,
            location=p.location,
            array_sizes=spec.array_sizes.get(name),
        )
    built = Built(inst, net, {}, [], set())
    outgoing: dict[str, BridgeOut] = {}
    incoming: dict[str, list[Connection]] = {}
    for e in spec.edges:
        src_in, tgt_in = e.src.process in mine, e.tgt.process in mine
        cap, overflow = _edge_capacity(spec, e)
        if src_in and tgt_in:
            net.connect(
                (e.src.process, e.src.port, e.src.index),
                (e.tgt.process, e.tgt.port, e.tgt.index),
                capacity=cap,
                overflow=overflow,
                location=e.location,
            )
        elif src_in:
            target = str(e.tgt)
            bridge = outgoing.get(target)
            if bridge is None:
                bridge = outgoing[target] = _bridge_out(spec, inst, built, target, e)
            net.connect(
                (e.src.process, e.src.port, e.src.index),
                (bridge.name, "in", None),
                capacity=cap,
                overflow=overflow,
                location=e.location,
            )
        elif tgt_in:
            incoming.setdefault(str(e.tgt), []).append(e)
    for target, edges in incoming.items():
        _bridges_in(spec, inst, built, target, edges)
    for i in spec.initials:
        if i.tgt.process in mine:
            net.add_initial((i.tgt.process, i.tgt.port, i.tgt.index), i.data, location=i.location)
    if addresses is not None:
        connect_targets(built, addresses)
    return built


def _bridge_out(
    spec: RunSpec, inst: Instance, built: Built, target: str, e: Connection
) -> BridgeOut:
    plan = spec.plan
    dest = plan.partitions[plan.home[e.tgt.process]]
    name = f"{target}<bridge"
    proc = built.net.add_process(name, BridgeOut, component_name="fbp.ray:BridgeOut")
    window = max(capacity_of(spec, target), 1)
    targets = [
        Target(
            i.index, i.label, ("", 0), link_key(spec.run_id, inst.index, i.index, target), window
        )
        for i in plan.instances_of(dest.name)
    ]
    link = OutLink(
        name,
        target,
        targets,
        spec.token,
        traced=spec.trace is not None,
        route_key=dest.key if dest.replicas > 1 else None,
    )
    comp = proc.component
    assert isinstance(comp, BridgeOut)
    comp.link = link
    built.out_links.append(link)
    built.bridges.add(name)
    return comp


def _bridges_in(
    spec: RunSpec, inst: Instance, built: Built, target: str, edges: list[Connection]
) -> None:
    plan = spec.plan
    net = built.net
    by_source: dict[str, list[Connection]] = {}
    for e in edges:
        by_source.setdefault(plan.home[e.src.process], []).append(e)
    caps = [c for e in edges if (c := _edge_capacity(spec, e)[0]) is not None]
    overflow = (
        "drop_oldest"
        if any(_edge_capacity(spec, e)[1] == "drop_oldest" for e in edges)
        else "block"
    )
    tgt = edges[0].tgt
    for pname, group in by_source.items():
        # The bridge's port has the sender's type, so the receiving port checks what
        # it would check in-process, and nothing more.
        types = {spec.processes[e.src.process].spec.outport(e.src.port).tp for e in group}  # type: ignore[union-attr]
        tp = types.pop() if len(types) == 1 else Any
        for src in plan.instances_of(pname):
            name = f"{target}<{src.label}"
            proc = net.add_process(name, BridgeIn, component_name="fbp.ray:BridgeIn")
            out = proc.outports["out"]
            out.spec = replace(out.spec, tp=tp)
            net.connect(
                (name, "out", None),
                (tgt.process, tgt.port, tgt.index),
                capacity=max(caps) if caps else None,
                overflow=overflow,  # type: ignore[arg-type]
                location=group[0].location,
            )
            link = InLink(name, src.index, src.label)
            comp = proc.component
            assert isinstance(comp, BridgeIn)
            comp.link = link
            built.in_links[link_key(spec.run_id, src.index, inst.index, target)] = link
            built.bridges.add(name)


def connect_targets(built: Built, addresses: Mapping[int, tuple[str, int]]) -> None:
    """Tell every outgoing bridge where its targets listen."""
    for link in built.out_links:
        for t in link.targets:
            t.address = addresses[t.instance]


class _Translate:
    """Maps a partition's port ids to the run's, and its clock to the driver's."""

    def __init__(self, target: TraceTarget, bridges: Mapping[str, str]) -> None:
        self.target = target
        self.bridges = bridges
        self.ports: list[int] = []
        self.dt = 0

    def start(self, info: RunInfo) -> None:
        ids = self.target.port_ids
        ports = []
        for p in info.ports:
            key = port_key(p.process, p.port, p.index, p.direction)
            if p.process in self.bridges and p.direction == "in":
                # A drop at the sending end of a bridge is a drop at the receiving port.
                from ..graph._model import parse_address

                ref = parse_address(self.bridges[p.process])
                key = port_key(ref.process, ref.port, ref.index, "in")
            ports.append(ids.get(key, -1))
        self.ports = ports
        # Clocks of other machines: anchor perf_counter_ns to the driver's.
        dt = (self.target.t0_perf_ns - self.target.t0_wall_ns) - (
            time.perf_counter_ns() - time.time_ns()
        )
        self.dt = dt if abs(dt) > 5_000_000 else 0

    def __call__(self, records: list[TraceRecord]) -> list[TraceRecord]:
        ports, dt = self.ports, self.dt
        return [(r[0], r[1], ports[r[2]], r[3], r[4] + dt, r[5], r[6]) for r in records]


class SerialSink:
    """The run's writer shared by the driver's partition and the collectors of the
    others: one ``write`` at a time (the driver's network hands its records over from
    its flusher thread, the collectors from the event loop)."""

    def __init__(self, writer: TraceSink) -> None:
        self.writer = writer
        self.batch_size = writer.batch_size
        self._lock = threading.Lock()

    def start_run(self, info: RunInfo) -> None:
        self.writer.start_run(info)

    def write(self, records: list[TraceRecord]) -> None:
        with self._lock:
            self.writer.write(records)

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        with self._lock:
            self.writer.finish_run(status, error, stats)


class LocalSink:
    """The trace sink of the driver's own partition: straight to the run's writer."""

    def __init__(self, writer: TraceSink, target: TraceTarget, bridges: Mapping[str, str]) -> None:
        self.writer = writer
        self.batch_size = writer.batch_size
        self._tr = _Translate(target, bridges)

    def start_run(self, info: RunInfo) -> None:
        self._tr.start(info)

    def write(self, records: list[TraceRecord]) -> None:
        self.writer.write(self._tr(records))

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        pass  # the driver finishes the run once every partition has


class UplinkSink:
    """The trace sink of a partition in an actor: records go to the driver over TCP.

    ``write`` blocks while the driver is behind (back-pressure, as the in-process
    writer applies it); ``finish_run`` returns once the driver has handed every record
    to its writer.
    """

    def __init__(self, spec: RunSpec, instance: int, bridges: Mapping[str, str]) -> None:
        assert spec.trace is not None
        self.batch_size = spec.trace.batch_size
        self._spec = spec
        self._instance = instance
        self._tr = _Translate(spec.trace, bridges)
        self._sock: socket.socket | None = None

    def start_run(self, info: RunInfo) -> None:
        self._tr.start(info)
        assert self._spec.trace is not None
        sock = socket.create_connection(self._spec.trace.address, timeout=60)
        sock.sendall(frame(HELLO, (self._spec.token, "trace", str(self._instance))))
        self._sock = sock

    def write(self, records: list[TraceRecord]) -> None:
        if self._sock is not None:
            self._sock.sendall(frame(TRACE, self._tr(records)))

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.sendall(frame(FINISH))
            head = _recv_exactly(sock, HEADER.size)
            n, kind = HEADER.unpack(head)
            _recv_exactly(sock, n)
            if kind != ACK:
                msg = "the driver did not acknowledge the trace"
                raise ConnectionError(msg)
        finally:
            sock.close()


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            msg = "the driver closed the trace connection"
            raise ConnectionError(msg)
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
