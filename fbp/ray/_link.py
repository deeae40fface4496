"""Bridges: the two ends of the edges that cross partitions.

An edge ``A.OUT -> B.IN`` whose ends run in different partitions is cut in two:

- in A's partition, ``A.OUT`` sends to a :class:`BridgeOut` process, through an
  ordinary channel with the edge's capacity and overflow policy (so A sees exactly
  the back-pressure, fan-out and close semantics of an in-process edge);
- in B's partition, a :class:`BridgeIn` process is one more sender of ``B.IN``'s
  channel (so fan-in and end of stream work as in-process: ``B.IN`` ends when every
  sender, local or remote, has closed).

Between them, one TCP connection per pair of instances carries frames
(:mod:`fbp.ray._frames`): batches of the channel items themselves (payloads, or the
trace records when the network is traced, which keeps IP ids and parents as they
are), then ``CLOSE``. Flow control is by credit: the sending end starts with the
receiving channel's capacity in credit, spends one per IP shipped and gets it back
when the receiving end has put the IP in ``B.IN``'s channel; so at most that many IPs
are ever in flight. Batching needs no timer: the pump ships whatever the channel
holds as soon as it runs, so a busy producer (which fills the channel before the
event loop gets to the pump) sends batches as large as the credit allows, and a slow
one sends each IP at once.

A bridge waiting on the other partition does not count as blocked for the local
deadlock watchdog (its ``waiting`` stays None); it reports ``remote_wait`` instead,
which the driver's watchdog reads across partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._core._channel import Channel
from .._core._component import Component
from .._core._exceptions import NetworkError, WouldBlock
from .._core._ip import DATA, IP, describe_value
from .._core._ports import InPort, OutPort
from .._core._record import KIND, PAYLOAD
from ._frames import ABORT, CLOSE, CREDIT, HELLO, PeerGone, frame, read_frame
from ._frames import DATA as ITEMS

__all__ = (
    "BridgeIn",
    "BridgeOut",
    "InLink",
    "OutLink",
    "PeerLost",
    "PeerStopped",
    "RouteError",
    "Target",
)


class PeerLost(NetworkError):
    """The instance at the other end of a bridge vanished (its process died)."""

    def __init__(self, instance: int, label: str, detail: str = "") -> None:
        self.instance = instance
        self.label = label
        super().__init__(
            f"lost the connection to partition {label!r}" + (f": {detail}" if detail else "")
        )


class PeerStopped(NetworkError):
    """The instance at the other end of a bridge stopped early (failed or cancelled)."""

    def __init__(self, instance: int, label: str) -> None:
        self.instance = instance
        self.label = label
        super().__init__(f"partition {label!r} stopped")


class RouteError(NetworkError):
    """An IP cannot be routed to a replica by key."""


@dataclass(eq=False)
class Target:
    """One receiving instance of an outgoing bridge."""

    instance: int
    label: str
    address: tuple[str, int]
    key: str
    credit: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    #: The receiving port has ended: what is sent there is discarded.
    closed: bool = False
    shipped: int = 0
    acked: int = 0


def _payload(item: Any, traced: bool) -> tuple[bool, Any]:
    """(is_data, payload) of a channel item."""
    if traced:
        return item[KIND] == DATA, item[PAYLOAD]
    if type(item) is IP:
        return False, item.payload
    return True, item


_MISSING = object()


def _field(payload: Any, key: str) -> Any:
    if isinstance(payload, dict):
        return payload.get(key, _MISSING)
    return getattr(payload, key, _MISSING)


@dataclass(eq=False)
class OutLink:
    """The sending end of a bridge: the pump between a channel and the targets."""

    name: str
    target_port: str
    targets: list[Target]
    token: str
    traced: bool
    route_key: str | None = None
    #: What the pump waits for on the other side ("credit"), or None.
    remote_wait: str | None = None
    _failure: NetworkError | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _done: bool = False
    _readers: list[asyncio.Task[None]] = field(default_factory=list)
    _chan: Channel[Any] | None = None

    @property
    def in_flight(self) -> int:
        """IPs shipped and not yet in the receiving channel."""
        return sum(t.shipped - t.acked for t in self.targets)

    async def pump(self, port: InPort[Any]) -> None:
        """Ship what ``port``'s channel receives until it ends (or every target has)."""
        ch = self._chan = port._chan
        ok = False
        try:
            for t in self.targets:
                t.reader, t.writer = await asyncio.open_connection(*t.address)
                t.writer.write(frame(HELLO, (self.token, "link", t.key)))
                self._readers.append(asyncio.ensure_future(self._credits(t)))
            await self._ship(ch)
            self._done = True  # from now on, the other end may hang up
            for t in self.targets:
                assert t.writer is not None
                t.writer.write(frame(CLOSE))
                with contextlib.suppress(ConnectionError):
                    await t.writer.drain()
            ok = True
            # Hang up only when the other end has: it may still be sending credit, and
            # a write into a closed socket would lose what it has not read yet.
            self.remote_wait = "close"
            await asyncio.gather(*self._readers, return_exceptions=True)
            self.remote_wait = None
        finally:
            self._done = True
            for task in self._readers:
                task.cancel()
            for t in self.targets:
                if t.writer is not None:
                    if not ok:
                        with contextlib.suppress(Exception):
                            t.writer.write(frame(ABORT))
                    t.writer.close()

    def _fail(self, err: NetworkError) -> None:
        if self._failure is None:
            self._failure = err
        self._wake.set()
        if self._chan is not None:
            self._chan.wake_receiver()

    async def _credits(self, t: Target) -> None:
        assert t.reader is not None
        try:
            while True:
                kind, body = await read_frame(t.reader)
                if kind == CREDIT:
                    n, closed = body
                    t.credit += n
                    t.acked += n
                    if closed:
                        t.closed = True
                    self._wake.set()
                elif kind == ABORT:
                    self._fail(PeerStopped(t.instance, t.label))
                    return
        except PeerGone as e:
            if not self._done:
                self._fail(PeerLost(t.instance, t.label, str(e)))

    async def _wait_credit(self) -> None:
        self._wake.clear()
        self.remote_wait = "credit"
        try:
            await self._wake.wait()
        finally:
            self.remote_wait = None

    async def _ship(self, ch: Channel[Any]) -> None:
        targets = self.targets
        single = targets[0] if len(targets) == 1 and self.route_key is None else None
        turn = 0
        while True:
            if self._failure is not None:
                raise self._failure
            available = ch.available
            if available == 0:
                if ch.open_senders == 0:
                    return
                await ch.wait_receivable()
                continue
            if all(t.closed for t in targets):
                ch.close_receiver()  # senders upstream now see DownstreamClosed
                return
            if single is not None:
                n = min(single.credit, available)
                if n == 0:
                    await self._wait_credit()
                    continue
                items = [ch.receive_nowait() for _ in range(n)]
                single.credit -= n
                self._send(single, items)
                continue
            batches: dict[Target, list[Any]] = {}
            if self.route_key is None:
                turn = self._round_robin(ch, available, batches, turn)
            else:
                self._by_key(ch, available, batches)
            if not batches:
                await self._wait_credit()
                continue
            for t, items in batches.items():
                self._send(t, items)

    def _send(self, t: Target, items: list[Any]) -> None:
        t.shipped += len(items)
        assert t.writer is not None
        t.writer.write(frame(ITEMS, items))

    def _round_robin(
        self, ch: Channel[Any], available: int, batches: dict[Target, list[Any]], turn: int
    ) -> int:
        targets = self.targets
        n = len(targets)
        for _ in range(available):
            for k in range(n):
                t = targets[(turn + k) % n]
                if t.credit > 0 and not t.closed:
                    break
            else:
                break
            turn = (turn + k + 1) % n
            t.credit -= 1
            batches.setdefault(t, []).append(ch.receive_nowait())
        return turn

    def _by_key(self, ch: Channel[Any], available: int, batches: dict[Target, list[Any]]) -> None:
        key = self.route_key
        assert key is not None
        targets = self.targets
        for _ in range(available):
            head = ch.peek()
            is_data, payload = _payload(head, self.traced)
            t = targets[0]
            if is_data:
                value = _field(payload, key)
                if value is _MISSING:
                    msg = (
                        f"{self.target_port}: its replicas take IPs by key {key!r}, but"
                        f" {describe_value(payload)} has no field {key!r}"
                    )
                    raise RouteError(msg)
                t = targets[zlib.crc32(repr(value).encode()) % len(targets)]
            if t.closed:
                ch.receive_nowait()  # discarded, as in a closed channel
                continue
            if t.credit == 0:
                return  # keep the order of each key: wait for this target's credit
            t.credit -= 1
            batches.setdefault(t, []).append(ch.receive_nowait())


@dataclass(eq=False)
class InLink:
    """The receiving end of a bridge: frames from one sending instance."""

    name: str
    source: int
    label: str
    #: What the bridge waits for on the other side ("data"), or None.
    remote_wait: str | None = None
    received: int = 0
    delivered: int = 0
    inbox: asyncio.Queue[tuple[int, Any]] = field(default_factory=asyncio.Queue)
    writer: asyncio.StreamWriter | None = None
    closed: bool = False

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read frames from the sending end into the inbox (a connection handler)."""
        self.writer = writer
        try:
            while True:
                kind, body = await read_frame(reader)
                if kind == ITEMS:
                    self.received += len(body)
                self.inbox.put_nowait((kind, body))
                if kind in (CLOSE, ABORT):
                    return
        except PeerGone as e:
            self.inbox.put_nowait((-1, str(e)))

    async def deliver(self, out: OutPort[Any]) -> None:
        """Put what arrives into the receiving channel until the sender closes."""
        ch = out._chans[0]
        waiter = out._proc.waiter
        finished = False
        try:
            while True:
                if self.inbox.empty():
                    self.remote_wait = "data"
                    try:
                        kind, body = await self.inbox.get()
                    finally:
                        self.remote_wait = None
                else:
                    kind, body = self.inbox.get_nowait()
                if kind == CLOSE:
                    finished = True
                    return
                if kind == ABORT:
                    raise PeerStopped(self.source, self.label)
                if kind == -1:
                    raise PeerLost(self.source, self.label, body)
                for item in body:
                    try:
                        ch.send_nowait(item)
                    except WouldBlock:
                        await ch.wait_send(item, waiter)
                self.delivered += len(body)
                if self.writer is not None:
                    with contextlib.suppress(Exception):
                        self.writer.write(frame(CREDIT, (len(body), ch.receiver_closed)))
        finally:
            self.closed = True
            if self.writer is not None:
                if not finished:
                    with contextlib.suppress(Exception):
                        self.writer.write(frame(ABORT))
                self.writer.close()


class BridgeOut(Component):
    """The sending end of a bridge (made by the Ray backend, not by graphs)."""

    in_: InPort[Any]

    link: OutLink

    async def run(self) -> None:
        await self.link.pump(self.in_)


class BridgeIn(Component):
    """The receiving end of a bridge (made by the Ray backend, not by graphs)."""

    out: OutPort[Any]

    link: InLink

    async def run(self) -> None:
        await self.link.deliver(self.out)


#: Called by a host with each new connection's HELLO key, to find the link it feeds.
LinkLookup = Callable[[str], InLink | None]
