"""Indexing: when batches appended during a run become ``ips`` and ``links`` rows."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from test_trace_support import dag_records, run_info, write_dag

from fbp.tracing import TraceFileError, TraceWriter, _reader, _store, _writer, open_trace
from fbp.tracing._schema import FORMAT_VERSION


def pending(path: Path) -> int:
    """Records appended and not indexed yet, read without writing to the file."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT coalesce(sum(n), 0) FROM batches").fetchone()[0])
    finally:
        con.close()


def indexed_rows(path: Path) -> tuple[int, int]:
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        ips = con.execute("SELECT count(*) FROM ips").fetchone()[0]
        links = con.execute("SELECT count(*) FROM links").fetchone()[0]
    finally:
        con.close()
    return int(ips), int(links)


@pytest.fixture
def indexings(monkeypatch: pytest.MonkeyPatch) -> threading.Semaphore:
    """Released once per batch the writer thread indexes."""
    done = threading.Semaphore(0)
    index_batch = _store.index_batch

    def counted(con: sqlite3.Connection, seq: int) -> int:
        n = index_batch(con, seq)
        done.release()
        return n

    monkeypatch.setattr(_store, "index_batch", counted)
    return done


def test_a_busy_run_is_indexed_once_it_has_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, indexings: threading.Semaphore
) -> None:
    monkeypatch.setattr(_writer, "_QUIET_S", 3600.0)  # full batches: never quiet
    path = tmp_path / "t.trace"
    records = dag_records()
    w = TraceWriter(path, batch_size=4, commit_bytes=1)
    w.start_run(run_info())
    w.write(records[:4])
    w.write(records[4:8])
    w.flush()
    assert pending(path) == 8  # appended, and nothing indexed while the run is busy
    assert w.statistics().indexed == 0
    w.write(records[8:])
    w.finish_run("completed", None, {})
    assert indexings.acquire(timeout=30)  # the writer indexes between runs
    w.close()
    assert pending(path) == 0
    assert w.statistics().indexed == len(records)
    assert indexed_rows(path) == (len(records), 11)  # the DAG's parent links


def test_a_quiet_run_is_indexed_while_it_runs(
    tmp_path: Path, indexings: threading.Semaphore
) -> None:
    path = tmp_path / "t.trace"
    records = dag_records()
    with TraceWriter(path, batch_size=100) as w:
        w.start_run(run_info())
        w.write(records[:5])  # a partial batch: records come slowly
        assert indexings.acquire(timeout=30)
        assert pending(path) == 0
        with open_trace(path) as trace:  # nothing left for the reader to index
            run = trace.run()
            assert run.summary.status == "running"
            assert [ip.ip_id for ip in run.records()] == [r[0] for r in records[:5]]
        w.write(records[5:])
        w.finish_run("completed", None, {})
    with open_trace(path) as trace:
        assert [ip.ip_id for ip in trace.run().records()] == [r[0] for r in records]


def test_a_reader_indexes_a_live_run_up_to_now_and_the_writer_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store.RunStore, "has_unindexed", lambda self, current: False)
    path = tmp_path / "t.trace"
    records = dag_records()
    with TraceWriter(path) as w:
        w.start_run(run_info())
        w.write(records[:6])
        w.flush()
        with open_trace(path) as trace:
            assert [ip.ip_id for ip in trace.run().records()] == [r[0] for r in records[:6]]
        assert pending(path) == 0
        w.write(records[6:])
        w.finish_run("completed", None, {})
    assert pending(path) == len(records) - 6  # this writer never indexes
    with open_trace(path) as trace:
        run = trace.run()
        got = [(ip.ip_id, ip.kind, ip.parents) for ip in run.records()]
        assert run.summary.records == len(records)
    parents_of = {r[0]: r[5] for r in records if r[5]}
    assert got == [(r[0], open_trace_kind(r[1]), parents_of.get(r[0], ())) for r in records]
    assert pending(path) == 0


def open_trace_kind(kind: int) -> str:
    return ("data", "open", "close", "iip", "drop", "dead")[kind]


def test_a_file_that_cannot_be_written_with_records_to_index_says_how_to_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store.RunStore, "has_unindexed", lambda self, current: False)
    path = write_dag(tmp_path / "t.trace")

    def read_only(name: str) -> sqlite3.Connection:  # as for a file without write permission
        uri = Path(name).resolve().as_uri()
        return sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)

    monkeypatch.setattr(_reader, "connect_indexer", read_only)
    with open_trace(path) as trace:
        assert [r.run_id for r in trace.runs()] == ["run-1"]  # listing needs no index
        with pytest.raises(TraceFileError, match="make the file and its folder writable"):
            trace.run()
    assert pending(path) == len(dag_records())  # nothing half done


def test_two_writers_on_one_file_never_share_a_seq(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    records = dag_records()
    first, second = TraceWriter(path), TraceWriter(path)
    first.start_run(run_info("one"))
    second.start_run(run_info("two"))
    for i in range(0, len(records), 3):  # interleaved appends
        first.write(records[i : i + 3])
        first.flush()
        second.write(records[i : i + 3])
        second.flush()
    first.finish_run("completed", None, {})
    second.finish_run("completed", None, {})
    first.close()
    second.close()
    with open_trace(path) as trace:
        for run_id in ("one", "two"):
            run = trace.run(run_id)
            assert [ip.ip_id for ip in run.records()] == [r[0] for r in records]
            assert [ip.payload for ip in run.records()] == [r[6] for r in records]


def test_a_version_1_file_is_read_and_upgraded_by_a_writer(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace", "old")
    with sqlite3.connect(path) as con:  # as the first format stored it: no batches
        con.execute("DROP TRIGGER batches_counted")
        con.execute("DROP TABLE batches")
        con.execute("PRAGMA user_version = 1")
    with open_trace(path) as trace:
        assert len(list(trace.run("old").records())) == len(dag_records())
    write_dag(path, "new")
    with open_trace(path) as trace:
        assert [r.run_id for r in trace.runs()] == ["old", "new"]
        assert len(list(trace.run("new").records())) == len(dag_records())
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION


def test_an_interrupted_close_leaves_the_indexing_to_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_writer, "_QUIET_S", 3600.0)
    path = tmp_path / "t.trace"
    w = TraceWriter(path, batch_size=2, commit_bytes=1)
    index_batch = _store.index_batch

    def held(con: sqlite3.Connection, seq: int) -> int:
        assert w._abandon.wait(timeout=30)  # the first batch waits for the interruption
        return index_batch(con, seq)

    def interrupted(fut: Any) -> Any:
        raise KeyboardInterrupt  # Ctrl-C while close() waits for the thread

    monkeypatch.setattr(_store, "index_batch", held)
    w.start_run(run_info())
    records = dag_records()
    for i in range(0, len(records), 2):
        w.write(records[i : i + 2])
        w.flush()  # one append per batch
    w.finish_run("completed", None, {})
    monkeypatch.setattr(w, "_wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        w.close()
    assert not w._thread.is_alive()
    assert w.statistics().indexed == 2  # the batch under way, and no more
    assert pending(path) == len(records) - 2
    with open_trace(path) as trace:  # what the writer left, the reader indexes
        assert [ip.ip_id for ip in trace.run().records()] == [r[0] for r in records]
