"""The Prometheus endpoint: scraped during a run, parsed, and checked against the trace."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import Explode, Inc

from fbp import Component, InPort, Network, OutPort

prometheus_client = pytest.importorskip("prometheus_client", reason="needs the metrics extra")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from fbp.observe import serve_metrics  # noqa: E402
from fbp.tracing import TraceWriter, open_trace  # noqa: E402

HELLO = str(Path(__file__).resolve().parent.parent / "networks" / "hello.fbp")


class Held(Component):
    """Emit 0..N-1 in substreams of 10, then hold until the test lets it end."""

    n: InPort[int]
    out: OutPort[int]
    release: anyio.Event

    async def run(self) -> None:
        n = await self.n.receive()
        for start in range(0, n, 10):
            async with self.out.substream(start):
                for i in range(start, min(start + 10, n)):
                    await self.out.send(i)
        await self.release.wait()


class Counted(Component):
    """Collect, and signal when EXPECT items have arrived."""

    in_: InPort[Any]
    got: list[Any]
    done: anyio.Event
    expect: int

    async def run(self) -> None:
        self.got = []
        async for x in self.in_:
            self.got.append(x)
            if len(self.got) == self.expect:
                self.done.set()


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _network(tmp_path: Path, n: int, capacity: int) -> tuple[Network, TraceWriter, Any]:
    sink = TraceWriter(tmp_path / "run.trace")
    net = Network("metered", capacity=capacity, trace=sink)
    src = net.add_process("Src", Held)
    net.add_process("Inc", Inc)
    net.add_process("Boom", Explode)
    out = net.add_process("Out", Counted)
    dead = net.add_process("Dead", Counted)
    net.add_initial(("Src", "N", None), n)
    net.add_initial(("Boom", "BAD", None), 4)  # Inc makes 3 into 4: one dead letter
    net.connect(("Src", "OUT", None), ("Inc", "IN", None))
    net.connect(("Inc", "OUT", None), ("Boom", "IN", None))
    net.connect(("Boom", "OUT", None), ("Out", "IN", None))
    net.connect(("Boom", "ERROR", None), ("Dead", "IN", None))
    src.component.release = anyio.Event()  # type: ignore[attr-defined]
    for proc, expect in ((out, n - 1), (dead, 1)):
        proc.component.done = anyio.Event()  # type: ignore[attr-defined]
        proc.component.expect = expect  # type: ignore[attr-defined]
    return net, sink, (src.component, out.component, dead.component)


@pytest.mark.parametrize("capacity", [1, 32])
async def test_scraped_counters_agree_with_the_trace(
    tmp_path: Path, capacity: int, execution: str
) -> None:
    n = 200
    net, sink, (src, out, dead) = _network(tmp_path, n, capacity)
    server = serve_metrics(net, 0)
    scraped: dict[Any, float] = {}
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(net.run)
                await out.done.wait()
                await dead.done.wait()
                # Every IP is through; the source still runs, so the run is live.
                scraped = await anyio.to_thread.run_sync(_scrape, server.url)
                src.release.set()
    finally:
        server.close()
        sink.close()

    def metric(name: str, **labels: str) -> float:
        return scraped[(name, tuple(sorted(labels.items())))]

    assert metric("fbp_run_info", network="metered", run_id=net.run_id) == 1.0
    assert metric("fbp_process_running", process="Src") == 1.0
    with open_trace(tmp_path / "run.trace") as trace:
        run = trace.run()
        edges = {(e.src, e.tgt): e for e in run.edges()}
        for (src_addr, tgt_addr), e in edges.items():
            if src_addr is None:
                continue  # IIPs
            proc = src_addr.split(".")[0]
            assert metric("fbp_ips_sent_total", process=proc, port=src_addr) == e.ips + e.brackets
            edge = f"{src_addr} -> {tgt_addr}"
            assert metric("fbp_edge_ips_total", edge=edge) == e.ips + e.brackets
            assert metric("fbp_edge_buffered", edge=edge) == 0
            assert metric("fbp_edge_capacity", edge=edge) == capacity
            tproc = tgt_addr.split(".")[0]
            assert (
                metric("fbp_ips_received_total", process=tproc, port=tgt_addr) == e.ips + e.brackets
            )
        dead_letters = len(run.ips("Boom.ERROR", kind="dead"))
        assert dead_letters == 1
        assert metric("fbp_process_errors_total", process="Boom") == dead_letters
        assert metric("fbp_process_errors_total", process="Inc") == 0
        # IIPs are received too: one on Src.N.
        assert metric("fbp_ips_received_total", process="Src", port="Src.N") == 1
        assert metric("fbp_dropped_total", process="Out", port="Out.IN") == 0
        # The trace counters: what the writer got is durable or in the lag.
        records = metric("fbp_trace_records_total")
        stored = metric("fbp_trace_records_stored_total")
        lag = metric("fbp_trace_lag_records")
        assert stored <= records
        assert lag >= records - stored
        assert records + len(net.trace_buf) <= run.summary.records
    # Time counters exist for every input port and are never negative.
    blocked = [v for (name, _), v in scraped.items() if name == "fbp_blocked_seconds_total"]
    assert blocked
    assert all(v >= 0 for v in blocked)


async def test_metrics_of_an_untraced_run_have_no_trace_family() -> None:
    net = Network("plain")
    net.add_process("Inc", Inc)
    server = serve_metrics(net, 0)
    try:
        scraped = await anyio.to_thread.run_sync(_scrape, server.url)
    finally:
        server.close()
    names = {name for name, _ in scraped}
    assert "fbp_run_info" in names
    assert not any(name.startswith("fbp_trace") for name in names)


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    from fbp.cli import main

    net = Network("x")
    with serve_metrics(net, 0) as server:
        code = main(["run", HELLO, "--metrics-port", str(server.port), "--progress", "off"])
    assert code == 2
