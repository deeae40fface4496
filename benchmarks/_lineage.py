"""Looper lineage against ground truth: the common shapes of a looper, written as a user
writes them (no ``parents=``), each with the parents every send truly has.

Each shape is a small traced network: sources send payloads whose identity the truth
can follow, one looper under test, a sink. ``truth(sent)`` maps every IP the looper
sent to the set of IP ids it was computed from (its inputs and its parameters' IIPs);
:func:`score` compares that with the parents the trace recorded. Used by
``tests/test_lineage_shapes.py`` (every shape exact) and ``bench_lineage.py``
(precision, recall and the cost per send).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fbp import ArrayInPort, ArrayOutPort, Component, InPort, OutPort, merge
from fbp.graph import Graph, build_network
from fbp.testing import ListSource, MemorySink

__all__ = ("SHAPES", "Score", "Shape", "chain", "run_shape", "score")

Record = tuple[Any, ...]


# -- the loopers under test -----------------------------------------------------------------


class PlusOne(Component):
    """map over ints: every value plus one (the benchmarks' stage)."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x + 1)


class Scale(Component):
    """map: every value times FACTOR."""

    in_: InPort[float]
    factor: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        factor = await self.factor.receive()
        async for x in self.in_:
            await self.out.send(x * factor)


class Above(Component):
    """filter: the ints above LIMIT, passed on."""

    in_: InPort[int]
    limit: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        limit = await self.limit.receive()
        async for x in self.in_:
            if x > limit:
                await self.out.send(x)


class KeepOk(Component):
    """filter: the records whose ``ok`` is true, passed on."""

    in_: InPort[dict[str, Any]]
    out: OutPort[dict[str, Any]]

    async def run(self) -> None:
        async for r in self.in_:
            if r["ok"]:
                await self.out.send(r)


class MergeArray(Component):
    """merge: the elements of an array port, as they arrive."""

    in_: ArrayInPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        async for _i, x in self.in_:
            await self.out.send(x)


class MergeTwo(Component):
    """merge: two named ports, each value doubled."""

    a: InPort[float]
    b: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        async for _port, x in merge(self.a, self.b):
            await self.out.send(x)


class TotalsByRegion(Component):
    """aggregate by key: one total per region, at the end of the stream."""

    in_: InPort[dict[str, Any]]
    out: OutPort[dict[str, Any]]

    async def run(self) -> None:
        totals: dict[str, float] = {}
        async for r in self.in_:
            totals[r["region"]] = totals.get(r["region"], 0.0) + r["amount"]
        for region, total in totals.items():
            await self.out.send({"region": region, "total": total})


class RunTotals(Component):
    """aggregate by key: the total of each run of one region (a sorted stream), sent
    when the next region begins."""

    in_: InPort[dict[str, Any]]
    out: OutPort[dict[str, Any]]

    async def run(self) -> None:
        region: str | None = None
        total = 0.0
        async for r in self.in_:
            if region is not None and r["region"] != region:
                await self.out.send({"region": region, "total": total})
                total = 0.0
            region = r["region"]
            total += r["amount"]
        if region is not None:
            await self.out.send({"region": region, "total": total})


class Copy(Component):
    """replicate: every value to each element of OUT."""

    in_: InPort[float]
    out: ArrayOutPort[float]

    async def run(self) -> None:
        async for x in self.in_:
            for el in self.out:
                await el.send(x)


class WindowMean(Component):
    """windowed batch: the mean of every SIZE values (and of the rest at the end)."""

    in_: InPort[float]
    size: InPort[int]
    out: OutPort[float]

    async def run(self) -> None:
        size = await self.size.receive()
        window: list[float] = []
        async for x in self.in_:
            window.append(x)
            if len(window) == size:
                await self.out.send(sum(window) / size)
                window = []
        if window:
            await self.out.send(sum(window) / len(window))


class WindowSum(Component):
    """windowed batch: the sum of every SIZE small ints."""

    in_: InPort[int]
    size: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        size = await self.size.receive()
        window: list[int] = []
        async for x in self.in_:
            window.append(x)
            if len(window) == size:
                await self.out.send(sum(window))
                window = []


class Triage(Component):
    """route: a value above 0.5 doubled to HIGH, the others less one to LOW."""

    in_: InPort[float]
    high: OutPort[float]
    low: OutPort[float]

    async def run(self) -> None:
        async for x in self.in_:
            if x > 0.5:
                await self.high.send(x * 2)
            else:
                await self.low.send(x - 1)


class SortAll(Component):
    """sort: every record, by amount, once the stream has ended."""

    in_: InPort[dict[str, Any]]
    out: OutPort[dict[str, Any]]

    async def run(self) -> None:
        rows = [r async for r in self.in_]
        for r in sorted(rows, key=lambda r: r["amount"]):
            await self.out.send(r)


class Spread(Component):
    """flatten: every element of each list, times ten."""

    in_: InPort[list[float]]
    out: OutPort[float]

    async def run(self) -> None:
        async for xs in self.in_:
            for x in xs:
                await self.out.send(x * 10)


class Pairs(Component):
    """zip: the sum of each value of A with the next value of B."""

    a: InPort[float]
    b: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        async for x in self.a:
            await self.out.send(x + await self.b.receive())


class Priced(Component):
    """side input: every order priced at the latest RATE received (a slow stream)."""

    in_: InPort[dict[str, Any]]
    rate: InPort[dict[str, Any]]
    out: OutPort[dict[str, Any]]

    async def run(self) -> None:
        rate: dict[str, Any] | None = None
        async for port, x in merge(self.rate, self.in_):
            if port is self.rate:
                rate = x
            elif rate is not None:
                await self.out.send({"n": x["n"], "rate_n": rate["n"], "v": x["q"] * rate["r"]})


# -- shapes and their truth -----------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A network around one looper, and the true parents of what it sends."""

    name: str
    graph: Callable[[int], Graph]
    #: The looper's output ports to check.
    ports: tuple[str, ...]
    #: (records of the run, the port's records) -> {sent ip id: true parent ids}
    truth: Callable[[Run, str], dict[int, set[int]]]


class Run:
    """The records of one traced run, with lookups."""

    def __init__(self, sink: MemorySink) -> None:
        self.sink = sink
        self.by_id = {r[0]: r for r in sink.records}

    def sent(self, address: str) -> list[Record]:
        return [r for r in self.sink.sent(address) if r[1] == 0]

    def iip(self, address: str) -> int:
        proc, _, port = address.partition(".")
        pid = next(
            i
            for i, p in enumerate(self.sink.ports)
            if p.process == proc and p.port == port and p.direction == "in"
        )
        (rec,) = [r for r in self.sink.records if r[1] == 3 and r[2] == pid]
        return int(rec[0])


def _floats(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.random(), 6) + i * 1e-7 for i in range(n)]  # all different


def _source(g: Graph, name: str, items: list[Any]) -> Graph:
    return g.add_process(name, ListSource).add_initial(items, f"{name}.ITEMS")


def _by_payload(run: Run, address: str) -> dict[Any, int]:
    return {repr(r[6]): r[0] for r in run.sent(address)}


def _map_graph(n: int) -> Graph:
    g = _source(Graph("map"), "S", _floats(n, 1)).add_process("L", Scale)
    return g.add_initial(3.0, "L.FACTOR").connect("S.OUT", "L.IN")


def _map_truth(run: Run, port: str) -> dict[int, set[int]]:
    k = run.iip("L.FACTOR")
    return {o[0]: {i[0], k} for i, o in zip(run.sent("S.OUT"), run.sent(port), strict=True)}


def _filter_graph(n: int) -> Graph:
    rng = random.Random(2)
    g = _source(Graph("filter"), "S", [rng.randrange(0, 300) for _ in range(n)])
    return g.add_process("L", Above).add_initial(150, "L.LIMIT").connect("S.OUT", "L.IN")


def _filter_truth(run: Run, port: str) -> dict[int, set[int]]:
    k = run.iip("L.LIMIT")
    passed = iter(r for r in run.sent("S.OUT") if r[6] > 150)
    return {o[0]: {next(passed)[0], k} for o in run.sent(port)}


def _records(n: int, seed: int, regions: int = 5, *, ordered: bool = False) -> list[Any]:
    rng = random.Random(seed)
    rows = [
        {
            "n": i,
            "region": f"r{rng.randrange(regions)}",
            "amount": round(rng.uniform(1, 100), 2),
            "ok": rng.random() < 0.4,
        }
        for i in range(n)
    ]
    return sorted(rows, key=lambda r: r["region"]) if ordered else rows


def _keep_graph(n: int) -> Graph:
    return (
        _source(Graph("keep"), "S", _records(n, 3))
        .add_process("L", KeepOk)
        .connect("S.OUT", "L.IN")
    )


def _keep_truth(run: Run, port: str) -> dict[int, set[int]]:
    src = {r[6]["n"]: r[0] for r in run.sent("S.OUT")}
    return {o[0]: {src[o[6]["n"]]} for o in run.sent(port)}


def _merge_array_graph(n: int) -> Graph:
    g = Graph("merge_array").add_process("L", MergeArray)
    for k in range(3):
        _source(g, f"S{k}", [x + k for x in _floats(n // 3, 10 + k)])
        g.connect(f"S{k}.OUT", f"L.IN[{k}]")
    return g


def _same_payload(sources: tuple[str, ...]) -> Callable[[Run, str], dict[int, set[int]]]:
    def truth(run: Run, port: str) -> dict[int, set[int]]:
        src: dict[str, int] = {}
        for s in sources:
            src.update(_by_payload(run, s))
        return {o[0]: {src[repr(o[6])]} for o in run.sent(port)}

    return truth


def _merge_two_graph(n: int) -> Graph:
    g = _source(Graph("merge_two"), "A", _floats(n // 2, 20))
    _source(g, "B", [x + 1 for x in _floats(n // 2, 21)]).add_process("L", MergeTwo)
    return g.connect("A.OUT", "L.A").connect("B.OUT", "L.B")


def _by_key_graph(n: int) -> Graph:
    return (
        _source(Graph("by_key"), "S", _records(n, 4))
        .add_process("L", TotalsByRegion)
        .connect("S.OUT", "L.IN")
    )


def _runs_graph(n: int) -> Graph:
    g = _source(Graph("runs"), "S", _records(n, 5, ordered=True))
    return g.add_process("L", RunTotals).connect("S.OUT", "L.IN")


def _by_key_truth(run: Run, port: str) -> dict[int, set[int]]:
    return {
        o[0]: {r[0] for r in run.sent("S.OUT") if r[6]["region"] == o[6]["region"]}
        for o in run.sent(port)
    }


def _copy_graph(n: int) -> Graph:
    g = _source(Graph("copy"), "S", _floats(n, 6)).add_process("L", Copy)
    g.add_process("K0", "core/Drop").add_process("K1", "core/Drop")
    return g.connect("S.OUT", "L.IN").connect("L.OUT[0]", "K0.IN").connect("L.OUT[1]", "K1.IN")


def _copy_truth(run: Run, port: str) -> dict[int, set[int]]:
    return {o[0]: {i[0]} for i, o in zip(run.sent("S.OUT"), run.sent(port), strict=True)}


def _window_graph(n: int) -> Graph:
    g = _source(Graph("window"), "S", _floats(n, 7)).add_process("L", WindowMean)
    return g.add_initial(4, "L.SIZE").connect("S.OUT", "L.IN")


def _window_ints_graph(n: int) -> Graph:
    rng = random.Random(8)
    g = _source(Graph("window_ints"), "S", [rng.randrange(0, 50) for _ in range(n)])
    return g.add_process("L", WindowSum).add_initial(4, "L.SIZE").connect("S.OUT", "L.IN")


def _window_truth(run: Run, port: str) -> dict[int, set[int]]:
    k = run.iip("L.SIZE")
    ins = [r[0] for r in run.sent("S.OUT")]
    return {o[0]: {*ins[4 * j : 4 * j + 4], k} for j, o in enumerate(run.sent(port))}


def _triage_graph(n: int) -> Graph:
    g = _source(Graph("triage"), "S", _floats(n, 9)).add_process("L", Triage)
    g.add_process("K0", "core/Drop").add_process("K1", "core/Drop")
    return g.connect("S.OUT", "L.IN").connect("L.HIGH", "K0.IN").connect("L.LOW", "K1.IN")


def _triage_truth(run: Run, port: str) -> dict[int, set[int]]:
    high = port.endswith("HIGH")
    ins = [r for r in run.sent("S.OUT") if (r[6] > 0.5) == high]
    return {o[0]: {i[0]} for i, o in zip(ins, run.sent(port), strict=True)}


def _sort_graph(n: int) -> Graph:
    return (
        _source(Graph("sort"), "S", _records(n, 14))
        .add_process("L", SortAll)
        .connect("S.OUT", "L.IN")
    )


def _spread_graph(n: int) -> Graph:
    lists = [_floats(1 + k % 4, 100 + k) for k in range(n // 2)]
    return _source(Graph("spread"), "S", lists).add_process("L", Spread).connect("S.OUT", "L.IN")


def _spread_truth(run: Run, port: str) -> dict[int, set[int]]:
    outs = iter(run.sent(port))
    truth: dict[int, set[int]] = {}
    for r in run.sent("S.OUT"):
        for _ in r[6]:
            truth[next(outs)[0]] = {r[0]}
    return truth


def _pairs_graph(n: int) -> Graph:
    g = _source(Graph("pairs"), "A", _floats(n // 2, 11))
    _source(g, "B", _floats(n // 2, 12)).add_process("L", Pairs)
    return g.connect("A.OUT", "L.A").connect("B.OUT", "L.B")


def _pairs_truth(run: Run, port: str) -> dict[int, set[int]]:
    return {
        o[0]: {a[0], b[0]}
        for a, b, o in zip(run.sent("A.OUT"), run.sent("B.OUT"), run.sent(port), strict=True)
    }


def _priced_graph(n: int) -> Graph:
    rng = random.Random(13)
    orders = [{"n": i, "q": rng.randrange(1, 10)} for i in range(n)]
    rates = [{"n": i, "r": round(rng.uniform(0.5, 2), 3)} for i in range(max(2, n // 50))]
    g = _source(Graph("priced"), "O", orders)
    _source(g, "R", rates).add_process("L", Priced)
    return g.connect("O.OUT", "L.IN").connect("R.OUT", "L.RATE")


def _priced_truth(run: Run, port: str) -> dict[int, set[int]]:
    orders = {r[6]["n"]: r[0] for r in run.sent("O.OUT")}
    rates = {r[6]["n"]: r[0] for r in run.sent("R.OUT")}
    return {o[0]: {orders[o[6]["n"]], rates[o[6]["rate_n"]]} for o in run.sent(port)}


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("map", _map_graph, ("L.OUT",), _map_truth),
        Shape("filter (ints)", _filter_graph, ("L.OUT",), _filter_truth),
        Shape("filter (records)", _keep_graph, ("L.OUT",), _keep_truth),
        Shape(
            "merge (array port)",
            _merge_array_graph,
            ("L.OUT",),
            _same_payload(("S0.OUT", "S1.OUT", "S2.OUT")),
        ),
        Shape("merge (two ports)", _merge_two_graph, ("L.OUT",), _same_payload(("A.OUT", "B.OUT"))),
        Shape("aggregate by key, at the end", _by_key_graph, ("L.OUT",), _by_key_truth),
        Shape("aggregate by key, per run", _runs_graph, ("L.OUT",), _by_key_truth),
        Shape("replicate", _copy_graph, ("L.OUT[0]", "L.OUT[1]"), _copy_truth),
        Shape("windowed batch (floats)", _window_graph, ("L.OUT",), _window_truth),
        Shape("windowed batch (small ints)", _window_ints_graph, ("L.OUT",), _window_truth),
        Shape("route and transform", _triage_graph, ("L.HIGH", "L.LOW"), _triage_truth),
        Shape("sort", _sort_graph, ("L.OUT",), _keep_truth),
        Shape("flatten", _spread_graph, ("L.OUT",), _spread_truth),
        Shape("zip", _pairs_graph, ("L.OUT",), _pairs_truth),
        Shape("side input", _priced_graph, ("L.OUT",), _priced_truth),
    )
}


def chain(n: int, k: int = 5) -> Graph:
    """``core/Range`` of ``n`` ints through ``k`` :class:`PlusOne` loopers to a drop."""
    g = Graph("chain").add_process("S", "core/Range").add_initial(n, "S.COUNT")
    prev = "S.OUT"
    for i in range(k):
        g.add_process(f"I{i}", PlusOne).connect(prev, f"I{i}.IN")
        prev = f"I{i}.OUT"
    return g.add_process("E", "core/Drop").connect(prev, "E.IN")


async def run_shape(shape: Shape, n: int = 200, capacity: int = 4) -> Run:
    """Run a shape's network, traced in memory."""
    sink = MemorySink()
    await build_network(shape.graph(n), trace=sink, capacity=capacity).run()
    return Run(sink)


@dataclass(frozen=True)
class Score:
    """How the recorded parents of a shape's sends compare with the truth."""

    sends: int
    exact: int
    precision: float
    recall: float


def score(shape: Shape, run: Run) -> Score:
    """Exact matches, and precision and recall of the parent links, over every send."""
    found = right = true = exact = sends = 0
    for port in shape.ports:
        truth = shape.truth(run, port)
        for rec in run.sent(port):
            got, want = set(rec[5]), truth[rec[0]]
            sends += 1
            exact += got == want
            found += len(got)
            true += len(want)
            right += len(got & want)
    return Score(sends, exact, right / found if found else 1.0, right / true if true else 1.0)
