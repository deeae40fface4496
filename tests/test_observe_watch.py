"""Causal watch: a fault injected into a running network is named within two windows."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from fbp import CausalModelError, Component, InPort, OutPort
from fbp.graph import Graph, build_network

pytest.importorskip("dowhy", reason="needs the causal extra")
import anyio.lowlevel

from fbp.cli import main
from fbp.observe import CausalWatch
from fbp.tracing import Rotation, TraceError, TraceWriter, open_trace
from fbp.tracing._rotation import list_segments

WINDOW = 300
FAULT_AT = 3 * WINDOW  # the first unit of window 3


class Demand(Component):
    """Emit N demand figures; tell the test when FAULT_AT have gone out."""

    n: InPort[int]
    out: OutPort[float]
    reached: anyio.Event

    async def run(self) -> None:
        rng = random.Random(1)
        for i in range(await self.n.receive()):
            if i == FAULT_AT:
                self.reached.set()
                await anyio.lowlevel.checkpoint()
            await self.out.send(rng.gauss(10.0, 2.0))


class Price(Component):
    """Price from demand; ``bias`` is a live knob the causal layer does not see."""

    in_: InPort[float]
    out: OutPort[float]
    bias = 0.0

    async def run(self) -> None:
        rng = random.Random(2)
        async for d in self.in_:
            await self.out.send(2.0 * d + self.bias + rng.gauss(0.0, 1.0))


class Revenue(Component):
    """Revenue from price and demand."""

    in_: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        rng = random.Random(3)
        async for p in self.in_:
            await self.out.send(3.0 * p + rng.gauss(0.0, 1.0))


def graph() -> Graph:
    g = Graph("shop")
    g.add_process("Demand", Demand).add_process("Price", Price).add_process("Revenue", Revenue)
    g.add_process("Drop", "core/Drop")
    g.connect("Demand.OUT", "Price.IN").connect("Price.OUT", "Revenue.IN")
    g.connect("Revenue.OUT", "Drop.IN")
    g.add_initial(6 * WINDOW, "Demand.N")
    return g


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run in which Price's bias is raised live, around unit FAULT_AT."""
    path = tmp_path_factory.mktemp("watch") / "shop.trace"
    run_faulty(lambda: TraceWriter(path))
    return path


def run_faulty(writer: Callable[[], TraceWriter]) -> None:
    """Run the shop, raising Price's bias live around unit FAULT_AT."""

    async def go() -> None:
        with writer() as sink:
            net = build_network(graph(), trace=sink, capacity=4)
            demand = net.processes["Demand"].component
            price = net.processes["Price"].component
            demand.reached = anyio.Event()  # type: ignore[attr-defined]
            async with anyio.create_task_group() as tg:
                tg.start_soon(net.run)
                await demand.reached.wait()  # type: ignore[attr-defined]
                price.bias = 1.5  # type: ignore[attr-defined]

    anyio.run(go)


def test_the_watch_names_the_culprit_within_two_windows(faulty: Path) -> None:
    watch = CausalWatch(graph(), "Revenue.OUT", window=WINDOW)
    events = watch.poll(faulty)
    assert [e.window for e in events] == [1, 2, 3, 4, 5]
    before = [e for e in events if e.window < 3]
    assert not any(e.alarm for e in before), [e.line() for e in before]
    first = next(e for e in events if e.alarm)
    assert first.window <= 4  # within two windows of the fault (window 3)
    assert first.culprits[0].process == "Price"
    assert {c.process for c in first.culprits} == {"Price"}
    c = first.culprits[0]
    assert c.ci_low is not None and c.ci_high is not None
    assert c.ci_low <= c.attribution <= c.ci_high
    assert c.attribution == pytest.approx(4.5, abs=1.5)  # 3 x the bias of 1.5
    assert all(e.alarm for e in events if e.window >= 4)
    # Nothing more to judge until the run grows.
    assert watch.poll(faulty) == []


def test_the_cli_prints_one_line_per_window(
    faulty: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    g = tmp_path / "shop.json"
    procs = {"Demand": "Demand", "Price": "Price", "Revenue": "Revenue"}
    g.write_text(
        json.dumps(
            {
                "properties": {"name": "shop"},
                "processes": {
                    **{k: {"component": f"test_observe_watch:{v}"} for k, v in procs.items()},
                    "Drop": {"component": "core/Drop"},
                },
                "connections": [
                    {"data": 6 * WINDOW, "tgt": {"process": "Demand", "port": "N"}},
                    *(
                        {"src": {"process": a, "port": "OUT"}, "tgt": {"process": b, "port": "IN"}}
                        for a, b in (("Demand", "Price"), ("Price", "Revenue"), ("Revenue", "Drop"))
                    ),
                ],
            }
        )
    )  # fmt: skip
    code = main(
        [
            "causal", "watch", str(g), "--trace", str(faulty), "--target", "Revenue.OUT",
            "--window", str(WINDOW), "--json", "--once",
        ]
    )  # fmt: skip
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["window"] for x in lines] == [1, 2, 3, 4, 5]
    assert [x["alarm"] for x in lines][:2] == [False, False]
    alarmed = [x for x in lines if x["alarm"]]
    assert alarmed[0]["culprits"][0]["process"] == "Price"


class PacedDemand(Demand):
    """Demand at a pace, so that the run lasts while the watch follows it."""

    async def run(self) -> None:
        rng = random.Random(1)
        for i in range(await self.n.receive()):
            if i == FAULT_AT:
                self.reached.set()
            if i % 20 == 0:
                await anyio.sleep(0.01)
            await self.out.send(rng.gauss(10.0, 2.0))


async def test_the_watch_follows_a_running_network(tmp_path: Path) -> None:
    path = tmp_path / "live.trace"
    g = graph()
    g.processes["Demand"].component = PacedDemand
    watch = CausalWatch(g, "Revenue.OUT", window=WINDOW, settle=50)
    seen: list[tuple[str, int]] = []  # (state of the run when judged, window)
    events = []
    with TraceWriter(path) as sink:
        net = build_network(g, trace=sink, capacity=4)
        demand = net.processes["Demand"].component
        price = net.processes["Price"].component
        demand.reached = anyio.Event()  # type: ignore[attr-defined]

        async def fault() -> None:
            await demand.reached.wait()  # type: ignore[attr-defined]
            price.bias = 1.5  # type: ignore[attr-defined]

        with anyio.fail_after(40):
            async with anyio.create_task_group() as tg:
                tg.start_soon(net.run)
                tg.start_soon(fault)
                await anyio.lowlevel.checkpoint()  # let the run start before the first look
                while net.status != "done":
                    try:
                        new = await anyio.to_thread.run_sync(watch.poll, path)
                    except (CausalModelError, TraceError):  # no run or no data yet
                        new = []
                    events += new
                    seen += [(net.status, e.window) for e in new]
                    await anyio.sleep(0.2)
    events += watch.poll(path)
    assert [e.window for e in events] == [1, 2, 3, 4, 5]
    assert any(state == "running" for state, _ in seen)  # judged while it ran
    assert not any(e.alarm for e in events if e.window < 3)
    first = next(e for e in events if e.alarm)
    assert first.window <= 4
    assert first.culprits[0].process == "Price"


def test_the_watch_works_from_rotated_windows(tmp_path: Path) -> None:
    """A rotated trace read while retention deletes its oldest segments, the reference
    windows' among them: the watch keeps its reference and judges every window once."""
    folder = tmp_path / "shop.d"
    rotation = Rotation(every_bytes=40_000)
    run_faulty(lambda: TraceWriter(folder, commit_bytes=8192, rotation=rotation))
    segs = list_segments(folder)
    assert len(segs) >= 6
    view = tmp_path / "view.d"  # what a reader finds in the folder at two moments
    view.mkdir()
    half = len(segs) // 2
    for seg in segs[:half]:
        shutil.copy(seg, view)
    watch = CausalWatch(graph(), "Revenue.OUT", window=WINDOW)
    events = watch.poll(view)  # the run reads as running: its writer is this process
    assert events
    assert watch._reference_rows is not None
    ref_last = int(watch._reference_rows.index[-1])
    judged = watch._last_unit
    assert judged is not None
    for seg in segs[:half]:  # retention deletes segments judged already, the reference's
        with open_trace(seg) as t:
            units = t.run().ips("Demand.OUT")["ip_id"]
        if len(units) and units.max() <= judged:
            (view / seg.name).unlink()
    for seg in segs[half:]:
        shutil.copy(seg, view)
    with open_trace(view) as t:
        first_kept = int(t.run().ips("Demand.OUT")["ip_id"].iloc[0])
    assert first_kept > ref_last
    events += watch.poll(view)
    assert [e.window for e in events] == [1, 2, 3, 4, 5]
    assert not any(e.alarm for e in events if e.window < 3), [e.line() for e in events]
    first = next(e for e in events if e.alarm)
    assert first.window <= 4
    assert first.culprits[0].process == "Price"
