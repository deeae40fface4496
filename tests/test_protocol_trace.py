"""The trace sub-protocol: record runs, dump them as Flowtrace JSON, clear them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from protocol.fbpclient import Peer, build, client, serving

from fbp.protocol._trace import trim_flowtrace

ROOT = Path(__file__).resolve().parent.parent
SHOW = ROOT / "tests" / "npm" / "node_modules" / ".bin" / "flowtrace-show"

PIPE = {
    "nodes": {"Gen": "core/Range", "Pass": "core/Repeat", "Sink": "core/Drop"},
    "edges": [("Gen.out", "Pass.in"), ("Pass.out", "Sink.in")],
    "iips": [(4, "Gen.count")],
}


async def _run(peer: Peer, graph: str = "g") -> None:
    await peer.send("network", "start", {"graph": graph})
    await peer.expect("network", "stopped")


async def _dump(peer: Peer, graph: str = "g") -> dict[str, Any]:
    reply = await peer.request("trace", "dump", {"graph": graph, "type": "flowtrace.json"})
    assert reply["payload"]["graph"] == graph
    assert reply["payload"]["type"] == "flowtrace.json"
    data: dict[str, Any] = json.loads(reply["payload"]["flowtrace"])
    return data


def _data_events(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["payload"] for e in trace["events"] if e["command"] == "data"]


@pytest.mark.node
async def test_a_recorded_run_dumps_as_flowtrace_with_lineage(tmp_path: Path) -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", PIPE)
        started = await peer.request("trace", "start", {"graph": "g"})
        assert started["payload"] == {"graph": "g"}
        await _run(peer)
        trace = await _dump(peer)
        assert trace["header"]["main"] == "g"
        assert set(trace["header"]["graphs"]["g"]["processes"]) == {"Gen", "Pass", "Sink"}
        events = _data_events(trace)
        by_id: dict[str, list[Any]] = {}
        for e in events:
            by_id.setdefault(e["id"], []).append(e["data"])
        assert by_id["Gen() OUT -> IN Pass()"] == [0, 1, 2, 3]
        assert by_id["Pass() OUT -> IN Sink()"] == [0, 1, 2, 3]
        # Lineage: each IP Pass sent has the IP Gen sent with the same value as parent.
        lineage = [(e["payload"], e["lineage"]) for e in trace["events"] if e["command"] == "data"]
        gen = {p["data"]: li["ip_id"] for p, li in lineage if p["id"] == "Gen() OUT -> IN Pass()"}
        for p, li in lineage:
            if p["id"] == "Pass() OUT -> IN Sink()":
                assert li["parents"] == [gen[p["data"]]]
        if not SHOW.exists():
            pytest.fail("tests/npm/node_modules is missing: run `npm ci --prefix tests/npm`")
        node = shutil.which("node")
        assert node is not None, "node is needed to run the Flowtrace tools"
        path = tmp_path / "g.flowtrace.json"
        path.write_text(json.dumps(trace))
        with anyio.fail_after(30):
            shown = await anyio.run_process([node, str(SHOW), str(path)], check=False)
        assert shown.returncode == 0, shown.stderr.decode()
        assert "Gen OUT -> IN Pass DATA 3" in shown.stdout.decode()


async def test_stop_clear_and_dumps_without_a_recording() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", PIPE)
        empty = await _dump(peer)
        assert empty["events"] == [] and empty["header"]["main"] == "g"
        await peer.request("trace", "start", {"graph": "g"})
        await _run(peer)
        first = await _dump(peer)
        edges = [e for e in _data_events(first) if e["id"].endswith("Pass()") or "Sink" in e["id"]]
        assert len(edges) == 8
        assert (await peer.request("trace", "stop", {"graph": "g"}))["payload"] == {"graph": "g"}
        await peer.request(
            "graph", "removeinitial", {"graph": "g", "tgt": {"node": "Gen", "port": "count"}}
        )
        await peer.request(
            "graph",
            "addinitial",
            {"graph": "g", "src": {"data": 1}, "tgt": {"node": "Gen", "port": "count"}},
        )
        await _run(peer)  # not recorded: the dump still shows the recorded run
        assert _data_events(await _dump(peer)) == _data_events(first)
        assert (await peer.request("trace", "clear", {"graph": "g"}))["payload"] == {"graph": "g"}
        assert (await _dump(peer))["events"] == []
        assert "Requested graph not found" in await peer.error("trace", "dump", {"graph": "x"})
        text = await peer.error("trace", "dump", {"graph": "g", "type": "pcap"})
        assert "unknown trace type 'pcap'" in text
        text = await peer.error("trace", "start", {"graph": "g", "buffersize": "big"})
        assert "'buffersize' must be a number of bytes" in text


async def test_buffersize_keeps_the_newest_events_that_fit() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", PIPE)
        await peer.request("trace", "start", {"graph": "g"})
        await _run(peer)
        full = await _dump(peer)
        limit = len(json.dumps(full)) // 2
        reply = await peer.request("trace", "start", {"graph": "g", "buffersize": limit})
        assert reply["payload"] == {"graph": "g", "buffersize": limit}
        dump = await peer.request("trace", "dump", {"graph": "g", "type": "flowtrace.json"})
        text = dump["payload"]["flowtrace"]
        assert len(text.encode()) <= limit
        cut = json.loads(text)
        assert cut["header"] == full["header"]
        assert 0 < len(cut["events"]) < len(full["events"])
        assert cut["events"] == full["events"][-len(cut["events"]) :]


def test_trim_flowtrace_keeps_the_header_when_nothing_else_fits() -> None:
    text = json.dumps({"header": {"main": "g"}, "events": [{"n": i} for i in range(100)]})
    assert trim_flowtrace(text, 10**6) == text
    tiny = json.loads(trim_flowtrace(text, 40))
    assert tiny == {"header": {"main": "g"}, "events": []}
    some = json.loads(trim_flowtrace(text, 120))
    assert some["events"] == [{"n": i} for i in range(100 - len(some["events"]), 100)]
