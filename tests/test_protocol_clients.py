"""Several clients at once: shared graphs, per-client watching, request ids."""

from __future__ import annotations

from protocol.fbpclient import build, client, serving


async def test_two_clients_see_the_same_edits_and_runs() -> None:
    async with serving() as server, client(server) as a, client(server) as b:
        await a.send("graph", "clear", {"id": "g"}, request_id="r1")
        mine = await a.expect("graph", "clear")
        theirs = await b.expect("graph", "clear")
        assert mine["responseTo"] == "r1"
        assert "responseTo" not in theirs
        assert mine["payload"] == theirs["payload"] == {"id": "g"}
        await a.send(
            "graph",
            "addnode",
            {"id": "N", "component": "core/Repeat", "graph": "g"},
            request_id="r2",
        )
        assert (await a.expect("graph", "addnode"))["responseTo"] == "r2"
        assert (await b.expect("graph", "addnode"))["payload"]["id"] == "N"
        # B adds to the graph A created; A hears of it.
        await b.request("graph", "addnode", {"id": "S", "component": "core/Drop", "graph": "g"})
        assert (await a.expect("graph", "addnode"))["payload"]["id"] == "S"
        await b.request(
            "graph",
            "addedge",
            {"src": {"node": "N", "port": "out"}, "tgt": {"node": "S", "port": "in"}, "graph": "g"},
        )
        await a.expect("graph", "addedge")
        await a.request(
            "graph",
            "addinitial",
            {"src": {"data": "hi"}, "tgt": {"node": "N", "port": "in"}, "graph": "g"},
        )
        await b.expect("graph", "addinitial")
        # B watches nothing; A watches everything.
        await b.request("network", "edges", {"graph": "g", "edges": []})
        await a.send("network", "start", {"graph": "g"}, request_id="r3")
        assert (await a.expect("network", "started"))["responseTo"] == "r3"
        assert "responseTo" not in await b.expect("network", "started")
        seen_a = await a.collect_until("network", "stopped")
        seen_b = await b.collect_until("network", "stopped")
        assert [m["payload"]["data"] for m in seen_a if m["command"] == "data"] == ["hi", "hi"]
        assert [m for m in seen_b if m["command"] in ("data", "connect", "disconnect")] == []


async def test_a_client_leaving_mid_run_does_not_disturb_the_others() -> None:
    async with serving() as server, client(server) as a:
        await build(
            a,
            "g",
            {
                "nodes": {"Gen": "core/Range", "Sink": "core/Drop"},
                "edges": [("Gen.out", "Sink.in")],
                "iips": [(10**12, "Gen.count")],
            },
        )
        await a.request("network", "edges", {"graph": "g", "edges": []})
        async with client(server) as b:
            await b.send("network", "start", {"graph": "g"})
            await b.expect("network", "started")
            await b.expect("network", "data")  # events are flowing to B
            b.ws.transport.abort()  # B vanishes without a closing handshake
        stopped = await a.request("network", "stop", {"graph": "g"})
        assert stopped["payload"]["running"] is False
        assert len(server.live_clients()) == 1
        info = await a.request("runtime", "getruntime")
        assert info["payload"]["graph"] == "g"
