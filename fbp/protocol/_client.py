"""A connected client: its bounded send queue and the edges it watches.

The send queue policy, which keeps the server's memory bounded whatever a client does:

- **Data events** (``network:data``, ``connect``, ``begingroup``, ``endgroup``,
  ``disconnect``) and console output (``network:output``) are *droppable*: when the
  client's queue already holds ``capacity`` messages, a new one is dropped and
  counted. When the queue next runs empty, the client gets one ``network:output``
  message saying how many were dropped.
- **Replies and announcements** (graph changes, ``started``, ``stopped``, errors) are
  never dropped. The server reads a client's next request only when its queue has
  room, so a client that sends requests without reading the replies stalls itself;
  announcements caused by other clients are few, but if a client falls so far behind
  that its queue holds ``2 * capacity`` messages it is disconnected (close code 1008).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ._messages import Endpoint, dumps

__all__ = ("DEFAULT_QUEUE", "Client", "ClientTooSlow", "EdgeKey")

#: The default capacity of a client's send queue, in messages.
DEFAULT_QUEUE = 1000

#: An edge as a client selects it: (src node, port, index), (tgt node, port, index).
EdgeKey = tuple[tuple[str, str, int | None], tuple[str, str, int | None]]


class ClientTooSlow(Exception):
    """A client's queue of messages that cannot be dropped overflowed."""


class Client:
    """One WebSocket connection's state.

    Args:
        name: for logs (the peer address).
        capacity: the send queue's capacity, in messages (see the module docstring).
    """

    def __init__(self, name: str, capacity: int = DEFAULT_QUEUE) -> None:
        if capacity < 1:
            msg = f"a client's send queue needs a capacity >= 1, got {capacity}"
            raise ValueError(msg)
        self.name = name
        self.capacity = capacity
        self._queue: deque[str] = deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        #: Droppable messages dropped since the last notice, and in total.
        self.dropped = 0
        self.dropped_total = 0
        #: The most messages the queue has held at once.
        self.peak = 0
        self.closed = False
        #: Selected edges per graph id; a graph absent from the map shows every edge.
        self.edges: dict[str, set[EdgeKey]] = {}

    def __repr__(self) -> str:
        return f"<Client {self.name} queued={len(self._queue)} dropped={self.dropped_total}>"

    def __len__(self) -> int:
        return len(self._queue)

    # -- queueing ------------------------------------------------------------------------

    def _append(self, text: str) -> None:
        self._queue.append(text)
        n = len(self._queue)
        self.peak = max(self.peak, n)
        if n >= self.capacity:
            self._room.clear()
        self._ready.set()

    def send(self, message: dict[str, Any] | str) -> None:
        """Queue a message that must not be dropped (a reply or an announcement).

        Raises:
            ClientTooSlow: the queue holds twice its capacity; drop the connection.
        """
        if self.closed:
            return
        if len(self._queue) >= 2 * self.capacity:
            self.closed = True
            msg = (
                f"client {self.name} fell {len(self._queue)} messages behind; closing it"
                " (its send queue holds at most twice its capacity)"
            )
            raise ClientTooSlow(msg)
        self._append(message if isinstance(message, str) else dumps(message))

    @property
    def has_room(self) -> bool:
        """Whether a droppable message would be queued now (else it would be dropped)."""
        return not self.closed and len(self._queue) < self.capacity

    def drop(self) -> None:
        """Count a droppable message that was not even built, as the queue was full."""
        self.dropped += 1
        self.dropped_total += 1

    def offer(self, text: str) -> bool:
        """Queue a droppable message (a data event); False if it was dropped."""
        if self.closed:
            return False
        if len(self._queue) >= self.capacity:
            self.drop()
            return False
        self._append(text)
        return True

    async def next_message(self) -> str:
        """Wait for the next message to send."""
        while not self._queue:
            if self.dropped:
                n, self.dropped = self.dropped, 0
                return dumps(
                    {
                        "protocol": "network",
                        "command": "output",
                        "payload": {
                            "message": f"fbp runtime: dropped {n} data event"
                            f"{'s' if n != 1 else ''} for this client, which read more"
                            f" slowly than the network sent (send queue limit"
                            f" {self.capacity} messages)",
                            "type": "message",
                        },
                    }
                )
            self._ready.clear()
            await self._ready.wait()
        text = self._queue.popleft()
        if len(self._queue) < self.capacity:
            self._room.set()
        return text

    async def wait_room(self) -> None:
        """Wait until the queue is below its capacity (back-pressure on requests)."""
        await self._room.wait()

    # -- watched edges -------------------------------------------------------------------

    def watch(self, graph: str, edges: set[EdgeKey] | None) -> None:
        """Select the edges of ``graph`` to receive data events for (None: all)."""
        if edges is None:
            self.edges.pop(graph, None)
        else:
            self.edges[graph] = edges

    def watches(self, graph: str, src: Endpoint | None, tgt: Endpoint) -> bool:
        """Whether this client wants the events of an edge (``src`` None for an IIP).

        With a selection, an IIP's events are sent when a selected edge leads into the
        same port.
        """
        selected = self.edges.get(graph)
        if selected is None:
            return True
        if src is None:
            return any(t == tgt.key for _, t in selected)
        return (src.key, tgt.key) in selected
