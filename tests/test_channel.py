"""Channels: bounded buffers, back-pressure, rendezvous, fan-in close, drop-oldest."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from fbp import EndOfStream, WouldBlock, open_channel
from fbp._core._channel import EMPTY, Channel


def test_send_nowait_fills_to_capacity_then_would_block() -> None:
    ch = open_channel(2)
    ch.send_nowait(1)
    ch.send_nowait(2)
    with pytest.raises(WouldBlock):
        ch.send_nowait(3)
    assert ch.receive_nowait() == 1
    ch.send_nowait(3)
    assert [ch.receive_nowait(), ch.receive_nowait()] == [2, 3]
    with pytest.raises(WouldBlock):
        ch.receive_nowait()


def test_end_of_stream_after_last_sender_closes_and_buffer_drains() -> None:
    ch = open_channel(4)
    ch.add_sender()
    ch.send_nowait("a")
    ch.close_sender()
    assert ch.receive_nowait() == "a"
    with pytest.raises(WouldBlock):  # one sender is still open
        ch.receive_nowait()
    ch.close_sender()
    with pytest.raises(EndOfStream):
        ch.receive_nowait()


def test_drop_oldest_keeps_the_newest_and_counts_drops() -> None:
    ch = open_channel(2, overflow="drop_oldest")
    dropped: list[int] = []
    ch.on_drop = dropped.append
    for i in range(5):
        ch.send_nowait(i)
    assert [ch.receive_nowait(), ch.receive_nowait()] == [3, 4]
    assert dropped == [0, 1, 2]
    assert ch.statistics().items_dropped == 3


def test_bad_arguments_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r"^capacity must be >= 0, got -1$"):
        Channel(-1)
    with pytest.raises(ValueError, match="drop_oldest' needs a capacity of at least 1"):
        Channel(0, "drop_oldest")


@pytest.mark.parametrize("capacity", [0, 1, 5])
async def test_a_blocked_sender_resumes_in_order(capacity: int) -> None:
    ch = open_channel(capacity)
    got: list[int] = []

    async def producer() -> None:
        for i in range(20):
            await ch.send(i)
        ch.close_sender()

    async def consumer() -> None:
        while True:
            try:
                got.append(await ch.receive())
            except EndOfStream:
                return

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            tg.start_soon(consumer)
    assert got == list(range(20))
    stats = ch.statistics()
    assert stats.items_sent == stats.items_received == 20
    assert stats.peak_buffer_used <= capacity


async def test_rendezvous_send_waits_for_the_receiver() -> None:
    ch = open_channel(0)
    done = anyio.Event()

    async def sender() -> None:
        await ch.send("x")
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        await anyio.wait_all_tasks_blocked()
        assert not done.is_set()
        assert ch.statistics().tasks_waiting_send == 1
        assert await ch.receive() == "x"
    assert done.is_set()


async def test_closing_the_receiver_releases_blocked_senders() -> None:
    ch = open_channel(1)
    ch.send_nowait(1)

    async def sender() -> None:
        await ch.send(2)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender)
            await anyio.wait_all_tasks_blocked()
            assert ch.close_receiver() == 2
    ch.send_nowait(3)  # discarded, not raised
    assert ch.statistics().items_dropped == 3


# -- the ports' paths: the methods the port classes use instead of the internals --------


def test_offer_puts_while_there_is_room_and_leaves_the_count_to_the_port() -> None:
    ch = open_channel(2)
    assert ch.holds_senders
    assert ch.offer("a") and ch.offer("b")
    assert not ch.offer("c")
    assert len(ch) == 2 and ch.peak == 2
    assert ch.sent == 0  # counted by the port that offered them (its sent_fast)
    assert [ch.receive_nowait(), ch.receive_nowait()] == ["a", "b"]


def test_offer_many_puts_what_fits_from_a_position() -> None:
    ch = open_channel(3)
    items = [1, 2, 3, 4, 5]
    assert ch.offer_many(items, 1) == 3
    assert ch.offer_many(items, 4) == 0
    assert [ch.receive_nowait() for _ in range(3)] == [2, 3, 4]
    assert ch.offer_many(items, 4) == 1


def test_a_closed_receiver_takes_nothing_and_holds_no_sender() -> None:
    for overflow in ("block", "drop_oldest"):
        ch = open_channel(2, overflow=overflow)  # type: ignore[arg-type]
        ch.close_receiver()
        assert not ch.offer(1) and not ch.holds_senders
        assert ch.offer_many([1, 2], 0) == 0
        assert not Channel.put_all([open_channel(2), ch], 1)
    assert not open_channel(1, overflow="drop_oldest").holds_senders


def test_take_ready_takes_buffered_items_and_lets_a_waiting_sender_in() -> None:
    async def main() -> None:
        ch = open_channel(1)
        ch.send_nowait("a")
        async with anyio.create_task_group() as tg:
            tg.start_soon(ch.send, "b")
            await anyio.wait_all_tasks_blocked()
            assert ch.senders_waiting == 1 and ch.available == 2
            assert ch.take_ready() == "a"
            assert ch.senders_waiting == 0 and len(ch) == 1  # "b" was let in
        assert ch.take_ready() == "b"
        assert ch.take_ready() is EMPTY  # nothing buffered; not the end either
        ch.close_sender()
        assert ch.take_ready() is EMPTY
        with pytest.raises(EndOfStream):
            ch.receive_nowait()

    anyio.run(main)


@pytest.mark.parametrize("capacity", [0, 2])
def test_take_data_leaves_a_bracket_in_place(capacity: int) -> None:
    """A bracket next, whether buffered or (capacity 0) a waiting sender's, is left for
    the receive that forwards it."""

    async def main() -> None:
        ch = open_channel(capacity)
        stop = frozenset({str})
        async with anyio.create_task_group() as tg:
            tg.start_soon(ch.send, "[")
            await anyio.wait_all_tasks_blocked()
            assert ch.peek() == "["
            assert ch.take_data(type, stop) is EMPTY
            assert ch.peek() == "["  # still there
            assert ch.receive_nowait() == "["
            tg.start_soon(ch.send, 7)
            await anyio.wait_all_tasks_blocked()
            assert ch.take_data(type, stop) == 7
        assert ch.take_data(type, stop) is EMPTY  # nothing now, a sender still open
        ch.close_sender()
        with pytest.raises(EndOfStream):
            ch.take_data(type, stop)

    anyio.run(main)


def test_take_batch_stops_at_a_bracket_and_at_the_limit() -> None:
    ch = open_channel(8)
    for x in [1, 2, "[", 3]:
        ch.send_nowait(x)
    got: list[object] = [0]
    ch.take_batch(got, 10, type, frozenset({str}))
    assert got == [0, 1, 2] and ch.peek() == "["
    ch.receive_nowait()
    for x in [4, 5, 6]:
        ch.send_nowait(x)
    got = []
    ch.take_batch(got, 2, type, frozenset({str}))
    assert got == [3, 4]
    got = []
    ch.take_batch(got, 10, type, frozenset({str}))  # no bracket: taken whole
    assert got == [5, 6] and len(ch) == 0


def test_a_shared_signal_is_cleared_only_by_its_owner() -> None:
    async def main() -> None:
        ch = open_channel(1)
        loop = asyncio.get_running_loop()
        mine, other = loop.create_future(), loop.create_future()
        ch.set_shared_signal(mine)
        ch.clear_shared_signal(other)
        assert ch.receiver_waiting
        ch.clear_shared_signal(mine)
        assert not ch.receiver_waiting

    asyncio.run(main())


def test_put_all_puts_into_every_channel_or_none() -> None:
    a, b = open_channel(1), open_channel(2)
    assert Channel.put_all([a, b], "x")
    assert (len(a), len(b)) == (1, 1) and a.sent == b.sent == 1  # counted here
    assert not Channel.put_all([b, a], "y")  # a is full: b gets nothing either
    assert (len(a), len(b)) == (1, 1)
