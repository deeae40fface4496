"""One port's or edge's IPs read alone (fbp.tracing._select) equal those read with the run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_trace_support import dag_records, run_info

from fbp.tracing import TracedRun, TraceWriter, open_trace

TARGETS = [
    ("Gen.OUT", "data"),
    ("Gen.OUT", "brackets"),
    ("Gen.OUT -> Split.IN", "open"),
    ("Split.OUT", "data"),  # every element of an array port
    ("Split.OUT[1] -> Right.IN", "data"),
    ("Join.IN", "data"),  # an input port: every IP sent to it
    ("Right.BIAS", "iip"),
    ("Join.OUT", "data"),
    ("Log.IN", "drop"),  # read with the whole run: a drop's parents are its IP's
    ("Gen.OUT", "all"),
]


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DAG run, stored in many chunks, with Left.OUT's payloads not recorded."""
    out = tmp_path_factory.mktemp("select") / "dag.trace"
    records = dag_records()
    with TraceWriter(out, commit_bytes=1, payload={"*": "all", "Left.OUT": "none"}) as w:
        w.start_run(run_info("r"))
        for i in range(0, len(records), 2):
            w.write(records[i : i + 2])
        w.finish_run("completed", None, {})
    return out


def _runs(path: Path) -> tuple[TracedRun, TracedRun]:
    alone = open_trace(path).run()
    whole = open_trace(path).run()
    whole.columns()  # read first: every query then works on the whole run's columns
    return alone, whole


@pytest.mark.parametrize(("target", "kind"), TARGETS)
@pytest.mark.parametrize("limit", [None, 0, 1, 2])
def test_ips_read_alone_are_those_of_the_whole_run(
    path: Path, target: str, kind: str, limit: int | None
) -> None:
    alone, whole = _runs(path)
    expected = whole.ips(target, kind=kind, limit=limit)
    assert len(expected) or limit == 0
    pd.testing.assert_frame_equal(alone.ips(target, kind=kind, limit=limit), expected)
    assert alone._columns is None or kind in ("drop", "all")  # read alone: no whole run
    alone, whole = _runs(path)
    assert alone._selected_ips(target, kind, limit) == whole.traced(
        whole.select(target, kind=kind, limit=limit)
    )


def test_payloads_not_recorded_stay_so(path: Path) -> None:
    alone, _ = _runs(path)
    (ip,) = alone._selected_ips("Left.OUT", "data", None)
    assert not ip.payload_recorded and ip.payload is None and ip.parents == (7,)
    (ip,) = alone._selected_ips("Right.OUT", "data", None)
    assert ip.payload_recorded and ip.payload == {"x": 20.5, "side": "R"}


def test_a_chunk_that_does_not_match_its_count_is_a_damaged_file(
    path: Path, tmp_path: Path
) -> None:
    import shutil
    import sqlite3

    from fbp.tracing import TraceFileError

    broken = tmp_path / "broken.trace"
    shutil.copy(path, broken)
    con = sqlite3.connect(broken)
    with con:
        con.execute("UPDATE chunks SET n = n + 1")
    con.close()
    with pytest.raises(TraceFileError, match="looks damaged"):
        open_trace(broken).run().ips("Gen.OUT")


@pytest.mark.parametrize("limit", [None, 3_000, 9_999])
def test_ips_of_a_rotated_run_read_alone_span_its_segments(
    tmp_path_factory: pytest.TempPathFactory, limit: int | None
) -> None:
    from fbp.graph import Graph, run
    from fbp.tracing import Rotation

    folder = tmp_path_factory.getbasetemp() / "rotated-select.d"
    if not folder.exists():
        g = Graph("chain")
        g.add_process("R", "core/Range").add_process("A", "core/Repeat")
        g.add_process("D", "core/Drop")
        g.connect("R.OUT", "A.IN").connect("A.OUT", "D.IN")
        g.add_initial(10_000, "R.COUNT")
        with TraceWriter(folder, rotation=Rotation(every_bytes=100_000)) as w:
            run(g, trace=w)
    alone, whole = _runs(folder)
    assert len(alone.segments) >= 3
    got = alone.ips("A.OUT", limit=limit)
    assert alone._columns is None
    pd.testing.assert_frame_equal(got, whole.ips("A.OUT", limit=limit))
    assert got["value"].tolist() == list(range(limit or 10_000))
