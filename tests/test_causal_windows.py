"""Per-window tables: counts and latencies per port, for throughput questions."""

from __future__ import annotations

from pathlib import Path

import support as s

from fbp.causal import shift
from fbp.causal._tables._api import window_tables
from fbp.graph import Graph, run
from fbp.tracing import TraceWriter


def pipeline() -> Graph:
    g = Graph("perf").add_process("src", s.Paced).add_initial(1200, "src.N")
    for name in ("a", "b"):
        g.add_process(name, s.Slow)
    g.add_process("sink", s.Sink)
    g.connect("src.OUT", "a.IN").connect("a.OUT", "b.IN").connect("b.OUT", "sink.IN")
    return g


def traced(tmp: Path, name: str, rate: float) -> Path:
    g = pipeline().add_initial(rate, "src.RATE")
    path = tmp / f"{name}.trace"
    with TraceWriter(path) as sink:
        run(g, trace=sink)
    return path


def test_a_source_slowing_down_is_found_at_the_source(tmp_path: Path) -> None:
    before = traced(tmp_path, "before", 3000.0)
    after = traced(tmp_path, "after", 1500.0)
    t = window_tables(pipeline(), [before, after], window=0.01)
    assert {"src.OUT.count", "a.OUT.count", "b.OUT.latency"} <= set(t.graph.nodes)
    assert ("a.OUT.count", "b.OUT.count") in t.graph.edges
    f0, f1 = t.frames
    assert f1["b.OUT.count"].mean() < 0.75 * f0["b.OUT.count"].mean()
    result = shift(t.graph, f0, f1, "b.OUT.count", n_bootstrap=10)
    assert result.top_processes(1) == ("src",)
