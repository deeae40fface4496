"""The wire format between partitions: length-prefixed frames over TCP.

A frame is a 4-byte big-endian length, a 1-byte type and a pickled body. Every
connection opens with ``HELLO`` (the run's token, what the connection is for, and a
key), so that a stray client cannot inject IPs into a run.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

__all__ = (
    "ABORT",
    "CLOSE",
    "CREDIT",
    "DATA",
    "HEADER",
    "HELLO",
    "PeerGone",
    "dumps",
    "frame",
    "read_frame",
)

HELLO = 72  # b"H": (token, purpose, key)
DATA = 68  # b"D": a list of channel items
CLOSE = 67  # b"C": the sender has closed; nothing follows
CREDIT = 75  # b"K": (n, receiver_closed): n items left the receiver's hands
ABORT = 65  # b"A": the peer stopped without finishing (its run failed or was cancelled)
TRACE = 84  # b"T": a list of trace records
FINISH = 70  # b"F": the partition's trace is complete
ACK = 89  # b"Y": reply to FINISH: every record before it was handed to the writer

HEADER = struct.Struct(">IB")


class PeerGone(ConnectionError):
    """The other end of a connection went away without a word (its process died)."""


def dumps(body: Any) -> bytes:
    """Pickle a body: the standard pickle, or cloudpickle for what it cannot handle."""
    try:
        return pickle.dumps(body, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError):
        from ray import cloudpickle

        data: bytes = cloudpickle.dumps(body, protocol=5)  # type: ignore[no-untyped-call]
        return data


def frame(kind: int, body: Any = None) -> bytes:
    """One frame, ready to write."""
    data = dumps(body)
    return HEADER.pack(len(data), kind) + data


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, Any]:
    """Read one frame.

    Raises:
        PeerGone: the connection ended or was reset.
    """
    try:
        head = await reader.readexactly(HEADER.size)
        n, kind = HEADER.unpack(head)
        data = await reader.readexactly(n)
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        raise PeerGone(str(e) or type(e).__name__) from None
    return kind, pickle.loads(data)
