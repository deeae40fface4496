"""The runtime sub-protocol (exported ports), persist, client-sent components, icons."""

from __future__ import annotations

import json
from pathlib import Path

from protocol.fbpclient import build, client, serving


def _export(peer_graph: str, command: str, public: str, node: str, port: str) -> dict[str, str]:
    return {"public": public, "node": node, "port": port, "graph": peer_graph}


async def test_exported_ports_are_described_and_driven() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", {"nodes": {"Times": "math/Scale"}, "iips": [(3, "Times.factor")]})
        await peer.request("graph", "addinport", _export("g", "", "NUMBERS", "Times", "in"))
        ports = await peer.expect("runtime", "ports")
        assert ports["payload"]["graph"] == "g"
        [numbers] = ports["payload"]["inPorts"]
        assert numbers["id"] == "NUMBERS"
        assert numbers["type"] == "all"  # int | float
        assert numbers["schema"].startswith("data:application/schema+json,")
        assert numbers["description"] == "numbers to scale"
        await peer.request("graph", "addoutport", _export("g", "", "OUT", "Times", "out"))
        await peer.expect("runtime", "ports")
        await peer.send("runtime", "getruntime")
        assert (await peer.expect("runtime", "runtime"))["payload"]["graph"] == "g"
        follow = await peer.expect("runtime", "ports")
        assert [p["id"] for p in follow["payload"]["outPorts"]] == ["OUT"]
        await peer.request("network", "edges", {"graph": "g", "edges": []})
        await peer.request("network", "start", {"graph": "g"})
        for value, expected in [(2, 6), (0.5, 1.5)]:
            packet = {"graph": "g", "port": "numbers", "event": "data", "payload": value}
            sent = await peer.request("runtime", "packet", packet)
            assert sent["command"] == "packetsent"
            assert sent["payload"] == {**packet, "port": "NUMBERS"}
            out = await peer.expect("runtime", "packet")
            assert out["payload"] == {
                "graph": "g",
                "port": "OUT",
                "event": "data",
                "payload": expected,
            }
        # The network waits for more: an open exported port is not a deadlock.
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"]["running"] is True
        text = await peer.error(
            "runtime", "packet", {"graph": "g", "port": "nope", "event": "data", "payload": 1}
        )
        assert "exports no input port 'nope'" in text and "NUMBERS" in text
        text = await peer.error(
            "runtime", "packet", {"graph": "g", "port": "NUMBERS", "event": "data", "payload": "x"}
        )
        assert "runtime:packet to 'NUMBERS'" in text and "Times.IN" in text
        text = await peer.error(
            "runtime", "packet", {"graph": "g", "port": "NUMBERS", "event": "begingroup"}
        )
        assert "'begingroup' events are not taken" in text
        ack = await peer.request(
            "runtime", "packet", {"graph": "g", "port": "NUMBERS", "event": "connect"}
        )
        assert ack["command"] == "packetsent"
        await peer.request("network", "stop", {"graph": "g"})
        text = await peer.error(
            "runtime", "packet", {"graph": "g", "port": "NUMBERS", "event": "data", "payload": 1}
        )
        assert "is not running" in text


async def test_persisted_graphs_come_back_after_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "graphs"
    async with serving(persist=folder) as server, client(server) as peer:
        info = await peer.request("runtime", "getruntime")
        assert "network:persist" in info["payload"]["capabilities"]
        await build(
            peer,
            "saved",
            {"nodes": {"A": "core/Repeat", "B": "core/Drop"}, "edges": [("A.out", "B.in")]},
        )
        await peer.request("graph", "addinport", _export("saved", "", "IN", "A", "in"))
        await peer.request("graph", "clear", {"id": "scratch"})
        reply = await peer.request("network", "persist", {})
        assert reply["payload"] == {}
    stored = {p.name for p in folder.glob("*.json")}
    assert stored == {"saved.json", "scratch.json"}
    assert json.loads((folder / "saved.json").read_text())["processes"]["A"] == {
        "component": "core/Repeat"
    }
    async with serving(persist=folder) as server, client(server) as peer:
        await peer.send("runtime", "getruntime")
        assert (await peer.expect("runtime", "runtime"))["payload"]["graph"] == "saved"
        assert [p["id"] for p in (await peer.expect("runtime", "ports"))["payload"]["inPorts"]] == [
            "IN"
        ]
        source = await peer.request("component", "getsource", {"name": "saved"})
        graph = json.loads(source["payload"]["code"])
        assert set(graph["processes"]) == {"A", "B"}
        assert len(graph["connections"]) == 1
        # A persist replaces what the last one wrote.
        await peer.request("graph", "clear", {"id": "saved", "main": True})
        await peer.request("network", "persist", {})
    assert json.loads((folder / "saved.json").read_text())["processes"] == {}


UPPER = '''
from fbp import Component, InPort, OutPort


class Upper(Component):
    """Upper-case every string."""

    icon = "font"
    in_: InPort[str]
    out: OutPort[str]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x.upper())
'''


async def test_component_source_runs_code_only_when_the_operator_allows_it() -> None:
    async with serving(secret="s", allow_setsource=True) as server:
        async with client(server, secret="s") as peer:
            info = await peer.request("runtime", "getruntime")
            assert "component:setsource" in info["payload"]["capabilities"]
            source = {"name": "Upper", "library": "mine", "language": "python", "code": UPPER}
            await peer.send("component", "source", source)
            reply = await peer.expect("component", "component")
            assert reply["payload"]["name"] == "mine/Upper"
            assert reply["payload"]["icon"] == "font"
            assert [p["id"] for p in reply["payload"]["inPorts"]] == ["in"]
            got = await peer.request("component", "getsource", {"name": "mine/Upper"})
            assert got["payload"]["code"] == UPPER
            await build(peer, "g", {"nodes": {"U": "mine/Upper"}})
            await peer.request("graph", "addinport", _export("g", "", "IN", "U", "in"))
            await peer.request("graph", "addoutport", _export("g", "", "OUT", "U", "out"))
            await peer.request("network", "edges", {"graph": "g", "edges": []})
            await peer.request("network", "start", {"graph": "g"})
            await peer.request(
                "runtime", "packet", {"graph": "g", "port": "IN", "event": "data", "payload": "hi"}
            )
            assert (await peer.expect("runtime", "packet"))["payload"]["payload"] == "HI"
            await peer.request("network", "stop", {"graph": "g"})
            bad = {"name": "Bad", "language": "python", "code": "raise ValueError('no')"}
            text = await peer.error("component", "source", bad)
            assert "the code failed: ValueError: no" in text
            text = await peer.error("component", "source", {**bad, "code": "x = 1"})
            assert "must define a Component subclass named 'Bad'" in text
            text = await peer.error("component", "source", {**bad, "language": "javascript"})
            assert "takes Python code, not 'javascript'" in text
        async with client(server) as anon:  # without the secret: nothing
            text = await anon.error("component", "source", source)
            assert "access denied for component:source" in text
