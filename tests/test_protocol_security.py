"""Secrets, exposure, component lookup limits, and malformed messages."""

from __future__ import annotations

import json

import pytest
from protocol.fbpclient import build, client, serving

from fbp.protocol import RuntimeConfigError, RuntimeOptions, is_loopback

SECRET = "correct horse battery staple"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.0.2.7", False),
        ("no-such-host.invalid", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_listening_beyond_loopback_needs_a_secret() -> None:
    refused = r"refusing to listen on 0\.0\.0\.0 without a secret"
    with pytest.raises(RuntimeConfigError, match=refused):
        RuntimeOptions(host="0.0.0.0").check()
    with pytest.raises(RuntimeConfigError, match="--secret"):
        RuntimeOptions(host="").check()
    RuntimeOptions(host="0.0.0.0", secret=SECRET).check()
    RuntimeOptions(host="127.0.0.1").check()
    with pytest.raises(RuntimeConfigError, match="secret is empty"):
        RuntimeOptions(secret="").check()


async def test_messages_without_the_right_secret_are_refused_and_it_is_never_echoed() -> None:
    async with serving(secret=SECRET) as server:
        async with client(server) as anon:
            info = await anon.request("runtime", "getruntime")
            assert info["payload"]["capabilities"] == []
            assert "protocol:graph" in info["payload"]["allCapabilities"]
            text = await anon.error("graph", "clear", {"id": "g"})
            assert "access denied for graph:clear" in text
        async with client(server, secret="wrong") as wrong:
            text = await wrong.error("network", "getstatus", {"graph": "g"})
            assert "access denied" in text
            await wrong.send("graph", "clear", {"id": "g", "secret": "also wrong"})
            assert (await wrong.recv())["command"] == "error"
        async with client(server, secret=SECRET) as ok:
            info = await ok.request("runtime", "getruntime")
            assert "protocol:graph" in info["payload"]["capabilities"]
            await build(ok, "g", {"nodes": {"A": "core/Repeat"}, "iips": [(SECRET, "A.in")]})
            # The graph refused to the others was never created by them.
            assert list(server.store.graphs) == ["g"]
            # The 0.7 location of the secret, in the payload, is accepted too.
            await ok.ws.send(
                json.dumps(
                    {
                        "protocol": "network",
                        "command": "getstatus",
                        "payload": {"graph": "g", "secret": SECRET},
                    }
                )
            )
            status = await ok.expect("network", "status")
            assert "secret" not in status and "secret" not in status["payload"]
        for peer in (anon, wrong):
            assert all(SECRET not in raw for raw in peer.raw)
            assert all("secret" not in m and "secret" not in m["payload"] for m in peer.log)
        # The only place the secret comes back is the IIP data that holds it.
        assert all("secret" not in m for m in ok.log)


async def test_malformed_messages_get_protocol_errors_and_the_connection_survives() -> None:
    async with serving() as server, client(server) as peer:
        bad = [
            ("not json at all", "runtime", "not valid JSON"),
            ("[1, 2, 3]", "runtime", "must be a JSON object"),
            ('{"command": "getruntime", "payload": {}}', "runtime", "no 'protocol'"),
            ('{"protocol": "graph", "payload": {}}', "graph", "has no 'command'"),
            (
                '{"protocol": "graph", "command": "clear", "payload": 7}',
                "graph",
                "must be an object",
            ),
            (
                '{"protocol": "warp", "command": "engage", "payload": {}}',
                "runtime",
                "unknown protocol",
            ),
            (
                '{"protocol": "network", "command": "explode", "payload": {}}',
                "network",
                "unknown network command 'explode'",
            ),
            ('{"protocol": "graph", "command": "clear", "payload": {"id": 5}}', "graph", "'id'"),
            ("[" * 100_000 + "]" * 100_000, "runtime", "nests JSON too deeply"),
        ]
        for text, protocol, fragment in bad:
            await peer.ws.send(text)
            msg = await peer.recv()
            assert (msg["protocol"], msg["command"]) == (protocol, "error"), text
            assert fragment in msg["payload"]["message"], (text, msg)
        await peer.ws.send(b"\x00\x01binary")
        msg = await peer.recv()
        assert msg["command"] == "error" and "binary" in msg["payload"]["message"]
        info = await peer.request("runtime", "getruntime")
        assert info["payload"]["type"] == "fbp-causal"


async def test_what_the_operator_did_not_enable_is_refused_and_not_reported() -> None:
    async with serving() as server, client(server) as peer:
        info = await peer.request("runtime", "getruntime")
        caps = info["payload"]["capabilities"]
        assert "protocol:runtime" in caps
        assert "network:persist" not in caps
        assert "component:setsource" not in caps
        await build(peer, "g", {"nodes": {"A": "core/Repeat"}})
        text = await peer.error("runtime", "packet", {"port": "in", "event": "data", "graph": "g"})
        assert "the network of graph 'g' is not running" in text
        text = await peer.error(
            "component", "source", {"name": "X", "language": "python", "code": "import os"}
        )
        assert "does not run code sent by clients" in text
        assert "--allow-setsource" in text
        assert "start it with --persist DIR" in await peer.error("network", "persist", {})


def test_running_client_code_needs_a_secret() -> None:
    with pytest.raises(RuntimeConfigError, match="needs a secret"):
        RuntimeOptions(allow_setsource=True).check()
    RuntimeOptions(allow_setsource=True, secret="s").check()


async def test_import_paths_are_refused_unless_the_operator_allows_them() -> None:
    node = {"id": "N", "component": "protocol.fbpclient:Explode", "graph": "g"}
    async with serving() as server, client(server) as peer:
        await peer.request("graph", "clear", {"id": "g"})
        text = await peer.error("graph", "addnode", node)
        assert "import paths are not allowed here" in text
        text = await peer.error("graph", "addnode", {**node, "component": "../x.fbp"})
        assert "graph file paths are not allowed" in text
    async with serving(allow_imports=True, registry=None) as server, client(server) as peer:
        await peer.request("graph", "clear", {"id": "g"})
        reply = await peer.request("graph", "addnode", node)
        assert reply["payload"]["component"] == "protocol.fbpclient:Explode"


async def test_collection_only_limits_what_is_offered_and_resolved() -> None:
    async with serving(collections=("core",), registry=None) as server, client(server) as peer:
        await peer.request("graph", "clear", {"id": "g"})
        text = await peer.error(
            "graph", "addnode", {"id": "M", "component": "flow/Map", "graph": "g"}
        )
        assert "offers only the collections core" in text
        await peer.send("component", "list")
        msgs = await peer.collect_until("component", "componentsready")
        names = [m["payload"]["name"] for m in msgs if m["command"] == "component"]
        assert names and all(n.startswith("core/") for n in names)
        assert msgs[-1]["payload"] == len(names)
