"""Running a replay: the re-executed processes, fed from the trace, traced anew.

The network is wired as a real run of the graph would be (every process, edge and
port, so the new trace's port table is a real run's), but a held process runs a
stand-in that ends at once, and each fed port gets an inlet that delivers the
recorded records unchanged (:meth:`fbp.Inlet.send_record`). Identities follow the
recorded run:

- every record of a held process is copied into the new trace first, with its id,
  parents, activation and payload (times shifted onto the new run's clock), so
  parents always come before their children;
- a re-executed process's IIP keeps its recorded id when its value is the recorded
  one (a ``--set`` value gets a new id);
- a re-executed source's n-th data IP on a port takes the id of the n-th one recorded
  there, so the units of work (root IPs) are the recorded ones;
- every other new IP gets an id above the recorded run's largest.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
import orjson
from pydantic import ValidationError

from ..._core._address import PortAddress
from ..._core._component import Component, ComponentSpec
from ..._core._exceptions import NetworkError
from ..._core._live import Inlet
from ..._core._network import DEFAULT_CAPACITY, Network, RunResult
from ..._core._ports import MISSING
from ..._core._record import CLOSE, IP_ID, KIND, OPEN, PARENTS, PAYLOAD, PORT_ID
from ..._core._tracehook import RunInfo, RunStatus, TraceRecord, TraceSink
from ..._core._types import Validator
from ...graph._wiring import connect_edges
from ...tracing._payload import encode_json
from ._plan import Plan
from ._source import BLOCK, DATA, Recorded

__all__ = ("Execution", "ReplayError", "execute", "sample_limits")




class ReplayError(ValueError):
    """A replay that cannot be made as asked (the message says why and what to do)."""


class _Held(Component):
    """Stands in for a process a replay does not run: it ends at once."""

    async def run(self) -> None:
        return


def _held_class(spec: ComponentSpec) -> type[Component]:
    """A stand-in with the ports of ``spec`` (defaults dropped: it reads nothing)."""
    cls = type(f"Held{spec.cls.__name__}", (_Held,), {"__module__": __name__})
    cls.__fbp_spec__ = dataclasses.replace(  # type: ignore[attr-defined]
        spec,
        cls=cls,
        inports=tuple(dataclasses.replace(p, default=MISSING) for p in spec.inports),
        looper=True,
        activation_ports=(),
    )
    return cls


@dataclass
class Execution:
    """What one replay run did."""

    run_id: str
    result: RunResult | None
    #: Records copied from the recorded run, and records the re-executed processes made.
    copied: int = 0
    new: int = 0
    #: Records delivered to each fed port, and those it never took (it ended first).
    fed: dict[str, int] = field(default_factory=dict)
    undelivered: dict[str, int] = field(default_factory=dict)
    error: NetworkError | None = None


def _same(value: Any, recorded: Any) -> bool:
    import orjson

    try:
        return bool(orjson.loads(encode_json(value)) == recorded)
    except Exception:
        return False


class _Sink:
    """The replay's trace sink: copies the held records once the run starts, then
    takes the new records (renumbering re-executed sources' roots)."""

    def __init__(
        self,
        writer: TraceSink,
        plan: Plan,
        recorded: Recorded,
        execution: Execution,
        port_map: Callable[[RunInfo], np.ndarray],
        upto: int | None = None,
    ) -> None:
        self._writer = writer
        self._upto = upto
        self.batch_size = writer.batch_size
        self._plan = plan
        self._recorded = recorded
        self._execution = execution
        self._port_map = port_map
        self._roots: dict[int, deque[int]] = {}
        self._renamed: dict[int, int] = {}
        #: Recorded port id -> port id of this run; set when the run starts.
        self.port_ids: np.ndarray | None = None
        self.started = anyio.Event()

    def start_run(self, info: RunInfo) -> None:
        rec = self._recorded
        pmap = self.port_ids = self._port_map(info)
        self._writer.start_run(info)
        held = set(self._plan.held)
        old_ports = [p.port_id for p in rec.ports if p.process in held]
        rows = rec.rows(old_ports, (0, 1, 2, 3, 4, 5))
        if self._upto is not None:  # a sampled run: the ancestors of what it is fed
            rows = rows[: int(np.searchsorted(rows, self._upto))]
        dt = info.t0_perf_ns - rec.t0_perf_ns
        self._execution.copied += len(rows)
        copy = getattr(self._writer, "copy", None)
        if copy is not None:  # a TraceWriter: the records' columns as they are
            copy(rec.columns, rows, port_map=pmap, dt_ns=dt)
        else:
            for batch in rec.records(rows, port_map=pmap, dt_ns=dt, payloads="values"):
                self._writer.write(batch)
        # The roots of re-executed sources take the recorded ids, port by port.
        new_id = {_address(p.process, p.port, p.index): k for k, p in enumerate(info.ports)}
        for proc in _sources(self._plan):
            for p in rec.ports:
                if p.process == proc and p.direction == "out" and p.address in new_id:
                    self._roots[new_id[p.address]] = deque(rec.ids([p.port_id]))
        self.started.set()

    def write(self, records: list[TraceRecord]) -> None:
        self._execution.new += len(records)
        if self._roots:
            records = self._rename(records)
        self._writer.write(records)

    def _rename(self, records: list[TraceRecord]) -> list[TraceRecord]:
        roots, renamed = self._roots, self._renamed
        out: list[TraceRecord] = []
        for r in records:
            if r[KIND] == DATA and r[PORT_ID] in roots and roots[r[PORT_ID]]:
                renamed[r[IP_ID]] = roots[r[PORT_ID]].popleft()
            ps = r[PARENTS]
            if r[IP_ID] in renamed or (ps and any(p in renamed for p in ps)):
                get = renamed.get
                ids = tuple(get(p, p) for p in ps)
                r = (get(r[IP_ID], r[IP_ID]), *r[KIND:PARENTS], ids, *r[PAYLOAD:])
            out.append(r)
        return out

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        self._writer.finish_run(status, error, stats)


def _address(process: str, port: str, index: int | None) -> str:
    return str(PortAddress(process, port, index))


def _sources(plan: Plan) -> list[str]:
    """Re-executed processes that no edge feeds: their data IPs are units of work."""
    fed = {e.tgt.process for e in plan.flat.edges}
    return [p for p in plan.rerun if p not in fed]


def _port_mapper(recorded: Recorded, plan: Plan) -> Callable[[RunInfo], np.ndarray]:
    held = set(plan.held)

    def mapping(info: RunInfo) -> np.ndarray:
        new_id = {_address(p.process, p.port, p.index): k for k, p in enumerate(info.ports)}
        size = max((p.port_id for p in recorded.ports), default=-1) + 1
        out = np.full(size, -1, dtype=np.int32)
        for p in recorded.ports:
            k = new_id.get(p.address)
            if k is None and p.process in held:
                msg = (
                    f"the recorded run has a port {p.address} that the network does not:"
                    " replay the trace with the network that made it"
                )
                raise ReplayError(msg)
            out[p.port_id] = -1 if k is None else k
        return out

    return mapping


def check_recorded(plan: Plan, recorded: Recorded) -> None:
    """Refuse a replay the recorded run cannot feed, before anything runs."""
    problems: list[str] = []
    for name in plan.held:
        proc = plan.flat.processes[name]
        ports = [p for p in recorded.ports if p.process == name]
        if not ports:
            problems.append(
                f"process {name!r} is not in the recorded run; replay the trace with the"
                " network that made it"
            )
        elif ports[0].component != proc.component:
            problems.append(
                f"process {name!r} runs {proc.component} in the network but"
                f" {ports[0].component} in the recorded run; replay the trace with the"
                f" network that made it, or swap {name} for the class to run"
            )
    for f in plan.feeds:
        for s in f.senders:
            port = recorded.by_address.get(s)
            if port is None:
                continue
            missing = recorded.unrecorded([port.port_id])
            if missing:
                problems.append(
                    f"{s} feeds {f.address}, but the recorded run kept no payload for"
                    f" {missing} of its IPs; record it with the payload setting 'all'"
                    " for that port to replay what it feeds"
                )
    if problems:
        raise ReplayError("cannot replay: " + "; ".join(problems))


def sample_limits(
    plan: Plan, recorded: Recorded, units: int
) -> tuple[dict[str, int], int, int] | None:
    """Where to cut each fed stream so that a run replays about the first ``units``
    units of work (in the order of their ids, the order a source sent them).

    Each fed port gets the longest prefix of its recorded stream that holds no record
    of a later unit and leaves no bracket open. Returns the count of records for each
    fed port, a bound (every unit whose id is below it had all its fed records
    delivered) and how many units are below it; None when the run cannot be sampled
    (a re-executed process without feeds makes units of its own) or when the sample
    would be every unit.
    """
    if _sources(plan) or not plan.feeds or units < 1:
        return None
    roots = np.sort(recorded.data_roots()[0])
    if len(roots) <= units:
        return None
    left_out = int(roots[units])
    bound = left_out
    limits: dict[str, int] = {}
    kind = recorded.columns.kind
    for f in plan.feeds:
        rows = _fed_rows(recorded, f.senders)
        unit = recorded.single_units(rows)
        later = np.flatnonzero(unit >= left_out)
        cut = int(later[0]) if len(later) else len(rows)
        if cut:
            k = kind[rows[:cut]]
            depth = np.cumsum((k == OPEN).astype(np.int64) - (k == CLOSE))
            if depth[-1] != 0:
                closed = np.flatnonzero(depth == 0)
                cut = int(closed[-1]) + 1 if len(closed) else 0
        rest = unit[cut:]
        rest = rest[rest >= 0]
        if len(rest):
            bound = min(bound, int(rest.min()))
        limits[f.address] = cut
    count = int(np.searchsorted(roots, bound))
    if count == 0:
        return None
    return limits, bound, count


def _fed_rows(recorded: Recorded, senders: tuple[str, ...]) -> np.ndarray:
    """Where the records a fed port receives are: data and brackets of its senders."""
    ids = [recorded.by_address[s].port_id for s in senders if s in recorded.by_address]
    return recorded.rows(ids, (0, 1, 2))


def _stream(
    recorded: Recorded,
    plan: Plan,
    feed_senders: tuple[str, ...],
    rows: np.ndarray,
    port_map: np.ndarray,
) -> Iterator[TraceRecord]:
    """The records at ``rows`` as the runtime carries them to a fed port. A payload
    goes through its sending port's type, which makes models of the recorded JSON
    again. Records are made a block at a time, from the columns."""
    convert: dict[int, _Rebuild] = {}
    for s in feed_senders:
        port = recorded.by_address.get(s)
        if port is None:
            continue
        spec = plan.flat.processes[port.process].spec.outport(port.port)
        if spec is not None and spec.tp is not Any:
            convert[int(port_map[port.port_id])] = _Rebuild(Validator(spec.tp, s))
    c = recorded.columns
    for start in range(0, len(rows), BLOCK):
        block = rows[start : start + BLOCK]
        kinds = c.kind[block]
        ports = port_map[c.port_id[block]]
        payloads = _payloads(c.payload_texts(block), kinds, ports, convert)
        yield from zip(
            c.ip_id[block].tolist(),
            kinds.tolist(),
            ports.tolist(),
            c.activation[block].tolist(),
            c.t_ns[block].tolist(),
            recorded.parents_at(block),
            payloads,
            strict=True,
        )


def _payloads(
    texts: list[bytes], kinds: np.ndarray, ports: np.ndarray, convert: Mapping[int, _Rebuild]
) -> list[Any]:
    """The payloads of a block of fed records from their recorded JSON texts: data
    through their port's type (as JSON when it has none), a bracket's tag as JSON."""
    data = kinds == DATA
    first = int(ports[0]) if len(ports) else -1
    if bool(data.all()) and bool((ports == first).all()):  # the common case: one sender
        rebuild = convert.get(first)
        return list(map(orjson.loads, texts)) if rebuild is None else rebuild.many(texts)
    out: list[Any] = []
    for text, is_data, port in zip(texts, data.tolist(), ports.tolist(), strict=True):
        if not is_data:
            out.append(orjson.loads(text) if text else None)
        else:
            rebuild = convert.get(port)
            out.append(orjson.loads(text) if rebuild is None else rebuild.one(text))
    return out


class _Rebuild:
    """Make payloads of a port's type from their recorded JSON."""

    def __init__(self, v: Validator) -> None:
        self._v = v
        validator = getattr(v.adapter, "validator", None)
        self._direct = getattr(validator, "validate_json", None) or v.adapter.validate_json

    def one(self, text: bytes) -> Any:
        try:
            return self._direct(text)
        except ValidationError:
            return self._v.check(orjson.loads(text))

    def many(self, texts: list[bytes]) -> list[Any]:
        try:
            return list(map(self._direct, texts))
        except ValidationError:
            return [self.one(t) for t in texts]


def build(
    plan: Plan,
    recorded: Recorded,
    sink: TraceSink,
    *,
    settings: Mapping[str, Any],
    capacity: int,
    validate: bool,
) -> tuple[Network, dict[str, Inlet]]:
    """Wire the replay's network (see the module docstring); return it and its feeds."""
    flat = plan.flat
    net = Network(
        plan.graph.name,
        capacity=capacity,
        validate=validate,
        trace=sink,
        graph=plan.graph.to_dict(),
        settings=dict(settings),
    )
    # New IPs and activations are numbered after the recorded run's.
    net.ids = itertools.count(recorded.max_ip_id + 1)
    net.activations = itertools.count(recorded.max_activation + 1)
    rerun = set(plan.rerun)
    for proc in flat.processes.values():
        cls = proc.cls if proc.name in rerun else _held_class(proc.spec)
        net.add_process(
            proc.name,
            cls,
            component_name=proc.component,
            location=proc.location,
            array_sizes=flat.array_sizes.get(proc.name),
        )
    connect_edges(net, flat)
    fed_ports = {(e.tgt.process, e.tgt.port.lower(), e.tgt.index) for e in flat.edges}
    # IIPs of the re-executed processes, with their recorded ids where the value is the
    # recorded one; a held process gets none (its IIP records are copied).
    taken: dict[str, int] = {}
    for i in flat.initials:
        if i.tgt.process not in rerun:
            continue
        addr = str(i.tgt)
        fed_ports.add((i.tgt.process, i.tgt.port.lower(), i.tgt.index))
        net.add_initial(
            (i.tgt.process, i.tgt.port, i.tgt.index),
            i.data,
            location=i.location,
            ip_id=_recorded_iip(recorded, addr, i.data, taken),
        )
    for name in plan.rerun:
        for ps in flat.processes[name].spec.inports:
            if ps.has_default and not ps.array and (name, ps.name, None) not in fed_ports:
                addr = _address(name, ps.name, None)
                net.add_initial(
                    (name, ps.name, None),
                    ps.default,
                    ip_id=_recorded_iip(recorded, addr, ps.default, taken),
                )
    inlets = {
        f.address: net.add_inlet((f.target.process, f.target.port, f.target.index))
        for f in plan.feeds
    }
    return net, inlets


def _recorded_iip(
    recorded: Recorded, address: str, value: Any, taken: dict[str, int]
) -> int | None:
    """The recorded id of the next IIP of ``address`` if it had this value."""
    port = recorded.by_address.get(address)
    if port is None:
        return None
    k = taken.get(address, 0)
    iips = recorded.iips(port.port_id)
    taken[address] = k + 1
    if k < len(iips) and _same(value, iips[k][1]):
        return iips[k][0]
    return None


async def execute(
    plan: Plan,
    recorded: Recorded,
    writer: TraceSink,
    *,
    settings: Mapping[str, Any],
    capacity: int = DEFAULT_CAPACITY,
    validate: bool = True,
    limits: Mapping[str, int] | None = None,
) -> Execution:
    """Run one replay into ``writer`` (see the module docstring).

    ``limits`` (fed port address -> count) delivers only the first records of a fed
    port's recorded stream (a sampled determinism check, see :func:`sample_limits`);
    the held records copied are then those written before the last record fed (every
    ancestor of a fed record was written before it).

    A failure of a re-executed process is returned in ``Execution.error`` (the run is
    recorded as failed), not raised.
    """
    check_recorded(plan, recorded)
    execution = Execution(run_id="", result=None)
    mapper = _port_mapper(recorded, plan)
    upto = None
    if limits is not None:
        upto = 0
        for f in plan.feeds:
            n = limits.get(f.address)
            if n is None:
                upto = None
                break
            if n:
                upto = max(upto, int(_fed_rows(recorded, f.senders)[n - 1]) + 1)
    sink = _Sink(writer, plan, recorded, execution, mapper, upto)
    net, inlets = build(
        plan, recorded, sink, settings=settings, capacity=capacity, validate=validate
    )
    execution.run_id = net.run_id

    async def pump(address: str, inlet: Inlet, senders: tuple[str, ...]) -> None:
        await sink.started.wait()
        assert sink.port_ids is not None
        rows = _fed_rows(recorded, senders)
        if limits is not None and address in limits:
            rows = rows[: limits[address]]
        try:
            n = await inlet.send_records(_stream(recorded, plan, senders, rows, sink.port_ids))
            data = recorded.columns.kind[rows] == DATA
            execution.fed[address] = int(data[:n].sum())
            execution.undelivered[address] = int(data[n:].sum())
        finally:
            inlet.close()

    async with anyio.create_task_group() as tg:
        for f in plan.feeds:
            tg.start_soon(pump, f.address, inlets[f.address], f.senders)
        try:
            execution.result = await net.run()
        except NetworkError as e:
            execution.error = e
            execution.result = net.result()
        finally:
            tg.cancel_scope.cancel()
    for address, inlet in inlets.items():
        # IPs delivered but discarded unread when the process ended count as not taken.
        gone = execution.undelivered.get(address, 0) + inlet.port.statistics().items_dropped
        if gone:
            execution.undelivered[address] = gone
        else:
            execution.undelivered.pop(address, None)
    return execution
