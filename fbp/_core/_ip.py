"""Information packets: what moves along a network's edges."""

from __future__ import annotations

import reprlib
from typing import Any, final

from ._record import CLOSE, DATA, OPEN, Kind

__all__ = ("CLOSE", "DATA", "IP", "OPEN", "describe_value")


@final
class IP:
    """An information packet: a payload with an identity.

    Every IP has an ``id`` unique within its run, and a ``kind``: data, or an open or
    close bracket delimiting a substream (the payload of a bracket is its tag, or None).
    The runtime creates IPs when a component sends; components mostly see payloads and
    meet IP objects only when they read packets with brackets
    (:meth:`fbp.InPort.packets`). Treat a payload as immutable once sent: fan-out gives
    every receiver the same object.
    """

    __slots__ = ("id", "kind", "payload")

    def __init__(self, id: int, kind: int, payload: Any) -> None:
        self.id = id
        self.kind = kind
        self.payload = payload

    @property
    def is_data(self) -> bool:
        """True for a data IP, False for a bracket."""
        return self.kind == DATA

    @property
    def is_open(self) -> bool:
        """True for an open bracket (start of a substream)."""
        return self.kind == OPEN

    @property
    def is_close(self) -> bool:
        """True for a close bracket (end of a substream)."""
        return self.kind == CLOSE

    def __repr__(self) -> str:
        # Untraced networks give IPs no identity (id 0): then none is shown.
        ident = f"IP #{self.id}" if self.id else "IP"
        if self.kind == DATA:
            return f"<{ident} {describe_value(self.payload)}>"
        tag = "" if self.payload is None else f" {_REPR.repr(self.payload)}"
        return f"<{ident} {Kind(self.kind).label} bracket{tag}>"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def describe_value(value: Any, limit: int = 60) -> str:
    """Render a payload briefly for messages: its type and a clipped repr (of a bounded
    part of it, so a huge payload is described as quickly as a small one)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails, or a number too long to print
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"
