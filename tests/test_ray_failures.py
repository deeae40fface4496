"""Failures on Ray: a component that raises in an actor, an actor's worker killed with
kill -9, Ctrl-C; each bounded in time, with the trace kept."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

import fbp.graph
from fbp import ProcessError
from fbp.testing import MemorySink

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BOOM = """\
properties: {name: Boom}
processes:
  Numbers: core/Range
  Boom: {component: "support:ExplodeLooper", metadata: {partition: work}}
  Show: core/Drop
connections:
  - {data: 10, tgt: Numbers.COUNT}
  - Numbers.OUT -> Boom.IN
  - Boom.OUT -> Show.IN
"""


def _no_ids(text: str) -> str:
    # IPs that crossed a partition carry an id; an untraced in-process run shows none.
    return re.sub(r"#\d+ ", "", text)


async def test_a_component_raising_in_an_actor_fails_the_run_as_in_process(
    tmp_path: Path, ray_backend: Any
) -> None:
    path = tmp_path / "boom.yaml"
    path.write_text(BOOM)
    with pytest.raises(ProcessError) as local:
        await fbp.graph.run_async(path)
    sink = MemorySink()
    with anyio.fail_after(60), pytest.raises(ProcessError) as remote:
        await ray_backend.run(path, trace=sink)
    assert _no_ids(str(remote.value)) == _no_ids(str(local.value))
    assert "process 'Boom'" in str(remote.value)
    assert "RuntimeError: three is not allowed" in str(remote.value)
    assert "Boom.IN" in str(remote.value)
    assert remote.value.process == "Boom"
    assert isinstance(remote.value.cause, RuntimeError)
    assert sink.status == "failed"
    assert [r[6] for r in sink.sent("Boom.OUT")] == [0, 1, 2]  # what it sent before


STALL = """\
properties: {name: Stall}
processes:
  Numbers: core/Range
  Stall: {component: "ray_components:Stall", metadata: {partition: doomed}}
  Show: core/Drop
  Pids: core/Drop
connections:
  - {data: 1000, tgt: Numbers.COUNT}
  - {data: 5, tgt: Stall.AFTER}
  - Stall.PID -> Pids.IN
  - Numbers.OUT -> Stall.IN
  - Stall.OUT -> Show.IN
"""


async def test_an_actor_killed_fails_the_run_within_seconds_naming_the_process(
    tmp_path: Path, ray_backend: Any
) -> None:
    from fbp.ray import PartitionLost

    path = tmp_path / "stall.yaml"
    path.write_text(STALL)
    stalled = anyio.Event()
    pid: list[int] = []

    class Watch(MemorySink):
        batch_size = 1  # every record goes to the driver at once

        def write(self, records: list[Any]) -> None:
            super().write(records)
            if not pid and self.ports and (got := self.sent("Stall.PID")):
                pid.append(got[0][6])  # Stall has sent its five IPs, and waits
                stalled.set()

    sink = Watch()

    async def kill_when_stalled() -> None:
        await stalled.wait()
        os.kill(pid[0], signal.SIGKILL)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(kill_when_stalled)
            with pytest.raises(PartitionLost) as err:
                await ray_backend.run(path, trace=sink)
    assert err.value.processes == ("Stall",)
    assert "partition 'doomed' (process Stall) was lost" in str(err.value)
    assert sink.status == "failed"
    assert [r[6] for r in sink.sent("Stall.OUT")] == [0, 1, 2, 3, 4]
    assert len(sink.sent("Numbers.OUT")) >= 5


TICKS = """\
properties: {name: Ticks}
processes:
  Ticks: ray_components:Ticks
  Work: {component: "ray_components:Spin", metadata: {partition: work}}
  Show: core/Output
connections:
  - {data: 0.01, tgt: Ticks.PERIOD}
  - {data: 1, tgt: Work.MS}
  - Ticks.OUT -> Work.IN
  - Work.OUT -> Show.IN
"""


def test_ctrl_c_stops_the_job_cleanly_and_keeps_the_trace(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the Ray backend's tests need the 'ray' extra")
    from fbp.tracing import open_trace

    path = tmp_path / "ticks.yaml"
    path.write_text(TICKS)
    trace = tmp_path / "run.trace"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fbp", "run", str(path), "--backend", "ray", "--trace", str(trace)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for _ in range(3):  # IPs have crossed to the actor and back
            assert proc.stdout.readline().strip().isdigit()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: network 'Ticks' stopped cleanly" in err
    with open_trace(trace) as t:
        run = t.run()
        assert run.summary.status == "interrupted"
        sent = run.ips("Work.OUT")
        assert len(sent) >= 3
        assert list(sent["value"]) == sorted(sent["value"])
    # The local Ray it started is gone with it (its session is named after its pid).
    leftover = subprocess.run(
        ["pgrep", "-f", f"session_[0-9_-]*_{proc.pid}(/| |$)"], capture_output=True, check=False
    )
    assert leftover.stdout == b""
