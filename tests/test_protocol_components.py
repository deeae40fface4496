"""The component sub-protocol: listing with typed port schemas, and source code."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from protocol.fbpclient import client, serving

from fbp import Component, InPort
from fbp.protocol import port_definition
from fbp.protocol._components import SCHEMA_URI_PREFIX


async def _components(peer: Any) -> tuple[dict[str, dict[str, Any]], int]:
    await peer.send("component", "list")
    msgs = await peer.collect_until("component", "componentsready")
    found = {m["payload"]["name"]: m["payload"] for m in msgs if m["command"] == "component"}
    return found, msgs[-1]["payload"]


def _schema(port: dict[str, Any]) -> dict[str, Any]:
    uri = port["schema"]
    assert uri.startswith(SCHEMA_URI_PREFIX)
    data: dict[str, Any] = json.loads(unquote(uri[len(SCHEMA_URI_PREFIX) :]))
    return data


async def test_the_list_describes_every_component_with_typed_ports() -> None:
    async with serving() as server, client(server) as peer:
        found, count = await _components(peer)
        assert count == len(found) >= 5
        repeat = found["core/Repeat"]
        assert repeat["subgraph"] is False
        assert repeat["description"].startswith("Forward every IP unchanged")
        assert repeat["inPorts"] == [
            {
                "id": "in",
                "type": "all",
                "required": True,
                "addressable": False,
                "description": "IPs to forward",
            }
        ]
        assert repeat["outPorts"][0]["id"] == "out"
        assert "schema" not in repeat["inPorts"][0]  # Any has no schema worth sending
        rng = {p["id"]: p for p in found["core/Range"]["inPorts"]}
        assert rng["count"]["type"] == "int" and rng["count"]["required"] is True
        assert rng["start"]["default"] == 0 and rng["start"]["required"] is False
        assert _schema(rng["count"]) == {"type": "integer"}
        assert found["flow/Merge"]["inPorts"][0]["addressable"] is True


async def test_pydantic_types_give_json_schemas_values_and_defaults() -> None:
    async with serving() as server, client(server) as peer:
        found, _ = await _components(peer)
        typed = found["test/Typed"]
        ins = {p["id"]: p for p in typed["inPorts"]}
        assert ins["points"]["type"] == "object"
        point = _schema(ins["points"])
        assert point["title"] == "Point"
        assert point["properties"] == {
            "x": {"title": "X", "type": "number"},
            "y": {"title": "Y", "type": "number"},
        }
        assert ins["mode"]["values"] == ["fast", "slow"]
        assert ins["mode"]["default"] == "fast"
        assert ins["mode"]["type"] == "string"
        (out,) = typed["outPorts"]
        assert out["type"] == "array"
        assert _schema(out)["items"] == {"$ref": "#/$defs/Point"}


class Opaque:
    """A type pydantic has no schema for."""


class UsesOpaque(Component):
    """A component with a port of that type."""

    in_: InPort[Opaque]

    async def run(self) -> None:
        pass


def test_a_type_pydantic_cannot_describe_gives_datatype_all() -> None:
    (spec,) = UsesOpaque.spec().inports
    d = port_definition(spec)
    assert d == {"id": "in", "type": "all", "required": True, "addressable": False}


async def test_getsource_returns_the_python_source_of_a_component() -> None:
    async with serving() as server, client(server) as peer:
        await peer.send("component", "getsource", {"name": "core/Repeat"})
        src = (await peer.expect("component", "source"))["payload"]
        assert (src["name"], src["library"], src["language"]) == ("Repeat", "core", "python")
        assert src["code"].startswith("class Repeat(Component):")
        assert "async def run(self)" in src["code"]
        text = await peer.error("component", "getsource", {"name": "core/Nope"})
        assert "unknown component 'core/Nope'" in text
        assert "needs 'name'" in await peer.error("component", "getsource", {})
