"""The watchdog: deadlocks, live waits with deadlines, quiet networks, stopped runs."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import faults as f
import pytest
import support as s

from fbp import DeadlockError
from fbp.graph import Graph, build_network


def heartbeat(how: str, beats: int = 3) -> Graph:
    g = Graph("heartbeat").add_process("h", f.Heartbeat).add_process("e", f.Echo)
    g.add_initial(how, "h.HOW").add_initial(beats, "h.BEATS")
    g.connect("h.OUT", "e.IN").connect("e.OUT", "h.IN")
    return g


@pytest.mark.parametrize("how", ["move_on_after", "fail_after", "asyncio.timeout", "wait_for"])
async def test_a_receive_with_a_deadline_is_a_live_wait_not_a_deadlock(
    how: str, execution: str
) -> None:
    # Both processes wait to receive, in a cycle: without the deadline it would be a
    # deadlock; with it, the heartbeat wakes up three times (0.9 s, many looks) and ends.
    net = build_network(heartbeat(how), deadlock_interval=0.05)
    with anyio.fail_after(10):
        result = await net.run()
    assert result.status == "completed"
    assert {p.name: p.state for p in result.processes} == {"h": "ended", "e": "ended"}


async def test_the_same_cycle_without_a_deadline_is_a_deadlock(execution: str) -> None:
    g = Graph("cycle").add_process("a", f.Echo).add_process("b", f.Echo)
    g.connect("a.OUT", "b.IN").connect("b.OUT", "a.IN")
    net = build_network(g, deadlock_interval=0.05)
    with anyio.fail_after(10), pytest.raises(DeadlockError, match="wait-for cycle"):
        await net.run()


def stuck() -> Graph:
    g = Graph("stuck").add_process("st", f.Stuck).add_process("sink", s.Sink)
    return g.connect("st.OUT", "sink.IN")


async def test_a_process_stuck_on_something_else_is_diagnosed_after_a_quiet_period(
    caplog: pytest.LogCaptureFixture, execution: str
) -> None:
    net = build_network(stuck(), deadlock_interval=0.05, quiet_period=0.3)
    with caplog.at_level(logging.WARNING, logger="fbp"), anyio.move_on_after(1.5):
        await net.run()
    quiet = [r for r in caplog.records if "no IP has moved" in r.getMessage()]
    assert len(quiet) == 1  # once per quiet stretch
    event: dict[str, Any] = quiet[0].fbp_context
    assert event["network"] == "stuck"
    (st,) = [w for w in event["waiting"] if w.startswith("st ")]
    assert st.startswith("st awaits Event.wait() (")
    assert "faults.py:" in st and "in Stuck.run)" in st
    assert "sink waits to receive on sink.IN (empty; open senders: st)" in event["waiting"]


async def test_a_stopped_run_says_what_each_process_was_waiting_on(execution: str) -> None:
    net = build_network(stuck(), deadlock_interval=0.05)
    with anyio.move_on_after(0.5):
        await net.run()
    states = {p.name: p.state for p in net.result().processes}
    assert states["sink"] == "stopped while it waited to receive on sink.IN"
    assert states["st"].startswith("stopped while it awaited Event.wait() (")
    assert "in Stuck.run)" in states["st"]
    assert net.result().status == "interrupted"


async def test_a_live_network_reports_running_states(execution: str) -> None:
    net = build_network(stuck())
    async with anyio.create_task_group() as tg:
        tg.start_soon(net.run)
        with anyio.fail_after(5):
            await anyio.wait_all_tasks_blocked()
        states = {p.name: p.state for p in net.result().processes}
        tg.cancel_scope.cancel()
    assert states["sink"] == "waits to receive on sink.IN (empty; open senders: st)"
    assert states["st"].startswith("awaits Event.wait() (") and "in Stuck.run)" in states["st"]
