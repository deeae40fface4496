"""Summary counts: stored with a run when it ends, counted from its columns otherwise."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_trace_support import run_info, write_dag

from fbp._core._tracehook import PortInfo
from fbp.tracing import TraceWriter, open_trace
from fbp.tracing._summary import (
    SummaryCounter,
    SummaryCounts,
    counts_of_columns,
    merged,
    read_counts,
    stored_counts,
)

ROOT = Path(__file__).resolve().parent.parent


def _summary(path: Path) -> tuple[list[Any], list[Any]]:
    with open_trace(path) as trace:
        run = trace.run()
        return run.processes(), run.edges()


def _edit(path: Path, sql: str) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute(sql)
    con.close()


def test_the_stored_counts_are_those_of_the_columns(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "dag.trace", batch_size=3)
    with open_trace(path) as trace:
        run = trace.run()
        stored = stored_counts(trace._con, run._key)
        cols = run.columns()
        counted = counts_of_columns(
            run.ports(), cols.kind, cols.port_id, cols.activation, cols.ip_id
        )
    assert stored is not None and stored == counted
    assert stored.dropped == {(12, 14): 1}  # Join.OUT -> Log.IN, found through its ip id
    assert SummaryCounts.from_json(stored.to_json()) == stored


@pytest.mark.parametrize(
    "sql",
    ["DELETE FROM summaries", "DROP TABLE summaries"],
    ids=["crashed-or-converted", "written-before-summaries"],
)
def test_a_run_without_stored_counts_is_counted_from_its_columns(tmp_path: Path, sql: str) -> None:
    path = write_dag(tmp_path / "dag.trace")
    other = tmp_path / "other.trace"
    shutil.copy(path, other)
    _edit(other, sql)
    assert _summary(other) == _summary(path)
    with open_trace(other) as trace:
        run = trace.run()
        assert stored_counts(trace._con, run._key) is None
        assert read_counts(trace._con, run._key, run.ports()) == read_counts(
            trace._con, run._key, run.ports(), run.columns()
        )


# A chain P0 -> P1 -> P2 -> P3: each process has an input port and an output port.
CHAIN = tuple(
    port
    for k in range(4)
    for port in (
        PortInfo(f"P{k}", "c/C", "IN", None, "in", "int"),
        PortInfo(f"P{k}", "c/C", "OUT", None, "out", "int", targets=(f"P{k + 1}.IN",)),
    )
)


def _chain_records(n: int, seed: int) -> dict[str, Any]:
    """Records as the runtime makes them: each process's activations in increasing
    order, brackets, IIPs, drops (of IPs sent before, on the receiver's port) and dead
    letters."""
    rng = random.Random(seed)
    act = {k: -1 for k in range(4)}
    counter = 0
    sent: list[tuple[int, int]] = []  # (ip id, sending process)
    rows: list[tuple[int, int, int, int]] = []  # (ip_id, kind, port_id, activation)
    for ip in range(n):
        proc = rng.randrange(4)
        roll = rng.random()
        if roll < 0.05:
            rows.append((ip, 3, 2 * proc, 0))  # an IIP
            continue
        if roll < 0.08 and sent:
            ip_id, sender = sent[rng.randrange(len(sent))]
            if sender < 3:
                rows.append((ip_id, 4, 2 * (sender + 1), 0))  # dropped by the receiver
                continue
        if act[proc] < 0 or rng.random() < 0.3:
            counter += 1
            act[proc] = counter
        kind = rng.choice((0, 0, 0, 1, 2, 5))
        rows.append((ip, kind, 2 * proc + 1, act[proc]))
        if kind <= 2:
            sent.append((ip, proc))
    ip_id, kind, port_id, activation = (np.array(c) for c in zip(*rows, strict=True))
    return {
        "ip_id": ip_id.astype("<i8"),
        "kind": kind.astype("i1"),
        "port_id": port_id.astype("<i4"),
        "activation": activation.astype("<i8"),
    }


def _count(cols: dict[str, Any], sizes: list[int]) -> SummaryCounts | None:
    counter = SummaryCounter(CHAIN)
    start = 0
    for size in sizes:
        end = min(start + size, len(cols["kind"]))
        counter.add(
            end - start,
            cols["kind"][start:end].tobytes(),
            cols["port_id"][start:end].tobytes(),
            cols["activation"][start:end].tobytes(),
        )
        start = end
    assert start == len(cols["kind"])
    return counter.counts()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counting_chunk_by_chunk_gives_the_counts_of_the_columns(seed: int) -> None:
    cols = _chain_records(30_000, seed)
    expected = counts_of_columns(
        CHAIN, cols["kind"], cols["port_id"], cols["activation"], cols["ip_id"]
    )
    assert sum(expected.dropped.values()) > 100 and sum(expected.activations.values()) > 1000
    in_python = _count(cols, [997] * 31)  # small chunks: counted in Python
    with_numpy = _count(cols, [12_000, 9_000, 9_000])  # large ones: with numpy
    mixed = _count(cols, [50, 10_000, 3, 4_000, 15_947])
    assert in_python == with_numpy == mixed == expected


@pytest.mark.parametrize("sizes", [[500, 500], [6000, 6000]], ids=["python", "numpy"])
def test_counts_that_rest_on_a_broken_assumption_are_not_kept(sizes: list[int]) -> None:
    cols = _chain_records(1000, 4)
    assert _count(cols, sizes) is not None
    backwards = {**cols, "activation": cols["activation"][::-1].copy()}
    assert _count(backwards, sizes) is None
    fan_in = SummaryCounter(
        (*CHAIN, PortInfo("Q", "c/C", "OUT", None, "out", "int", targets=("P1.IN",)))
    )
    fan_in.add(1, b"\x04", np.array([2], "<i4").tobytes(), np.array([0], "<i8").tobytes())
    assert fan_in.counts() is None  # a drop on P1.IN: from P0.OUT or from Q.OUT?


def test_a_run_whose_counts_are_not_kept_reads_right(tmp_path: Path) -> None:
    path = tmp_path / "backwards.trace"
    with TraceWriter(path) as w:
        w.start_run(run_info("r", ports=CHAIN))
        w.write([(1, 0, 1, 5, 1, (), 1), (2, 0, 1, 3, 2, (), 2)])  # P0: activation 5, then 3
        w.finish_run("completed", None, {})
    with open_trace(path) as trace:
        run = trace.run()
        assert stored_counts(trace._con, run._key) is None
        procs = {p.name: p for p in run.processes()}
    assert (procs["P0"].ips_sent, procs["P0"].activations) == (2, 2)


SHOW = """
import json, sys
from fbp.cli import main
code = main(["trace", "summary", sys.argv[1], "--json"])
print(json.dumps({"code": code, "numpy": "numpy" in sys.modules}))
"""


def test_a_stored_summary_is_read_without_numpy(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "dag.trace")
    crashed = tmp_path / "crashed.trace"
    shutil.copy(path, crashed)
    _edit(crashed, "DELETE FROM summaries")
    out = {}
    for name, p in (("stored", path), ("counted", crashed)):
        r = subprocess.run(
            [sys.executable, "-c", SHOW, str(p)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=ROOT,
        )
        lines = r.stdout.strip().splitlines()
        out[name] = (json.loads("\n".join(lines[:-1])), json.loads(lines[-1]))
    assert out["stored"][1] == {"code": 0, "numpy": False}
    assert out["counted"][1] == {"code": 0, "numpy": True}
    assert out["stored"][0]["run"] == out["counted"][0]["run"]


def test_a_traced_network_stores_the_counts_of_its_columns(tmp_path: Path) -> None:
    from fbp.graph import run

    path = tmp_path / "hello.trace"
    with TraceWriter(path) as sink:
        run(ROOT / "networks" / "hello.fbp", trace=sink)
    with open_trace(path) as trace:
        r = trace.run()
        cols = r.columns()
        stored = stored_counts(trace._con, r._key)
        assert stored is not None and stored.records
        assert stored == counts_of_columns(
            r.ports(), cols.kind, cols.port_id, cols.activation, cols.ip_id
        )


def test_a_rotated_run_adds_up_the_counts_of_its_segments(tmp_path: Path) -> None:
    from fbp.graph import Graph, run
    from fbp.tracing import Rotation

    g = Graph("chain")
    g.add_process("R", "core/Range").add_process("A", "core/Repeat")
    g.add_process("D", "core/Drop")
    g.connect("R.OUT", "A.IN").connect("A.OUT", "D.IN")
    g.add_initial(10_000, "R.COUNT")
    folder = tmp_path / "rotated.d"
    with TraceWriter(folder, rotation=Rotation(every_bytes=100_000)) as w:
        run(g, trace=w)
    with open_trace(folder) as trace:
        r = trace.run()
        stores = r._stores()
        assert len(stores) >= 3
        assert all(stored_counts(con, key) is not None for con, key, _ in stores)
        counts = r._summary_counts()  # from the segments' stored counts
        cols = r.columns()
        assert counts == counts_of_columns(
            r.ports(), cols.kind, cols.port_id, cols.activation, cols.ip_id
        )
        procs = {p.name: p for p in r.processes()}
    # A looper: one activation over every segment.
    assert (procs["R"].ips_sent, procs["R"].activations) == (10_000, 1)
    assert (procs["A"].ips_sent, procs["A"].activations) == (10_000, 1)


@pytest.mark.parametrize("cuts", [[0, 10_000, 20_000, 30_000], [0, 1, 29_999, 30_000]])
def test_the_counts_of_parts_add_up_to_those_of_the_whole(cuts: list[int]) -> None:
    cols = _chain_records(30_000, 5)
    whole = counts_of_columns(
        CHAIN, cols["kind"], cols["port_id"], cols["activation"], cols["ip_id"]
    )
    parts = [
        _count({k: v[a:b] for k, v in cols.items()}, [b - a]) for a, b in itertools.pairwise(cuts)
    ]
    assert all(p is not None for p in parts)
    assert merged([p for p in parts if p is not None]) == whole
    assert whole.activations != {
        k: sum(p.activations[k] for p in parts if p) for k in whole.activations
    }
