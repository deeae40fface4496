"""Bounded channels: the edges of a network.

A channel carries items from one or more senders (fan-in) to exactly one receiver. It
holds at most ``capacity`` items; a sender that finds it full waits (back-pressure),
unless the channel drops its oldest item instead (``overflow="drop_oldest"``, as in
classical FBP). Capacity 0 is a rendezvous: a send completes when the receiver takes the
item.

The hot path is synchronous: ``send_nowait``/``receive_nowait`` complete without touching
the event loop whenever the buffer allows, and only a sender facing a full channel or a
receiver facing an empty one awaits. Waiters are woken with a signal and retry, which
keeps one code path for every capacity.

Closing is end of stream: when the last sender closes, the receiver drains what is
buffered and then gets :class:`EndOfStream`. When the receiver closes, items sent later
are discarded and senders learn it from ``receiver_closed``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any, Generic, Literal, TypeVar, final

from ._exceptions import EndOfStream, WouldBlock
from ._fuse import release, wait_future

__all__ = ("EMPTY", "Channel", "ChannelStatistics", "Overflow", "Waiter", "open_channel")

T = TypeVar("T")
Overflow = Literal["block", "drop_oldest"]

#: What :meth:`Channel.take_ready` and :meth:`Channel.peek` return when there is
#: nothing to take (an item is never this object).
EMPTY: Any = object()


class Waiter:
    """What a blocked party looks like to the deadlock detector.

    A process sets ``waiting`` to a description of the channel operation it is blocked
    in; the party that wakes it clears it at once, so "every live process is waiting" is
    exact at any instant.
    """

    __slots__ = ("fused", "last_wait", "waiting")

    def __init__(self) -> None:
        #: ``(channels, "send" | "receive")`` while blocked; several channels when a
        #: process waits for whichever of them delivers first.
        self.waiting: tuple[tuple[Channel[Any], ...], str] | None = None
        #: Set while a fused scheduler runs the process (see :mod:`fbp._core._fuse`).
        self.fused: Any = None
        #: The last channel wait it entered (kept after it ends): what a process
        #: stopped in a compiled port wait, which has no Python frame, was doing.
        self.last_wait: tuple[tuple[Channel[Any], ...], str] | None = None


@dataclass(frozen=True, slots=True)
class ChannelStatistics:
    """A snapshot of a channel, for observers (progress display, deadlock reports)."""

    #: Items buffered now.
    current_buffer_used: int
    #: The most items ever buffered at once.
    peak_buffer_used: int
    #: The channel's capacity.
    capacity: int
    #: Items accepted by the channel since it opened.
    items_sent: int
    #: Items taken by the receiver.
    items_received: int
    #: Items dropped by the drop-oldest policy or because the receiver had closed.
    items_dropped: int
    #: Senders that have not closed yet.
    open_senders: int
    #: Senders waiting for room.
    tasks_waiting_send: int
    #: Whether the receiver is waiting for an item.
    receiver_waiting: bool
    #: Whether the receiver has closed.
    receiver_closed: bool
    #: Seconds senders have spent waiting for room, summed over senders.
    send_blocked_seconds: float = 0.0
    #: Seconds the receiver has spent waiting for an item.
    receive_wait_seconds: float = 0.0


@final
class Channel(Generic[T]):
    """A bounded multi-sender, single-receiver channel. Made by :func:`open_channel`."""

    __slots__ = (
        "_accepted",
        "_blocked_mark",
        "_buf",
        "_evicted",
        "_peak",
        "_recv_signal",
        "_recv_since",
        "_room",
        "_send_waiters",
        "capacity",
        "drop_oldest",
        "dropped",
        "feeders",
        "keep_sends",
        "name",
        "on_drop",
        "open_senders",
        "receiver",
        "receiver_closed",
        "waiting_receive_ns",
    )

    def __init__(self, capacity: int, overflow: Overflow = "block", name: str = "") -> None:
        if capacity < 0:
            msg = f"capacity must be >= 0, got {capacity}"
            raise ValueError(msg)
        if overflow not in ("block", "drop_oldest"):
            msg = f"overflow must be 'block' or 'drop_oldest', got {overflow!r}"
            raise ValueError(msg)
        if overflow == "drop_oldest" and capacity == 0:
            msg = "overflow 'drop_oldest' needs a capacity of at least 1"
            raise ValueError(msg)
        self._buf: deque[T] = deque()
        self._peak = 0
        self.capacity = capacity
        # What the send fast path compares the buffer length with: the capacity while
        # the receiver is open, -1 once it has closed (so the fast path never takes it).
        self._room = capacity
        self.drop_oldest = overflow == "drop_oldest"
        self.name = name
        # The receiver's wake-up signal, set while it waits for an item.
        self._recv_signal: asyncio.Future[None] | None = None
        # Senders waiting for room, with the item each wants to put.
        self._send_waiters: deque[tuple[asyncio.Future[None], T, Waiter | None]] = deque()
        self.open_senders = 0
        self.receiver_closed = False
        #: The party that receives (a process), for deadlock reports.
        self.receiver: Waiter | None = None
        #: Called with every item the drop-oldest policy discards.
        self.on_drop: Callable[[T], None] | None = None
        # Items that entered through the channel's own methods; output ports that take
        # the send fast path count their items themselves (``fast_sent``), and the
        # channel adds those up from ``feeders`` when asked.
        self._accepted = 0
        self.feeders: list[Any] = []
        # Items accepted into the buffer and then discarded (drop-oldest, receiver closed).
        self._evicted = 0
        self.dropped = 0
        # Time senders spent waiting for room, counted on the waiting paths only: each
        # queued sender subtracts the clock when it queues and adds it when it leaves
        # the queue (see blocked_send_ns).
        self._blocked_mark = 0
        #: Nanoseconds the receiver has spent waiting for an item (ended waits).
        self.waiting_receive_ns = 0
        # When the receiver's current wait began (0: it is not waiting).
        self._recv_since = 0
        #: Set while a network drains: a sender cancelled while it waits for room leaves
        #: its item queued, to be delivered as if it had been buffered.
        self.keep_sends = False

    def __repr__(self) -> str:
        return f"<Channel {self.name or hex(id(self))} {len(self._buf)}/{self.capacity}>"

    # -- senders -------------------------------------------------------------------

    def add_sender(self) -> None:
        """Register one more sender; the stream ends when every sender has closed."""
        self.open_senders += 1

    def close_sender(self) -> None:
        """Close one sender. After the last one, the receiver sees end of stream."""
        if self.open_senders <= 0:
            msg = f"channel {self.name}: more senders closed than were added"
            raise RuntimeError(msg)
        self.open_senders -= 1
        if self.open_senders == 0:
            self.wake_receiver()

    def send_nowait(self, item: T) -> None:
        """Put an item without waiting.

        Raises:
            WouldBlock: the channel is full (or has capacity 0 and no receiver waiting).
        """
        if self.receiver_closed:
            self.dropped += 1
            return
        buf = self._buf
        if len(buf) < self.capacity:
            buf.append(item)
            self._accepted += 1
            if self._recv_signal is not None:
                self.wake_receiver()
            return
        if self.drop_oldest:
            old = buf.popleft()
            buf.append(item)
            self._accepted += 1
            self._peak = self.capacity
            self._evicted += 1
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(old)
            return
        raise WouldBlock

    async def send(self, item: T, waiter: Waiter | None = None) -> None:
        """Put an item, waiting for room while the channel is full."""
        try:
            self.send_nowait(item)
        except WouldBlock:
            await self.wait_send(item, waiter)

    async def wait_send(self, item: T, waiter: Waiter | None = None) -> None:
        """The slow path of :meth:`send`: queue up with the item and wait to be taken."""
        fut, entry = self._enqueue_send(item, waiter)
        try:
            await fut
        except BaseException:
            self._cancel_send(fut, entry, waiter)
            raise

    def _enqueue_send(
        self, item: T, waiter: Waiter | None
    ) -> tuple[asyncio.Future[None], tuple[asyncio.Future[None], T, Waiter | None]]:
        """Queue a sender with its item; it waits on the future until taken."""
        fut = wait_future(waiter)
        if len(self._buf) > self._peak:
            self._peak = len(self._buf)
        entry = (fut, item, waiter)
        self._send_waiters.append(entry)
        self._blocked_mark -= perf_counter_ns()
        if waiter is not None:
            waiter.waiting = waiter.last_wait = ((self,), "send")
        # A rendezvous receiver may be waiting for exactly this sender.
        if self._recv_signal is not None:
            self.wake_receiver()
        return fut, entry

    def _cancel_send(
        self,
        fut: asyncio.Future[None],
        entry: tuple[asyncio.Future[None], T, Waiter | None],
        waiter: Waiter | None,
    ) -> None:
        """A queued sender gave up (it was cancelled): take it out of the queue."""
        if not fut.done():
            fut.cancel()
        if self.keep_sends and not self.receiver_closed:
            # Draining: the item stays queued and is delivered (release() finds the
            # future done and wakes nobody).
            if waiter is not None:
                waiter.waiting = None
            return
        # The receiver may have taken the item just before the cancellation.
        with contextlib.suppress(ValueError):
            self._send_waiters.remove(entry)
            self._blocked_mark += perf_counter_ns()
        if waiter is not None:
            waiter.waiting = None

    # -- receiver ------------------------------------------------------------------

    def receive_nowait(self) -> T:
        """Take the next item without waiting.

        Raises:
            WouldBlock: no item is available yet.
            EndOfStream: every sender has closed and the buffer is empty.
        """
        buf = self._buf
        if buf:
            item = buf.popleft()
            if self._send_waiters:
                self._admit_sender()
            return item
        if self._send_waiters:  # capacity 0: take straight from a waiting sender
            fut, item, w = self._send_waiters.popleft()
            self._blocked_mark += perf_counter_ns()
            self._accepted += 1
            if w is not None:
                w.waiting = None
            release(fut, w)
            return item
        if self.open_senders == 0:
            raise EndOfStream
        raise WouldBlock

    async def receive(self) -> T:
        """Take the next item, waiting while the channel is empty.

        Raises:
            EndOfStream: every sender has closed and the buffer is empty.
        """
        while not self._buf and not self._send_waiters and self.open_senders:
            await self.wait_receivable()
        return self.receive_nowait()

    async def wait_receivable(self) -> None:
        """Wait until an item may be available or the stream has ended."""
        fut = self._enqueue_receive()
        try:
            await fut
        finally:
            self._end_receive(fut)

    def _enqueue_receive(self) -> asyncio.Future[None]:
        """Make the receiver's wake-up signal (it waits on it)."""
        w = self.receiver
        fut = wait_future(w)
        self._recv_signal = fut
        if w is not None:
            w.waiting = w.last_wait = ((self,), "receive")
        self._recv_since = perf_counter_ns()
        return fut

    def _end_receive(self, fut: asyncio.Future[None]) -> None:
        """The receiver's wait on ``fut`` is over, one way or another."""
        if self._recv_signal is fut:
            self._recv_signal = None
        if self._recv_since:
            self.waiting_receive_ns += perf_counter_ns() - self._recv_since
            self._recv_since = 0
        w = self.receiver
        if w is not None:
            w.waiting = None

    def close_receiver(self) -> int:
        """Close the receiving side; return how many buffered items were discarded."""
        self.receiver_closed = True
        self._room = -1
        n = len(self._buf)
        self._evicted += n
        self.dropped += n
        self._buf.clear()
        while self._send_waiters:
            fut, _item, w = self._send_waiters.popleft()
            self._blocked_mark += perf_counter_ns()
            self.dropped += 1
            n += 1
            if w is not None:
                w.waiting = None
            release(fut, w)
        return n

    # -- the ports' paths ------------------------------------------------------------
    #
    # What the port classes do per item, as small methods: these and the methods above
    # are the whole of the channel's rules. The compiled port methods and loops
    # (_fastports.c, _accel.c, channel_deliver in _slots.h) do the same on the same
    # slots; tests/test_channel_contract.py runs every port class, path and capacity
    # over both.

    def offer(self, item: T) -> bool:
        """Put ``item`` if the buffer has room now (and the receiver is open); return
        whether it did. Not counted here: a port that puts items this way counts them
        itself (``sent_fast``) and is one of ``feeders``."""
        buf = self._buf
        if len(buf) < self._room:
            buf.append(item)
            if self._recv_signal is not None:
                self.wake_receiver()
            return True
        return False

    def offer_many(self, items: Sequence[T], start: int) -> int:
        """Put as many of ``items[start:]`` as there is room for now; return how many
        (counted by the port, as with :meth:`offer`)."""
        room = self._room - len(self._buf)
        if room <= 0:
            return 0
        chunk = items[start : start + room]
        self._buf.extend(chunk)
        if self._recv_signal is not None:
            self.wake_receiver()
        return len(chunk)

    @staticmethod
    def put_all(chans: Sequence[Channel[T]], item: T) -> bool:
        """Put ``item`` into every channel of ``chans`` if each has room now (a fan-out
        whose IP goes out at once), counted as :meth:`send_nowait` counts; else put it
        into none and return False."""
        for ch in chans:
            if len(ch._buf) >= ch._room:
                return False
        for ch in chans:
            ch._buf.append(item)
            ch._accepted += 1
            if ch._recv_signal is not None:
                ch.wake_receiver()
        return True

    @property
    def holds_senders(self) -> bool:
        """Whether a sender that finds no room waits for it: the receiver is open and
        the policy is to block (else :meth:`send_nowait` drops or discards)."""
        return self._room == self.capacity and not self.drop_oldest

    def take_ready(self) -> T:
        """Take the next buffered item, letting a waiting sender into the room made;
        return :data:`EMPTY` when nothing is buffered (for a rendezvous or the end of
        the stream, :meth:`receive_nowait`)."""
        buf = self._buf
        if buf:
            item = buf.popleft()
            if self._send_waiters:
                self._admit_sender()
            return item
        return EMPTY  # type: ignore[no-any-return]

    def take_data(self, key: Callable[[T], Any], stop: frozenset[Any]) -> T:
        """Take the next item unless ``key(item)`` is in ``stop`` (a bracket next);
        return :data:`EMPTY` when it is, or when there is nothing to take now.

        Raises:
            EndOfStream: every sender has closed and the buffer is empty.
        """
        buf = self._buf
        if buf:
            if key(buf[0]) in stop:
                return EMPTY  # type: ignore[no-any-return]
            item = buf.popleft()
            if self._send_waiters:
                self._admit_sender()
            return item
        waiters = self._send_waiters
        if waiters:  # capacity 0: a waiting sender's item
            if key(waiters[0][1]) in stop:
                return EMPTY  # type: ignore[no-any-return]
            return self.receive_nowait()
        if self.open_senders == 0:
            raise EndOfStream
        return EMPTY  # type: ignore[no-any-return]

    def take_batch(
        self, into: list[T], limit: int, key: Callable[[T], Any], stop: frozenset[Any]
    ) -> None:
        """Move buffered items into ``into`` until it holds ``limit`` or the next item's
        ``key(item)`` is in ``stop`` (a bracket), then let waiting senders into the room
        made. ``key`` is best a C callable (``type``, an ``itemgetter``): a buffer with
        no stop item is taken whole in one pass."""
        buf = self._buf
        n = min(len(buf), limit - len(into))
        if n == len(buf) and stop.isdisjoint(map(key, buf)):
            into.extend(buf)
            buf.clear()
        else:
            take = buf.popleft
            for _ in range(n):
                if key(buf[0]) in stop:
                    break
                into.append(take())
        while self._send_waiters and len(buf) < self.capacity:
            self._admit_sender()

    def peek(self) -> T:
        """The item :meth:`receive_nowait` would return now, without taking it (a
        buffered item, else a rendezvous sender's), or :data:`EMPTY`."""
        if self._buf:
            return self._buf[0]
        if self._send_waiters:
            return self._send_waiters[0][1]
        return EMPTY  # type: ignore[no-any-return]

    @property
    def available(self) -> int:
        """How many items the receiver could take now without waiting."""
        return len(self._buf) + len(self._send_waiters)

    def wake_receiver(self) -> None:
        """Wake the receiver if it waits (it looks at the channel again)."""
        fut = self._recv_signal
        if fut is not None:
            self._recv_signal = None
            w = self.receiver
            if w is not None:
                w.waiting = None
            release(fut, w)

    # -- internals -----------------------------------------------------------------

    def _admit_sender(self) -> None:
        fut, item, w = self._send_waiters.popleft()
        self._blocked_mark += perf_counter_ns()
        self._buf.append(item)
        self._accepted += 1
        if w is not None:
            w.waiting = None
        release(fut, w)

    def set_shared_signal(self, fut: asyncio.Future[None] | None) -> None:
        """Install a wake-up signal shared with other channels (waiting on any of several)."""
        self._recv_signal = fut

    def clear_shared_signal(self, fut: asyncio.Future[None]) -> None:
        """Remove the shared signal ``fut`` if it is still installed (the wait is over)."""
        if self._recv_signal is fut:
            self._recv_signal = None

    def put_initial(self, item: T) -> None:
        """Place an initial item (an IIP) in the buffer, whatever the capacity, and wake
        the receiver if it waits (an IIP added to a running network)."""
        self._buf.append(item)
        self._accepted += 1
        if self._recv_signal is not None:
            self.wake_receiver()

    def complete_sends_of(self, waiter: Waiter | None) -> None:
        """Let in, whatever the room, the items ``waiter``'s sends queued here (an edge
        removed while they waited: they were sent while it existed)."""
        for entry in [e for e in self._send_waiters if e[2] is waiter]:
            self._send_waiters.remove(entry)
            self._blocked_mark += perf_counter_ns()
            fut, item, w = entry
            self._buf.append(item)
            self._accepted += 1
            if w is not None:
                w.waiting = None
            if not fut.done():
                fut.set_result(None)

    @property
    def sent(self) -> int:
        """Items the channel has accepted (received, buffered, or discarded from it)."""
        fast: int = sum(f.fast_sent for f in self.feeders)
        return self._accepted + fast

    @property
    def received(self) -> int:
        """Items the receiver has taken."""
        return self.sent - len(self._buf) - self._evicted

    @property
    def receiver_waiting(self) -> bool:
        """Whether the receiver is waiting for an item."""
        return self._recv_signal is not None

    @property
    def peak(self) -> int:
        """The most items ever buffered at once."""
        return max(self._peak, len(self._buf))

    @property
    def senders_waiting(self) -> int:
        """How many senders wait for room."""
        return len(self._send_waiters)

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def blocked_send_ns(self) -> int:
        """Nanoseconds senders have spent waiting for room, summed over senders (the
        back-pressure this channel applied), the waits still going on included."""
        return self._blocked_mark + perf_counter_ns() * len(self._send_waiters)

    @property
    def receive_wait_ns(self) -> int:
        """Nanoseconds the receiver has spent waiting for an item, the current wait
        included."""
        since = self._recv_since
        return self.waiting_receive_ns + (perf_counter_ns() - since if since else 0)

    def statistics(self) -> ChannelStatistics:
        """Return a snapshot of the channel's state."""
        n = len(self._buf)
        self._peak = max(self._peak, n)
        return ChannelStatistics(
            current_buffer_used=n,
            peak_buffer_used=self._peak,
            capacity=self.capacity,
            items_sent=self.sent,
            items_received=self.received,
            items_dropped=self.dropped,
            open_senders=self.open_senders,
            tasks_waiting_send=len(self._send_waiters),
            receiver_waiting=self._recv_signal is not None,
            receiver_closed=self.receiver_closed,
            send_blocked_seconds=self.blocked_send_ns / 1e9,
            receive_wait_seconds=self.receive_wait_ns / 1e9,
        )


def open_channel(capacity: int, overflow: Overflow = "block", name: str = "") -> Channel[Any]:
    """Open a bounded channel with one sender registered.

    Args:
        capacity: how many items it buffers; 0 makes every send a rendezvous.
        overflow: ``"block"`` (senders wait, the default) or ``"drop_oldest"``.
        name: shown in messages, usually the edge ``a.OUT -> b.IN``.
    """
    ch: Channel[Any] = Channel(capacity, overflow, name)
    ch.add_sender()
    return ch
