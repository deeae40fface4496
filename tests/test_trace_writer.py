"""TraceWriter: round trip, payload settings, failures, back-pressure, crashes."""

from __future__ import annotations

import dataclasses
import math
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, field_serializer
from test_trace_support import T0_PERF, dag_records, run_info, write_dag

from fbp._core._tracehook import KIND_DATA, PortInfo
from fbp.tracing import (
    TraceError,
    TraceFileError,
    TraceWriter,
    TraceWriterError,
    _chunks,
    _store,
    open_trace,
)
from fbp.tracing._payload import encode_batch
from fbp.tracing._schema import KIND_NAMES

# The C splitter where it is built (not under FBP_NO_ACCEL=1), and always the Python one.
SPLITTERS = ["python"] if _chunks.split is _chunks.split_python else ["c", "python"]


@pytest.fixture(params=SPLITTERS)
def splitter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Who splits commits into columns: the C extension, or the Python fallback."""
    if request.param == "python":
        monkeypatch.setattr(_store, "split", _chunks.split_python)
    return str(request.param)


@pytest.mark.usefixtures("splitter")
def test_records_round_trip_exactly(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace", batch_size=5)
    with open_trace(path) as trace:
        run = trace.run()
        got = list(run.records())
    want = dag_records()
    # Parents belong to the IP: the drop marker of IP 11 reads back IP 11's parents.
    parents_of = {r[0]: r[5] for r in want if r[5]}
    assert len(got) == len(want)
    for ip, (ip_id, kind, port_id, activation, t_ns, _, payload) in zip(got, want, strict=True):
        assert ip.ip_id == ip_id
        assert ip.kind == KIND_NAMES[kind]
        assert ip.port_id == port_id
        assert ip.activation == activation
        assert ip.t == (t_ns - T0_PERF) / 1e9
        assert ip.parents == parents_of.get(ip_id, ())  # in order: IP 10 has (8, 2)
        assert ip.payload == payload


def test_run_summary_graph_and_settings_are_stored(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace")
    with open_trace(path) as trace:
        (summary,) = trace.runs()
        run = trace.run("run-1")
        assert run.graph["processes"]["Join"] == {"component": "t/Join"}
        assert run.settings == {"capacity": 4}
    assert summary.status == "completed"
    assert summary.records == len(dag_records())
    assert summary.stats == {"ips": len(dag_records())}
    assert summary.error is None
    assert summary.started == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert summary.duration is not None


def test_a_file_holds_many_runs(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    write_dag(path, "run-1")
    write_dag(path, "run-2")
    with open_trace(path) as trace:
        assert [r.run_id for r in trace.runs()] == ["run-1", "run-2"]
        assert trace.run().run_id == "run-2"
        for run_id in ("run-1", "run-2"):
            run = trace.run(run_id)
            assert [ip.ip_id for ip in run.records()] == [r[0] for r in dag_records()]


def test_a_run_id_is_used_once_per_file(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace")
    with TraceWriter(path) as w:
        with pytest.raises(TraceError, match="run 'run-1' is already in trace"):
            w.start_run(run_info("run-1"))
        w.start_run(run_info("run-2"))  # the writer is still usable
        w.finish_run("completed", None, {})


@pytest.mark.usefixtures("splitter")
def test_payload_settings_apply_per_port(tmp_path: Path) -> None:
    setting = {
        "*": "all",
        "Gen.OUT": ["x"],  # ints have no fields: not recorded, but brackets keep their tags
        "Split.OUT": "none",  # every element of the array port...
        "Split.OUT[1]": ["x"],  # ...except this one
        "Left.OUT": ["missing"],
        "Join.out": "none",  # the port part of an address is not case-sensitive
    }
    path = write_dag(tmp_path / "t.trace", payload=setting)
    with open_trace(path) as trace:
        got = {(ip.ip_id, ip.kind): ip for ip in trace.run().records()}
    assert got[1, "iip"].payload == 2
    assert got[3, "open"].payload == "batch"
    assert not got[4, "data"].payload_recorded
    assert got[4, "data"].payload is None
    assert not got[7, "data"].payload_recorded
    assert got[8, "data"].payload == {"x": 20}
    assert got[9, "data"].payload == {}
    assert got[10, "data"].payload == {"x": 20.5, "side": "R"}
    assert not got[11, "data"].payload_recorded


@pytest.mark.usefixtures("splitter")
def test_payload_none_keeps_no_payload(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace", payload="none")
    with open_trace(path) as trace:
        assert not any(ip.payload_recorded for ip in trace.run().records())


def test_payload_setting_naming_no_port_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    w = TraceWriter(tmp_path / "t.trace", payload={"Split.OUTT": "none"})
    with pytest.raises(ValueError, match=r"'Split\.OUTT'.*did you mean 'Split\.OUT'\?"):
        w.start_run(run_info())
    w.close()


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        ("some", "use 'all', 'none' or a non-empty list"),
        ([], "use 'all', 'none' or a non-empty list"),
        ({"Gen": "all"}, "not '\\*' or a port address"),
    ],
)
def test_malformed_payload_settings_are_refused(tmp_path: Path, setting: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TraceWriter(tmp_path / "t.trace", payload=setting)


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr today")


class Failing(BaseModel):
    a: int

    @field_serializer("a")
    def _fail(self, a: int) -> int:
        raise ValueError("cannot serialise a")


class Point(BaseModel):
    x: float
    label: str


@dataclasses.dataclass
class Pair:
    left: int
    right: int


@pytest.mark.usefixtures("splitter")
def test_payloads_json_cannot_encode_are_kept_as_repr(tmp_path: Path) -> None:
    cycle: list[Any] = [1]
    cycle.append(cycle)
    payloads: list[Any] = [
        Point(x=1.5, label="p"),
        Pair(1, 2),
        b"\x00\xff",
        math.nan,
        {"when": datetime(2024, 1, 2, tzinfo=UTC), "tags": {"a"}},
        object(),
        Broken(),
        Failing(a=1),
        cycle,
    ]
    port = PortInfo("P", "t/P", "OUT", None, "out", "Any")
    records = [(i, KIND_DATA, 0, i, T0_PERF + i, (), p) for i, p in enumerate(payloads, 1)]
    with TraceWriter(tmp_path / "t.trace") as w:
        w.start_run(run_info(ports=[port]))
        w.write(records)
        # One bad string in a batch of scalars is isolated all the same.
        w.write([(98, KIND_DATA, 0, 98, T0_PERF + 98, (), "lone \ud800 surrogate")])
        w.write([(99, KIND_DATA, 0, 99, T0_PERF + 99, (), "after")])  # the thread lives on
        w.finish_run("completed", None, {})
    with open_trace(tmp_path / "t.trace") as trace:
        got = [ip.payload for ip in trace.run().records()]
    assert got[0] == {"x": 1.5, "label": "p"}
    assert got[1] == {"left": 1, "right": 2}
    assert got[2] == "AP8="
    assert got[3] is None
    assert got[4] == {"when": "2024-01-02T00:00:00Z", "tags": ["a"]}
    assert got[5]["$type"] == "builtins.object"
    assert got[5]["$repr"].startswith("<object object at")
    assert "repr() raised RuntimeError('no repr today')" in got[6]["$repr"]
    assert got[7]["$type"].endswith("Failing")
    assert "cannot serialise a" in got[7]["$error"]
    assert got[8]["$repr"] == "[1, [...]]"
    assert got[9]["$repr"] == "'lone \\ud800 surrogate'"
    assert got[10] == "after"


def test_a_failed_writer_thread_makes_the_next_call_raise_with_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store, "_APPEND", "INSERT INTO no_such_table VALUES (?1, ?2, ?3)")
    w = TraceWriter(tmp_path / "t.trace")
    w.start_run(run_info())

    def write_and_flush() -> None:
        # The thread fails on the commit write() hands over: the caller hears of it at
        # once if the thread failed before write() returned, else at the flush.
        w.write(dag_records())
        w.flush()

    with pytest.raises(TraceWriterError, match="no such table: no_such_table") as info:
        write_and_flush()
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(TraceWriterError) as again:
        w.write(dag_records())
    assert isinstance(again.value.__cause__, sqlite3.OperationalError)
    w.close()  # already reported: closing does not raise again
    assert not w._thread.is_alive()


def test_full_batches_are_gathered_into_commits_and_a_partial_one_goes_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.trace"
    records = dag_records()
    three_batches = len(encode_batch(records[:6], {}))  # two batches of two are shorter
    w = TraceWriter(path, batch_size=2, commit_bytes=three_batches)
    w.start_run(run_info())
    w.write(records[0:2])
    w.write(records[2:4])
    stats = w.statistics()
    assert (stats.received, stats.commits, stats.stored) == (4, 0, 0)  # gathered only

    def stored(n: int) -> int:
        deadline = time.monotonic() + 30
        while w.statistics().stored < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return w.statistics().stored

    w.write(records[4:6])  # the commit is full: handed to the thread
    assert stored(6) == 6
    w.write(records[6:7])  # a partial batch (the runtime's timer): handed at once
    assert stored(7) == 7  # without a flush
    w.write(records[7:9])
    w.finish_run("completed", None, {})  # hands over what is gathered
    with sqlite3.connect(path) as con:
        sizes = [n for (n,) in con.execute("SELECT n FROM chunks ORDER BY seq")]
    assert sizes == [6, 1, 2]
    w.close()
    with open_trace(path) as trace:
        assert [ip.ip_id for ip in trace.run().records()] == [r[0] for r in records[:9]]


def test_write_blocks_while_the_writer_is_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, busy, returned = (threading.Event() for _ in range(3))
    append = _store.RunStore.append

    def slow_append(self: _store.RunStore, n: int, rows: str) -> None:
        busy.set()
        assert gate.wait(timeout=30)
        append(self, n, rows)

    monkeypatch.setattr(_store.RunStore, "append", slow_append)
    records = dag_records()
    w = TraceWriter(tmp_path / "t.trace", batch_size=4, commit_bytes=1)  # a commit a batch
    w.start_run(run_info())
    w.write(records[:4])  # taken by the thread, which then cannot go on
    assert busy.wait(timeout=30)
    assert w.statistics().commits == 1

    def second() -> None:
        w.write(records[4:8])
        returned.set()

    t = threading.Thread(target=second)
    t.start()
    t.join(timeout=0.3)
    assert not returned.is_set()  # waits for the thread rather than piling up commits
    assert w.statistics().commits == 2
    gate.set()
    t.join(timeout=30)
    assert returned.is_set()
    assert w.statistics().wait_seconds >= 0.3
    w.write(records[8:])
    w.finish_run("completed", None, {})
    w.close()
    with open_trace(tmp_path / "t.trace") as trace:
        assert [ip.ip_id for ip in trace.run().records()] == [r[0] for r in records]


CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from test_trace_support import dag_records, run_info
    from fbp.tracing import TraceWriter

    w = TraceWriter(sys.argv[1])
    w.start_run(run_info("crash"))
    records = dag_records()
    w.write(records[:5])
    w.write(records[5:10])
    w.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_killed_writer_leaves_a_crashed_run_with_every_flushed_record(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    proc = subprocess.run(
        [sys.executable, "-c", CRASHER, str(path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with open_trace(path) as trace:
        run = trace.run("crash")
        assert run.summary.status == "crashed"
        assert run.summary.records == 10
        assert run.summary.ended_ns is None
        got = [(ip.ip_id, ip.port_id, ip.parents) for ip in run.records()]
    assert got == [(r[0], r[2], r[5]) for r in dag_records()[:10]]


def test_a_live_run_reads_as_running(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.trace") as w:
        w.start_run(run_info())
        w.write(dag_records()[:3])
        w.flush()
        with open_trace(tmp_path / "t.trace") as trace:
            assert trace.run().summary.status == "running"
            assert trace.run().summary.records == 3
        w.finish_run("failed", "boom", {})
    with open_trace(tmp_path / "t.trace") as trace:
        assert (trace.run().summary.status, trace.run().summary.error) == ("failed", "boom")


def test_closing_during_a_run_finishes_it_as_interrupted(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.trace") as w:
        w.start_run(run_info())
        w.write(dag_records())
    with open_trace(tmp_path / "t.trace") as trace:
        s = trace.run().summary
    assert (s.status, s.records) == ("interrupted", len(dag_records()))
    assert s.error == "the trace writer was closed during the run"


def test_misuse_is_reported_with_the_fix(tmp_path: Path) -> None:
    w = TraceWriter(tmp_path / "t.trace")
    with pytest.raises(TraceError, match="write\\(\\) before start_run\\(\\)"):
        w.write(dag_records())
    with pytest.raises(TraceError, match="call start_run\\(\\) first"):
        w.finish_run("completed", None, {})
    w.start_run(run_info())
    with pytest.raises(TraceError, match="call finish_run\\(\\) first"):
        w.start_run(run_info("other"))
    with pytest.raises(ValueError, match="status must be one of"):
        w.finish_run("done", None, {})  # type: ignore[arg-type]
    w.finish_run("completed", None, {})
    w.close()
    with pytest.raises(TraceError, match="is closed"):
        w.start_run(run_info("late"))


def test_the_writer_refuses_a_file_that_is_not_a_trace(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello, this is text and not a database at all" * 50)
    with pytest.raises(TraceFileError, match="is not an fbp trace file"):
        TraceWriter(junk)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(TraceFileError, match="database of another application"):
        TraceWriter(other)
    with pytest.raises(TraceFileError, match="does not exist"):
        TraceWriter(tmp_path / "missing" / "t.trace")


def _long_run(path: Path) -> tuple[TraceWriter, list[Any]]:
    """A writer that has stored about 6 MB of chunks, committed 32 KiB at a time."""
    w = TraceWriter(path, batch_size=1000, commit_bytes=32 << 10)
    w.start_run(run_info())
    records = [
        (i, KIND_DATA, 1, i, T0_PERF + i, (), f"{i:08d}" + "x" * 250) for i in range(1, 20_001)
    ]
    for i in range(0, len(records), 1000):
        w.write(records[i : i + 1000])
    w.flush()
    return w, records


def _file_grows_to(path: Path, size: int) -> int:
    deadline = time.monotonic() + 30
    while path.stat().st_size < size and time.monotonic() < deadline:
        time.sleep(0.01)
    return path.stat().st_size


def test_the_wal_is_copied_into_the_file_by_a_thread_beside_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store, "CHECKPOINT_BYTES", 256 << 10)
    path = tmp_path / "t.trace"
    checkpoints: list[str] = []
    checkpoint = _store._Checkpointer.due

    def due(self: Any) -> None:
        checkpoints.append(threading.current_thread().name)
        checkpoint(self)

    monkeypatch.setattr(_store._Checkpointer, "due", due)
    w, records = _long_run(path)
    # The writer's own connection never checkpoints; the checkpointer's thread copied
    # the WAL into the file while the writer was open (it would stay at its first few
    # pages until the writer closed).
    assert w._store.con.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # type: ignore[union-attr]
    assert len(checkpoints) >= 10
    assert all(name.startswith("fbp-trace-writer") for name in checkpoints)
    assert any(t.name.startswith("fbp-trace-checkpoint") for t in threading.enumerate())
    assert _file_grows_to(path, 4 << 20) >= 4 << 20
    # ... and the writer started the WAL over (it reuses the file from its start):
    # without that it grows as long as the trace (6 MB), checkpointed or not.
    assert path.with_name(path.name + "-wal").stat().st_size < 3 << 20
    w.finish_run("completed", None, {})
    w.close()
    assert not any(t.name.startswith("fbp-trace-checkpoint") for t in threading.enumerate())
    with open_trace(path) as trace:
        assert [ip.ip_id for ip in trace.run().records()] == [r[0] for r in records]


def test_a_checkpointer_that_fails_leaves_checkpoints_to_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store, "CHECKPOINT_BYTES", 256 << 10)

    def fail(self: Any) -> None:
        self.failed = sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(_store._Checkpointer, "_main", fail)
    path = tmp_path / "t.trace"
    w, records = _long_run(path)
    assert path.stat().st_size >= 4 << 20  # checkpointed by the writer's thread itself
    w.finish_run("completed", None, {})
    w.close()
    with open_trace(path) as trace:
        assert [ip.ip_id for ip in trace.run().records()] == [r[0] for r in records]
