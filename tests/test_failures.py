"""Failures end a run quickly with an error that names the element and the fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
import support as s

from fbp import DeadLetter, DeadlockError, GraphValidationError, ProcessError
from fbp.graph import Graph, build_network, loads_graph

ROOT = Path(__file__).resolve().parent.parent
FOREVER = """\
processes: {F: "support:Forever", S: core/Output}
connections: [F.OUT -> S.IN]
"""


def source_into(component: type, n: int = 10) -> Graph:
    g = Graph("fail").add_process("src", s.Numbers).add_initial(n, "src.N")
    g.add_process("bad", component).add_process("sink", s.Sink)
    g.connect("src.OUT", "bad.IN").connect("bad.OUT", "sink.IN")
    return g


@pytest.mark.usefixtures("execution")
async def test_a_raising_looper_names_process_port_and_ip(capacity: int) -> None:
    net = build_network(source_into(s.ExplodeLooper), capacity=capacity)
    with anyio.fail_after(5), pytest.raises(ProcessError) as info:
        await net.run()
    err = info.value
    assert err.process == "bad"
    assert err.port == "bad.IN"
    assert err.ip is not None and "3" in err.ip
    assert isinstance(err.cause, RuntimeError)
    assert "process 'bad' (support:ExplodeLooper) raised RuntimeError: three is not allowed" in (
        str(err)
    )
    assert "connect its ERROR port" in str(err)
    assert net.result().status == "failed"


@pytest.mark.usefixtures("execution")
async def test_a_raising_non_looper_without_error_port_stops_the_network() -> None:
    g = source_into(s.Explode)
    net = build_network(g)
    with anyio.fail_after(5), pytest.raises(ProcessError, match="cannot handle 3"):
        await net.run()


@pytest.mark.usefixtures("execution")
async def test_the_error_port_turns_failures_into_dead_letters(capacity: int) -> None:
    g = source_into(s.Explode, n=6)
    g.add_process("dlq", s.Sink).connect("bad.ERROR", "dlq.IN")
    net = build_network(g, capacity=capacity)
    with anyio.fail_after(5):
        result = await net.run()
    assert result.status == "completed"
    assert net.processes["sink"].component.items == [0, 1, 2, 4, 5]  # type: ignore[attr-defined]
    letters = net.processes["dlq"].component.items  # type: ignore[attr-defined]
    assert len(letters) == 1
    letter = letters[0]
    assert isinstance(letter, DeadLetter)
    assert letter.process == "bad"
    assert letter.inputs == {"in": 3, "bad": 3}
    assert letter.error_type == "ValueError" and "cannot handle 3" in letter.message


@pytest.mark.usefixtures("execution")
async def test_a_wrongly_typed_send_is_caught_at_the_port() -> None:
    g = Graph("wrong").add_process("w", s.WrongType).add_process("sink", s.Sink)
    g.connect("w.OUT", "sink.IN")
    with anyio.fail_after(5), pytest.raises(ProcessError) as info:
        await build_network(g).run()
    assert "w.OUT expects int but got str 'not a number'" in str(info.value)


def crossed(capacity: int) -> Graph:
    # Twice sends each IP to A then B; Concat reads all of A before any of B.
    # Once B's edge is full, Twice waits on B while Concat waits on A: a cycle.
    g = Graph("crossed").add_process("src", s.Numbers).add_initial(100, "src.N")
    g.add_process("twice", s.Twice).add_process("concat", s.Concat).add_process("sink", s.Sink)
    g.connect("src.OUT", "twice.IN")
    g.connect("twice.A", "concat.A").connect("twice.B", "concat.B")
    g.connect("concat.OUT", "sink.IN")
    return g


@pytest.mark.usefixtures("execution")
@pytest.mark.parametrize("capacity", [1, 4])
async def test_a_deadlock_is_detected_and_reported_with_its_cycle(capacity: int) -> None:
    net = build_network(crossed(capacity), capacity=capacity, deadlock_interval=0.1)
    t0 = time.monotonic()
    with anyio.fail_after(5), pytest.raises(DeadlockError) as info:
        await net.run()
    assert time.monotonic() - t0 < 2
    err = info.value
    cycle = "\n".join(err.cycle)
    assert f"twice waits to send on concat.B (full {capacity}/{capacity})" in cycle
    assert "concat waits to receive on concat.A (empty; open senders: twice)" in cycle
    assert "raise the capacity of a full edge" in str(err)
    assert net.result().status == "deadlock"


def test_a_type_mismatch_is_refused_at_load_naming_both_ends() -> None:
    g = Graph("mismatch").add_process("r", s.Readings).add_process("inc", s.Inc)
    g.add_initial(1, "r.N").connect("r.OUT", "inc.IN")
    with pytest.raises(GraphValidationError) as info:
        build_network(g)
    msg = str(info.value)
    assert "edge r.OUT -> inc.IN: inc.IN accepts int but r.OUT sends Reading" in msg
    assert "insert a converting process" in msg


def test_every_problem_is_reported_at_once_with_lines_and_hints() -> None:
    text = "\n".join(
        [
            "'x' -> IN Rep(core/Repeat) OUT -> IN Out(core/Ouput)",
            "Rep OUTT -> IN Drop(core/Drop)",
            "'many' -> COUNT Nums(core/Range)",
            "Nums OUT -> IN Show(core/Output)",
        ]
    )
    g = loads_graph(text, "fbp", source="bad.fbp")
    with pytest.raises(GraphValidationError) as info:
        build_network(g)
    issues = [str(i) for i in info.value.issues]
    assert len(issues) == 3, issues
    assert any(
        "bad.fbp:1" in i
        and "unknown component 'core/Ouput'" in i
        and "did you mean 'core/Output'?" in i
        for i in issues
    ), issues
    assert any(
        "bad.fbp:2" in i and "has no output port 'OUTT'" in i and "did you mean 'OUT'?" in i
        for i in issues
    )
    assert any(
        "bad.fbp:3" in i and "Nums.COUNT expects int but got str 'many'" in i for i in issues
    )


def test_a_required_port_left_open_is_refused() -> None:
    g = Graph("open").add_process("src", s.Numbers).add_process("sink", s.Sink)
    g.connect("src.OUT", "sink.IN")
    with pytest.raises(GraphValidationError, match=r"src\.N is a required input port"):
        build_network(g)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_a_run_cleanly_within_seconds(tmp_path: Path, sig: int) -> None:
    net = tmp_path / "forever.yaml"
    net.write_text(FOREVER)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fbp", "run", str(net), "--progress", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "1\n"  # the network is running
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 128 + sig  # 130 for Ctrl-C, 143 for SIGTERM
    assert "interrupted: network 'forever' stopped cleanly" in err
    assert "Traceback" not in err
