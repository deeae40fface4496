"""The default lineage of a looper, against ground truth, shape by shape.

Each shape of ``benchmarks/_lineage.py`` is a looper written as users write them,
without ``parents=``: map, filter (of ints and of records), merge (an array port, two
named ports), aggregate by key (at the end, and per run of a sorted stream), replicate,
windowed batch (floats, and small ints that Python shares between IPs), route and
transform, flatten, zip and a side input. Every send's recorded parents must be exactly
the IPs it was computed from, at every channel capacity and in every way a network
runs (fused or not, with the compiled paths or without).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from fbp import Component, InPort, OutPort
from fbp._core import _lineage, _port_variants, _process
from fbp.graph import Graph, build_network
from fbp.testing import ListSource, MemorySink

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._lineage import SHAPES, run_shape, score


@pytest.mark.usefixtures("execution")
@pytest.mark.parametrize("name", list(SHAPES))
async def test_every_send_names_exactly_the_ips_it_was_computed_from(
    name: str, capacity: int
) -> None:
    shape = SHAPES[name]
    run = await run_shape(shape, 120, capacity)
    s = score(shape, run)
    assert s.sends > 0
    assert (s.exact, s.precision, s.recall) == (s.sends, 1.0, 1.0), s


@pytest.fixture
def short_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows that keep 40 records whole and 120 reduced ones."""
    for module in (_lineage, _process, _port_variants):
        monkeypatch.setattr(module, "WINDOW_RECORDS", 40)
    monkeypatch.setattr(_lineage, "WINDOW_IDS", 120)


@pytest.mark.usefixtures("short_windows")
@pytest.mark.parametrize("name", ["aggregate by key, at the end", "windowed batch (floats)"])
async def test_a_long_window_still_names_every_ip_and_matches_keys(name: str) -> None:
    shape = SHAPES[name]
    run = await run_shape(shape, 110, 4)  # more than 40 records per window
    s = score(shape, run)
    assert (s.exact, s.precision, s.recall) == (s.sends, 1.0, 1.0), s


@pytest.mark.usefixtures("short_windows")
async def test_past_its_bound_a_window_names_the_latest_ips() -> None:
    shape = SHAPES["aggregate by key, at the end"]
    run = await run_shape(shape, 400, 4)
    truth = shape.truth(run, "L.OUT")
    for rec in run.sent("L.OUT"):
        got, want = set(rec[5]), truth[rec[0]]
        assert got <= want  # nothing wrong is named...
        newest = sorted(want)[-len(got) :]
        assert got == set(newest)  # ...and what is named is the latest
    # A window keeps at least 20 whole records and 60 reduced ones (half its bounds).
    assert sum(len(r[5]) for r in run.sent("L.OUT")) >= 20 + 60


class Quiet(Component):
    """A looper with an output port it never sends on (like ``core/Output`` unwired)."""

    in_: InPort[Any]
    out: OutPort[Any]

    async def run(self) -> None:
        async for _ in self.in_:
            pass


@pytest.mark.usefixtures("short_windows")
async def test_a_looper_that_never_sends_holds_a_bounded_window() -> None:
    g = Graph("quiet").add_process("S", ListSource).add_initial(list(range(1000)), "S.ITEMS")
    g.add_process("Q", Quiet).connect("S.OUT", "Q.IN")
    net = build_network(g, trace=MemorySink(), capacity=8)
    await net.run()
    proc = net.processes["Q"]
    assert len(proc.pending) <= 40 + 8
    assert proc.pending_old is not None
    assert len(proc.pending_old.ids) <= 120


async def test_brackets_do_not_take_the_window_of_the_next_data_send() -> None:
    class Framed(Component):
        in_: InPort[int]
        out: OutPort[int]

        async def run(self) -> None:
            total = 0
            async for x in self.in_:
                total += x
            async with self.out.substream("sum"):
                await self.out.send(total)

    g = Graph("framed").add_process("S", ListSource).add_initial([1000, 2000, 3000], "S.ITEMS")
    g.add_process("F", Framed).add_process("K", "core/Drop")
    g.connect("S.OUT", "F.IN").connect("F.OUT", "K.IN")
    sink = MemorySink()
    await build_network(g, trace=sink).run()
    sent = {r[0] for r in sink.sent("S.OUT") if r[1] == 0}
    out = sink.sent("F.OUT")
    assert [r[1] for r in out] == [1, 0, 2]  # open, the total, close
    assert all(set(r[5]) == sent for r in out)
