"""Flowtrace export, checked by the ecosystem's own reader, flowtrace-show."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_trace_support import T0_PERF, run_info, write_dag

from fbp._core._tracehook import KIND_DATA, PortInfo
from fbp.tracing import TraceWriter, export_flowtrace, open_trace

FLOWTRACE_SHOW = Path(__file__).parent / "npm" / "node_modules" / ".bin" / "flowtrace-show"


def exported(path: Path, **kwargs: Any) -> tuple[dict[str, Any], int]:
    buf = io.StringIO()
    with open_trace(path) as trace:
        n = export_flowtrace(trace.run(), buf, **kwargs)
    return json.loads(buf.getvalue()), n


def flowtrace_show(file: Path) -> list[str]:
    if not FLOWTRACE_SHOW.exists():
        pytest.fail(
            f"{FLOWTRACE_SHOW} is missing: install the reference tools with"
            " `npm ci --prefix tests/npm`"
        )
    proc = subprocess.run(
        [str(FLOWTRACE_SHOW), str(file)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_export_has_one_event_per_ip_per_edge(tmp_path: Path) -> None:
    doc, n = exported(write_dag(tmp_path / "t.trace"))
    header = doc["header"]
    assert header["main"] == "Dag"
    assert set(header["graphs"]["Dag"]["processes"]) >= {"Gen", "Join"}
    assert header["graphs"]["Dag"]["inports"] == {}  # keys the tools rely on are present
    assert header["metadata"]["run_id"] == "run-1"
    assert header["metadata"]["start"] == "2023-11-14T22:13:20.000Z"
    events = doc["events"]
    assert n == len(events) == 12  # 2 IIPs, Gen's 4, Split's 2, Left, Right, Join's to 2
    assert [e["command"] for e in events[:6]] == [
        "data",
        "data",
        "begingroup",
        "data",
        "data",
        "endgroup",
    ]
    iip = events[0]["payload"]
    assert "src" not in iip
    assert (iip["tgt"], iip["data"], iip["id"]) == (
        {"node": "Gen", "port": "COUNT"},
        2,
        "DATA -> COUNT Gen()",
    )
    assert events[2]["payload"]["group"] == "batch"
    split = events[6]["payload"]
    assert split["src"] == {"node": "Split", "port": "OUT", "index": 0}
    assert split["id"] == "Split() OUT[0] -> IN Left()"
    join = [e for e in events if e["lineage"]["ip_id"] == 11]
    assert [j["payload"]["tgt"]["node"] for j in join] == ["Show", "Log"]
    assert join[0]["lineage"] == {"ip_id": 11, "parents": [9, 10], "activation": 6}
    # The protocol's schema allows nothing beyond these keys in a data payload.
    assert set(join[0]["payload"]) == {"id", "graph", "src", "tgt", "data"}
    assert all(e["graph"] == "Dag" and e["protocol"] == "network" for e in events)
    assert events[3]["time"] == "2023-11-14T22:13:20.000Z"


def test_export_can_stop_after_a_number_of_events(tmp_path: Path) -> None:
    doc, n = exported(write_dag(tmp_path / "t.trace"), limit=5)
    assert n == len(doc["events"]) == 5


@pytest.mark.node
def test_flowtrace_show_reads_the_export(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace")
    out = tmp_path / "t.flowtrace.json"
    with open_trace(path) as trace, out.open("w") as fp:
        export_flowtrace(trace.run(), fp)
    assert flowtrace_show(out) == [
        "-> COUNT Gen DATA 2",
        "-> BIAS Right DATA 0.5",
        "Gen OUT -> IN Split < batch",
        "Gen OUT -> IN Split DATA 10",
        "Gen OUT -> IN Split DATA 20",
        "Gen OUT -> IN Split > batch",
        'Split OUT -> IN Left DATA {"x":10,"side":"L"}',
        'Split OUT -> IN Right DATA {"x":20,"side":"R"}',
        'Left OUT -> IN Join DATA {"x":11,"side":"L"}',
        'Right OUT -> IN Join DATA {"x":20.5,"side":"R"}',
        'Join OUT -> IN Show DATA {"sum":31.5,"n":2,"meta":{"ok":true}}',
        'Join OUT -> IN Log DATA {"sum":31.5,"n":2,"meta":{"ok":true}}',
    ]


@pytest.mark.node
def test_ips_on_an_unconnected_port_have_no_event_and_unrecorded_payloads_export(
    tmp_path: Path,
) -> None:
    ports = [
        PortInfo("P", "t/P", "OUT", None, "out", "int", targets=("Q.IN",)),
        PortInfo("P", "t/P", "LOG", None, "out", "int"),
        PortInfo("Q", "t/Q", "IN", None, "in", "int"),
    ]
    with TraceWriter(tmp_path / "t.trace", payload={"P.OUT": "none"}) as w:
        w.start_run(run_info(ports=ports, graph={}, name="Lonely"))
        w.write(
            [(1, KIND_DATA, 0, 1, T0_PERF + 5, (), 42), (2, KIND_DATA, 1, 1, T0_PERF + 6, (), 7)]
        )
        w.finish_run("completed", None, {})
    out = tmp_path / "t.flowtrace.json"
    with open_trace(tmp_path / "t.trace") as trace, out.open("w") as fp:
        assert export_flowtrace(trace.run(), fp) == 1
    assert flowtrace_show(out) == ["P OUT -> IN Q DATA null"]
