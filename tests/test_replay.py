"""Replay: a recorded run's inputs through swapped components, checked against real runs.

Every case records a network, replays the record with some processes swapped (or given
another value), runs the network for real with the same change, and requires the two
to agree unit by unit on every output port. Units are matched by their position on
their source port (the real run numbers its IPs afresh); the replay must also keep the
recorded units' ids, and must not run the held processes at all (counted).
"""

from __future__ import annotations

import random
import re
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from fbp import Component, InPort, OutPort, port
from fbp.causal import ReplayError, replay
from fbp.causal._replay._source import Recorded
from fbp.graph import Registry, build_network, loads_graph
from fbp.graph._run import with_set_values
from fbp.tracing import TraceWriter, open_trace

CALLS: Counter[str] = Counter()


class Source(Component):
    """N items ``{"id", "x"}`` with x drawn from a seeded generator."""

    n: InPort[int]
    seed: InPort[int] = port(default=0)
    scale: InPort[float] = port(default=1.0)
    out: OutPort[dict[str, Any]]

    async def run(self) -> None:
        CALLS[self.name] += 1
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        scale = await self.scale.receive()
        for i in range(n):
            await self.out.send({"id": i, "x": round(rng.uniform(0, 10) * scale, 3)})


class Ints(Component):
    """N integers 0..N-1."""

    n: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        CALLS[self.name] += 1
        for i in range(await self.n.receive()):
            await self.out.send(i)


class Prep(Component):
    """A non-looper: x plus OFFSET (an IIP)."""

    in_: InPort[dict[str, Any]]
    offset: InPort[float] = port(default=1.0)
    out: OutPort[dict[str, Any]]

    async def process(self, in_: dict[str, Any], offset: float) -> None:
        CALLS[self.name] += 1
        await self.out.send({**in_, "x": in_["x"] + offset})


class PrepV2(Prep):
    """The new Prep: doubles x before the offset."""

    async def process(self, in_: dict[str, Any], offset: float) -> None:
        CALLS[self.name] += 1
        await self.out.send({**in_, "x": 2 * in_["x"] + offset})


class Score(Component):
    """A looper: y = x squared / 10."""

    in_: InPort[dict[str, Any]]
    out: OutPort[dict[str, Any]]

    async def run(self) -> None:
        CALLS[self.name] += 1
        async for r in self.in_:
            await self.out.send({**r, "y": r["x"] ** 2 / 10})


class ScoreV2(Score):
    """The new Score: y = 3 x."""

    async def run(self) -> None:
        CALLS[self.name] += 1
        async for r in self.in_:
            await self.out.send({**r, "y": 3 * r["x"]})


class Route(Component):
    """A router: HIGH when x > LIMIT, else LOW."""

    in_: InPort[dict[str, Any]]
    limit: InPort[float] = port(default=5.0)
    high: OutPort[dict[str, Any]]
    low: OutPort[dict[str, Any]]

    async def process(self, in_: dict[str, Any], limit: float) -> None:
        CALLS[self.name] += 1
        await (self.high if in_["x"] > limit else self.low).send(in_)


class Keep(Component):
    """A filter: pass items with an even id."""

    in_: InPort[dict[str, Any]]
    out: OutPort[dict[str, Any]]

    async def process(self, in_: dict[str, Any]) -> None:
        CALLS[self.name] += 1
        if in_["id"] % 2 == 0:
            await self.out.send(in_)


class KeepV2(Keep):
    """The new filter: ids divisible by three."""

    async def process(self, in_: dict[str, Any]) -> None:
        CALLS[self.name] += 1
        if in_["id"] % 3 == 0:
            await self.out.send(in_)


class Value(Component):
    """The value of an item: its y (or x), as a number."""

    in_: InPort[dict[str, Any]]
    out: OutPort[float]

    async def process(self, in_: dict[str, Any]) -> None:
        CALLS[self.name] += 1
        await self.out.send(float(in_.get("y", in_["x"])))


class Pair(Component):
    """A join: the n-th item of A with the n-th of B, summed."""

    a: InPort[dict[str, Any]]
    b: InPort[int]
    out: OutPort[float]

    async def process(self, a: dict[str, Any], b: int) -> None:
        CALLS[self.name] += 1
        await self.out.send(a["x"] * b)


class Window(Component):
    """An aggregation: the sum of every SIZE values."""

    in_: InPort[float]
    size: InPort[int] = port(default=4)
    out: OutPort[float]

    async def run(self) -> None:
        CALLS[self.name] += 1
        size = await self.size.receive()
        window: list[Any] = []
        async for _ in self.in_:
            window.append(self.in_.last_ip)
            if len(window) == size:
                await self.out.send(sum(ip.payload for ip in window), parents=window)
                window = []
        if window:
            await self.out.send(sum(ip.payload for ip in window), parents=window)


class Tally(Component):
    """Counts the IPs of each substream (brackets in, one number per substream out)."""

    in_: InPort[Any]
    out: OutPort[int]

    async def run(self) -> None:
        CALLS[self.name] += 1
        n, first = 0, None
        async for ip in self.in_.packets():
            if ip.is_open:
                n, first = 0, ip
            elif ip.is_close:
                await self.out.send(n, parents=(first,) if first else None)
            else:
                n += 1


class TallyV2(Tally):
    """Counts twice."""

    async def run(self) -> None:
        CALLS[self.name] += 1
        n, first = 0, None
        async for ip in self.in_.packets():
            if ip.is_open:
                n, first = 0, ip
            elif ip.is_close:
                await self.out.send(2 * n, parents=(first,) if first else None)
            else:
                n += 1


class Noisy(Component):
    """Adds unseeded noise: not deterministic (and does not say so)."""

    in_: InPort[float]
    out: OutPort[float]

    async def process(self, in_: float) -> None:
        CALLS[self.name] += 1
        await self.out.send(in_ + random.random())


class Shift(Component):
    """Stands in for math/Scale inside the subnet: adds FACTOR instead."""

    in_: InPort[float]
    factor: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        CALLS[self.name] += 1
        factor = await self.factor.receive()
        async for x in self.in_:
            await self.out.send(x + factor)


class Declared(Component):
    """Says it is not deterministic (and is not)."""

    deterministic = False
    in_: InPort[float]
    out: OutPort[float]

    async def process(self, in_: float) -> None:
        await self.out.send(round(in_ + random.random(), 6))


class Sink(Component):
    """Keeps nothing: the end of the line."""

    in_: InPort[Any]

    async def process(self, in_: Any) -> None:
        CALLS[self.name] += 1


REGISTRY = Registry(
    extra={
        f"t/{c.__name__}": c
        for c in (
            Source,
            Ints,
            Prep,
            PrepV2,
            Score,
            ScoreV2,
            Route,
            Keep,
            KeepV2,
            Value,
            Pair,
            Window,
            Tally,
            TallyV2,
            Noisy,
            Shift,
            Declared,
            Sink,
        )
    }
)

NETWORKS = {
    # loopers and non-loopers in a line, with IIPs and a default
    "pipeline": """
        40 -> N Src(t/Source)
        Src OUT -> IN Prep(t/Prep) OUT -> IN Score(t/Score) OUT -> IN Val(t/Value)
        2.5 -> OFFSET Prep
        Val OUT -> IN End(t/Sink)
    """,
    # a router whose branches merge again (fan-in), and a filter on one branch
    "router": """
        60 -> N Src(t/Source)
        Src OUT -> IN Prep(t/Prep) OUT -> IN Route(t/Route)
        Route HIGH -> IN Score(t/Score) OUT -> IN Val(t/Value)
        Route LOW -> IN Keep(t/Keep) OUT -> IN Val
        Val OUT -> IN End(t/Sink)
    """,
    # a join of two sources, then an aggregation of several units into one IP
    "join": """
        30 -> N Src(t/Source)
        30 -> N Nums(t/Ints)
        Src OUT -> IN Prep(t/Prep) OUT -> A Pair(t/Pair)
        Nums OUT -> B Pair
        Pair OUT -> IN Win(t/Window) OUT -> IN End(t/Sink)
    """,
    # substreams: Collate brackets runs of equal keys, Tally counts each substream
    "substreams": """
        50 -> N Src(t/Source)
        Src OUT -> IN Prep(t/Prep) OUT -> IN Runs(flow/Collate)
        "int(x['x'] // 3)" -> KEY Runs
        Runs OUT -> IN Tally(t/Tally) OUT -> IN End(t/Sink)
    """,
    # a subnet (examples/Double: math/Scale inside) between two processes
    "subnet": """
        40 -> N Src(t/Source)
        Src OUT -> IN Val(t/Value) OUT -> IN Twice(examples/Double)
        Twice OUT -> IN Win(t/Window) OUT -> IN End(t/Sink)
    """,
}


def _graph(name: str) -> Any:
    return loads_graph(textwrap.dedent(NETWORKS[name]).strip() + "\n", "fbp", source=f"{name}.fbp")


def _record(graph: Any, path: Path, **options: Any) -> str:
    with TraceWriter(path) as sink:
        net = build_network(graph, registry=REGISTRY, trace=sink, **options)
        net_run = net.run
        import anyio

        result = anyio.run(net_run)
    return result.run_id


def _by_unit(path: Path, run_id: str) -> dict[str, dict[tuple[Any, ...], tuple[bytes, ...]]]:
    """Every output port's payloads per unit; units named by (source port, position)."""
    with open_trace(path) as t:
        rec = Recorded(t.run(run_id))
        ids, ports = rec.data_roots()
        by_port = {p.port_id: p.address for p in rec.ports}
        seen: Counter[str] = Counter()
        name: dict[int, tuple[str, int]] = {}
        for i, pid in zip(ids.tolist(), ports.tolist(), strict=True):
            addr = by_port[pid]
            name[i] = (addr, seen[addr])
            seen[addr] += 1
        units = rec.units_of()
        out: dict[str, dict[tuple[Any, ...], tuple[bytes, ...]]] = {}
        for p in rec.ports:
            if p.direction != "out":
                continue
            pids, payloads = rec.payloads([p.port_id])
            groups: dict[tuple[Any, ...], list[bytes]] = {}
            for i, x in zip(pids, payloads, strict=True):
                key = tuple(sorted(name[u] for u in units[i]))
                groups.setdefault(key, []).append(orjson.dumps(x, option=orjson.OPT_SORT_KEYS))
            out[p.address] = {k: tuple(sorted(v)) for k, v in groups.items()}
        return out


def _roots(path: Path, run_id: str) -> list[int]:
    with open_trace(path) as t:
        return sorted(Recorded(t.run(run_id)).data_roots()[0].tolist())


CASES = [
    # network, swap, set values, processes the replay must not run
    ("pipeline", {"Score": ScoreV2}, {}, {"Src", "Prep"}),
    ("pipeline", {"Prep": PrepV2}, {}, {"Src"}),
    ("pipeline", {}, {"Prep.OFFSET": 7.0}, {"Src"}),
    ("router", {"Keep": KeepV2}, {}, {"Src", "Prep", "Route", "Score"}),
    ("router", {"Prep": PrepV2}, {}, {"Src"}),
    ("router", {}, {"Route.LIMIT": 3.0}, {"Src", "Prep"}),
    ("join", {"Prep": PrepV2}, {}, {"Src", "Nums"}),
    ("join", {}, {"Win.SIZE": 3}, {"Src", "Nums", "Prep", "Pair"}),
    ("substreams", {"Tally": TallyV2}, {}, {"Src", "Prep", "Runs"}),
    ("substreams", {"Prep": PrepV2}, {}, {"Src"}),
    ("subnet", {"Twice/Times": Shift}, {}, {"Src", "Val"}),
    ("subnet", {"Win": Window}, {"Win.SIZE": 7}, {"Src", "Val", "Twice/Times"}),
    # a re-executed source: its units keep their recorded ids
    ("pipeline", {}, {"Src.SCALE": 1.5}, set()),
    ("join", {}, {"Nums.N": 20}, {"Src", "Prep"}),
]


@pytest.mark.parametrize(("network", "swap", "values", "held"), CASES)
def test_replay_equals_a_real_run(
    tmp_path: Path,
    network: str,
    swap: dict[str, type[Component]],
    values: dict[str, Any],
    held: set[str],
) -> None:
    graph = _graph(network)
    before = tmp_path / "before.trace"
    before_id = _record(graph, before)
    real = tmp_path / "real.trace"
    real_id = _record(with_set_values(graph, values) if values else graph, real, swap=swap)
    CALLS.clear()
    result = replay(
        graph,
        before,
        swap=swap,
        set_values=values,
        trace_out=tmp_path / "after.trace",
        registry=REGISTRY,
        repeat=1,
    )
    # Held processes did not run; every other process did.
    assert set(result.held) == held
    assert not any(CALLS[p] for p in held), CALLS
    ours = {n for n, node in graph.processes.items() if str(node.component).startswith("t/")}
    assert all(CALLS[p] for p in result.executed if p in ours and p != "End"), CALLS
    # Unit by unit, every port agrees with the real run.
    assert _by_unit(tmp_path / "after.trace", result.after) == _by_unit(real, real_id)
    # The replay keeps the recorded units (fewer when a source is told to send fewer).
    after_units, before_units = (
        _roots(tmp_path / "after.trace", result.after),
        _roots(before, before_id),
    )
    assert set(after_units) <= set(before_units)
    assert len(after_units) == len(before_units) - (10 if "Nums.N" in values else 0)


@pytest.mark.parametrize("capacity", [0, 1, 3, 32], ids=lambda c: f"cap{c}")
def test_replay_at_several_capacities(tmp_path: Path, capacity: int) -> None:
    graph = _graph("router")
    before = tmp_path / "before.trace"
    _record(graph, before, capacity=capacity)
    real = tmp_path / "real.trace"
    real_id = _record(graph, real, swap={"Prep": PrepV2}, capacity=capacity)
    result = replay(
        graph,
        before,
        swap={"Prep": PrepV2},
        trace_out=tmp_path / "after.trace",
        registry=REGISTRY,
        repeat=1,
        capacity=capacity,
    )
    assert _by_unit(tmp_path / "after.trace", result.after) == _by_unit(real, real_id)


def test_a_replay_of_a_replay_keeps_the_units(tmp_path: Path) -> None:
    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    before_id = _record(graph, before)
    out = tmp_path / "after.trace"
    first = replay(graph, before, swap={"Prep": PrepV2}, trace_out=out, registry=REGISTRY, repeat=1)
    # Replaying the replay with one more swap downstream: the first swap must be named
    # again (the replay recorded Prep running PrepV2).
    with pytest.raises(ReplayError, match=r"Prep.*runs t/Prep in the network but .*PrepV2"):
        replay(graph, out, swap={"Score": ScoreV2}, run=first.after, registry=REGISTRY)
    second = replay(
        graph,
        out,
        run=first.after,
        swap={"Prep": PrepV2, "Score": ScoreV2},
        trace_out=out,
        registry=REGISTRY,
        repeat=1,
    )
    real = tmp_path / "real.trace"
    real_id = _record(graph, real, swap={"Prep": PrepV2, "Score": ScoreV2})
    assert _by_unit(out, second.after) == _by_unit(real, real_id)
    assert _roots(out, second.after) == _roots(before, before_id)


def test_undeclared_nondeterminism_is_detected_with_its_spread(tmp_path: Path) -> None:
    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    _record(graph, before)
    result = replay(graph, before, swap={"Val": Noisy_value()}, registry=REGISTRY)
    assert result.deterministic is False
    assert result.repeats == 2
    (spread,) = result.spreads
    assert spread.port == "Val.OUT" and not spread.declared
    assert spread.units_differing == 40 == spread.units
    assert spread.max_gap is not None and 0 < spread.median_gap <= spread.max_gap < 1
    assert "NOT deterministic" in result.table()


def Noisy_value() -> type[Component]:
    class NoisyValue(Component):
        """Value plus unseeded noise."""

        in_: InPort[dict[str, Any]]
        out: OutPort[float]

        async def process(self, in_: dict[str, Any]) -> None:
            await self.out.send(float(in_.get("y", in_["x"])) + random.random())

    return NoisyValue


def test_declared_nondeterminism_is_run_three_times(tmp_path: Path) -> None:
    graph = loads_graph(
        "20 -> N Src(t/Source)\nSrc OUT -> IN Val(t/Value) OUT -> IN D(t/Declared)\n"
        "D OUT -> IN End(t/Sink)\n",
        "fbp",
    )
    before = tmp_path / "before.trace"
    _record(graph, before)
    result = replay(
        graph, before, set_values={"Val.IN": {"id": 0, "x": 1.0}}, registry=REGISTRY, target="D.OUT"
    )
    assert result.repeats == 3
    assert result.deterministic is False
    assert [s.port for s in result.spreads] == ["D.OUT"]
    assert result.spreads[0].declared
    assert result.target is not None and result.target.spread is not None


def test_deterministic_swaps_are_reported_so(tmp_path: Path) -> None:
    graph = _graph("router")
    before = tmp_path / "before.trace"
    _record(graph, before)
    result = replay(graph, before, swap={"Keep": KeepV2}, registry=REGISTRY, target="Val.OUT")
    assert result.deterministic is True and result.repeats == 2 and not result.spreads
    t = result.target
    assert t is not None and t.units == 60 and t.unit_port == "Src.OUT"
    change = {c.port: c for c in result.changes}
    assert set(change) == {"Keep.OUT", "Val.OUT"}
    assert change["Keep.OUT"].units_changed > 0
    assert "deterministic: 2 repeats gave the same outputs" in str(result)
    d = result.to_dict()
    assert d["target"]["change"] == pytest.approx(t.mean_after - t.mean_before)
    assert "<table>" in result._repr_html_()


def test_what_cannot_be_replayed_is_refused_before_running(tmp_path: Path) -> None:
    from fbp import GraphValidationError

    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    with TraceWriter(before, payload={"Prep.OUT": "none"}) as sink:
        import anyio

        anyio.run(build_network(graph, registry=REGISTRY, trace=sink).run)
    CALLS.clear()
    with pytest.raises(
        ReplayError, match=r"Prep\.OUT feeds Score\.IN, but the recorded run kept no"
    ):
        replay(graph, before, swap={"Score": ScoreV2}, registry=REGISTRY)
    assert not CALLS
    with pytest.raises(GraphValidationError, match=r"no process 'Scor'.*did you mean 'Score'"):
        replay(graph, before, swap={"Scor": ScoreV2}, registry=REGISTRY)
    other = _graph("pipeline")
    other.add_process("Extra", "t/Ints").add_initial(3, "Extra.N")
    with pytest.raises(ReplayError, match="process 'Extra' is not in the recorded run"):
        replay(other, before, swap={"Val": Value}, registry=REGISTRY)
    with pytest.raises(ReplayError, match="nothing to replay"):
        replay(graph, before, registry=REGISTRY)
    with pytest.raises(ReplayError, match="swap Score=t/Nope"):
        replay(graph, before, swap={"Score": "t/Nope"}, registry=REGISTRY)
    with pytest.raises(ReplayError, match=r"no output port 'Nope\.OUT'"):
        replay(graph, before, swap={"Prep": PrepV2}, registry=REGISTRY, target="Nope.OUT")


def test_a_process_that_stops_early_is_noted(tmp_path: Path) -> None:
    graph = loads_graph(
        "50 -> N Src(t/Ints)\nSrc OUT -> IN Cut(flow/Take) OUT -> IN End(t/Sink)\n"
        "50 -> COUNT Cut\n",
        "fbp",
    )
    before = tmp_path / "before.trace"
    _record(graph, before)
    result = replay(graph, before, set_values={"Cut.COUNT": 5}, registry=REGISTRY, repeat=1)
    (note,) = result.notes
    assert re.match(r"Cut\.IN ended with (\d+) of its recorded IPs not taken", note), note
    (cut,) = [c for c in result.changes if c.port == "Cut.OUT"]
    assert (cut.ips_before, cut.ips_after) == (50, 5)


def test_copied_records_read_back_as_they_were(tmp_path: Path) -> None:
    """TraceWriter.copy: records of one run stored in another as they were (ids,
    kinds, parents, payload texts; ports renumbered, times moved)."""
    import numpy as np

    from fbp._core._tracehook import PortInfo, RunInfo

    graph = _graph("substreams")
    before = tmp_path / "before.trace"
    run_id = _record(graph, before)
    with open_trace(before) as t:
        run = t.run(run_id)
        cols = run.columns()
        rows = np.flatnonzero(np.isin(cols.port_id, [0, 2, 3, 5]))[::2]
        ports = run.ports()
        infos = [
            PortInfo(p.process, p.component, p.port, p.index, p.direction, p.type_name)
            for p in reversed(ports)
        ]
        port_map = np.array([len(ports) - 1 - p.port_id for p in ports], dtype=np.int32)
        out = tmp_path / "copy.trace"
        with TraceWriter(out) as w:
            w.start_run(RunInfo("copy", "copy", {}, tuple(infos), 0, 5_000))
            w.copy(cols, rows, port_map=port_map, dt_ns=1_000)
            w.finish_run("completed", None, {})
        want = run.traced(rows)
    with open_trace(out) as t:
        got = list(t.run("copy").records())
    assert len(got) == len(want) > 10
    for a, b in zip(got, want, strict=True):
        assert (a.ip_id, a.kind, a.activation, a.parents, a.payload) == (
            b.ip_id,
            b.kind,
            b.activation,
            b.parents,
            b.payload,
        )
        assert a.port == b.port  # the same port, under its new id
        assert a.port_id == len(ports) - 1 - b.port_id
    with open_trace(out) as t:
        moved = t.run("copy").columns().t_ns
    assert (moved == cols.t_ns[rows] + 1_000).all()
