"""Inlets, outlets and live edits of a running network (fbp._core._live)."""

from __future__ import annotations

import anyio
import pytest
from fbp_components.core import Collect, Drop, Range, Repeat

from fbp import Network, PacketTypeError
from fbp._core._live import LiveEditError
from fbp.testing import MemorySink

WAIT = 10.0


def _sink(traced: bool) -> MemorySink | None:
    return MemorySink() if traced else None


@pytest.mark.parametrize("traced", [False, True], ids=["plain", "traced"])
async def test_an_inlet_feeds_a_port_and_an_outlet_reads_one(traced: bool, capacity: int) -> None:
    sink = _sink(traced)
    net = Network("n", trace=sink, capacity=capacity, deadlock_interval=0.01)
    net.add_process("R", Repeat)
    inlet = net.add_inlet(("R", "IN", None))
    outlet = net.add_outlet(("R", "OUT", None))
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(net.run)
            got = []
            for x in ["a", {"b": 1}, 3]:
                await inlet.send(x)
                got.append(await outlet.receive())
            await anyio.sleep(0.05)  # several watchdog looks: waiting on an inlet is no deadlock
            assert net.status == "running"
            inlet.close()
            assert net.status in ("running", "done")
    assert got == [("data", "a"), ("data", {"b": 1}), ("data", 3)]
    assert net.status == "done"
    if sink is not None:
        # Packets from outside are recorded as IIPs of the port; what R sent has them as parents.
        iips = [r for r in sink.records if r[1] == 3]
        sent = [r for r in sink.records if r[1] == 0]
        assert [r[6] for r in iips] == ["a", {"b": 1}, 3]
        assert [r[5] for r in sent] == [(r[0],) for r in iips]


async def test_a_network_edited_while_it_runs() -> None:
    net = Network("n", capacity=2, deadlock_interval=0.01)
    net.add_process("R", Repeat)
    inlet = net.add_inlet(("R", "IN", None))
    outlet = net.add_outlet(("R", "OUT", None))
    net.add_process("Q", Repeat)  # reports what C, added below, sends
    net.add_inlet(("Q", "IN", None))
    reports = net.add_outlet(("Q", "OUT", None))
    net.allow_edits()
    with pytest.raises(LiveEditError, match="is not running"):
        net.edits()
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(net.run)
            await inlet.send(0)
            await outlet.receive()
            edits = net.edits()
            # A new process waits for its required input before it starts.
            assert edits.add_process("C", Collect, component_name="core/Collect") is False
            assert "C" in edits.pending
            edits.connect(("R", "OUT", None), ("C", "IN", None))
            assert "C" not in edits.pending
            edits.connect(("C", "OUT", None), ("Q", "IN", None))
            await inlet.send(1)
            assert await outlet.receive() == ("data", 1)
            # Removing C's only edge ends its stream: it emits what it collected.
            edits.disconnect(("R", "OUT", None), ("C", "IN", None))
            assert await reports.receive() == ("data", [1])
            assert net.processes["C"].ended
            # A closed stream cannot be reopened.
            with pytest.raises(LiveEditError, match="C has ended"):
                edits.connect(("R", "OUT", None), ("C", "IN", None))
            # A source joins, started by the IIP it needs.
            assert edits.add_process("G", Range, component_name="core/Range") is False
            edits.connect(("G", "OUT", None), ("R", "IN", None))
            edits.add_initial(("G", "COUNT", None), 3)
            assert [await outlet.receive() for _ in range(3)] == [("data", i) for i in range(3)]
            with pytest.raises(PacketTypeError, match=r"G\.START expects int"):
                edits.add_initial(("G", "START", None), "x")
            edits.remove_process("C")
            assert "C" not in net.processes
            tg.cancel_scope.cancel()
    assert net.status == "done"
    assert net.result().status == "interrupted"


async def test_removing_a_running_process_cancels_it() -> None:
    net = Network("n", capacity=1, deadlock_interval=0.01)
    net.add_process("G", Range)
    net.add_process("D", Drop)
    net.connect(("G", "OUT", None), ("D", "IN", None))
    net.add_initial(("G", "COUNT", None), 10**12)
    net.allow_edits()
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(net.run)
            await anyio.sleep(0.01)
            net.edits().remove_process("G")  # D's input ends with it, and so does the run
    assert net.status == "done"
    assert net.result().status == "completed"


async def test_a_deadlock_is_still_found_in_a_network_with_an_outlet() -> None:
    net = Network("n", capacity=0, deadlock_interval=0.01)
    net.add_process("A", Repeat)
    net.add_process("B", Repeat)
    net.connect(("A", "OUT", None), ("B", "IN", None))
    net.connect(("B", "OUT", None), ("A", "IN", None))
    net.add_outlet(("B", "OUT", None))  # nobody waits on it: the cycle is all there is
    with anyio.fail_after(WAIT), pytest.raises(Exception, match="deadlock"):
        await net.run()
