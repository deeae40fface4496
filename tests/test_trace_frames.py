"""The columnar read path: ``TracedRun.frames()`` against ``TracedRun.records()``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from test_trace_support import write_dag

from fbp import Component, InPort, OutPort
from fbp.graph import Graph, build_network, load_graph
from fbp.testing import ListSource
from fbp.tracing import TracedRun, TraceWriter, open_trace

pd = pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parent.parent


def assert_frames_match_records(run: TracedRun) -> None:
    """frames() says what records() says: same records, kinds, parents and payloads."""
    frames = run.frames()
    records = list(run.records())
    rec = frames.records
    assert list(rec.columns) == ["ip_id", "kind", "port_id", "activation", "t_ns"]
    assert [str(t) for t in rec.dtypes] == ["int64", "int8", "int32", "int64", "int64"]
    assert isinstance(rec.index, pd.RangeIndex)
    kinds = {"data": 0, "open": 1, "close": 2, "iip": 3, "drop": 4, "dead": 5}
    assert rec["ip_id"].tolist() == [r.ip_id for r in records]
    assert rec["kind"].tolist() == [kinds[r.kind] for r in records]
    assert rec["port_id"].tolist() == [r.port_id for r in records]
    assert rec["activation"].tolist() == [r.activation for r in records]
    t = [(x - run.t0_perf_ns) / 1e9 for x in rec["t_ns"].tolist()]
    assert t == pytest.approx([r.t for r in records])

    links = frames.links
    assert [str(t) for t in links.dtypes] == ["int64", "int64", "int16"]
    by_child: dict[int, list[tuple[int, int]]] = {}
    for c, p, o in links.itertuples(index=False):
        by_child.setdefault(c, []).append((o, p))
    expected = {r.ip_id: r.parents for r in records if r.parents}
    assert {c: tuple(p for _, p in sorted(v)) for c, v in by_child.items()} == expected

    # The arrays the causal tables read instead: data IPs by port, and data links.
    data = [r for r in records if r.kind == "data"]
    by_port: dict[int, list[int]] = {}
    for r in data:
        by_port.setdefault(r.port_id, []).append(r.ip_id)
    assert {p: ids.tolist() for p, ids in frames.data_ips().items()} == by_port
    assert frames.counts() == {p: len(ids) for p, ids in by_port.items()}
    iips = [r.port_id for r in records if r.kind == "iip"]
    assert frames.counts(3) == {p: iips.count(p) for p in set(iips)}
    ids = {r.ip_id for r in data}
    child, parent = frames.data_links()
    assert list(zip(child.tolist(), parent.tolist(), strict=True)) == [
        (c, p) for c, p, _ in links.itertuples(index=False) if c in ids and p in ids
    ]

    ports = frames.ports
    assert ports["address"].tolist() == [p.address for p in run.ports()]
    assert ports["port_id"].tolist() == [p.port_id for p in run.ports()]
    assert str(ports["port_id"].dtype) == "int32"
    assert str(ports["port_index"].dtype) == "Int64"

    for port in run.ports():
        got = frames.payloads([port.port_id], kinds=(0, 1, 2, 3, 4, 5))
        mine = [r for r in records if r.port_id == port.port_id]
        assert got["ip_id"].tolist() == [r.ip_id for r in mine]
        assert got["payload"].tolist() == [r.payload for r in mine]


def test_frames_of_the_hand_made_dag(tmp_path: Path) -> None:
    run = open_trace(write_dag(tmp_path / "dag.trace")).run()
    assert_frames_match_records(run)
    frames = run.frames()
    assert frames.links[frames.links.child == 10][["parent", "ord"]].values.tolist() == [
        [8, 0],
        [2, 1],
    ]


@pytest.mark.parametrize(
    "name", ["wordcount.fbp", "substreams.fbp", "merge.fbp", "subnet.fbp", "nonlinear.fbp"]
)
async def test_frames_of_real_networks_match_their_records(tmp_path: Path, name: str) -> None:
    graph = load_graph(ROOT / "networks" / name)
    path = tmp_path / "run.trace"
    with TraceWriter(path) as writer:
        net = build_network(graph, trace=writer)
        await net.run()
    with open_trace(path) as trace:
        assert_frames_match_records(trace.run())


def test_payload_fields_become_typed_columns(tmp_path: Path) -> None:
    frames = open_trace(write_dag(tmp_path / "dag.trace")).run().frames()
    # Left.OUT and Right.OUT: {"x": int or float, "side": str}
    df = frames.payloads([6, 9], ["x", "side", "missing"])
    assert list(df.columns) == ["ip_id", "x", "side", "missing"]
    assert df["ip_id"].tolist() == [9, 10]
    assert str(df["x"].dtype) == "float64"
    assert df["x"].tolist() == [11.0, 20.5]
    assert df["side"].tolist() == ["L", "R"]
    assert df["missing"].isna().all()
    nested = frames.payloads([12], ["sum", "meta.ok", "n"])
    assert str(nested["meta.ok"].dtype) == "boolean"
    assert nested[["sum", "n"]].values.tolist() == [[31.5, 2.0]]
    # A scalar payload is the field "" (Gen.OUT sends 10 and 20); a mapping has none.
    scalar = frames.payloads([1], [""])
    assert scalar[""].tolist() == [10.0, 20.0]
    assert frames.payloads([6], [""])[""].isna().all()
    # IIPs are kind 3, read from the receiving port.
    assert frames.payloads([8]).to_dict("records") == [{"ip_id": 2, "payload": 0.5}]
    assert frames.payloads([8], kinds=(0,)).empty


def test_fields_seen_names_each_path_with_its_kind(tmp_path: Path) -> None:
    frames = open_trace(write_dag(tmp_path / "dag.trace")).run().frames()
    assert frames.fields_seen(12) == {"sum": "numeric", "n": "numeric", "meta.ok": "bool"}
    assert frames.fields_seen(6) == {"x": "numeric", "side": "string"}
    assert frames.fields_seen(1) == {}  # scalars have no fields


class Reading(BaseModel):
    sensor: str
    value: float
    ok: bool | None = None


class ToReading(Component):
    in_: InPort[int]
    out: OutPort[Reading]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(Reading(sensor=f"s{x}", value=x, ok=None if x else True))


async def test_a_declared_schema_types_the_columns(tmp_path: Path) -> None:
    g = Graph("typed")
    g.add_process("Src", ListSource).add_process("Make", ToReading)
    g.add_process("Sink", "core/Drop")
    g.add_initial([0, 1, 2], "Src.ITEMS")
    g.connect("Src.OUT", "Make.IN").connect("Make.OUT", "Sink.IN")
    path = tmp_path / "typed.trace"

    with TraceWriter(path) as writer:
        await build_network(g, trace=writer).run()
    run = open_trace(path).run()
    frames = run.frames()
    port = frames.ports.set_index("address").loc["Make.OUT", "port_id"]
    df = frames.payloads([int(port)], ["value", "ok", "sensor"])
    # "value" is declared a number: float even though every value is a whole number
    assert str(df["value"].dtype) == "float64"
    assert df["value"].tolist() == [0.0, 1.0, 2.0]
    assert str(df["ok"].dtype) == "boolean"
    assert df["ok"].isna().tolist() == [False, True, True]
    assert df["sensor"].tolist() == ["s0", "s1", "s2"]


async def test_small_floats_and_long_integers_read_back_exactly(tmp_path: Path) -> None:
    """Floats with many digits after the point and integers beyond 64 bits, in one
    block of payloads (each kind of text the JSON decoders read differently)."""
    values: list[object] = [0.0012345678901234567, -0.00030535616469204996, 2**70, -(2**64)]
    values += [[2**65, 1e-300], {"n": 12345678901234567890123}, 1.5, 7]
    g = Graph("exact").add_process("S", ListSource).add_initial(values, "S.ITEMS")
    g.add_process("K", "core/Drop").connect("S.OUT", "K.IN")
    with TraceWriter(tmp_path / "t.trace") as sink:
        await build_network(g, trace=sink).run()
    frames = open_trace(tmp_path / "t.trace").run().frames()
    out = frames.ports[frames.ports["address"] == "S.OUT"]["port_id"].tolist()
    got = frames.payloads(out)["payload"].tolist()
    assert got == values
    assert [type(x) for x in got] == [type(x) for x in values]
