"""Networks: pipelines, loopers and non-loopers, fan-in/fan-out, arrays, substreams."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import support as s

from fbp import Network
from fbp.graph import Graph, build_network


def pipeline(n: int, stages: int, capacity: int) -> Network:
    g = Graph("pipe")
    g.add_process("src", s.Numbers).add_initial(n, "src.N")
    prev = "src.OUT"
    for k in range(stages):
        g.add_process(f"inc{k}", s.Inc).connect(prev, f"inc{k}.IN")
        prev = f"inc{k}.OUT"
    g.add_process("sink", s.Sink).connect(prev, "sink.IN")
    return build_network(g, capacity=capacity)


def items(net: Network, name: str = "sink") -> list[Any]:
    return net.processes[name].component.items  # type: ignore[attr-defined, no-any-return]


@pytest.mark.usefixtures("execution")
async def test_pipeline_delivers_everything_in_order(capacity: int) -> None:
    net = pipeline(500, 4, capacity)
    with anyio.fail_after(10):
        result = await net.run()
    assert items(net) == [i + 4 for i in range(500)]
    assert result.status == "completed"
    assert {p.name: p.sent for p in result.processes}["inc3"] == 500


@pytest.mark.usefixtures("execution")
async def test_back_pressure_bounds_what_a_fast_source_runs_ahead(capacity: int) -> None:
    g = Graph("bp").add_process("src", s.Numbers).add_process("sink", s.SlowSink)
    g.add_initial(200, "src.N").connect("src.OUT", "sink.IN")
    net = build_network(g, capacity=capacity)
    sink = net.processes["sink"].component
    sink.upstream = net.processes["src"].outports["out"]  # type: ignore[attr-defined]
    with anyio.fail_after(10):
        await net.run()
    ahead: list[int] = sink.ahead  # type: ignore[attr-defined]
    assert len(ahead) == 200
    # Never more than the edge holds, plus the one IP a blocked sender is holding.
    assert max(ahead) <= capacity + 1
    assert net.result().edges[0].peak <= capacity


@pytest.mark.usefixtures("execution")
async def test_fan_in_ends_only_when_the_last_sender_closes(capacity: int) -> None:
    g = Graph("fanin")
    g.add_process("a", s.Numbers).add_initial(3, "a.N")
    g.add_process("b", s.Numbers).add_initial(50, "b.N")
    g.add_process("sink", s.Sink)
    g.connect("a.OUT", "sink.IN").connect("b.OUT", "sink.IN")
    net = build_network(g, capacity=capacity)
    with anyio.fail_after(10):
        await net.run()
    got = items(net)
    assert sorted(got) == sorted([*range(3), *range(50)])
    assert [x for x in got if x >= 3] == list(range(3, 50))  # each sender's order is kept


@pytest.mark.usefixtures("execution")
async def test_fan_out_gives_every_receiver_every_ip(capacity: int) -> None:
    g = Graph("fanout").add_process("src", s.Numbers).add_initial(40, "src.N")
    g.add_process("x", s.Sink).add_process("y", s.Sink)
    g.connect("src.OUT", "x.IN").connect("src.OUT", "y.IN")
    net = build_network(g, capacity=capacity)
    with anyio.fail_after(10):
        await net.run()
    assert items(net, "x") == items(net, "y") == list(range(40))


@pytest.mark.usefixtures("execution")
async def test_non_looper_is_activated_once_per_set_of_inputs(capacity: int) -> None:
    g = Graph("add")
    g.add_process("a", s.Numbers).add_initial(5, "a.N")
    g.add_process("b", s.Numbers).add_initial(5, "b.N")
    g.add_process("add", s.Add).add_process("sink", s.Sink)
    g.connect("a.OUT", "add.A").connect("b.OUT", "add.B").connect("add.SUM", "sink.IN")
    net = build_network(g, capacity=capacity)
    with anyio.fail_after(10):
        await net.run()
    assert items(net) == [0, 2, 4, 6, 8]


@pytest.mark.usefixtures("execution")
async def test_an_iip_is_constant_for_every_activation_of_a_non_looper() -> None:
    g = Graph("scale").add_process("src", s.Numbers).add_initial(4, "src.N")
    g.add_process("scale", s.Scale).add_initial(2.5, "scale.FACTOR")
    g.add_process("sink", s.Sink)
    g.connect("src.OUT", "scale.IN").connect("scale.OUT", "sink.IN")
    net = build_network(g)
    await net.run()
    assert items(net) == [0.0, 2.5, 5.0, 7.5]


@pytest.mark.usefixtures("execution")
async def test_array_ports_merge_and_replicate(capacity: int) -> None:
    g = Graph("arrays").add_process("src", s.Numbers).add_initial(30, "src.N")
    g.add_process("fan", s.Fan).add_process("merge", s.MergeAll).add_process("sink", s.Sink)
    g.connect("src.OUT", "fan.IN")
    for i in range(3):
        g.connect(f"fan.OUT[{i}]", f"merge.IN[{i}]")
    g.connect("merge.OUT", "sink.IN")
    net = build_network(g, capacity=capacity)
    with anyio.fail_after(10):
        await net.run()
    got = items(net)
    assert sorted(got) == sorted(list(range(30)) * 3)
    assert len(net.processes["merge"].inports["in"]) == 3  # type: ignore[arg-type]


@pytest.mark.usefixtures("execution")
async def test_array_connections_without_index_take_the_next_free_one() -> None:
    g = Graph("auto").add_process("merge", s.MergeAll).add_process("sink", s.Sink)
    for name in ("a", "b"):
        g.add_process(name, s.Numbers).add_initial(2, f"{name}.N")
        g.connect(f"{name}.OUT", "merge.IN")
    g.connect("merge.OUT", "sink.IN")
    net = build_network(g)
    await net.run()
    assert sorted(items(net)) == [0, 0, 1, 1]
    assert len(net.processes["merge"].inports["in"]) == 2  # type: ignore[arg-type]


@pytest.mark.usefixtures("execution")
async def test_brackets_pass_through_a_looper_and_group_downstream(capacity: int) -> None:
    g = Graph("substreams").add_process("src", s.Numbers).add_initial(7, "src.N")
    g.add_process("chunks", s.Chunks).add_initial(3, "chunks.SIZE")
    g.add_process("inc", s.Inc)  # not bracket-aware: brackets are forwarded around it
    g.add_process("group", s.GroupSum).add_process("sink", s.Sink)
    g.connect("src.OUT", "chunks.IN").connect("chunks.OUT", "inc.IN")
    g.connect("inc.OUT", "group.IN").connect("group.OUT", "sink.IN")
    net = build_network(g, capacity=capacity)
    with anyio.fail_after(10):
        await net.run()
    assert items(net) == [(0, 1 + 2 + 3), (1, 4 + 5 + 6), (2, 7)]


@pytest.mark.usefixtures("execution")
async def test_packets_show_bracket_structure() -> None:
    g = Graph("packets").add_process("src", s.Numbers).add_initial(2, "src.N")
    g.add_process("chunks", s.Chunks).add_initial(2, "chunks.SIZE")
    g.add_process("sink", s.PacketSink)
    g.connect("src.OUT", "chunks.IN").connect("chunks.OUT", "sink.IN")
    net = build_network(g)
    await net.run()
    assert net.processes["sink"].component.packets == [  # type: ignore[attr-defined]
        ("open", 0),
        ("data", 0),
        ("data", 1),
        ("close", 0),
    ]


@pytest.mark.usefixtures("execution")
async def test_a_subnet_runs_inline_through_its_exported_ports() -> None:
    inner = Graph("double_inc")
    inner.add_process("first", s.Inc).add_process("second", s.Inc)
    inner.connect("first.OUT", "second.IN")
    inner.export_inport("IN", "first.IN").export_outport("OUT", "second.OUT")
    g = Graph("outer").add_process("src", s.Numbers).add_initial(3, "src.N")
    g.add_process("sub", inner).add_process("sink", s.Sink)
    g.connect("src.OUT", "sub.IN").connect("sub.OUT", "sink.IN")
    net = build_network(g)
    await net.run()
    assert items(net) == [2, 3, 4]
    assert "sub/first" in net.processes


@pytest.mark.usefixtures("execution")
async def test_take_style_early_end_stops_an_endless_source() -> None:
    class TakeTwo(s.Component):
        in_: s.InPort[int]
        out: s.OutPort[int]

        async def run(self) -> None:
            for _ in range(2):
                await self.out.send(await self.in_.receive())

    g = Graph("take").add_process("src", s.Endless).add_process("take", TakeTwo)
    g.add_process("sink", s.Sink).connect("src.OUT", "take.IN").connect("take.OUT", "sink.IN")
    net = build_network(g, capacity=4)
    with anyio.fail_after(10):
        result = await net.run()
    assert items(net) == [0, 1]
    assert result.status == "completed"


@pytest.mark.usefixtures("execution")
async def test_model_payloads_are_validated_and_json_text_becomes_a_model() -> None:
    # The GUIDE's shape: a JSON string IIP through an untyped Repeat into a typed port.
    g = Graph("coerce").add_process("rep", "core/Repeat")
    g.add_process("take", s.TakesReading).add_process("sink", s.Sink)
    g.add_initial('{"sensor": "t1", "value": 2.5}', "rep.IN")
    g.connect("rep.OUT", "take.IN").connect("take.OUT", "sink.IN")
    net = build_network(g)
    await net.run()
    assert items(net) == [2.5]


@pytest.mark.usefixtures("execution")
async def test_validation_off_still_delivers_and_a_network_runs_only_once() -> None:
    net = pipeline(10, 2, 8)
    net.validate = False
    await net.run()
    assert items(net) == [i + 2 for i in range(10)]
    with pytest.raises(RuntimeError, match="has already run; build a new one"):
        await net.run()


def test_the_low_level_connect_names_a_missing_process_or_port_and_the_fix() -> None:
    net = Network("low")
    net.add_process("source", s.Numbers)
    net.add_process("sink", s.Sink)
    with pytest.raises(ValueError, match="no process 'sourc'") as e:
        net.connect(("sourc", "OUT", None), ("sink", "IN", None))
    assert str(e.value) == (
        "network 'low' has no process 'sourc' (it has: sink, source); did you mean"
        " 'source'? add it first with add_process(name, ComponentClass)"
    )
    with pytest.raises(ValueError, match="not an output port") as e:
        net.connect(("source", "OTU", None), ("sink", "IN", None))
    assert str(e.value) == (
        "source.OTU is not an output port (outputs: OUT); did you mean source.OUT?"
    )
    with pytest.raises(ValueError, match="not an input port") as e:
        net.add_initial(("sink", "N", None), 1)
    assert str(e.value).startswith("sink.N is not an input port (inputs: IN)")
    net.connect(("source", "OUT", None), ("sink", "IN", None))  # the right names still work
