"""The traced send's C fast path (``fbp._core._accel``) records exactly what the Python
path records: same ids, kinds, ports, activations, parents and payloads, in the same
order, with timestamps from the same clock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import support as s

from fbp import Component, InPort, OutPort, merge
from fbp._core import _port_variants
from fbp.graph import Graph, build_network
from fbp.testing import ListSource, MemorySink

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._lineage import SHAPES, Run, run_shape


def network() -> Graph:
    g = Graph("accel").add_process("E", ListSource).add_initial(list(range(300)), "E.ITEMS")
    g.add_process("A", s.Inc).add_process("B", s.Inc).add_process("K", s.Sink)
    g.add_process("C", "flow/Collate").add_initial("x % 3", "C.KEY")
    g.add_process("G", "flow/GroupBy").add_process("S", s.Sink)
    g.connect("E.OUT", "A.IN").connect("A.OUT", "B.IN").connect("A.OUT", "K.IN")  # fan-out
    g.add_process("J", s.Add).add_process("M", s.MergeAll)  # a non-looper, a merging looper
    g.connect("B.OUT", "J.A").connect("E.OUT", "J.B").connect("J.SUM", "M.IN[0]")
    g.connect("M.OUT", "C.IN")  # C: a looper with two inputs, and brackets
    return g.connect("C.OUT", "G.IN").connect("G.OUT", "S.IN")


class SmallBatches(MemorySink):
    batch_size = 16  # flushes often: both paths hand over full buffers


async def records(monkeypatch: pytest.MonkeyPatch, put: Any) -> list[tuple[Any, ...]]:
    monkeypatch.setattr(_port_variants, "_put", put)
    sink = SmallBatches()
    await build_network(network(), trace=sink, capacity=4).run()
    assert sink.status == "completed"
    return sink.records


#: Tests of the compiled paths themselves (CI's pass with them off deselects these).
NO_ACCEL = pytest.mark.compiled


@NO_ACCEL
def test_the_c_fast_path_is_built_and_active() -> None:
    from fbp._core import _accel  # type: ignore[attr-defined]

    assert _port_variants._put is _accel.put


def lineage(records: list[tuple[Any, ...]]) -> list[str]:
    """Every record as its kind, port, payload and its parents' (kind, port, payload):
    what lineage says, whatever order the run's scheduling gave the ids."""
    by_id = {r[0]: r for r in records if r[1] in (0, 1, 2, 3)}
    out = []
    for r in records:
        parents = sorted(repr((by_id[p][1], by_id[p][2], by_id[p][6])) for p in r[5])
        out.append(repr((r[1], r[2], r[6], parents)))
    return sorted(out)


@NO_ACCEL
async def test_the_c_path_records_what_the_python_path_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c_put = _port_variants._put
    assert c_put is not None
    t0 = time.perf_counter_ns()
    with_c = await records(monkeypatch, c_put)
    t1 = time.perf_counter_ns()
    in_python = await records(monkeypatch, None)
    assert len(with_c) == len(in_python) > 600
    assert lineage(with_c) == lineage(in_python)
    # Runs are reproducible, so the records match one for one, timestamps aside.
    assert [r[:4] + r[5:] for r in with_c] == [r[:4] + r[5:] for r in in_python]
    assert sorted(r[0] for r in with_c) == sorted(r[0] for r in in_python)  # same ids
    assert all(t0 <= r[4] <= t1 for r in with_c)  # perf_counter_ns's clock


@pytest.mark.parametrize("path", ["c", "python"])
async def test_the_ports_counts_agree_with_the_trace(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "python":
        monkeypatch.setattr(_port_variants, "_put", None)
    sink = SmallBatches()
    result = await build_network(network(), trace=sink, capacity=2).run()
    sent = [r for r in sink.records if r[1] in (0, 1, 2)]  # data and brackets
    assert result.ips == len(sent) == len({r[0] for r in sent})


@NO_ACCEL
def test_the_lineage_tests_pass_on_the_python_path_too() -> None:
    """Without the extension (FBP_NO_ACCEL), the whole lineage suite holds as well."""
    env = {**os.environ, "FBP_NO_ACCEL": "1"}
    tests = Path(__file__).parent
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "not killed",
            str(tests / "test_trace_lineage.py"),
            str(tests / "test_lineage_shapes.py"),
            str(tests / "test_batches.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout


async def test_a_traced_run_is_reproducible() -> None:
    """The same network gives the same records, ids and activations included."""
    runs = []
    for _ in range(3):
        sink = SmallBatches()
        await build_network(network(), trace=sink, capacity=3).run()
        runs.append([r[:4] + r[5:] for r in sink.records])
    assert runs[0] == runs[1] == runs[2]


@NO_ACCEL
async def test_the_c_and_python_paths_agree_on_every_lineage_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each shape of benchmarks/_lineage.py, run with the extension and without, records
    the same lineage (and the Python path is held to the truth by test_lineage_shapes)."""

    def lineage(run: Run) -> list[str]:
        by_id = run.by_id
        return sorted(
            repr((r[1], r[2], r[6], sorted(repr(by_id[p][6]) for p in r[5])))
            for r in run.sink.records
        )

    c_put = _port_variants._put
    assert c_put is not None
    for name, shape in SHAPES.items():
        with_c = await run_shape(shape, 80, 2)
        monkeypatch.setattr(_port_variants, "_put", None)
        in_python = await run_shape(shape, 80, 2)
        monkeypatch.setattr(_port_variants, "_put", c_put)
        assert lineage(with_c) == lineage(in_python), name


class WindowRate(Component):
    """The mean of every SIZE values of IN times the latest RATE (a side stream)."""

    in_: InPort[float]
    rate: InPort[float]
    size: InPort[int]
    out: OutPort[float]

    async def run(self) -> None:
        size = await self.size.receive()
        rate, window = 1.0, []
        async for port, x in merge(self.in_, self.rate):
            if port is self.rate:
                rate = x
                continue
            window.append(x)
            if len(window) == size:
                await self.out.send(sum(window) / size * rate)
                window = []


async def test_windows_of_several_records_with_side_inputs_agree_on_both_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def graph() -> Graph:
        g = Graph("windows").add_process("V", ListSource).add_process("R", ListSource)
        g.add_initial([i + 0.5 for i in range(400)], "V.ITEMS")
        g.add_initial([1.0 + i / 10 for i in range(7)], "R.ITEMS")
        g.add_process("W", WindowRate).add_initial(4, "W.SIZE").add_process("K", s.Sink)
        return g.connect("V.OUT", "W.IN").connect("R.OUT", "W.RATE").connect("W.OUT", "K.IN")

    runs = []
    for put in (_port_variants._put, None):
        monkeypatch.setattr(_port_variants, "_put", put)
        sink = SmallBatches()
        await build_network(graph(), trace=sink, capacity=3).run()
        runs.append([r[:4] + r[5:] for r in sink.records])
    assert runs[0] == runs[1]
    w_out = next(i for i, p in enumerate(sink.ports) if p.process == "W" and p.direction == "out")
    sent = [r for r in runs[0] if r[2] == w_out]
    assert len(sent) == 100
    assert all(len(r[4]) >= 5 for r in sent)  # four values, the size, maybe rates
