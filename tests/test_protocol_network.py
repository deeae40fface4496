"""The network sub-protocol over a real WebSocket: runs, data events, failures."""

from __future__ import annotations

from typing import Any

from protocol.fbpclient import build, client, serving

PIPE = {
    "nodes": {"Gen": "core/Range", "Pass": "core/Repeat", "Sink": "core/Drop"},
    "edges": [("Gen.out", "Pass.in"), ("Pass.out", "Sink.in")],
    "iips": [(3, "Gen.count")],
}


def _data(msgs: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [
        (m["payload"]["id"], m["payload"]["data"])
        for m in msgs
        if m["protocol"] == "network" and m["command"] == "data"
    ]


async def test_a_run_streams_data_events_with_edge_ids_then_stops() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", PIPE)
        await peer.send("network", "start", {"graph": "g"})
        started = await peer.expect("network", "started")
        assert started["payload"]["graph"] == "g"
        assert started["payload"]["started"] is True
        msgs = await peer.collect_until("network", "stopped")
        by_edge: dict[str, list[Any]] = {}
        for edge_id, value in _data(msgs):
            by_edge.setdefault(edge_id, []).append(value)
        assert by_edge == {
            "DATA -> COUNT Gen()": [3],
            "Gen() OUT -> IN Pass()": [0, 1, 2],
            "Pass() OUT -> IN Sink()": [0, 1, 2],
        }
        first = next(m for m in msgs if m["command"] == "data")
        assert first["payload"] == {
            "id": "DATA -> COUNT Gen()",
            "graph": "g",
            "tgt": {"node": "Gen", "port": "count"},
            "data": 3,
        }
        edge = next(m for m in msgs if m["payload"].get("id") == "Gen() OUT -> IN Pass()")
        assert edge["payload"]["src"] == {"node": "Gen", "port": "out"}
        # Every edge is opened with connect before its data and closed with disconnect.
        for command in ("connect", "disconnect"):
            ids = {m["payload"]["id"] for m in msgs if m["command"] == command}
            assert ids == {
                "DATA -> COUNT Gen()",
                "Gen() OUT -> IN Pass()",
                "Pass() OUT -> IN Sink()",
            }
        stopped = msgs[-1]["payload"]
        assert (stopped["started"], stopped["running"]) == (True, False)
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"] == {"graph": "g", "running": False, "started": True}
        stop = await peer.request("network", "stop", {"graph": "g"})
        assert (stop["payload"]["started"], stop["payload"]["running"]) == (False, False)
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"] == {"graph": "g", "running": False, "started": False}


async def test_a_graph_edited_while_stopped_runs_as_edited() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", PIPE)
        await peer.send("network", "start", {"graph": "g"})
        first = await peer.collect_until("network", "stopped")
        assert ("Pass() OUT -> IN Sink()", 2) in _data(first)
        # Replace the IIP and put an extra stage in the middle.
        await peer.request(
            "graph", "removeinitial", {"graph": "g", "tgt": {"node": "Gen", "port": "count"}}
        )
        await peer.request(
            "graph",
            "addinitial",
            {"graph": "g", "src": {"data": 5}, "tgt": {"node": "Gen", "port": "count"}},
        )
        await peer.request(
            "graph",
            "removeedge",
            {
                "graph": "g",
                "src": {"node": "Pass", "port": "out"},
                "tgt": {"node": "Sink", "port": "in"},
            },
        )
        await peer.request(
            "graph", "addnode", {"graph": "g", "id": "More", "component": "core/Repeat"}
        )
        await peer.request(
            "graph",
            "addedge",
            {
                "graph": "g",
                "src": {"node": "Pass", "port": "out"},
                "tgt": {"node": "More", "port": "in"},
            },
        )
        await peer.request(
            "graph",
            "addedge",
            {
                "graph": "g",
                "src": {"node": "More", "port": "out"},
                "tgt": {"node": "Sink", "port": "in"},
            },
        )
        await peer.send("network", "start", {"graph": "g"})
        await peer.expect("network", "started")
        second = _data(await peer.collect_until("network", "stopped"))
        assert ("DATA -> COUNT Gen()", 5) in second
        assert [d for i, d in second if i == "More() OUT -> IN Sink()"] == [0, 1, 2, 3, 4]
        assert not [i for i, _ in second if i == "Pass() OUT -> IN Sink()"]


async def test_a_component_that_raises_surfaces_as_processerror() -> None:
    async with serving() as server, client(server) as peer:
        await build(
            peer,
            "g",
            {"nodes": {"Boom": "test/Explode"}, "iips": [("bad input", "Boom.in")]},
        )
        await peer.send("network", "start", {"graph": "g"})
        err = await peer.expect("network", "processerror")
        assert err["payload"]["id"] == "Boom"
        assert err["payload"]["graph"] == "g"
        assert "ValueError: cannot handle 'bad input'" in err["payload"]["error"]
        assert "Traceback" not in err["payload"]["error"]
        stopped = await peer.expect("network", "stopped")
        assert stopped["payload"]["running"] is False
        # In debug mode the error carries the component's traceback.
        debug = await peer.request("network", "debug", {"graph": "g", "enable": True})
        assert debug["payload"]["debug"] is True
        await peer.send("network", "start", {"graph": "g"})
        err = await peer.expect("network", "processerror")
        assert "Traceback" in err["payload"]["error"]
        assert "raise ValueError" in err["payload"]["error"]


async def test_a_deadlock_surfaces_as_network_error_with_the_cycle() -> None:
    async with serving() as server, client(server) as peer:
        await build(
            peer,
            "loop",
            {
                "nodes": {"A": "core/Repeat", "B": "core/Repeat"},
                "edges": [("A.out", "B.in"), ("B.out", "A.in")],
            },
        )
        await peer.send("network", "start", {"graph": "loop"})
        await peer.expect("network", "started")
        err = await peer.expect("network", "error")
        text = err["payload"]["message"]
        assert err["payload"]["graph"] == "loop"
        assert "deadlock" in text
        assert "A waits to receive" in text and "B waits to receive" in text
        await peer.expect("network", "stopped")
        status = await peer.request("network", "getstatus", {"graph": "loop"})
        assert status["payload"]["running"] is False


async def test_an_invalid_graph_does_not_start_and_says_why() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", {"nodes": {"Gen": "core/Range", "Sink": "core/Drop"}})
        text = await peer.error("network", "start", {"graph": "g"})
        assert "Gen.COUNT is a required input port but nothing feeds it" in text
        assert "Sink.IN is a required input port" in text
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"] == {"graph": "g", "running": False, "started": False}
        assert "Requested graph not found" in await peer.error(
            "network", "start", {"graph": "nope"}
        )


async def test_stop_cancels_a_long_run_and_a_second_start_is_refused_meanwhile() -> None:
    async with serving() as server, client(server) as peer:
        await build(
            peer,
            "g",
            {
                "nodes": {"Gen": "core/Range", "Sink": "core/Drop"},
                "edges": [("Gen.out", "Sink.in")],
                "iips": [(10**12, "Gen.count")],
            },
        )
        await peer.request("network", "edges", {"graph": "g", "edges": []})
        await peer.send("network", "start", {"graph": "g"})
        await peer.expect("network", "started")
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"] == {"graph": "g", "running": True, "started": True}
        assert "already running" in await peer.error("network", "start", {"graph": "g"})
        stopped = await peer.request("network", "stop", {"graph": "g"})
        assert stopped["payload"]["started"] is False
        assert stopped["payload"]["uptime"] >= 0
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"] == {"graph": "g", "running": False, "started": False}


async def test_edges_selects_what_a_client_watches() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", PIPE)
        selected = [{"src": {"node": "Pass", "port": "out"}, "tgt": {"node": "Sink", "port": "in"}}]
        reply = await peer.request("network", "edges", {"graph": "g", "edges": selected})
        assert reply["payload"] == {"graph": "g", "edges": selected}
        await peer.send("network", "start", {"graph": "g"})
        msgs = await peer.collect_until("network", "stopped")
        assert {i for i, _ in _data(msgs)} == {"Pass() OUT -> IN Sink()"}
        # Selecting an edge into a port also shows the IIPs given to that port.
        iip_edge = [{"src": {"node": "X", "port": "out"}, "tgt": {"node": "Gen", "port": "count"}}]
        await peer.request("network", "edges", {"graph": "g", "edges": iip_edge})
        await peer.send("network", "start", {"graph": "g"})
        msgs = await peer.collect_until("network", "stopped")
        assert _data(msgs) == [("DATA -> COUNT Gen()", 3)]


async def test_brackets_become_begingroup_and_endgroup() -> None:
    async with serving() as server, client(server) as peer:
        await build(
            peer,
            "g",
            {
                "nodes": {"Tag": "test/Tagged", "Sink": "core/Drop"},
                "edges": [("Tag.out", "Sink.in")],
                "iips": [("x", "Tag.in")],
            },
        )
        await peer.send("network", "start", {"graph": "g"})
        msgs = await peer.collect_until("network", "stopped")
        on_edge = [
            (m["command"], m["payload"].get("group", m["payload"].get("data")))
            for m in msgs
            if m["payload"].get("id") == "Tag() OUT -> IN Sink()"
        ]
        assert on_edge == [
            ("connect", None),
            ("begingroup", "batch"),
            ("data", "x"),
            ("endgroup", "batch"),
            ("disconnect", None),
        ]


async def test_a_long_run_keeps_each_client_queue_bounded_and_says_what_it_dropped() -> None:
    n = 20_000
    async with serving(queue_size=8) as server, client(server) as peer:
        await build(
            peer,
            "g",
            {
                "nodes": {"Gen": "core/Range", "Sink": "core/Drop"},
                "edges": [("Gen.out", "Sink.in")],
                "iips": [(n, "Gen.count")],
            },
        )
        await peer.send("network", "start", {"graph": "g"})
        await peer.expect("network", "started")
        # Read nothing more while the network runs: wait for its end on the server's side.
        await server.sessions["g"].wait()
        (conn,) = server.live_clients()
        assert conn.dropped_total > 0
        assert conn.peak <= conn.capacity + 4  # a few replies may exceed it; events never
        msgs = await peer.collect_until("network", "stopped")
        data = _data(msgs)
        assert 0 < len(data) < n
        notices = [m for m in msgs if m["command"] == "output"]
        dropped_text = " ".join(m["payload"]["message"] for m in notices)
        assert "dropped" in dropped_text
        # The client is still served normally afterwards.
        status = await peer.request("network", "getstatus", {"graph": "g"})
        assert status["payload"]["running"] is False


async def test_console_output_is_forwarded_as_network_output() -> None:
    async with serving() as server, client(server) as peer:
        await build(peer, "g", {"nodes": {"Say": "test/Shout"}, "iips": [("hello", "Say.in")]})
        with server.forward_stdout():
            await peer.send("network", "start", {"graph": "g"})
            out = await peer.expect("network", "output")
            await peer.expect("network", "stopped")
        assert out["payload"] == {"message": "HELLO", "type": "message"}
