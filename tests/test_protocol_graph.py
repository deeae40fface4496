"""The graph sub-protocol over a real WebSocket: live edits and their acknowledgements."""

from __future__ import annotations

import json
from typing import Any

from protocol.fbpclient import Peer, build, client, serving


def _e(node: str, port: str, index: int | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"node": node, "port": port}
    if index is not None:
        d["index"] = index
    return d


async def _source(peer: Peer, gid: str) -> dict[str, Any]:
    await peer.send("component", "getsource", {"name": gid})
    msg = await peer.expect("component", "source")
    assert msg["payload"]["language"] == "json"
    data: dict[str, Any] = json.loads(msg["payload"]["code"])
    return data


async def test_clear_answers_without_unknown_keys_and_sets_the_main_graph() -> None:
    async with serving() as server, client(server) as peer:
        reply = await peer.request(
            "graph", "clear", {"id": "foo", "name": "Foo graph", "main": True, "baseDir": "/x"}
        )
        assert reply["payload"] == {"id": "foo", "name": "Foo graph", "main": True}
        runtime = await peer.request("runtime", "getruntime")
        assert runtime["payload"]["graph"] == "foo"
        assert (await _source(peer, "foo"))["properties"]["name"] == "Foo graph"


async def test_nodes_edges_iips_and_metadata_are_edited_and_echoed() -> None:
    async with serving() as server, client(server) as peer:
        await peer.request("graph", "clear", {"id": "g"})
        add = await peer.request(
            "graph",
            "addnode",
            {"id": "A", "component": "core/Repeat", "metadata": {"x": 1}, "graph": "g"},
        )
        assert add["payload"] == {
            "id": "A",
            "component": "core/Repeat",
            "metadata": {"x": 1},
            "graph": "g",
        }
        add = await peer.request(
            "graph", "addnode", {"id": "B", "component": "core/Drop", "graph": "g"}
        )
        assert add["payload"]["metadata"] == {}
        edge = {"src": _e("A", "out"), "tgt": _e("B", "in"), "metadata": {"route": 5}, "graph": "g"}
        assert (await peer.request("graph", "addedge", edge))["payload"] == edge
        iip = {"src": {"data": {"k": [1, 2]}}, "tgt": _e("A", "in"), "graph": "g"}
        assert (await peer.request("graph", "addinitial", iip))["payload"] == {
            **iip,
            "metadata": {},
        }
        change = await peer.request(
            "graph", "changenode", {"id": "A", "metadata": {"y": 2, "x": None}, "graph": "g"}
        )
        assert change["payload"]["metadata"] == {"y": 2}
        change = await peer.request(
            "graph",
            "changeedge",
            {
                "src": _e("A", "out"),
                "tgt": _e("B", "in"),
                "metadata": {"secure": True},
                "graph": "g",
            },
        )
        assert change["payload"]["metadata"] == {"route": 5, "secure": True}
        g = await _source(peer, "g")
        assert g["processes"]["A"] == {"component": "core/Repeat", "metadata": {"y": 2}}
        assert g["connections"] == [
            {
                "src": {"process": "A", "port": "out"},
                "tgt": {"process": "B", "port": "in"},
                "metadata": {"route": 5, "secure": True},
            },
            {"data": {"k": [1, 2]}, "tgt": {"process": "A", "port": "in"}},
        ]


async def test_renaming_a_node_carries_its_edges_iips_exports_and_groups() -> None:
    async with serving() as server, client(server) as peer:
        await build(
            peer,
            "g",
            {
                "nodes": {"A": "core/Repeat", "B": "core/Drop"},
                "edges": [("A.out", "B.in")],
                "iips": [("hi", "A.in")],
            },
        )
        await peer.request(
            "graph", "addinport", {"public": "IN", "node": "A", "port": "in", "graph": "g"}
        )
        await peer.request("graph", "addgroup", {"name": "grp", "nodes": ["A", "B"], "graph": "g"})
        reply = await peer.request("graph", "renamenode", {"from": "A", "to": "Z", "graph": "g"})
        assert reply["payload"] == {"from": "A", "to": "Z", "graph": "g"}
        g = await _source(peer, "g")
        assert set(g["processes"]) == {"Z", "B"}
        assert g["connections"][0]["src"]["process"] == "Z"
        assert g["connections"][1]["tgt"]["process"] == "Z"
        assert g["inports"]["IN"]["process"] == "Z"
        assert g["groups"][0]["nodes"] == ["Z", "B"]
        assert "already has a node 'B'" in await peer.error(
            "graph", "renamenode", {"from": "Z", "to": "B", "graph": "g"}
        )


async def test_removing_a_node_first_removes_what_is_attached_to_it() -> None:
    async with serving() as server, client(server) as peer:
        await build(
            peer,
            "g",
            {
                "nodes": {"A": "core/Repeat", "B": "core/Repeat", "C": "core/Drop"},
                "edges": [("A.out", "B.in"), ("B.out", "C.in")],
                "iips": [("x", "B.in")],
            },
        )
        await peer.request(
            "graph", "addoutport", {"public": "OUT", "node": "B", "port": "out", "graph": "g"}
        )
        await peer.send("graph", "removenode", {"id": "B", "graph": "g"})
        msgs = await peer.collect_until("graph", "removenode")
        assert [(m["command"], m["payload"]) for m in msgs if m["protocol"] == "graph"] == [
            ("removeedge", {"src": _e("A", "out"), "tgt": _e("B", "in"), "graph": "g"}),
            ("removeedge", {"src": _e("B", "out"), "tgt": _e("C", "in"), "graph": "g"}),
            ("removeinitial", {"src": {"data": "x"}, "tgt": _e("B", "in"), "graph": "g"}),
            ("removeoutport", {"public": "OUT", "graph": "g"}),
            ("removenode", {"id": "B", "graph": "g"}),
        ]
        g = await _source(peer, "g")
        assert set(g["processes"]) == {"A", "C"}
        assert g["connections"] == []
        assert g["outports"] == {}


async def test_removeinitial_by_target_returns_the_data_it_removed() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", {"nodes": {"A": "core/Repeat"}, "iips": [("Hello, world!", "A.in")]})
        reply = await peer.request("graph", "removeinitial", {"tgt": _e("A", "in"), "graph": "g"})
        assert reply["payload"] == {
            "src": {"data": "Hello, world!"},
            "tgt": _e("A", "in"),
            "graph": "g",
        }
        assert "no IIP into A.IN" in await peer.error(
            "graph", "removeinitial", {"tgt": _e("A", "in"), "graph": "g"}
        )


async def test_exported_ports_and_groups_are_added_renamed_changed_and_removed() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", {"nodes": {"A": "core/Repeat"}})
        ack = await peer.request(
            "graph", "addinport", {"public": "in", "node": "A", "port": "in", "graph": "g"}
        )
        assert ack["payload"] == {"public": "in", "node": "A", "port": "in", "graph": "g"}
        await peer.request(
            "graph", "addoutport", {"public": "out", "node": "A", "port": "out", "graph": "g"}
        )
        ren = await peer.request(
            "graph", "renameinport", {"from": "in", "to": "input", "graph": "g"}
        )
        assert ren["payload"] == {"from": "in", "to": "input", "graph": "g"}
        await peer.request("graph", "renameoutport", {"from": "out", "to": "output", "graph": "g"})
        await peer.request(
            "graph",
            "addgroup",
            {"name": "one", "nodes": ["A"], "metadata": {"description": "d"}, "graph": "g"},
        )
        await peer.request("graph", "renamegroup", {"from": "one", "to": "two", "graph": "g"})
        chg = await peer.request(
            "graph", "changegroup", {"name": "two", "metadata": {"color": 3}, "graph": "g"}
        )
        assert chg["payload"]["metadata"] == {"description": "d", "color": 3}
        g = await _source(peer, "g")
        assert g["inports"] == {"input": {"process": "A", "port": "in"}}
        assert g["outports"] == {"output": {"process": "A", "port": "out"}}
        assert g["groups"] == [
            {"name": "two", "nodes": ["A"], "metadata": {"description": "d", "color": 3}}
        ]
        await peer.request("graph", "removeinport", {"public": "input", "graph": "g"})
        await peer.request("graph", "removegroup", {"name": "two", "graph": "g"})
        g = await _source(peer, "g")
        assert (g["inports"], g["groups"]) == ({}, [])
        assert "exports no outport 'nope' (it exports: output)" in await peer.error(
            "graph", "removeoutport", {"public": "nope", "graph": "g"}
        )


async def test_edits_that_do_not_fit_the_graph_are_refused_with_the_reason() -> None:
    async with serving() as server, client(server) as peer:
        assert await peer.error("graph", "addnode", {"id": "A", "component": "core/Repeat"}) == (
            "No graph specified"
        )
        assert await peer.error(
            "graph", "addnode", {"id": "A", "component": "core/Repeat", "graph": "nope"}
        ) == ("Requested graph not found")
        await build(peer, "g", {"nodes": {"A": "core/Repeat", "B": "core/Drop"}})
        text = await peer.error(
            "graph", "addnode", {"id": "C", "component": "core/Repaet", "graph": "g"}
        )
        assert "unknown component 'core/Repaet'" in text and "core/Repeat" in text
        text = await peer.error(
            "graph", "addnode", {"id": "A", "component": "core/Drop", "graph": "g"}
        )
        assert "already has a node 'A'" in text
        text = await peer.error(
            "graph", "addedge", {"src": _e("A", "outt"), "tgt": _e("B", "in"), "graph": "g"}
        )
        assert "node 'A' (core/Repeat) has no output port 'outt' (its output ports: out)" in text
        text = await peer.error(
            "graph", "addedge", {"src": _e("A", "out"), "tgt": _e("Q", "in"), "graph": "g"}
        )
        assert "graph 'g' has no node 'Q' (its nodes: A, B)" in text
        text = await peer.error(
            "graph", "addedge", {"src": _e("A", "out", 2), "tgt": _e("B", "in"), "graph": "g"}
        )
        assert "A.OUT is not an array port; drop the index 2" in text
        text = await peer.error(
            "graph", "addedge", {"src": {"node": "A"}, "tgt": _e("B", "in"), "graph": "g"}
        )
        assert "'src.port' must be a non-empty string" in text
        text = await peer.error(
            "graph", "addinitial", {"src": "x", "tgt": _e("A", "in"), "graph": "g"}
        )
        assert "'src' must be an object" in text
        text = await peer.error(
            "graph", "removeedge", {"src": _e("B", "out"), "tgt": _e("A", "in"), "graph": "g"}
        )
        assert "has no edge B.OUT -> A.IN" in text
        text = await peer.error("graph", "frobnicate", {"graph": "g"})
        assert "unknown graph command 'frobnicate'" in text and "addnode" in text
        # Nothing above changed the graph.
        g = await _source(peer, "g")
        assert set(g["processes"]) == {"A", "B"} and g["connections"] == []


async def test_array_ports_take_indices_and_the_port_index_notation() -> None:
    async with serving() as server, client(server) as peer:
        await build(
            peer, "g", {"nodes": {"M": "flow/Merge", "A": "core/Repeat", "B": "core/Repeat"}}
        )
        await peer.request(
            "graph", "addedge", {"src": _e("A", "out"), "tgt": _e("M", "in", 0), "graph": "g"}
        )
        await peer.request(
            "graph",
            "addedge",
            {"src": _e("B", "out"), "tgt": {"node": "M", "port": "in[1]"}, "graph": "g"},
        )
        g = await _source(peer, "g")
        assert [c["tgt"] for c in g["connections"]] == [
            {"process": "M", "port": "in", "index": 0},
            {"process": "M", "port": "in", "index": 1},
        ]
