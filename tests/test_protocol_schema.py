"""Every kind of message the runtime sends validates against fbp-protocol's own schemas.

The schemas and their validator (tv4) come from the npm package ``fbp-protocol`` in
``tests/npm``; a scenario exercises every sub-protocol, and node checks each message
received against ``<protocol>/output/<command>``, as the protocol's test suite does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest
from protocol.fbpclient import build, client, serving

pytestmark = pytest.mark.node  # runs a reference tool from tests/npm

NPM = Path(__file__).resolve().parent / "npm"

VALIDATE = """
const fs = require('fs');
const tv4 = require('fbp-protocol/schema');
const msgs = JSON.parse(fs.readFileSync(process.argv[1], 'utf-8'));
const bad = [];
for (const m of msgs) {
  const schema = `/${m.protocol}/output/${m.command}`;
  const res = tv4.validateMultiple(m, schema);
  if (!res.valid || res.missing.length) {
    bad.push({schema, missing: res.missing,
              errors: res.errors.map((e) => `${e.message} at ${e.dataPath}`)});
  }
}
console.log(JSON.stringify(bad));
"""


async def test_every_message_kind_validates_against_the_protocol_schemas(tmp_path: Path) -> None:
    if not (NPM / "node_modules" / "fbp-protocol").exists():
        pytest.fail("tests/npm/node_modules is missing: run `npm ci --prefix tests/npm`")
    node = shutil.which("node")
    assert node is not None, "node is needed to check messages against fbp-protocol's schemas"
    async with serving(secret="s") as server:
        async with client(server) as anon:
            await anon.request("runtime", "getruntime")
            await anon.error("graph", "clear", {"id": "x"})
        async with client(server, secret="s") as peer:
            await peer.request("runtime", "getruntime")
            await build(
                peer,
                "g",
                {
                    "nodes": {"T": "test/Tagged", "D": "core/Drop", "B": "test/Explode"},
                    "edges": [("T.out", "D.in")],
                    "iips": [("x", "T.in"), (1, "B.in")],
                },
            )
            e = {"src": {"node": "T", "port": "out"}, "tgt": {"node": "D", "port": "in"}}
            for command, payload in [
                ("changenode", {"id": "T", "metadata": {"x": 3}}),
                ("changeedge", {**e, "metadata": {"route": 2}}),
                ("addinport", {"public": "IN", "node": "T", "port": "in"}),
                ("renameinport", {"from": "IN", "to": "INPUT"}),
                ("addoutport", {"public": "OUT", "node": "T", "port": "out", "metadata": {"x": 1}}),
                ("addgroup", {"name": "G", "nodes": ["T"], "metadata": {"description": "d"}}),
                ("renamegroup", {"from": "G", "to": "H"}),
                ("changegroup", {"name": "H", "metadata": {"description": "e"}}),
                ("removegroup", {"name": "H"}),
                ("renamenode", {"from": "B", "to": "Boom"}),
            ]:
                await peer.send("graph", command, {**payload, "graph": "g"})
                await peer.expect("graph", command)
            await peer.error(
                "graph", "addnode", {"id": "Q", "component": "core/Nope", "graph": "g"}
            )
            await peer.request("network", "edges", {"graph": "g", "edges": [e]})
            await peer.request("network", "debug", {"graph": "g", "enable": False})
            await peer.request("trace", "start", {"graph": "g", "buffersize": 100000})
            with server.forward_stdout():
                print("console line")
                await peer.expect("network", "output")
            await peer.send("network", "start", {"graph": "g"})
            await peer.expect("network", "processerror")
            await peer.expect("network", "stopped")
            await peer.request("network", "getstatus", {"graph": "g"})
            await peer.request("trace", "stop", {"graph": "g"})
            await peer.request("trace", "dump", {"graph": "g", "type": "flowtrace.json"})
            await peer.request("trace", "clear", {"graph": "g"})
            await peer.error("trace", "dump", {"graph": "nope", "type": "flowtrace.json"})
            await peer.request(
                "graph", "removeinitial", {"tgt": {"node": "T", "port": "in"}, "graph": "g"}
            )
            await peer.request("graph", "removeedge", {**e, "graph": "g"})
            await peer.request("graph", "removeinport", {"public": "INPUT", "graph": "g"})
            await peer.send("graph", "removenode", {"id": "D", "graph": "g"})
            await peer.expect("graph", "removenode")
            await peer.send("component", "list")
            await peer.expect("component", "componentsready")
            await peer.send("component", "getsource", {"name": "core/Drop"})
            await peer.expect("component", "source")
            await peer.error("component", "getsource", {"name": "core/Nope"})
            await peer.error("network", "start", {"graph": "nope"})
            await peer.error("runtime", "packet", {"graph": "g", "port": "x", "event": "data"})
            await build(
                peer,
                "loop",
                {
                    "nodes": {"A": "core/Repeat", "B": "core/Repeat"},
                    "edges": [("A.out", "B.in"), ("B.out", "A.in")],
                },
            )
            await peer.send("network", "start", {"graph": "loop"})
            await peer.expect("network", "error")
            await peer.expect("network", "stopped")
            await peer.request("network", "stop", {"graph": "loop"})
            # The runtime protocol: exported ports driven by the client; icons.
            await build(peer, "ex", {"nodes": {"R": "test/Iconic"}})
            for command, public, port in [("addinport", "IN", "in"), ("addoutport", "OUT", "out")]:
                payload = {"public": public, "node": "R", "port": port, "graph": "ex"}
                await peer.request("graph", command, payload)
                await peer.expect("runtime", "ports")
            await peer.send("network", "start", {"graph": "ex"})
            await peer.expect("network", "started")
            packet = {"graph": "ex", "port": "IN", "event": "data", "payload": {"a": [1]}}
            await peer.send("runtime", "packet", packet)
            await peer.expect("runtime", "packetsent")
            wanted = {("runtime", "packet"), ("network", "icon")}
            while wanted:
                msg = await peer.recv()
                wanted.discard((msg["protocol"], msg["command"]))
            await peer.request("network", "stop", {"graph": "ex"})
        messages = anon.log + peer.log
    kinds = {(m["protocol"], m["command"]) for m in messages}
    for expected in [
        ("runtime", "runtime"),
        ("runtime", "error"),
        ("runtime", "ports"),
        ("runtime", "packet"),
        ("runtime", "packetsent"),
        ("network", "icon"),
        ("graph", "error"),
        ("network", "begingroup"),
        ("network", "endgroup"),
        ("network", "connect"),
        ("network", "disconnect"),
        ("network", "data"),
        ("network", "processerror"),
        ("network", "error"),
        ("network", "output"),
        ("component", "component"),
        ("component", "componentsready"),
        ("component", "error"),
        ("trace", "dump"),
        ("trace", "error"),
    ]:
        assert expected in kinds, expected
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(messages))
    with anyio.fail_after(30):
        done = await anyio.run_process([node, "-e", VALIDATE, str(path)], cwd=NPM, check=False)
    assert done.returncode == 0, done.stderr.decode()
    bad = json.loads(done.stdout)
    assert bad == [], json.dumps(bad, indent=1)[:4000]
