"""Builders shared by the trace tests (this module holds no tests).

The hand-made run ``DAG`` has fan-out to an array port, fan-in through an array
port, a broadcast to two receivers, brackets, two IIPs and a drop::

    2 -> COUNT Gen OUT -> IN Split OUT[0] -> IN Left  OUT -> IN[0] Join OUT -> IN Show
                             Split OUT[1] -> IN Right OUT -> IN[1] Join OUT -> IN Log
    0.5 -> BIAS Right

IP ids: 1 and 2 the IIPs; 3..6 Gen's open, 10, 20, close; 7, 8 Split's outputs;
9 Left's, 10 Right's (parents 8 and the IIP 2); 11 Join's (parents 9, 10), which Log
then drops.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fbp._core._tracehook import (
    KIND_CLOSE,
    KIND_DATA,
    KIND_DROP,
    KIND_IIP,
    KIND_OPEN,
    PortInfo,
    RunInfo,
    TraceRecord,
)
from fbp.tracing import PayloadSetting, TraceWriter


def _out(proc: str, comp: str, port: str, *targets: str, index: int | None = None) -> PortInfo:
    return PortInfo(proc, comp, port, index, "out", "dict", None, targets)


def _in(proc: str, comp: str, port: str, index: int | None = None) -> PortInfo:
    return PortInfo(proc, comp, port, index, "in", "dict")


DAG_PORTS: tuple[PortInfo, ...] = (
    _in("Gen", "t/Gen", "COUNT"),  # 0
    _out("Gen", "t/Gen", "OUT", "Split.IN"),  # 1
    _in("Split", "t/Split", "IN"),  # 2
    _out("Split", "t/Split", "OUT", "Left.IN", index=0),  # 3
    _out("Split", "t/Split", "OUT", "Right.IN", index=1),  # 4
    _in("Left", "t/Inc", "IN"),  # 5
    _out("Left", "t/Inc", "OUT", "Join.IN[0]"),  # 6
    _in("Right", "t/Bias", "IN"),  # 7
    _in("Right", "t/Bias", "BIAS"),  # 8
    _out("Right", "t/Bias", "OUT", "Join.IN[1]"),  # 9
    _in("Join", "t/Join", "IN", index=0),  # 10
    _in("Join", "t/Join", "IN", index=1),  # 11
    _out("Join", "t/Join", "OUT", "Show.IN", "Log.IN"),  # 12
    _in("Show", "t/Show", "IN"),  # 13
    _in("Log", "t/Log", "IN"),  # 14
)

DAG_GRAPH: dict[str, Any] = {
    "caseSensitive": True,
    "properties": {"name": "Dag"},
    "processes": {
        name: {"component": comp}
        for name, comp in [
            ("Gen", "t/Gen"),
            ("Split", "t/Split"),
            ("Left", "t/Inc"),
            ("Right", "t/Bias"),
            ("Join", "t/Join"),
            ("Show", "t/Show"),
            ("Log", "t/Log"),
        ]
    },
    "connections": [
        {"data": 2, "tgt": {"process": "Gen", "port": "COUNT"}},
        {"data": 0.5, "tgt": {"process": "Right", "port": "BIAS"}},
        {"src": {"process": "Gen", "port": "OUT"}, "tgt": {"process": "Split", "port": "IN"}},
        {
            "src": {"process": "Split", "port": "OUT", "index": 0},
            "tgt": {"process": "Left", "port": "IN"},
        },
        {
            "src": {"process": "Split", "port": "OUT", "index": 1},
            "tgt": {"process": "Right", "port": "IN"},
        },
        {
            "src": {"process": "Left", "port": "OUT"},
            "tgt": {"process": "Join", "port": "IN", "index": 0},
        },
        {
            "src": {"process": "Right", "port": "OUT"},
            "tgt": {"process": "Join", "port": "IN", "index": 1},
        },
        {"src": {"process": "Join", "port": "OUT"}, "tgt": {"process": "Show", "port": "IN"}},
        {"src": {"process": "Join", "port": "OUT"}, "tgt": {"process": "Log", "port": "IN"}},
    ],
}

T0_PERF = 1_000_000_000
T0_WALL = 1_700_000_000_000_000_000


def dag_records() -> list[TraceRecord]:
    """The DAG run's records, in send order (t_ns one microsecond apart)."""
    rows: list[tuple[int, int, int, int, tuple[int, ...], Any]] = [
        (1, KIND_IIP, 0, 0, (), 2),
        (2, KIND_IIP, 8, 0, (), 0.5),
        (3, KIND_OPEN, 1, 1, (1,), "batch"),
        (4, KIND_DATA, 1, 1, (1,), 10),
        (5, KIND_DATA, 1, 1, (1,), 20),
        (6, KIND_CLOSE, 1, 1, (1,), "batch"),
        (7, KIND_DATA, 3, 2, (4,), {"x": 10, "side": "L"}),
        (8, KIND_DATA, 4, 3, (5,), {"x": 20, "side": "R"}),
        (9, KIND_DATA, 6, 4, (7,), {"x": 11, "side": "L"}),
        (10, KIND_DATA, 9, 5, (8, 2), {"x": 20.5, "side": "R"}),
        (11, KIND_DATA, 12, 6, (9, 10), {"sum": 31.5, "n": 2, "meta": {"ok": True}}),
        (11, KIND_DROP, 14, 0, (), None),
    ]
    return [
        (ip, kind, port, act, T0_PERF + 1000 * (k + 1), parents, payload)
        for k, (ip, kind, port, act, parents, payload) in enumerate(rows)
    ]


def run_info(
    run_id: str = "run-1",
    ports: Sequence[PortInfo] = DAG_PORTS,
    graph: dict[str, Any] | None = None,
    name: str = "Dag",
) -> RunInfo:
    """A RunInfo for synthetic records (times anchored at T0_PERF / T0_WALL)."""
    return RunInfo(
        run_id=run_id,
        graph_name=name,
        graph=DAG_GRAPH if graph is None else graph,
        ports=tuple(ports),
        t0_wall_ns=T0_WALL,
        t0_perf_ns=T0_PERF,
        settings={"capacity": 4},
    )


def write_dag(
    path: str | os.PathLike[str],
    run_id: str = "run-1",
    *,
    payload: PayloadSetting = "all",
    batch_size: int = 5,
) -> Path:
    """Write the DAG run to ``path`` in batches of ``batch_size`` records."""
    records = dag_records()
    with TraceWriter(path, payload=payload) as w:
        w.start_run(run_info(run_id))
        for i in range(0, len(records), batch_size):
            w.write(records[i : i + batch_size])
        w.finish_run("completed", None, {"ips": len(records)})
    return Path(path)
