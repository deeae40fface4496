"""Messages of the FBP network protocol: parsing requests, building replies.

A message is a JSON object ``{"protocol", "command", "payload"}``; protocol version 0.8
adds ``secret`` and ``requestId`` at the top level, and replies carry ``responseTo``.
Every field a handler reads goes through the helpers here, so a malformed request
becomes a :class:`ProtocolError` naming the field and what it should be, and the server
answers it with an ``error`` message instead of failing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from ..lowlevel import PortAddress

__all__ = (
    "PROTOCOLS",
    "PROTOCOL_VERSION",
    "Endpoint",
    "ProtocolError",
    "Request",
    "dumps",
    "edge_id",
    "endpoint",
    "endpoint_dict",
    "jsonable",
    "opt_dict",
    "opt_str",
    "parse_request",
    "req_dict",
    "req_str",
)

#: The protocol version this runtime speaks.
PROTOCOL_VERSION = "0.8"

#: The sub-protocols, each of which has an ``error`` reply.
PROTOCOLS = ("runtime", "graph", "network", "component", "trace")


class ProtocolError(Exception):
    """A request the runtime cannot carry out; the message goes back to the client.

    Attributes:
        protocol: the sub-protocol whose ``error`` message carries the reply.
    """

    def __init__(self, message: str, protocol: str = "runtime") -> None:
        super().__init__(message)
        self.message = message
        self.protocol = protocol if protocol in PROTOCOLS else "runtime"


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed client message (the secret is taken out of the payload)."""

    protocol: str
    command: str
    payload: dict[str, Any]
    secret: str | None
    request_id: str | None


def parse_request(text: str | bytes) -> Request:
    """Parse one WebSocket message into a :class:`Request`.

    Raises:
        ProtocolError: the message is not JSON, not an object, or lacks a string
            ``protocol`` or ``command``, or its ``payload`` is not an object.
    """
    if isinstance(text, bytes):
        msg = "binary messages are not part of the protocol; send JSON text"
        raise ProtocolError(msg)
    try:
        data = json.loads(text)
    except ValueError as e:
        msg = f"the message is not valid JSON ({e.__class__.__name__}: {e})"
        raise ProtocolError(msg) from None
    except RecursionError:
        msg = "the message nests JSON too deeply to be read"
        raise ProtocolError(msg) from None
    if not isinstance(data, dict):
        msg = (
            f"a message must be a JSON object with 'protocol', 'command' and 'payload',"
            f" got {type(data).__name__}"
        )
        raise ProtocolError(msg)
    protocol = data.get("protocol")
    if not isinstance(protocol, str) or not protocol:
        msg = "the message has no 'protocol' (one of: " + ", ".join(PROTOCOLS) + ")"
        raise ProtocolError(msg)
    command = data.get("command")
    if not isinstance(command, str) or not command:
        msg = f"the {protocol!r} message has no 'command'"
        raise ProtocolError(msg, protocol)
    payload = data.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        msg = f"{protocol}:{command}: 'payload' must be an object, got {type(payload).__name__}"
        raise ProtocolError(msg, protocol)
    payload = dict(payload)
    # The 0.7 location of the secret is the payload; 0.8 moved it to the top level.
    legacy = payload.pop("secret", None)
    secret = data.get("secret", legacy)
    request_id = data.get("requestId")
    return Request(
        protocol=protocol,
        command=command,
        payload=payload,
        secret=secret if isinstance(secret, str) else None,
        request_id=request_id if isinstance(request_id, str) else None,
    )


def req_str(payload: dict[str, Any], key: str, req: Request) -> str:
    """A required non-empty string field of the payload."""
    value = payload.get(key)
    if value is None:
        msg = f"{req.protocol}:{req.command} needs '{key}' in its payload"
        raise ProtocolError(msg, req.protocol)
    if not isinstance(value, str) or not value:
        msg = f"{req.protocol}:{req.command}: '{key}' must be a non-empty string, got {value!r}"
        raise ProtocolError(msg, req.protocol)
    return value


def opt_str(payload: dict[str, Any], key: str, req: Request) -> str | None:
    """An optional string field of the payload."""
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"{req.protocol}:{req.command}: '{key}' must be a string, got {value!r}"
        raise ProtocolError(msg, req.protocol)
    return value


def req_dict(payload: dict[str, Any], key: str, req: Request) -> dict[str, Any]:
    """A required object field of the payload."""
    value = payload.get(key)
    if not isinstance(value, dict):
        got = "nothing" if value is None else repr(value)
        msg = f"{req.protocol}:{req.command}: '{key}' must be an object, got {got}"
        raise ProtocolError(msg, req.protocol)
    return value


def opt_dict(payload: dict[str, Any], key: str, req: Request) -> dict[str, Any]:
    """An optional object field of the payload (``{}`` when absent)."""
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        msg = f"{req.protocol}:{req.command}: '{key}' must be an object, got {value!r}"
        raise ProtocolError(msg, req.protocol)
    return value


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of an edge as the protocol names it: node, port and array index."""

    node: str
    port: str
    index: int | None = None

    @property
    def key(self) -> tuple[str, str, int | None]:
        """The identity of the end (port names ignore case)."""
        return (self.node, self.port.lower(), self.index)


def endpoint(value: Any, what: str, req: Request) -> Endpoint:
    """Read ``{"node", "port", "index"?}``; ``port`` may also be written ``out[2]``."""
    if not isinstance(value, dict):
        got = "nothing" if value is None else repr(value)
        msg = (
            f"{req.protocol}:{req.command}: '{what}' must be an object"
            f' {{"node": ..., "port": ...}}, got {got}'
        )
        raise ProtocolError(msg, req.protocol)
    node = value.get("node")
    port = value.get("port")
    if not isinstance(node, str) or not node:
        msg = f"{req.protocol}:{req.command}: '{what}.node' must be a non-empty string"
        raise ProtocolError(msg, req.protocol)
    if not isinstance(port, str) or not port:
        msg = f"{req.protocol}:{req.command}: '{what}.port' must be a non-empty string"
        raise ProtocolError(msg, req.protocol)
    raw = value.get("index")
    index: int | None = None
    # "PORT[1]" names an element of an array port: the address grammar reads it.
    spelled = PortAddress.parse_or_none(f"_.{port}")
    if spelled is not None and spelled.index is not None:
        port, index = spelled.port, spelled.index
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raw = None
        else:
            try:
                index = int(raw)
            except ValueError:
                raw = None
            else:
                raw = index if index >= 0 else None
        if raw is None:
            msg = (
                f"{req.protocol}:{req.command}: '{what}.index' must be an array index"
                f" (an integer >= 0), got {value.get('index')!r}"
            )
            raise ProtocolError(msg, req.protocol)
    return Endpoint(node, port, index)


def endpoint_dict(end: Endpoint) -> dict[str, Any]:
    """The protocol form ``{"node", "port", "index"?}``."""
    d: dict[str, Any] = {"node": end.node, "port": end.port}
    if end.index is not None:
        d["index"] = end.index
    return d


def _side(end: Endpoint | None, *, src: bool) -> str:
    if end is None:
        return "DATA"
    port = end.port.upper() + ("" if end.index is None else f"[{end.index}]")
    return f"{end.node}() {port}" if src else f"{port} {end.node}()"


def edge_id(src: Endpoint | None, tgt: Endpoint | None) -> str:
    """The textual edge id of data events, as NoFlo writes it.

    ``Hello() OUT -> IN World()`` for an edge, ``DATA -> IN Hello()`` for an IIP, with
    ``[index]`` after an array port's name.
    """
    return f"{_side(src, src=True)} -> {_side(tgt, src=False)}"


def jsonable(value: Any) -> Any:
    """A JSON-able form of a payload: models as dicts, unknown objects as text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        return to_jsonable_python(value, serialize_unknown=True, inf_nan_mode="null")
    except Exception:  # a payload that even pydantic cannot render
        return repr(value)


def dumps(message: dict[str, Any]) -> str:
    """Serialise an outgoing message (payloads that are not JSON become JSON-able)."""
    try:
        return json.dumps(message, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(jsonable(message), ensure_ascii=False, allow_nan=False)
