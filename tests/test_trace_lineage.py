"""Lineage recorded from real networks, and what a trace keeps when a run goes wrong.

The first half runs small networks (``fbp.graph.Graph`` with components from
``tests/support.py``, ``components/`` and this module) under a ``TraceWriter`` and
checks every recorded parent exactly. The second half runs ``python -m fbp run NET
--trace FILE --json`` in a subprocess and ends the run by a failure, a deadlock,
SIGINT, SIGTERM and SIGKILL, then reads back what the trace kept.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import support as s

from fbp import IP, Component, InPort, OutPort
from fbp.graph import Graph, build_network
from fbp.testing import ListSource
from fbp.tracing import TracedIP, TracedRun, TraceWriter, open_trace

ROOT = Path(__file__).resolve().parent.parent


# -- components with lineage of their own ---------------------------------------------------


class Offset(Component):
    """Add K, an IIP, to every IP (a looper with two inputs)."""

    in_: InPort[int]
    k: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        k = await self.k.receive()
        async for x in self.in_:
            await self.out.send(x + k)


class Interleave(Component):
    """Send an IP of A, then one of B, in turn (a looper: parents follow its receives)."""

    a: InPort[int]
    b: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.a:
            await self.out.send(x)
            await self.out.send(await self.b.receive())


class Sums(Component):
    """Send the sum of each IP and the one before it, naming both as parents, then the
    grand total as a root (``parents=()``)."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        prev: IP | None = None
        total = 0
        async for ip in self.in_.packets():
            total += ip.payload
            if prev is not None:  # an IP and an id, both accepted
                await self.out.send(prev.payload + ip.payload, parents=(prev, ip.id))
            prev = ip
        await self.out.send(total, parents=())


# -- helpers -------------------------------------------------------------------------------


class Recorded:
    """The records of a traced run, with lookups by port and payload."""

    def __init__(self, run: TracedRun) -> None:
        self.run = run
        self.records = list(run.records())

    def sent(self, port: str, kind: str = "data") -> list[TracedIP]:
        """The records of ``kind`` at a port (the sender's; the receiver's for IIPs)."""
        return [r for r in self.records if r.port == port and r.kind == kind]

    def one(self, port: str, payload: Any, kind: str = "data") -> TracedIP:
        """The only record of ``kind`` at ``port`` carrying ``payload``."""
        found = [r for r in self.sent(port, kind) if r.payload == payload]
        assert len(found) == 1, f"{len(found)} records of {payload!r} at {port}"
        return found[0]

    def iip(self, port: str) -> int:
        """The id of the IIP of an input port."""
        (rec,) = self.sent(port, "iip")
        return rec.ip_id

    def parents(self, port: str, kind: str = "data") -> list[tuple[Any, tuple[int, ...]]]:
        """(payload, parents) of every record of ``kind`` at ``port``, in send order."""
        return [(r.payload, r.parents) for r in self.sent(port, kind)]


async def traced(g: Graph, path: Path, **kwargs: Any) -> Recorded:
    """Run ``g`` with a trace writer on ``path``; the run it recorded."""
    with TraceWriter(path) as writer:
        net = build_network(g, trace=writer, **kwargs)
        await net.run()
    return Recorded(open_trace(path).run())  # the file stays open while the run is used


def ids(records: Iterable[TracedIP]) -> tuple[int, ...]:
    return tuple(r.ip_id for r in records)


# -- lineage in networks ---------------------------------------------------------------------


@pytest.mark.usefixtures("execution")
async def test_fan_in_each_output_descends_from_the_ip_it_received(tmp_path: Path) -> None:
    g = Graph("fanin").add_process("A", "core/Range").add_process("B", "core/Range")
    g.add_initial(3, "A.COUNT").add_initial(3, "B.COUNT").add_initial(10, "B.START")
    g.add_process("C", s.Inc).add_process("S", s.Sink)
    g.connect("A.OUT", "C.IN").connect("B.OUT", "C.IN").connect("C.OUT", "S.IN")
    t = await traced(g, tmp_path / "t.trace", capacity=1)
    a_iips = (t.iip("A.COUNT"), t.iip("A.START"), t.iip("A.STEP"))  # in port order
    b_iips = (t.iip("B.COUNT"), t.iip("B.START"), t.iip("B.STEP"))
    assert t.parents("A.OUT") == [(x, a_iips) for x in (0, 1, 2)]
    assert t.parents("B.OUT") == [(x, b_iips) for x in (10, 11, 12)]
    outs = t.sent("C.OUT")
    assert sorted(r.payload for r in outs) == [1, 2, 3, 11, 12, 13]
    for r in outs:
        src = "A.OUT" if r.payload < 10 else "B.OUT"
        assert r.parents == (t.one(src, r.payload - 1).ip_id,)
    eleven = t.one("C.OUT", 11)
    assert ids(t.run.ancestors(eleven.ip_id)) == tuple(sorted((*b_iips, eleven.parents[0])))
    assert t.run.roots_of([eleven.ip_id]) == {eleven.ip_id: tuple(sorted(b_iips))}


@pytest.mark.usefixtures("execution")
async def test_fan_out_both_receivers_descend_from_the_one_ip_sent(tmp_path: Path) -> None:
    g = Graph("fanout").add_process("R", "core/Range").add_initial(3, "R.COUNT")
    g.add_process("P", s.Inc).add_process("Q", s.Inc)
    g.add_process("SP", s.Sink).add_process("SQ", s.Sink)
    g.connect("R.OUT", "P.IN").connect("R.OUT", "Q.IN")
    g.connect("P.OUT", "SP.IN").connect("Q.OUT", "SQ.IN")
    t = await traced(g, tmp_path / "t.trace")
    sent = t.sent("R.OUT")
    assert [r.payload for r in sent] == [0, 1, 2]  # one record per IP, however many edges
    for proc in ("P", "Q"):
        assert t.parents(f"{proc}.OUT") == [(x + 1, (r.ip_id,)) for x, r in enumerate(sent)]
    edges = {(e.src, e.tgt): e.ips for e in t.run.edges()}
    assert edges[("R.OUT", "P.IN")] == edges[("R.OUT", "Q.IN")] == 3
    descendants = ids(t.run.descendants(sent[1].ip_id))
    assert sorted(descendants) == sorted((t.one("P.OUT", 2).ip_id, t.one("Q.OUT", 2).ip_id))


@pytest.mark.usefixtures("execution")
async def test_array_ports_of_replicate_and_merge(tmp_path: Path) -> None:
    g = Graph("arrays").add_process("R", "core/Range").add_initial(3, "R.COUNT")
    g.add_process("Rep", "flow/Replicate").add_process("P", s.Inc)
    g.add_process("M", "flow/Merge").add_process("S", s.Sink)
    g.connect("R.OUT", "Rep.IN")
    g.connect("Rep.OUT[0]", "P.IN").connect("P.OUT", "M.IN[0]")
    g.connect("Rep.OUT[1]", "M.IN[1]").connect("M.OUT", "S.IN")
    t = await traced(g, tmp_path / "t.trace")
    source = t.sent("R.OUT")
    for element in ("Rep.OUT[0]", "Rep.OUT[1]"):  # each element sends IPs of its own
        assert t.parents(element) == [(r.payload, (r.ip_id,)) for r in source]
    first = t.sent("Rep.OUT[0]")
    assert t.parents("P.OUT") == [(r.payload + 1, (r.ip_id,)) for r in first]
    merged = t.sent("M.OUT")
    inputs = {r.ip_id: r for r in t.sent("P.OUT") + t.sent("Rep.OUT[1]")}
    assert sorted(p for r in merged for p in r.parents) == sorted(inputs)
    for r in merged:  # each merged IP has the IP received on its element as its parent
        (parent,) = r.parents
        assert inputs[parent].payload == r.payload
    assert {e.src for e in t.run.edges() if e.tgt.startswith("M.IN")} == {"P.OUT", "Rep.OUT[1]"}


def collate_graph(through: str | None) -> Graph:
    items = [{"k": "a", "v": 1}, {"k": "a", "v": 2}, {"k": "b", "v": 3}]
    g = Graph("groups").add_process("E", ListSource).add_initial(items, "E.ITEMS")
    g.add_process("C", "flow/Collate").add_initial("x['k']", "C.KEY")
    g.add_process("G", "flow/GroupBy").add_process("S", s.Sink)
    if through is None:
        g.connect("E.OUT", "C.IN").connect("C.OUT", "G.IN")
    else:
        g.add_process("F", through)
        g.connect("E.OUT", "C.IN").connect("C.OUT", "F.IN").connect("F.OUT", "G.IN")
    return g.connect("G.OUT", "S.IN")


@pytest.mark.usefixtures("execution")
async def test_brackets_of_collate_and_the_groups_of_groupby(tmp_path: Path) -> None:
    t = await traced(collate_graph(None), tmp_path / "t.trace")
    e = {r.payload["v"]: r.ip_id for r in t.sent("E.OUT")}
    assert t.parents("E.OUT") == [(r.payload, (t.iip("E.ITEMS"),)) for r in t.sent("E.OUT")]
    key = t.iip("C.KEY")
    # Data: the looper rule, the latest IP of IN and the KEY IIP; brackets: named parents.
    assert [(r.kind, r.payload, r.parents) for r in t.records if r.port == "C.OUT"] == [
        ("open", "a", (e[1],)),
        ("data", {"k": "a", "v": 1}, (e[1], key)),
        ("data", {"k": "a", "v": 2}, (e[2], key)),
        ("close", "a", (e[2],)),
        ("open", "b", (e[3],)),
        ("data", {"k": "b", "v": 3}, (e[3], key)),
        ("close", "b", (e[3],)),
    ]
    grouped = [r.ip_id for r in t.sent("C.OUT")]
    assert t.parents("G.OUT") == [
        ([{"k": "a", "v": 1}, {"k": "a", "v": 2}], (grouped[0], grouped[1])),
        ([{"k": "b", "v": 3}], (grouped[2],)),
    ]


@pytest.mark.usefixtures("execution")
async def test_a_bracket_forwarded_by_a_plain_looper_descends_from_the_one_received(
    tmp_path: Path,
) -> None:
    t = await traced(collate_graph("core/Repeat"), tmp_path / "t.trace")
    collated = [r for r in t.records if r.port == "C.OUT"]
    forwarded = [r for r in t.records if r.port == "F.OUT"]
    assert [(r.kind, r.payload) for r in forwarded] == [(r.kind, r.payload) for r in collated]
    assert [r.parents for r in forwarded] == [(r.ip_id,) for r in collated]
    data = [r.ip_id for r in forwarded if r.kind == "data"]
    assert [p for _, p in t.parents("G.OUT")] == [(data[0], data[1]), (data[2],)]


@pytest.mark.usefixtures("execution")
async def test_brackets_through_an_array_port_merge_descend_from_the_ones_received(
    tmp_path: Path,
) -> None:
    g = Graph("merged").add_process("E", ListSource).add_process("C", "flow/Collate")
    g.add_initial([{"k": "a", "v": 1}, {"k": "b", "v": 2}], "E.ITEMS")
    g.add_initial("x['k']", "C.KEY").add_process("R", "core/Range").add_initial(2, "R.COUNT")
    g.add_process("M", "flow/Merge").add_process("S", s.Sink)
    g.connect("E.OUT", "C.IN").connect("C.OUT", "M.IN[0]").connect("R.OUT", "M.IN[1]")
    g.connect("M.OUT", "S.IN")
    t = await traced(g, tmp_path / "t.trace")
    collated = {r.ip_id: r for r in t.records if r.port == "C.OUT"}
    ranged = {r.ip_id: r for r in t.sent("R.OUT")}
    merged = [r for r in t.records if r.port == "M.OUT"]
    assert len(merged) == len(collated) + len(ranged)
    for r in merged:  # brackets and data alike: the one IP received is the parent
        (parent,) = r.parents
        source = collated.get(parent) or ranged[parent]
        assert (r.kind, r.payload) == (source.kind, source.payload)
    # Each element's order is kept, brackets included.
    from_c = [collated[r.parents[0]] for r in merged if r.parents[0] in collated]
    assert [x.ip_id for x in from_c] == list(collated)


@pytest.mark.usefixtures("execution")
async def test_a_subnet_records_its_processes_under_flattened_names(tmp_path: Path) -> None:
    inner = Graph("twice_inc").add_process("first", s.Inc).add_process("second", s.Inc)
    inner.connect("first.OUT", "second.IN")
    inner.export_inport("IN", "first.IN").export_outport("OUT", "second.OUT")
    g = Graph("outer").add_process("src", "core/Range").add_initial(2, "src.COUNT")
    g.add_process("sub", inner).add_process("sink", s.Sink)
    g.connect("src.OUT", "sub.IN").connect("sub.OUT", "sink.IN")
    t = await traced(g, tmp_path / "t.trace")
    assert [p.name for p in t.run.processes()] == ["src", "sub/first", "sub/second", "sink"]
    src = t.sent("src.OUT")
    first = t.sent("sub/first.OUT")
    assert [(r.payload, r.parents) for r in first] == [
        (x + 1, (r.ip_id,)) for x, r in enumerate(src)
    ]
    assert t.parents("sub/second.OUT") == [(x + 2, (r.ip_id,)) for x, r in enumerate(first)]
    assert ("sub/first.OUT", "sub/second.IN") in {(e.src, e.tgt) for e in t.run.edges()}


@pytest.mark.usefixtures("execution")
async def test_a_looper_descends_from_what_it_received_since_its_previous_send(
    tmp_path: Path,
) -> None:
    g = Graph("loopers").add_process("A", ListSource).add_initial([1, 2], "A.ITEMS")
    g.add_process("B", ListSource).add_initial([10, 20], "B.ITEMS")
    g.add_process("I", Interleave).add_process("O", Offset).add_initial(100, "O.K")
    g.add_process("S", s.Sink)
    g.connect("A.OUT", "I.A").connect("B.OUT", "I.B").connect("I.OUT", "O.IN")
    g.connect("O.OUT", "S.IN")
    t = await traced(g, tmp_path / "t.trace", capacity=1)
    a = {r.payload: r.ip_id for r in t.sent("A.OUT")}
    b = {r.payload: r.ip_id for r in t.sent("B.OUT")}
    # Interleave passes each IP on unchanged: its only parent is the IP it passes on.
    assert t.parents("I.OUT") == [(1, (a[1],)), (10, (b[10],)), (2, (a[2],)), (20, (b[20],))]
    k = t.iip("O.K")  # a port fed by an IIP alone adds its IP to every send
    assert t.parents("O.OUT") == [(r.payload + 100, (r.ip_id, k)) for r in t.sent("I.OUT")]


@pytest.mark.usefixtures("execution")
async def test_a_non_looper_descends_from_the_ips_its_activation_consumed(
    tmp_path: Path,
) -> None:
    g = Graph("pairs").add_process("A", ListSource).add_initial([1, 2, 3], "A.ITEMS")
    g.add_process("B", ListSource).add_initial([10, 20, 30], "B.ITEMS")
    g.add_process("Add", s.Add).add_process("Sc", s.Scale).add_initial(0.5, "Sc.FACTOR")
    g.add_process("S", s.Sink)
    g.connect("A.OUT", "Add.A").connect("B.OUT", "Add.B").connect("Add.SUM", "Sc.IN")
    g.connect("Sc.OUT", "S.IN")
    t = await traced(g, tmp_path / "t.trace", capacity=1)
    pairs = zip(t.sent("A.OUT"), t.sent("B.OUT"), strict=True)
    assert t.parents("Add.SUM") == [(a.payload + b.payload, (a.ip_id, b.ip_id)) for a, b in pairs]
    factor = t.iip("Sc.FACTOR")  # a port fed by an IIP alone gives it to every activation
    assert t.parents("Sc.OUT") == [(r.payload * 0.5, (r.ip_id, factor)) for r in t.sent("Add.SUM")]
    activations = [r.activation for r in t.sent("Add.SUM")]
    assert len(set(activations)) == 3


@pytest.mark.usefixtures("execution")
async def test_explicit_parents_replace_the_default_rule(tmp_path: Path) -> None:
    g = Graph("explicit").add_process("E", ListSource).add_initial([1, 2, 4], "E.ITEMS")
    g.add_process("W", Sums).add_process("S", s.Sink)
    g.connect("E.OUT", "W.IN").connect("W.OUT", "S.IN")
    t = await traced(g, tmp_path / "t.trace")
    e = ids(t.sent("E.OUT"))
    assert t.parents("W.OUT") == [(3, (e[0], e[1])), (6, (e[1], e[2])), (7, ())]
    total = t.one("W.OUT", 7).ip_id
    assert t.run.roots_of([total]) == {total: (total,)}


@pytest.mark.usefixtures("execution")
async def test_a_dead_letter_is_recorded_on_the_error_port_with_the_failed_inputs(
    tmp_path: Path,
) -> None:
    g = Graph("dead").add_process("R", "core/Range").add_initial(5, "R.COUNT")
    g.add_process("X", s.Explode).add_process("S", s.Sink).add_process("D", s.Sink)
    g.connect("R.OUT", "X.IN").connect("X.OUT", "S.IN").connect("X.ERROR", "D.IN")
    t = await traced(g, tmp_path / "t.trace")
    bad = t.iip("X.BAD")  # the port's default, given as an IIP
    three = t.one("R.OUT", 3).ip_id
    (marker,) = t.sent("X.ERROR", "dead")
    (letter,) = t.sent("X.ERROR", "data")
    assert marker.ip_id == letter.ip_id
    assert marker.parents == letter.parents == (three, bad)
    assert letter.payload["input_ids"] == [three, bad]
    assert letter.payload["inputs"] == {"in": 3, "bad": 3}
    assert "cannot handle 3" in letter.payload["message"]
    assert t.run.ip(letter.ip_id).kind == "data"
    assert [x for x, _ in t.parents("X.OUT")] == [0, 1, 2, 4]
    assert t.run.summary.status == "completed"
    # As columns: both records, and the IP's parents listed once.
    frames = t.run.frames()
    links = frames.links[frames.links.child == letter.ip_id]
    assert links[["parent", "ord"]].values.tolist() == [[three, 0], [bad, 1]]
    assert (frames.records.ip_id == letter.ip_id).sum() == 2


# -- runs that end badly, in a subprocess ----------------------------------------------------

ENDLESS = (
    "processes: {E: 'support:Endless', R: core/Repeat, O: core/Output}\n"
    "connections: [E.OUT -> R.IN, R.OUT -> O.IN]\n"
)


def command(net: Path, trace: Path) -> list[str]:
    return [sys.executable, "-m", "fbp", "run", str(net), "--trace", str(trace), "--json"]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "tests")}


def run_to_end(net: Path, trace: Path) -> tuple[int, dict[str, Any], str]:
    """Run a network to its end; (exit code, --json summary, stderr)."""
    proc = subprocess.run(
        command(net, trace),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment(),
        timeout=60,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout.splitlines()[-1]), proc.stderr


class Running:
    """``python -m fbp run`` of an endless network, its output drained by a thread."""

    def __init__(self, net: Path, trace: Path, lines: int) -> None:
        self._stderr = trace.with_suffix(".stderr")
        with self._stderr.open("w") as err:
            self.proc = subprocess.Popen(
                command(net, trace),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=ROOT,
                env=environment(),
            )
        self.flowing = threading.Event()
        self.last = ""
        self._lines = lines
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for n, line in enumerate(self.proc.stdout, 1):
            self.last = line
            if n == self._lines:
                self.flowing.set()
        self.flowing.set()  # the output ended early: the assertions will say why

    def finish(self) -> tuple[int, str]:
        """Wait for the end; (exit code, stderr)."""
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=60)
        return code, self._stderr.read_text()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:  # a failed test leaves no endless run behind
            self.proc.kill()
            self.proc.wait(timeout=60)


def sent_by_process(run: TracedRun) -> dict[str, int]:
    return {p.name: p.ips_sent for p in run.processes()}


def assert_a_prefix_of_the_run(run: TracedRun) -> list[TracedIP]:
    """Every stored IP's parents are stored, and ids run from 1 without a gap."""
    records = list(run.records())
    stored = {r.ip_id for r in records}
    assert stored, "nothing was stored"
    assert sorted(stored) == list(range(1, len(stored) + 1))
    assert all(p in stored for r in records for p in r.parents)
    assert run.summary.records == len(records)
    return records


def test_a_raising_component_fails_the_run_and_keeps_every_ip_sent(tmp_path: Path) -> None:
    net = tmp_path / "explode.yaml"
    net.write_text(
        "processes: {N: core/Range, X: 'support:ExplodeLooper', S: core/Drop}\n"
        "connections: [{data: 10, tgt: N.COUNT}, N.OUT -> X.IN, X.OUT -> S.IN]\n"
    )
    code, summary, err = run_to_end(net, tmp_path / "t.trace")
    assert code == 1, err
    with open_trace(tmp_path / "t.trace") as trace:
        run = trace.run()
        assert run.summary.status == summary["status"] == "failed"
        assert "three is not allowed" in (run.summary.error or "")
        assert sent_by_process(run) == {p["name"]: p["sent"] for p in summary["processes"]}
        assert [ip.payload for ip in run.records() if ip.port == "X.OUT"] == [0, 1, 2]
        assert_a_prefix_of_the_run(run)


def test_a_deadlock_is_recorded_as_such(tmp_path: Path) -> None:
    code, summary, err = run_to_end(ROOT / "networks" / "deadlock.fbp", tmp_path / "t.trace")
    assert code == 3, err
    with open_trace(tmp_path / "t.trace") as trace:
        run = trace.run()
        assert run.summary.status == summary["status"] == "deadlock"
        assert "deadlock" in (run.summary.error or "").lower()
        assert sent_by_process(run) == {p["name"]: p["sent"] for p in summary["processes"]}
        assert_a_prefix_of_the_run(run)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_interrupts_it_and_keeps_every_ip_sent(
    tmp_path: Path, sig: signal.Signals
) -> None:
    net = tmp_path / "endless.yaml"
    net.write_text(ENDLESS)
    with Running(net, tmp_path / "t.trace", lines=5000) as running:
        assert running.flowing.wait(timeout=60)
        running.proc.send_signal(sig)
        code, err = running.finish()
    assert code == 128 + sig, err  # 130 for SIGINT, 143 for SIGTERM
    assert "Traceback" not in err
    summary = json.loads(running.last)
    with open_trace(tmp_path / "t.trace") as trace:
        run = trace.run()
        assert run.summary.status == summary["status"] == "interrupted"
        sent = sent_by_process(run)
        assert sent == {p["name"]: p["sent"] for p in summary["processes"]}
        assert sent["R"] >= 5000
        records = assert_a_prefix_of_the_run(run)
    assert Counter(r.kind for r in records) == Counter(data=sent["E"] + sent["R"])


def records_committed(path: Path) -> int:
    """The records the writer committed so far, read without writing to the file."""
    if not path.exists():
        return 0
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT max(records) FROM runs").fetchone()
    except sqlite3.OperationalError:  # the writer has not created its tables yet
        return 0
    finally:
        con.close()
    return int(row[0] or 0)


def test_a_killed_run_reads_back_crashed_with_a_prefix_of_its_ips(tmp_path: Path) -> None:
    net = tmp_path / "endless.yaml"
    net.write_text(ENDLESS)
    trace_file = tmp_path / "t.trace"
    with Running(net, trace_file, lines=5000) as running:
        assert running.flowing.wait(timeout=60)
        deadline = time.monotonic() + 30
        while (committed := records_committed(trace_file)) < 5000:  # wait on the file
            assert time.monotonic() < deadline, f"{committed} records committed in 30 s"
            assert running.proc.poll() is None, running.finish()
            time.sleep(0.01)
        running.proc.kill()
        code, _ = running.finish()
    assert code == -signal.SIGKILL
    with open_trace(trace_file) as trace:
        run = trace.run()
        assert run.summary.status == "crashed"
        assert run.summary.ended_ns is None
        records = assert_a_prefix_of_the_run(run)
    assert len(records) >= committed  # everything committed before the kill is there
    by_id = {r.ip_id: r for r in records}
    for r in records:  # Repeat forwards each IP of Endless, which has no inputs
        if r.process == "R":
            assert [by_id[p].process for p in r.parents] == ["E"]
        else:
            assert r.parents == ()


BLOCKING = (
    "processes: {B: 'support:SendThenBlock', D: core/Drop}\n"
    "connections: [{data: 300, tgt: B.COUNT}, B.OUT -> D.IN]\n"
)


class Blocked:
    """``python -m fbp run --trace`` of a network whose event loop blocks after 300 IPs."""

    def __init__(self, tmp_path: Path) -> None:
        net = tmp_path / "blocking.yaml"
        net.write_text(BLOCKING)
        self.trace = tmp_path / "t.trace"
        self.proc = subprocess.Popen(
            command(net, self.trace),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=environment(),
        )

    def wait_blocked(self) -> float:
        """Wait until the 300 IPs are sent and the loop blocks; the time then."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "sent 300", line + self.stderr()
        return time.monotonic()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        _, err = self.proc.communicate(timeout=60)
        return err

    def __enter__(self) -> Blocked:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=60)

    def sent(self) -> list[int]:
        with open_trace(self.trace) as trace:
            run = trace.run()
            self.status = run.summary.status
            return [ip.payload for ip in run.records() if ip.port == "B.OUT"]


def test_a_run_killed_while_its_loop_is_blocked_keeps_every_ip_sent_before(
    tmp_path: Path,
) -> None:
    with Blocked(tmp_path) as run:
        blocked_at = run.wait_blocked()
        # The window documented: records sent more than 0.25 s before a kill are stored.
        time.sleep(max(0.0, blocked_at + 0.3 - time.monotonic()))
        run.proc.kill()
        run.proc.communicate(timeout=60)
        assert run.sent() == list(range(300))
        assert run.status == "crashed"


def test_ctrl_c_stops_a_run_whose_loop_is_blocked_within_two_seconds(tmp_path: Path) -> None:
    with Blocked(tmp_path) as run:
        run.wait_blocked()
        t0 = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        code = run.proc.wait(timeout=60)
        took = time.monotonic() - t0
        err = run.stderr()
    assert code == 130, err
    assert took < 2.0, f"exited {took:.2f} s after the signal"
    assert "Traceback" not in err
    assert "not stopped in time" in err
    assert run.sent() == list(range(300))
    assert run.status == "interrupted"


def test_a_second_ctrl_c_exits_at_once_without_a_traceback(tmp_path: Path) -> None:
    with Blocked(tmp_path) as run:
        run.wait_blocked()
        run.proc.send_signal(signal.SIGINT)
        assert run.proc.stderr is not None
        seen = ""
        while "stopping the network" not in seen:  # the first one was handled
            line = run.proc.stderr.readline()
            assert line, seen
            seen += line
        run.proc.send_signal(signal.SIGINT)
        code = run.proc.wait(timeout=60)
        err = seen + run.stderr()
    assert code == 130, err
    assert "Traceback" not in err
    assert "stopping at once" in err
    assert "not stopped in time" not in err
    assert run.sent() == list(range(300))
    assert run.status == "interrupted"
