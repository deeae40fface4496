"""Reading traces: structure, IP frames, lineage walks and lookups."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_trace_support import DAG_PORTS, T0_PERF, run_info, write_dag

from fbp._core._tracehook import KIND_DATA, KIND_IIP, PortInfo
from fbp.tracing import (
    EdgeSummary,
    TracedRun,
    TraceFileError,
    TraceLookupError,
    TraceWriter,
    _lineage,
    open_trace,
)


@pytest.fixture(scope="module")
def dag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedRun]:
    path = write_dag(tmp_path_factory.mktemp("dag") / "dag.trace")
    with open_trace(path) as trace:
        yield trace.run()


def test_ports_are_listed_with_addresses(dag: TracedRun) -> None:
    ports = dag.ports()
    assert [p.address for p in ports][:5] == [
        "Gen.COUNT",
        "Gen.OUT",
        "Split.IN",
        "Split.OUT[0]",
        "Split.OUT[1]",
    ]
    assert ports[12].targets == ("Show.IN", "Log.IN")
    assert [p.port_id for p in ports] == list(range(len(DAG_PORTS)))


def test_processes_count_what_they_sent(dag: TracedRun) -> None:
    procs = {p.name: p for p in dag.processes()}
    assert list(procs) == ["Gen", "Split", "Left", "Right", "Join", "Show", "Log"]
    assert (procs["Gen"].ips_sent, procs["Gen"].activations) == (2, 1)
    assert (procs["Split"].ips_sent, procs["Split"].activations) == (2, 2)
    assert procs["Right"].inports == ("Right.IN", "Right.BIAS")
    assert procs["Join"].outports == ("Join.OUT",)
    assert (procs["Show"].ips_sent, procs["Show"].activations) == (0, 0)


def test_edges_count_ips_brackets_drops_and_iips(dag: TracedRun) -> None:
    assert dag.edges() == [
        EdgeSummary("Gen.OUT", "Split.IN", ips=2, brackets=2, dropped=0),
        EdgeSummary("Split.OUT[0]", "Left.IN", ips=1, brackets=0, dropped=0),
        EdgeSummary("Split.OUT[1]", "Right.IN", ips=1, brackets=0, dropped=0),
        EdgeSummary("Left.OUT", "Join.IN[0]", ips=1, brackets=0, dropped=0),
        EdgeSummary("Right.OUT", "Join.IN[1]", ips=1, brackets=0, dropped=0),
        EdgeSummary("Join.OUT", "Show.IN", ips=1, brackets=0, dropped=0),
        EdgeSummary("Join.OUT", "Log.IN", ips=1, brackets=0, dropped=1),
        EdgeSummary(None, "Gen.COUNT", ips=1, brackets=0, dropped=0),
        EdgeSummary(None, "Right.BIAS", ips=1, brackets=0, dropped=0),
    ]
    assert str(dag.edges()[0]) == "Gen.OUT -> Split.IN"
    assert dag.edges()[-1].name == "(IIP) -> Right.BIAS"


def test_ips_of_an_output_port_flatten_dict_payloads(dag: TracedRun) -> None:
    df = dag.ips("Split.OUT[1]")
    assert list(df.columns) == ["ip_id", "activation", "t", "parents", "x", "side"]
    assert df.to_dict("records") == [
        {"ip_id": 8, "activation": 3, "t": 8e-6, "parents": (5,), "x": 20, "side": "R"}
    ]


def test_ips_of_scalar_payloads_form_a_value_column(dag: TracedRun) -> None:
    df = dag.ips("Gen.OUT")
    assert list(df.columns) == ["ip_id", "activation", "t", "parents", "value"]
    assert df["value"].tolist() == [10, 20]
    assert df["parents"].tolist() == [(1,), (1,)]
    assert str(df["ip_id"].dtype) == "int64"


def test_ips_by_kind(dag: TracedRun) -> None:
    brackets = dag.ips("Gen.OUT", kind="brackets")
    assert brackets[["ip_id", "kind", "value"]].values.tolist() == [
        [3, "open", "batch"],
        [6, "close", "batch"],
    ]
    assert dag.ips("Right.BIAS", kind="iip")["value"].tolist() == [0.5]
    drops = dag.ips("Log.IN", kind="drop")
    assert drops["ip_id"].tolist() == [11]
    assert dag.ips("Gen.OUT", kind="all")["kind"].tolist() == ["open", "data", "data", "close"]


def test_ips_of_an_input_port_edge_or_whole_array_port(dag: TracedRun) -> None:
    assert dag.ips("Join.IN[1]")["ip_id"].tolist() == [10]
    assert dag.ips("Join.IN")["ip_id"].tolist() == [9, 10]  # both elements
    assert dag.ips("Split.OUT")["ip_id"].tolist() == [7, 8]
    assert dag.ips("Join.OUT -> Log.IN")["ip_id"].tolist() == [11]
    assert dag.ips("Join.out->Show.in")["ip_id"].tolist() == [11]
    nested = dag.ips("Join.OUT")
    assert list(nested.columns)[4:] == ["sum", "n", "meta.ok"]
    assert dag.ips("Gen.OUT", limit=1)["ip_id"].tolist() == [4]


def test_unknown_ports_and_edges_suggest_the_nearest(dag: TracedRun) -> None:
    with pytest.raises(TraceLookupError, match=r"no port or edge 'Join\.OUTT'.*'Join\.OUT'\?"):
        dag.ips("Join.OUTT")
    with pytest.raises(TraceLookupError, match=r"no edge 'Gen\.OUT -> Left\.IN'") as info:
        dag.ips("Gen.OUT -> Left.IN")
    assert info.value.suggestions
    with pytest.raises(TraceLookupError, match="no port or edge 'nonsense'"):
        dag.ips("nonsense")
    with pytest.raises(ValueError, match="kind must be one of"):
        dag.ips("Gen.OUT", kind="bogus")


def test_ip_ancestors_and_descendants_walk_the_dag(dag: TracedRun) -> None:
    join = dag.ip(11)
    assert (join.kind, join.port, join.parents) == ("data", "Join.OUT", (9, 10))
    assert join.process == "Join"
    assert [a.ip_id for a in dag.ancestors(11)] == [1, 2, 4, 5, 7, 8, 9, 10]
    assert [d.ip_id for d in dag.descendants(1)] == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert [d.ip_id for d in dag.descendants(2)] == [10, 11]
    assert [d.ip_id for d in dag.descendants(4)] == [7, 9, 11]
    assert dag.ancestors(1) == [] and dag.descendants(11) == []
    lin = dag.lineage(10)
    assert [a.port for a in lin.ancestors] == ["Gen.COUNT", "Right.BIAS", "Gen.OUT", "Split.OUT[1]"]
    assert [d.ip_id for d in lin.descendants] == [11]
    assert lin.to_json()["ip"]["payload"] == {"x": 20.5, "side": "R"}


def test_roots_of_gives_each_ips_source_ips(dag: TracedRun) -> None:
    assert dag.roots_of([11, 9, 1, 2, 3]) == {
        11: (1, 2),
        9: (1,),
        1: (1,),
        2: (2,),
        3: (1,),
    }
    assert dag.roots_of([]) == {}
    with pytest.raises(TraceLookupError, match="no IP #404"):
        dag.roots_of([11, 404])
    with pytest.raises(TraceLookupError, match="no IP #404 in run 'run-1'"):
        dag.ip(404)


def test_roots_of_a_wide_run_in_one_query(tmp_path: Path) -> None:
    """2,000 sources each feeding a 3-stage chain, then pairwise joins."""
    ports = [
        PortInfo("S", "t/S", "OUT", None, "out", "int"),
        PortInfo("S", "t/S", "N", None, "in", "int"),
    ]
    n = 2000
    records = [(1, KIND_IIP, 1, 0, T0_PERF, (), n)]
    ip = 1
    heads: list[int] = []
    for k in range(n):
        ip += 1
        prev = ip
        records.append((ip, KIND_DATA, 0, ip, T0_PERF + ip, (), k))
        for _ in range(3):
            ip += 1
            records.append((ip, KIND_DATA, 0, ip, T0_PERF + ip, (prev,), k))
            prev = ip
        heads.append(prev)
    joins = []
    for a, b in zip(heads[::2], heads[1::2], strict=True):
        ip += 1
        records.append((ip, KIND_DATA, 0, ip, T0_PERF + ip, (a, b), None))
        joins.append(ip)
    with TraceWriter(tmp_path / "t.trace") as w:
        w.start_run(run_info(ports=ports))
        w.write(records)
        w.finish_run("completed", None, {})
    with open_trace(tmp_path / "t.trace") as trace:
        run = trace.run()
        roots = run.roots_of(heads + joins)  # most of the run: one scan of its links
        few = run.roots_of([joins[0], heads[-1]])  # a few: a walk up from them
    assert roots[heads[0]] == (2,)
    assert roots[heads[-1]] == (2 + 4 * (n - 1),)
    assert roots[joins[0]] == (2, 6)
    assert len(roots) == n + n // 2
    assert few == {joins[0]: (2, 6), heads[-1]: (2 + 4 * (n - 1),)}


def test_runs_are_found_by_unique_prefix(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    write_dag(path, "alpha-1")
    write_dag(path, "alpha-2")
    write_dag(path, "beta")
    with open_trace(path) as trace:
        assert trace.run("be").run_id == "beta"
        assert trace.run("alpha-2").run_id == "alpha-2"
        with pytest.raises(TraceLookupError, match="prefix 'alpha' matches 2 runs"):
            trace.run("alpha")
        with pytest.raises(TraceLookupError, match=r"no run 'alpha-3'.*did you mean"):
            trace.run("alpha-3")


def test_an_empty_trace_has_no_latest_run(tmp_path: Path) -> None:
    TraceWriter(tmp_path / "t.trace").close()
    with open_trace(tmp_path / "t.trace") as trace:
        assert trace.runs() == []
        with pytest.raises(TraceLookupError, match="holds no run yet"):
            trace.run()


def test_opening_what_is_not_a_trace_says_so(tmp_path: Path) -> None:
    with pytest.raises(TraceFileError, match="does not exist"):
        open_trace(tmp_path / "missing.trace")
    with pytest.raises(TraceFileError, match="is a folder"):
        open_trace(tmp_path)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 definitely not sqlite " * 100)
    with pytest.raises(TraceFileError, match="is not an fbp trace file"):
        open_trace(junk)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(TraceFileError, match="not an fbp trace file"):
        open_trace(empty)


def test_reading_never_writes(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace")
    with open_trace(path) as trace, pytest.raises(sqlite3.OperationalError, match="readonly"):
        trace._con.execute("DELETE FROM chunks")


def test_importing_the_package_does_not_import_pandas() -> None:
    code = "import sys, fbp.tracing; print('pandas' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_roots_of_does_not_rely_on_id_order(tmp_path: Path) -> None:
    """Lineage given explicitly may name later ids; corrupt cycles must not hang."""
    port = PortInfo("P", "t/P", "OUT", None, "out", "int")
    links = {5: (9,), 6: (5, 7), 9: (), 7: (), 20: (21,), 21: (20,)}
    records = [(ip, KIND_DATA, 0, ip, T0_PERF + ip, ps, ip) for ip, ps in links.items()]
    with TraceWriter(tmp_path / "t.trace") as w:
        w.start_run(run_info(ports=[port]))
        w.write(records)
        w.finish_run("completed", None, {})
    with open_trace(tmp_path / "t.trace") as trace:
        run = trace.run()
        assert run.roots_of([6, 5, 9]) == {6: (7, 9), 5: (9,), 9: (9,)}
        walked = _lineage.roots_of(run.columns(), [6, 5])  # walking the closure only
        assert walked == {6: (7, 9), 5: (9,)}
        assert set(run.roots_of([20, 21])) == {20, 21}
        assert [a.ip_id for a in run.ancestors(6)] == [5, 9, 7]


def test_payload_fields_named_like_meta_columns_are_prefixed(tmp_path: Path) -> None:
    port = PortInfo("P", "t/P", "OUT", None, "out", "dict")
    records = [
        (1, KIND_DATA, 0, 1, T0_PERF + 1, (), {"t": 1.5, "parents": "x", "v": 1}),
        (2, KIND_DATA, 0, 2, T0_PERF + 2, (1,), None),
    ]
    with TraceWriter(tmp_path / "t.trace") as w:
        w.start_run(run_info(ports=[port]))
        w.write(records)
        w.finish_run("completed", None, {})
    with open_trace(tmp_path / "t.trace") as trace:
        df = trace.run().ips("P.OUT")
    assert list(df.columns) == [
        "ip_id",
        "activation",
        "t",
        "parents",
        "payload.t",
        "payload.parents",
        "v",
    ]
    assert df["payload.t"].tolist()[0] == 1.5
    assert df["parents"].tolist() == [(), (1,)]
