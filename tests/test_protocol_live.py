"""Graph edits reach a running network (NoFlo's live editing), and unsafe ones are refused."""

from __future__ import annotations

from typing import Any

import pytest
from protocol.fbpclient import build, client, fbp_client, serving

ENDLESS = {
    "nodes": {"Gen": "core/Range", "Pace": "test/Paced", "Sink": "core/Drop"},
    "edges": [("Gen.out", "Pace.in"), ("Pace.out", "Sink.in")],
    "iips": [(10**12, "Gen.count")],
}


def _edge(src: str, tgt: str) -> dict[str, Any]:
    (sn, sp), (tn, tp) = src.split("."), tgt.split(".")
    return {"src": {"node": sn, "port": sp}, "tgt": {"node": tn, "port": tp}}


@pytest.mark.node
async def test_an_edge_added_to_a_running_network_carries_data_through_fbp_client() -> None:
    tap = "Pace() OUT -> IN Tap()"
    async with serving() as server, client(server) as peer:
        await build(peer, "g", ENDLESS)
        await peer.request("network", "edges", {"graph": "g", "edges": []})  # peer reads none
        report = await fbp_client(
            f"ws://127.0.0.1:{server.port}",
            [
                {
                    "send": [
                        "network",
                        "edges",
                        {"graph": "g", "edges": [_edge("Pace.out", "Tap.in")]},
                    ]
                },
                {"send": ["network", "start", {"graph": "g"}]},
                {
                    "send": [
                        "graph",
                        "addnode",
                        {"id": "Tap", "component": "core/Drop", "graph": "g"},
                    ]
                },
                {"send": ["graph", "addedge", {**_edge("Pace.out", "Tap.in"), "graph": "g"}]},
                {"until": ["network", "data"], "id": tap},
                {"send": ["graph", "removeedge", {**_edge("Pace.out", "Tap.in"), "graph": "g"}]},
                {"until": ["network", "disconnect"], "id": tap},
                {"send": ["network", "stop", {"graph": "g"}]},
            ],
        )
    assert report["failure"] is None, report
    assert report["protocolErrors"] == []
    assert [r for r in report["replies"] if "error" in r] == []
    data = [s["payload"] for s in report["signals"] if s["command"] == "data"]
    assert data and all(d["id"] == tap for d in data)
    # Range counts up: the new edge carries the numbers Pace sends from then on, in order.
    values = [d["data"] for d in data]
    assert values == list(range(values[0], values[0] + len(values)))


async def test_a_node_with_its_iip_and_edges_joins_a_running_network() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", ENDLESS)
        await peer.request("network", "edges", {"graph": "g", "edges": []})
        await peer.request("network", "start", {"graph": "g"})
        with server.forward_stdout():
            await _add_printing_branch(peer)
            lines = [
                (await peer.expect("network", "output"))["payload"]["message"] for _ in range(2)
            ]
        assert lines == ["0 DONE", "1 DONE"]
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"]["running"] is True  # the rest of the network runs on
        await peer.request("network", "stop", {"graph": "g"})


async def _add_printing_branch(peer: Any) -> None:
    for command, payload in [
        ("addnode", {"id": "More", "component": "core/Range"}),
        ("addnode", {"id": "Show", "component": "test/Shout"}),
        ("addnode", {"id": "Words", "component": "flow/Map"}),
        ("addedge", {**_edge("More.out", "Words.in")}),
        ("addedge", {**_edge("Words.out", "Show.in")}),
        (
            "addinitial",
            {"src": {"data": "str(x) + ' done'"}, "tgt": {"node": "Words", "port": "expr"}},
        ),
        ("addinitial", {"src": {"data": 2}, "tgt": {"node": "More", "port": "count"}}),
    ]:
        await peer.request("graph", command, {**payload, "graph": "g"})


async def test_removing_a_node_cancels_it_and_ends_the_streams_it_fed() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", ENDLESS)
        await peer.request("network", "edges", {"graph": "g", "edges": []})
        await peer.request("network", "start", {"graph": "g"})
        await peer.send("graph", "removenode", {"id": "Gen", "graph": "g"})
        msgs = await peer.collect_until("graph", "removenode")
        assert [m["command"] for m in msgs if m["protocol"] == "graph"] == [
            "removeedge",
            "removeinitial",
            "removenode",
        ]
        # Gen's edge is gone: Pace's input ends, and so does the whole network.
        stopped = await peer.expect("network", "stopped")
        assert stopped["payload"]["started"] is True


async def test_edits_that_cannot_be_applied_are_refused_and_change_nothing() -> None:
    async with serving() as server, client(server) as peer:
        await build(
            peer,
            "g",
            {
                "nodes": {"Gen": "core/Range", "Sink": "core/Drop", "Late": "core/Repeat"},
                "edges": [("Gen.out", "Sink.in")],
                "iips": [(10**12, "Gen.count"), ("once", "Late.in")],
            },
        )
        await peer.request(
            "graph", "addnode", {"id": "Out", "component": "core/Drop", "graph": "g"}
        )
        await peer.request("graph", "addedge", {**_edge("Late.out", "Out.in"), "graph": "g"})
        await peer.request("network", "edges", {"graph": "g", "edges": []})
        await peer.request("network", "start", {"graph": "g"})
        text = await peer.error("graph", "renamenode", {"from": "Gen", "to": "G2", "graph": "g"})
        assert "refused while the network of graph 'g' runs; stop it" in text
        # Late's input had only an IIP: its stream has ended (and Late with it, or soon).
        text = await peer.error("graph", "addedge", {**_edge("Gen.out", "Late.in"), "graph": "g"})
        assert "cannot be applied to the running network of graph 'g'" in text
        assert "Late has ended" in text or "Late.IN's stream has already ended" in text
        source = await peer.request("component", "getsource", {"name": "g"})
        assert "Late" in source["payload"]["code"]
        assert '"G2"' not in source["payload"]["code"]
        assert source["payload"]["code"].count('"Late"') == 3  # node, IIP, edge; no new edge
        # A recorded run keeps its ports: structural edits wait for the next run.
        await peer.request("trace", "start", {"graph": "g"})
        text = await peer.error(
            "graph", "addnode", {"id": "X", "component": "core/Drop", "graph": "g"}
        )
        assert "is recorded (trace:start)" in text
        await peer.request("trace", "stop", {"graph": "g"})
        await peer.request("network", "stop", {"graph": "g"})
        # Stopped, the graph takes every edit again.
        await peer.request("graph", "renamenode", {"from": "Gen", "to": "G2", "graph": "g"})


async def test_clearing_a_graph_stops_its_running_network() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", ENDLESS)
        await peer.request("network", "edges", {"graph": "g", "edges": []})
        await peer.request("network", "start", {"graph": "g"})
        await peer.send("graph", "clear", {"id": "g"})
        stopped = await peer.expect("network", "stopped")
        assert stopped["payload"]["running"] is False
        await peer.expect("graph", "clear")
        # Edits now go to the new, empty graph, whose network is not running.
        await peer.request("graph", "addnode", {"id": "N", "component": "core/Drop", "graph": "g"})
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"]["running"] is False
