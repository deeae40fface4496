"""Channels across actors: bounded end to end, closing and fan-in as in-process."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from fbp.graph import Graph
from fbp.testing import MemorySink


def _graph(name: str) -> Graph:
    return Graph(name)


@pytest.mark.parametrize("capacity", [1, 4])
async def test_a_fast_sender_runs_ahead_of_a_slow_receiver_by_a_bounded_number(
    capacity: int, ray_backend: Any
) -> None:
    g = _graph("pressure")
    g.add_process("Numbers", "core/Range")
    g.add_process("Slow", "ray_components:Spin", partition="slow")
    g.add_process("Show", "core/Drop")
    g.add_initial(40, "Numbers.COUNT")
    g.add_initial(2.0, "Slow.MS")
    g.connect("Numbers.OUT", "Slow.IN", capacity=capacity)
    g.connect("Slow.OUT", "Show.IN")
    sink = MemorySink()
    with anyio.fail_after(60):
        result = await ray_backend.run(g, trace=sink)
    assert result.status == "completed"
    sent = [r[4] for r in sink.sent("Numbers.OUT")]
    done = [r[4] for r in sink.sent("Slow.OUT")]
    assert len(sent) == len(done) == 40
    # When Slow has finished k IPs, Numbers has sent at most: the channel on its side,
    # the IPs in flight, the channel on Slow's side, the one Slow works on, the one
    # Numbers holds while it waits: 3 capacities and 2.
    ahead = [sum(t < t_done for t in sent) - k for k, t_done in enumerate(done, 1)]
    assert max(ahead) <= 3 * capacity + 2
    assert max(ahead) >= capacity  # and it did run ahead: the bound is what held it


async def test_a_receiver_that_ends_stops_an_endless_sender_in_another_actor(
    ray_backend: Any,
) -> None:
    g = _graph("endless")
    g.add_process("Forever", "support:Endless", partition="source")
    g.add_process("Take", "flow/Take", partition="take")
    g.add_process("Show", "core/Drop")
    g.add_initial(10, "Take.COUNT")
    g.connect("Forever.OUT", "Take.IN")
    g.connect("Take.OUT", "Show.IN")
    with anyio.fail_after(60):
        result = await ray_backend.run(g)
    assert result.status == "completed"
    assert {p.name: p.sent for p in result.processes}["Take"] == 10


async def test_fan_in_from_several_actors_ends_when_every_sender_has_closed(
    ray_backend: Any,
) -> None:
    g = _graph("fanin")
    for name, start in (("A", 0), ("B", 100), ("C", 200)):
        g.add_process(name, "core/Range", partition=name)
        g.add_initial(50, f"{name}.COUNT")
        g.add_initial(start, f"{name}.START")
        g.connect(f"{name}.OUT", "Join.IN", capacity=2)
    g.add_process("Join", "core/Output", partition="join")
    g.add_process("Show", "core/Drop")
    g.connect("Join.OUT", "Show.IN")
    sink = MemorySink()
    with anyio.fail_after(60):
        result = await ray_backend.run(g, trace=sink)
    assert result.status == "completed"
    got = [r[6] for r in sink.sent("Join.OUT")]
    assert sorted(got) == [*range(50), *range(100, 150), *range(200, 250)]
    for lo in (0, 100, 200):  # each sender's IPs in its own order
        mine = [x for x in got if lo <= x < lo + 100]
        assert mine == sorted(mine)
