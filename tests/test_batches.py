"""Batched receive and send: many IPs per await, identity and lineage kept per IP."""

from __future__ import annotations

import anyio
import pytest
import support as s

from fbp.graph import Graph, build_network
from fbp.testing import MemorySink


def chain(n: int, capacity: int) -> Graph:
    g = Graph("batches").add_process("src", s.Numbers).add_initial(n, "src.N")
    g.add_process("a", s.IncBatch).add_process("b", s.IncBatch).add_process("sink", s.Sink)
    g.connect("src.OUT", "a.IN").connect("a.OUT", "b.IN").connect("b.OUT", "sink.IN")
    return g


@pytest.mark.usefixtures("execution")
async def test_batches_deliver_everything_in_order(capacity: int) -> None:
    net = build_network(chain(300, capacity), capacity=capacity)
    with anyio.fail_after(10):
        await net.run()
    assert net.processes["sink"].component.items == [i + 2 for i in range(300)]  # type: ignore[attr-defined]


@pytest.mark.usefixtures("execution")
async def test_batched_ips_keep_element_wise_lineage() -> None:
    sink = MemorySink()
    net = build_network(chain(50, 8), trace=sink)
    await net.run()
    payload = {r[0]: r[6] for r in sink.records}
    sent = sink.sent("a.OUT") + sink.sent("b.OUT")
    assert len(sent) == 100
    for _ip_id, _kind, _port, _act, _t, parents, value in sent:
        assert len(parents) == 1
        assert payload[parents[0]] == value - 1  # each IP's parent is the one it came from
