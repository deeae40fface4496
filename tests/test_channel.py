"""Channels: bounded buffers, back-pressure, rendezvous, fan-in close, drop-oldest."""

from __future__ import annotations

import anyio
import pytest

from fbp import EndOfStream, WouldBlock, open_channel
from fbp._core._channel import Channel


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
