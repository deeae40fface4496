"""Trace rotation: segments by size and by time, retention, crashes, readers over a set."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from fbp._core._tracehook import PortInfo, RunInfo, TraceRecord
from fbp.cli import main
from fbp.graph import Graph, run
from fbp.tracing import Rotation, TraceFileError, TraceWriter, open_trace
from fbp.tracing._rotation import list_segments

PORTS = (
    PortInfo("Src", "t/Src", "OUT", None, "out", "int", None, ("Sink.IN",)),
    PortInfo("Sink", "t/Sink", "IN", None, "in", "int"),
)
T0 = 1_700_000_000.0


class Clock:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def info(run_id: str = "svc", wall: float = T0) -> RunInfo:
    return RunInfo(run_id, "svc", {}, PORTS, int(wall * 1e9), 0)


def chain(start: int, n: int) -> list[TraceRecord]:
    """Records ``start .. start + n - 1``, each the child of the one before."""
    return [
        (i, 0, 0, i, i * 1000, (i - 1,) if i > 1 else (), {"i": i}) for i in range(start, start + n)
    ]


def chain_graph(n: int) -> Graph:
    g = Graph("chain")
    g.add_process("R", "core/Range").add_process("A", "core/Repeat")
    g.add_process("D", "core/Drop")
    g.connect("R.OUT", "A.IN").connect("A.OUT", "D.IN")
    g.add_initial(n, "R.COUNT")
    return g


def disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir())


# -- settings ---------------------------------------------------------------------------


def test_rotation_parses_sizes_durations_and_counts() -> None:
    r = Rotation.parse("1h,500MB", "24,7d,5GiB")
    assert (r.every_seconds, r.every_bytes) == (3600, 500_000_000)
    assert (r.keep_segments, r.keep_seconds, r.keep_bytes) == (24, 7 * 86400, 5 * 2**30)
    assert Rotation.parse("30m").keep_segments is None
    assert Rotation.parse("200kb").every_bytes == 200_000
    with pytest.raises(ValueError, match="give a size"):
        Rotation.parse("5")  # a bare number is neither
    with pytest.raises(ValueError, match="keep '1x'"):
        Rotation.parse("1h", "1x")
    with pytest.raises(ValueError, match="every_bytes or every_seconds"):
        Rotation(keep_segments=3)
    with pytest.raises(ValueError, match="keep_segments must be > 0"):
        Rotation(every_seconds=60, keep_segments=0)


# -- rotation by time, with retention by age --------------------------------------------


def test_time_rotation_and_age_retention_keep_a_suffix_of_the_run(tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "svc.d"
    rot = Rotation(every_seconds=3600, keep_seconds=2 * 3600, clock=clock)
    with TraceWriter(folder, rotation=rot) as w:
        w.start_run(info())
        for b in range(10):  # ten commits, half an hour apart
            w.write(chain(100 * b + 1, 100))
            w.flush()
            clock.t += 1800
        w.finish_run("completed", None, {})
        assert w.statistics().stored == 1000
    segs = list_segments(folder)
    # Segments opened at +0h, +1h, +2h, +3h, +4h, two commits each; at +4h, those
    # whose successor was opened 2 h ago or more are gone.
    assert [p.name.split("-")[0] for p in segs] == ["000003", "000004", "000005"]
    assert [p.name.split("-")[1] for p in segs] == [  # T0 is 2023-11-14 22:13:20 UTC
        "20231115T001320.000Z.trace",
        "20231115T011320.000Z.trace",
        "20231115T021320.000Z.trace",
    ]
    statuses = []
    for seg in segs:  # each segment is a complete trace of its part of the run
        with open_trace(seg) as t:
            (r,) = t.runs()
            statuses.append(r.status)
            assert r.run_id == "svc"
            assert r.records == 200
    assert statuses == ["rotated", "rotated", "completed"]
    with open_trace(folder) as t:
        (summary,) = t.runs()
        assert (summary.status, summary.records) == ("completed", 600)
        r = t.run("sv")
        ids = r.columns().ip_id
        assert ids.tolist() == list(range(401, 1001))  # nothing lost, nothing twice
        lin = r.lineage(410)
        assert [a.ip_id for a in lin.ancestors] == list(range(401, 410))
        assert lin.missing == (400,)  # the parent in a deleted segment
        assert r.ip(401).parents == (400,)
        assert r.roots_of([1000]) == {1000: (400,)}
        df = r.ips("Src.OUT")
        assert df["i"].tolist() == list(range(401, 1001))


def test_a_second_run_starts_a_segment_and_retention_spans_runs(tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "svc.d"
    rot = Rotation(every_seconds=60, keep_segments=4, clock=clock)
    for run_id in ("a", "b"):  # three segments each
        with TraceWriter(folder, rotation=rot) as w:
            w.start_run(info(run_id, clock.t))
            for b in range(3):
                w.write(chain(10 * b + 1, 10))
                w.flush()
                clock.t += 60
            w.finish_run("completed", None, {})
    assert len(list_segments(folder)) == 4
    with open_trace(folder) as t:
        assert [(r.run_id, r.records) for r in t.runs()] == [("a", 10), ("b", 30)]
        assert t.run().run_id == "b"  # the latest
        assert len(t.run("a").segments) == 1
        assert t.run("a").columns().ip_id.tolist() == list(range(21, 31))


# -- rotation by size, with retention by count and by disk ------------------------------


@pytest.mark.parametrize("keep", ["segments", "bytes"])
def test_size_rotation_keeps_disk_bounded(tmp_path: Path, keep: str) -> None:
    every = 200_000
    folder = tmp_path / "run.d"
    rot = (
        Rotation(every_bytes=every, keep_segments=3)
        if keep == "segments"
        else Rotation(every_bytes=every, keep_bytes=3 * every)
    )
    with TraceWriter(folder, rotation=rot) as w:
        run(chain_graph(12_000), trace=w)
        received = w.statistics().received
    segs = list_segments(folder)
    assert int(segs[0].name[:6]) > 3  # older segments were deleted
    # A segment outgrows its size by at most one commit (an eighth of a segment here).
    bound = 3 * (every + every // 8 + 65536)
    assert disk(folder) <= bound
    if keep == "segments":
        assert len(segs) == 3
    with open_trace(folder) as t:
        r = t.run()
        assert r.summary.status == "completed"
        assert 0 < r.summary.records < received
        # The kept records are the run's last ones: the tail of each port's stream.
        a = r.ips("A.OUT")["value"].to_numpy()
        assert a[-1] == 11_999
        assert (np.diff(a) == 1).all()


def test_rotation_loses_and_repeats_no_record(tmp_path: Path) -> None:
    folder = tmp_path / "all.d"
    n = 10_000
    with TraceWriter(folder, rotation=Rotation(every_bytes=100_000)) as w:
        run(chain_graph(n), trace=w)
        received = w.statistics().received
    segs = list_segments(folder)
    assert len(segs) >= 5
    with open_trace(folder) as t:
        r = t.run()
        assert r.summary.records == received == 2 * n + 3
        cols = r.columns()
        assert len(cols) == received
        assert len(np.unique(cols.ip_id)) == received
        assert r.ips("R.OUT")["value"].tolist() == list(range(n))
        assert r.ips("A.OUT")["value"].tolist() == list(range(n))
        lin = r.lineage(int(cols.ip_id[-1]))
        assert lin.missing == ()
        assert {a.port for a in lin.ancestors} >= {"R.OUT", "R.COUNT"}
        assert sum(e.ips for e in r.edges()) == received
        frames = r.frames()
        assert len(frames.records) == received
        assert len(frames.payloads([0])) > 0


# -- crashes, interruptions, a second writer ---------------------------------------------

CRASH = """
import os, sys
from fbp.graph import Graph, run
from fbp.tracing import Rotation, TraceWriter
import fbp.tracing._rotation as rot

calls = []
publish = rot.publish

def crashing(tmp, final):
    calls.append(final)
    if len(calls) == 3:  # the third segment: die between creating it and naming it
        os._exit(9)
    publish(tmp, final)

rot.publish = crashing
g = Graph("chain")
g.add_process("R", "core/Range").add_process("A", "core/Repeat").add_process("D", "core/Drop")
g.connect("R.OUT", "A.IN").connect("A.OUT", "D.IN")
g.add_initial(50000, "R.COUNT")
with TraceWriter(sys.argv[1], rotation=Rotation(every_bytes=100_000)) as w:
    run(g, trace=w)
"""


def test_a_crash_during_a_rotation_leaves_every_segment_readable(tmp_path: Path) -> None:
    folder = tmp_path / "crash.d"
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASH))
    proc = subprocess.run(
        [sys.executable, str(script), str(folder)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 9, proc.stderr
    segs = list_segments(folder)
    assert len(segs) == 2
    assert len(list(folder.glob("*.trace.tmp"))) == 1  # the segment being created
    with open_trace(folder) as t:
        (summary,) = t.runs()
        assert summary.status == "crashed"
        r = t.run()
        stored = [open_trace(s).runs()[0].records for s in segs]
        assert summary.records == sum(stored) == len(r.columns())
        values = r.ips("R.OUT")["value"].tolist()
        assert values == list(range(len(values)))  # a prefix, in order, none twice
    # The next writer of the folder clears what the crash left and goes on.
    with TraceWriter(folder, rotation=Rotation(every_bytes=100_000)) as w:
        run(chain_graph(100), trace=w)
    assert not list(folder.glob("*.tmp*"))
    with open_trace(folder) as t:
        assert [r.status for r in t.runs()] == ["crashed", "completed"]


def test_closing_mid_run_marks_the_last_segment_interrupted(tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "int.d"
    with TraceWriter(folder, rotation=Rotation(every_seconds=10, clock=clock)) as w:
        w.start_run(info())
        for b in range(3):
            w.write(chain(5 * b + 1, 5))
            w.flush()
            clock.t += 10
    with open_trace(folder) as t:
        (summary,) = t.runs()
        assert (summary.status, summary.records) == ("interrupted", 15)
    assert [open_trace(s).runs()[0].status for s in list_segments(folder)] == [
        "rotated",
        "rotated",
        "interrupted",
    ]


def test_one_writer_owns_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "own.d"
    rot = Rotation(every_seconds=60)
    with (
        TraceWriter(folder, rotation=rot),
        pytest.raises(TraceFileError, match="one writer owns a folder"),
    ):
        TraceWriter(folder, rotation=rot)
    TraceWriter(folder, rotation=rot).close()  # free again


def test_bad_paths_are_refused_with_the_fix(tmp_path: Path) -> None:
    afile = tmp_path / "x.trace"
    afile.write_text("")
    with pytest.raises(TraceFileError, match="give a folder path"):
        TraceWriter(afile, rotation=Rotation(every_seconds=60))
    with pytest.raises(TraceFileError, match="does not exist; create it first"):
        TraceWriter(tmp_path / "no" / "d", rotation=Rotation(every_seconds=60))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TraceFileError, match="is a folder holding no trace segments"):
        open_trace(tmp_path / "empty")


# -- the command line ---------------------------------------------------------------------


def test_fbp_run_rotates_and_the_trace_commands_read_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = tmp_path / "chain.fbp"
    net.write_text("20000 -> COUNT R(core/Range) OUT -> IN A(core/Repeat) OUT -> IN D(core/Drop)\n")
    folder = tmp_path / "cli.d"
    args = ["run", str(net), "--trace", str(folder), "--progress", "off"]
    assert main([*args, "--trace-rotate", "300KB", "--trace-keep", "2"]) == 0
    assert len(list_segments(folder)) == 2
    capsys.readouterr()
    assert main(["trace", "summary", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    kept = sum(open_trace(s).runs()[0].records for s in list_segments(folder))
    assert out["runs"][0]["records"] == kept < 40_003
    with open_trace(folder) as t:
        first = int(t.run().columns().ip_id[0])
        child = next(ip.ip_id for ip in t.run().records() if ip.parents and ip.parents[0] < first)
    assert main(["trace", "lineage", str(folder), str(child)]) == 0
    assert "not in the trace (in a deleted segment" in capsys.readouterr().out
    # Mistakes are named with the fix.
    assert main([*args, "--trace-keep", "2"]) == 2
    assert "--trace-keep needs --trace-rotate" in capsys.readouterr().err
    assert main([*args, "--trace-rotate", "soon"]) == 2
    assert "give a size (500MB, 1GiB) or a duration" in capsys.readouterr().err


ENDLESS = {
    "properties": {"name": "forever"},
    "processes": {
        "Src": {"component": "support:Endless"},
        "Inc": {"component": "support:Inc"},
        "Drop": {"component": "core/Drop"},
    },
    "connections": [
        {"src": {"process": "Src", "port": "OUT"}, "tgt": {"process": "Inc", "port": "IN"}},
        {"src": {"process": "Inc", "port": "OUT"}, "tgt": {"process": "Drop", "port": "IN"}},
    ],
}


def _stored(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "fbp_trace_records_stored_total":
                return float(s.value)
    return 0.0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_a_service_stopped_or_killed_leaves_a_bounded_readable_folder(
    tmp_path: Path, sig: signal.Signals
) -> None:
    pytest.importorskip("prometheus_client", reason="needs the metrics extra")
    graph = tmp_path / "forever.json"
    graph.write_text(json.dumps(ENDLESS))
    folder = tmp_path / "svc.d"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    command = [
        sys.executable, "-m", "fbp", "run", str(graph), "--trace", str(folder),
        "--trace-rotate", "200KB", "--trace-keep", "3", "--metrics-port", "0",
        "--progress", "off",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "metrics: http://" in line, line
        url = line.split("metrics: ", 1)[1].split()[0]
        # The network never ends by itself: scrape until several segments were filled.
        for _ in range(2000):
            if _stored(url) > 40_000:
                break
        else:
            pytest.fail("the network stored too few records")
        proc.send_signal(sig)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == (143 if sig == signal.SIGTERM else -9)
    segs = list_segments(folder)
    assert len(segs) <= 3
    assert int(segs[-1].name[:6]) > 3  # older segments were deleted
    assert disk(folder) <= 3 * (200_000 + 65_536 + 65_536) + (16 << 20)  # + a live WAL
    statuses = [open_trace(s).runs()[0].status for s in segs]
    last = "interrupted" if sig == signal.SIGTERM else "crashed"
    assert statuses[:-1] == ["rotated"] * (len(segs) - 1)
    # A kill may fall between closing a segment and opening the next.
    assert statuses[-1] in ((last,) if sig == signal.SIGTERM else (last, "rotated"))
    with open_trace(folder) as t:
        r = t.run()
        assert r.summary.status == last
        values = r.ips("Inc.OUT")["value"].to_numpy()
        assert len(values) > 0
        assert (np.diff(values) == 1).all()  # the tail of the stream, none lost or twice
