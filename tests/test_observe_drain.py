"""Long-running networks: a drain stops the sources and lets in-flight IPs finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from support import Endless, Inc

from fbp import Component, InPort, Network


class Stopper(Component):
    """Collect; ask the network to stop after STOP_AT items, and keep collecting."""

    in_: InPort[int]
    got: list[int]
    stop_at: int

    async def run(self) -> None:
        self.got = []
        async for x in self.in_:
            self.got.append(x)
            if len(self.got) == self.stop_at:
                self.net.stop()  # type: ignore[attr-defined]
            await anyio.lowlevel.checkpoint()


async def test_stop_drains_every_ip_already_sent(capacity: int, execution: str) -> None:
    net = Network("endless", capacity=capacity)
    src = net.add_process("Src", Endless)
    inc = net.add_process("Inc", Inc)
    sink = net.add_process("Sink", Stopper)
    net.connect(("Src", "OUT", None), ("Inc", "IN", None))
    net.connect(("Inc", "OUT", None), ("Sink", "IN", None))
    sink.component.net = net  # type: ignore[attr-defined]
    sink.component.stop_at = 50  # type: ignore[attr-defined]
    with anyio.fail_after(10):
        result = await net.run()
    assert result.status == "interrupted"
    assert net.stopping
    sent = src.out_list[0].sent
    got: list[int] = sink.component.got  # type: ignore[attr-defined]
    # Nothing the source sent is lost: every IP went through to the end, in order.
    assert inc.out_list[0].sent == sent
    assert got == [i + 1 for i in range(sent)]
    assert len(got) >= 50


async def test_stop_before_the_run_starts_ends_it_at_once(execution: str) -> None:
    net = Network("endless")
    net.add_process("Src", Endless)
    net.add_process("Inc", Inc)
    net.connect(("Src", "OUT", None), ("Inc", "IN", None))
    net.stop()
    with anyio.fail_after(5):
        result = await net.run()
    assert result.status == "interrupted"
    assert result.ips == 0


GRAPH = {
    "properties": {"name": "forever"},
    "processes": {
        "Src": {"component": "support:Endless"},
        "Inc": {"component": "support:Inc"},
        "Slow": {"component": "support:SlowDrop"},
    },
    "connections": [
        {"src": {"process": "Src", "port": "OUT"}, "tgt": {"process": "Inc", "port": "IN"}},
        {"src": {"process": "Inc", "port": "OUT"}, "tgt": {"process": "Slow", "port": "IN"}},
    ],
}


def _scrape(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + "".join(f"|{v}" for _, v in sorted(s.labels.items()))
            out[key] = s.value
    return out


def test_sigterm_drains_and_exits_143(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client", reason="needs the metrics extra")
    graph = tmp_path / "forever.json"
    graph.write_text(json.dumps(GRAPH))
    trace = tmp_path / "forever.trace"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fbp",
            "run",
            str(graph),
            "--trace",
            str(trace),
            "--metrics-port",
            "0",
            "--capacity",
            "8",
            "--progress",
            "off",
            "--drain-timeout",
            "30",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "metrics: http://" in line, line
        url = line.split("metrics: ", 1)[1].split()[0]
        # The network never ends by itself: scrape until it has done real work.
        for _ in range(200):
            m = _scrape(url)
            if m.get("fbp_ips_sent_total|Inc.OUT|Inc", 0) > 500:
                break
        else:
            pytest.fail("the network made no progress")
        assert m["fbp_process_running|Src"] == 1.0
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "terminated" in err and "after draining" in err
    from fbp.tracing import open_trace

    with open_trace(trace) as t:
        run = t.run()
        assert run.summary.status == "interrupted"
        edges = {e.src: e.ips for e in run.edges() if e.src}
    # Every IP the source sent went through Inc: nothing in flight was lost.
    assert edges["Src.OUT"] == edges["Inc.OUT"] > 500
