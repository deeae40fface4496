"""The pieces of the protocol runtime on their own: parsing, edge ids, the send queue."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from protocol.fbpclient import Point

from fbp.protocol import Client, ProtocolError, edge_id
from fbp.protocol._client import ClientTooSlow
from fbp.protocol._messages import Endpoint, dumps, endpoint, jsonable, parse_request


def test_parse_request_takes_the_secret_out_of_the_payload() -> None:
    req = parse_request(
        json.dumps(
            {
                "protocol": "graph",
                "command": "clear",
                "payload": {"id": "g", "secret": "legacy"},
                "requestId": "r9",
            }
        )
    )
    assert (req.protocol, req.command, req.payload) == ("graph", "clear", {"id": "g"})
    assert (req.secret, req.request_id) == ("legacy", "r9")
    top = parse_request('{"protocol": "runtime", "command": "getruntime", "secret": "new"}')
    assert (top.secret, top.payload) == ("new", {})


@pytest.mark.parametrize(
    ("text", "fragment", "protocol"),
    [
        ("{", "not valid JSON", "runtime"),
        ('"x"', "got str", "runtime"),
        ('{"protocol": 3, "command": "x"}', "no 'protocol'", "runtime"),
        ('{"protocol": "trace", "command": ""}', "has no 'command'", "trace"),
        ('{"protocol": "trace", "command": "dump", "payload": []}', "must be an object", "trace"),
    ],
)
def test_parse_request_refuses_malformed_messages(text: str, fragment: str, protocol: str) -> None:
    with pytest.raises(ProtocolError, match=fragment) as info:
        parse_request(text)
    assert info.value.protocol == protocol


def test_edge_ids_are_written_as_noflo_writes_them() -> None:
    assert edge_id(None, Endpoint("Hello", "in")) == "DATA -> IN Hello()"
    assert edge_id(Endpoint("Hello", "out"), Endpoint("World", "in")) == "Hello() OUT -> IN World()"
    assert edge_id(Endpoint("A", "out", 2), Endpoint("B", "in", 0)) == "A() OUT[2] -> IN[0] B()"


def test_endpoints_accept_indices_as_numbers_strings_or_in_the_port_name() -> None:
    req = parse_request('{"protocol": "graph", "command": "addedge", "payload": {}}')
    assert endpoint({"node": "M", "port": "in", "index": 1}, "tgt", req).index == 1
    assert endpoint({"node": "M", "port": "in", "index": "3"}, "tgt", req).index == 3
    assert endpoint({"node": "M", "port": "in[4]"}, "tgt", req) == Endpoint("M", "in", 4)
    for bad in ("x", -1, True, 1.5):
        with pytest.raises(ProtocolError, match="an array index"):
            endpoint({"node": "M", "port": "in", "index": bad}, "tgt", req)


def test_payloads_become_json() -> None:
    assert jsonable(Point(x=1, y=2)) == {"x": 1.0, "y": 2.0}
    assert jsonable(float("nan")) is None
    assert jsonable({"b": b"raw", "s": {1, 2}}) == {"b": "raw", "s": [1, 2]}
    assert json.loads(dumps({"payload": {"o": object()}}))["payload"]["o"].startswith("<object")


async def test_the_send_queue_drops_data_events_never_replies_and_reports_drops() -> None:
    c = Client("test", capacity=3)
    assert all(c.offer(f"e{i}") for i in range(3))
    assert not c.offer("e3") and not c.offer("e4")  # full: events are dropped
    c.send({"reply": 1})  # replies are kept even beyond the capacity
    assert (len(c), c.peak, c.dropped_total) == (4, 4, 2)
    with anyio.fail_after(5):
        got = [await c.next_message() for _ in range(4)]
        notice = json.loads(await c.next_message())
    assert got == ["e0", "e1", "e2", '{"reply": 1}']
    assert notice["command"] == "output"
    assert "dropped 2 data events" in notice["payload"]["message"]
    assert c.dropped == 0 and c.dropped_total == 2


async def test_wait_room_holds_requests_back_until_the_queue_drains() -> None:
    c = Client("test", capacity=2)
    c.send("a")
    c.send("b")
    order: list[str] = []

    async def reader() -> None:
        await c.wait_room()
        order.append("room")

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        assert order == []
        order.append(await c.next_message())
    assert order == ["a", "room"]


def test_a_client_that_falls_too_far_behind_is_cut_off() -> None:
    c = Client("slow", capacity=2)
    for i in range(4):
        c.send(str(i))
    with pytest.raises(ClientTooSlow, match="fell 4 messages behind"):
        c.send("one more")
    assert c.closed
    assert not c.offer("event")


def test_the_command_line_defaults_match_the_library() -> None:
    from fbp import DEFAULT_CAPACITY
    from fbp.protocol import DEFAULT_PORT, DEFAULT_QUEUE, _start

    assert _start.DEFAULT_PORT == DEFAULT_PORT
    assert _start._DEFAULT_CAPACITY == DEFAULT_CAPACITY
    assert "(1000)" in " ".join(a.help or "" for a in _parser_actions()) and DEFAULT_QUEUE == 1000


def _parser_actions() -> list[Any]:
    from fbp.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    runtime = sub.choices["runtime"]  # type: ignore[attr-defined]
    return list(runtime._actions)
