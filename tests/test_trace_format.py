"""The trace file's format: chunks readable at once, older formats refused and converted."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_trace_support import T0_PERF, dag_records, run_info, write_dag

from fbp.tracing import TraceFileError, TraceWriter, _chunks, open_trace
from fbp.tracing._convert import convert
from fbp.tracing._schema import FORMAT_VERSION, KIND_NAMES

DATA = Path(__file__).resolve().parent / "data"


def chunk_sizes(path: Path) -> list[int]:
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [n for (n,) in con.execute("SELECT n FROM chunks ORDER BY seq")]
    finally:
        con.close()


def test_a_live_run_reads_every_record_committed_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    records = dag_records()
    with TraceWriter(path) as w:
        w.start_run(run_info())
        w.write(records[:6])
        w.flush()
        with open_trace(path) as trace:
            run = trace.run()
            assert run.summary.status == "running"
            assert [ip.ip_id for ip in run.records()] == [r[0] for r in records[:6]]
        w.write(records[6:])
        w.finish_run("completed", None, {})
    assert chunk_sizes(path) == [6, 6]  # one chunk per commit, nothing else
    with open_trace(path) as trace:
        run = trace.run()
        assert run.summary.records == len(records)
        assert [ip.ip_id for ip in run.records()] == [r[0] for r in records]


def test_a_read_only_trace_is_read_in_full(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace")
    folder = tmp_path / "ro"
    folder.mkdir()
    copy = folder / "t.trace"
    shutil.copy(path, copy)
    copy.chmod(stat.S_IREAD)
    folder.chmod(stat.S_IREAD | stat.S_IEXEC)
    try:
        with open_trace(copy) as trace:
            assert len(list(trace.run().records())) == len(dag_records())
    finally:
        folder.chmod(stat.S_IRWXU)


@pytest.mark.parametrize(
    "text",
    [
        b"[]",
        b'[[1,0,2,3,4,[],5],[2,1,3,0,9,[1,2],{"a":[1,{"b":"]"}],"c":"x\\\\\\"]"}]]',
        b'[[3,4,1,0,5,[]],[4,0,1,1,1,[3],"s"],[5,0,1,1,1,[3],null],[6,0,1,1,1,[3,4,5],-1.5e3]]',
        b'[ [7, 0, 1, 1, 1, [ ], [true, false, {"k": "\\u00e9t\\u00e9"}] ] ]',
        b'[[9223372036854775807,5,2147483647,-1,0,[-9223372036854775808],"\xc3\xa9"]]',
    ],
)
@pytest.mark.compiled
def test_the_c_and_python_splitters_agree(text: bytes) -> None:
    c, py = _chunks.split(text), _chunks.split_python(text)
    assert c[:8] == py[:8]  # the record count and every column but the payloads' texts

    def payloads(chunk: Any) -> list[Any]:
        starts = memoryview(chunk[8]).cast("q").tolist()
        ends = memoryview(chunk[9]).cast("q").tolist()
        return [
            json.loads(chunk[10][a:b]) if b > a else "(not kept)"
            for a, b in zip(starts, ends, strict=True)
        ]

    assert (
        payloads(c)
        == payloads(py)
        == [r[6] if len(r) > 6 else "(not kept)" for r in json.loads(text)]
    )


def test_a_payload_forwarded_along_a_pipeline_is_stored_once() -> None:
    model = b'{"sensor":"t1","value":2.5,"label":"forwarded unchanged"}'
    text = b"[" + b",".join(
        b"[%d,0,%d,%d,0,[%d]," % (i + 1, i, i, i) + model + b"]" for i in range(6)
    )
    text += b"]"
    for split in {_chunks.split, _chunks.split_python}:
        chunk = split(text)
        assert chunk[0] == 6
        assert chunk[10] == model  # once, for six records
        assert memoryview(chunk[8]).cast("q").tolist() == [0] * 6
        assert memoryview(chunk[9]).cast("q").tolist() == [len(model)] * 6


@pytest.mark.parametrize(
    "text", [b"", b"[", b"[[1,2]]", b'[[1,0,0,0,0,[],"abc]]', b"[[1,0,0,0,0,[]]] x"]
)
@pytest.mark.compiled
def test_the_c_splitter_refuses_what_is_not_a_batch(text: bytes) -> None:
    with pytest.raises(ValueError, match="not a batch of trace records at byte"):
        _chunks.split(text)


# -- older formats ---------------------------------------------------------------------


def old_records(path: Path, run_id: str) -> list[tuple[Any, ...]]:
    """A run's records read from a format 1 or 2 file with plain SQL: the oracle."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (run,) = con.execute("SELECT run FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        rows = con.execute(
            "SELECT i.ip_id, i.kind, i.port_id, i.activation, i.t_ns, i.payload,"
            " (SELECT group_concat(parent) FROM (SELECT parent FROM links AS l"
            "  WHERE l.run = i.run AND l.child = i.ip_id ORDER BY l.ord))"
            " FROM ips AS i WHERE i.run = ? ORDER BY i.seq",
            (run,),
        ).fetchall()
    finally:
        con.close()
    return [
        (
            ip,
            KIND_NAMES[kind],
            port,
            act,
            t_ns,
            tuple(int(p) for p in parents.split(",")) if parents else (),
            None if payload is None else json.loads(payload),
        )
        for ip, kind, port, act, t_ns, payload, parents in rows
    ]


def new_records(path: Path, run_id: str) -> list[tuple[Any, ...]]:
    with open_trace(path) as trace:
        run = trace.run(run_id)
        return [
            (
                ip.ip_id,
                ip.kind,
                ip.port_id,
                ip.activation,
                round(ip.t * 1e9) + run.t0_perf_ns,
                ip.parents,
                ip.payload,
            )
            for ip in run.records()
        ]


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_file_is_refused_with_the_command_that_converts_it(
    tmp_path: Path, version: int
) -> None:
    old = tmp_path / "old.trace"
    shutil.copy(DATA / f"v{version}.trace", old)
    with pytest.raises(TraceFileError, match=f"has trace format {version}") as info:
        open_trace(old)
    assert f"python -m fbp trace convert {old} " in str(info.value)
    assert info.value.old_version == version
    with pytest.raises(TraceFileError, match="trace convert"):
        TraceWriter(old)
    assert (old.read_bytes()) == (DATA / f"v{version}.trace").read_bytes()  # untouched


@pytest.mark.parametrize("version", [1, 2])
def test_converting_keeps_every_run_and_record(tmp_path: Path, version: int) -> None:
    old = tmp_path / "old.trace"
    shutil.copy(DATA / f"v{version}.trace", old)
    new = tmp_path / "new.trace"
    done = convert(old, new)
    expected_runs = ["run-1", "run-2"] + (["run-3"] if version == 2 else [])
    assert (done.old_version, done.runs) == (version, len(expected_runs))
    with open_trace(new) as trace:
        runs = {r.run_id: r for r in trace.runs()}
    assert sorted(runs) == expected_runs
    for run_id in ("run-1", "run-2"):  # indexed in the old file: compare with its SQL
        assert new_records(new, run_id) == old_records(old, run_id)
        assert runs[run_id].status == "completed"
    # run-1 is the hand-made DAG: its records exactly as written
    want = dag_records()
    parents_of = {r[0]: r[5] for r in want if r[5]}
    got = new_records(new, "run-1")
    assert [g[0] for g in got] == [r[0] for r in want]
    assert [g[4] for g in got] == [r[4] for r in want]
    assert [g[5] for g in got] == [parents_of.get(r[0], ()) for r in want]
    if version == 2:  # run-3 was never indexed: its batches become chunks as they are
        assert runs["run-3"].status == "crashed"
        assert runs["run-3"].records == len(want)
        assert [g[:6] for g in new_records(new, "run-3")] == [g[:6] for g in got]
    assert done.records == sum(r.records for r in runs.values())


def test_convert_refuses_to_overwrite_and_what_needs_no_converting(tmp_path: Path) -> None:
    current = write_dag(tmp_path / "now.trace")
    with pytest.raises(TraceFileError, match=f"already has trace format {FORMAT_VERSION}"):
        convert(current, tmp_path / "out.trace")
    assert not (tmp_path / "out.trace").exists()
    with pytest.raises(TraceFileError, match="it exists; give the name of a new file"):
        convert(DATA / "v2.trace", current)


def test_trace_convert_on_the_command_line(tmp_path: Path) -> None:
    old = tmp_path / "old.trace"
    shutil.copy(DATA / "v2.trace", old)
    new = tmp_path / "new.trace"
    cmd = [sys.executable, "-m", "fbp", "trace"]
    refused = subprocess.run([*cmd, "summary", str(old)], capture_output=True, text=True)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    hint = refused.stderr.strip().split("with: ")[-1].split()
    assert hint[:5] == ["python", "-m", "fbp", "trace", "convert"]
    done = subprocess.run(
        [*cmd, "convert", str(old), str(new), "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["runs"] == 3
    again = subprocess.run([*cmd, "convert", str(old), str(new)], capture_output=True, text=True)
    assert again.returncode == 2
    assert "it exists" in again.stderr
    summary = subprocess.run([*cmd, "summary", str(new), "--json"], capture_output=True, text=True)
    assert summary.returncode == 0, summary.stderr
    assert len(json.loads(summary.stdout)["runs"]) == 3


def test_t_ns_round_trips(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "t.trace")
    with open_trace(path) as trace:
        frames = trace.run().frames()
    assert frames.records["t_ns"].tolist() == [r[4] for r in dag_records()]
    assert frames.records["t_ns"].iloc[0] == T0_PERF + 1000
