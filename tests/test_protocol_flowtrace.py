"""Flowtrace exports hold to the FBP protocol's schemas and replay into fbp-client.

A traced run with IIPs, brackets and a subnet is exported; every event's message is
validated against the schema that fbp-protocol (npm) ships for it, and the run is
replayed with ``flowtrace-replay`` (npm flowtrace) into ``fbp-client``, the
schema-checking client of noflo-ui, which must see every data event.
"""

from __future__ import annotations

import json
import shutil
import socket
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest
from protocol.fbpclient import NPM, fbp_client

from fbp.graph import build_network, loads_graph
from fbp.tracing import TraceWriter, export_flowtrace, open_trace

NETWORK = """
'[1, 2, 10, 20]' -> IN Numbers(core/Repeat) OUT -> IN Items(flow/Unbatch)
Items OUT -> IN Tens(flow/Collate) OUT -> IN Twice(examples/Double)
'x >= 10' -> KEY Tens
Twice OUT -> IN Show(core/Drop)
"""

VALIDATE = """
const fs = require('fs');
const tv4 = require('fbp-protocol/schema');
const trace = JSON.parse(fs.readFileSync(process.argv[1], 'utf-8'));
const bad = [];
for (const e of trace.events) {
  const message = {protocol: e.protocol, command: e.command, payload: e.payload};
  const schema = `/${e.protocol}/output/${e.command}`;
  const res = tv4.validateMultiple(message, schema);
  if (!res.valid || res.missing.length) {
    bad.push({schema, errors: res.errors.map((x) => `${x.message} at ${x.dataPath}`)});
  }
}
console.log(JSON.stringify({checked: trace.events.length, bad}));
"""


async def _export(tmp_path: Path) -> dict[str, Any]:
    graph = loads_graph(textwrap.dedent(NETWORK).strip() + "\n", "fbp")
    path = tmp_path / "run.trace"
    with TraceWriter(path) as writer:
        await build_network(graph, trace=writer).run()
    out = tmp_path / "run.flowtrace.json"
    with open_trace(path) as trace, out.open("w") as fp:
        export_flowtrace(trace.run(), fp)
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; the protocol's schemas are checked with Node.js")
    if not (NPM / "node_modules" / "fbp-protocol").exists():
        pytest.fail("tests/npm/node_modules is missing: run `npm ci --prefix tests/npm`")
    return node


@pytest.mark.node
async def test_every_event_validates_against_the_protocol_schemas(tmp_path: Path) -> None:
    trace = await _export(tmp_path)
    events = trace["events"]
    commands = {e["command"] for e in events}
    assert commands == {"data", "begingroup", "endgroup"}
    path = tmp_path / "events.json"
    path.write_text(json.dumps(trace))
    with anyio.fail_after(30):
        done = await anyio.run_process([_node(), "-e", VALIDATE, str(path)], cwd=NPM, check=False)
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["checked"] == len(events) > 0
    assert result["bad"] == [], json.dumps(result["bad"][:5], indent=1)
    # The lineage sits beside the payload, for every event.
    for e in events:
        assert set(e["lineage"]) == {"ip_id", "parents", "activation"}
        assert e["lineage"]["ip_id"] > 0


async def test_subnet_events_name_nodes_of_the_graphs_in_the_header(tmp_path: Path) -> None:
    trace = await _export(tmp_path)
    graphs = trace["header"]["graphs"]
    main = graphs[trace["header"]["main"]]
    assert "examples/Double" in graphs
    inner = graphs["examples/Double"]["processes"]
    seen_inside = 0
    for e in trace["events"]:
        p = e["payload"]
        if p.get("subgraph") == ["Twice"]:
            seen_inside += 1
            names = inner
        else:
            assert "subgraph" not in p
            names = main["processes"]
        for end in ("src", "tgt"):
            if end in p:
                assert p[end]["node"] in names, (end, p)
    assert seen_inside > 0  # the IIP of Twice's inner Times, at least
    # An edge into the subnet names the subnet and the port it exports.
    into = [e["payload"] for e in trace["events"] if e["payload"]["id"].endswith("IN Twice()")]
    assert into and all(p["tgt"] == {"node": "Twice", "port": "IN"} for p in into)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.node
async def test_flowtrace_replay_into_fbp_client_shows_every_data_event(tmp_path: Path) -> None:
    trace = await _export(tmp_path)
    path = tmp_path / "run.flowtrace.json"
    path.write_text(json.dumps(trace))
    replay = NPM / "node_modules" / "flowtrace" / "bin" / "flowtrace-replay"
    port = _free_port()
    cmd = [_node(), str(replay), "--no-open", "--host", "127.0.0.1", "--port", str(port), str(path)]
    async with await anyio.open_process(cmd, cwd=NPM) as proc:
        try:
            assert proc.stdout is not None
            with anyio.fail_after(20):
                line = b""
                async for chunk in proc.stdout:
                    line += chunk
                    if b"\n" in line:
                        break
            assert b"Trace live URL" in line, line
            main = trace["header"]["main"]
            report = await fbp_client(
                f"ws://127.0.0.1:{port}",
                [
                    {"send": ["network", "start", {"graph": main}]},
                    {"until": ["network", "stopped"]},
                ],
            )
        finally:
            proc.kill()
    assert report["failure"] is None, report
    assert report["protocolErrors"] == []
    shown = [s["payload"] for s in report["signals"] if s["command"] == "data"]
    recorded = [e["payload"] for e in trace["events"] if e["command"] == "data"]
    assert len(shown) == len(recorded) > 0
    assert [p["data"] for p in shown] == [p["data"] for p in recorded]
