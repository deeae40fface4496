"""Baselines: the same shapes as bare tasks and queues, with nothing on top.

- ``anyio-nowait``: anyio memory object streams of the same capacity, using the
  ``send_nowait``/``receive_nowait`` fast path and awaiting only on ``WouldBlock``. This
  is the practical limit of an asyncio pipeline with bounded buffers and clean closing,
  and every ratio in the report is taken against it.
- ``asyncio-nowait``: ``asyncio.Queue`` with ``put_nowait``/``get_nowait``, awaiting only
  on ``QueueFull``/``QueueEmpty``; the end of stream is a sentinel.
- ``asyncio-await``: the same with plain ``await q.put()`` / ``await q.get()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._cases import MERGE_SOURCES, Case, Probe, Timing, merge_feeds
from ._payloads import stage_function

__all__ = ("run_anyio", "run_anyio_fan", "run_asyncio")

_END: Any = object()

Send = MemoryObjectSendStream[Any]
Recv = MemoryObjectReceiveStream[Any]


# -- anyio memory object streams, fast path -------------------------------------------


async def _a_send(send: Send, x: Any) -> None:
    try:
        send.send_nowait(x)
    except anyio.WouldBlock:
        await send.send(x)


async def _a_source(send: Send, feed: Iterable[Any], probe: Probe) -> None:
    async with send:
        probe.start()
        for x in feed:
            try:
                send.send_nowait(x)
            except anyio.WouldBlock:
                await send.send(x)


async def _a_stage(recv: Recv, send: Send, fn: Callable[[Any], Any]) -> None:
    async with send, recv:
        while True:
            try:
                x = recv.receive_nowait()
            except anyio.WouldBlock:
                try:
                    x = await recv.receive()
                except anyio.EndOfStream:
                    return
            except anyio.EndOfStream:
                return
            y = fn(x)
            try:
                send.send_nowait(y)
            except anyio.WouldBlock:
                await send.send(y)


async def _a_fanout_source(sends: list[Send], feed: Iterable[Any], probe: Probe) -> None:
    """Every item to every stream (the diamond's fan-out)."""
    probe.start()
    try:
        for x in feed:
            for s in sends:
                try:
                    s.send_nowait(x)
                except anyio.WouldBlock:
                    await s.send(x)
    finally:
        for s in sends:
            await s.aclose()


async def _a_deal_source(sends: list[Send], feed: Iterable[Any], probe: Probe) -> None:
    """Items dealt round-robin (the wide fan)."""
    n = len(sends)
    probe.start()
    try:
        for i, x in enumerate(feed):
            s = sends[i % n]
            try:
                s.send_nowait(x)
            except anyio.WouldBlock:
                await s.send(x)
    finally:
        for s in sends:
            await s.aclose()


async def _a_join(ra: Recv, rb: Recv, send: Send) -> None:
    async with send, ra, rb:
        while True:
            try:
                try:
                    a = ra.receive_nowait()
                except anyio.WouldBlock:
                    a = await ra.receive()
                try:
                    b = rb.receive_nowait()
                except anyio.WouldBlock:
                    b = await rb.receive()
            except anyio.EndOfStream:
                return
            await _a_send(send, a + b)


async def _a_sink(recv: Recv, probe: Probe) -> None:
    n = 0
    last = None
    async with recv:
        while True:
            try:
                x = recv.receive_nowait()
            except anyio.WouldBlock:
                try:
                    x = await recv.receive()
                except anyio.EndOfStream:
                    break
            except anyio.EndOfStream:
                break
            n += 1
            last = x
    probe.count = n
    probe.last = last


def _stream(capacity: int) -> tuple[Send, Recv]:
    return anyio.create_memory_object_stream[Any](capacity)


def _anyio_tasks(
    case: Case, items: Iterable[Any], probe: Probe, fn: Callable[[Any], Any]
) -> list[Coroutine[Any, Any, None]]:
    cap = case.capacity
    tasks: list[Coroutine[Any, Any, None]] = []
    if case.shape == "linear":
        send, recv = _stream(cap)
        tasks.append(_a_source(send, items, probe))
        for _ in range(case.stages):
            nsend, nrecv = _stream(cap)
            tasks.append(_a_stage(recv, nsend, fn))
            recv = nrecv
        tasks.append(_a_sink(recv, probe))
    elif case.shape == "diamond":
        sa, ra = _stream(cap)
        sb, rb = _stream(cap)
        sa2, ra2 = _stream(cap)
        sb2, rb2 = _stream(cap)
        sj, rj = _stream(cap)
        tasks += [
            _a_fanout_source([sa, sb], items, probe),
            _a_stage(ra, sa2, fn),
            _a_stage(rb, sb2, fn),
            _a_join(ra2, rb2, sj),
            _a_sink(rj, probe),
        ]
    else:
        send, recv = _stream(cap)
        clones = [send.clone() for _ in range(MERGE_SOURCES - 1)]
        feeds = merge_feeds(list(items))
        tasks += [_a_source(s, f, probe) for s, f in zip([send, *clones], feeds, strict=True)]
        out_send, out_recv = _stream(cap)
        tasks += [_a_stage(recv, out_send, _same), _a_sink(out_recv, probe)]
    return tasks


def _same(x: Any) -> Any:
    return x


async def _run_anyio_tasks(
    make: Callable[[], list[Coroutine[Any, Any, None]]], probe: Probe
) -> Timing:
    coros = make()
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for c in coros:
            tg.start_soon(_await, c)
    end = time.perf_counter()
    return Timing(end - (probe.t0 or start), end - start, probe.count, probe.last)


async def _await(c: Coroutine[Any, Any, None]) -> None:
    await c


def run_anyio(case: Case, items: Iterable[Any], fn: Callable[[Any], Any] | None = None) -> Timing:
    """Run a case as bare anyio tasks and memory object streams (the fast path).

    ``fn`` replaces the stage work of the case's payload.
    """
    probe = Probe()
    work = fn if fn is not None else stage_function(case.payload)
    return asyncio.run(_run_anyio_tasks(lambda: _anyio_tasks(case, items, probe, work), probe))


def run_anyio_fan(processes: int, feed: Iterable[Any], capacity: int) -> Timing:
    """The wide fan of the scaling runs as bare anyio tasks: a dealer, workers, a sink."""
    probe = Probe()
    fn = stage_function("int")

    def make() -> list[Coroutine[Any, Any, None]]:
        out_send, out_recv = _stream(capacity)
        sends: list[Send] = []
        tasks: list[Coroutine[Any, Any, None]] = []
        for w in range(processes - 2):
            s, r = _stream(capacity)
            sends.append(s)
            tasks.append(_a_stage(r, out_send if w == 0 else out_send.clone(), fn))
        return [_a_deal_source(sends, feed, probe), *tasks, _a_sink(out_recv, probe)]

    return asyncio.run(_run_anyio_tasks(make, probe))


# -- asyncio.Queue --------------------------------------------------------------------


async def _q_source_nowait(q: asyncio.Queue[Any], feed: Iterable[Any], probe: Probe) -> None:
    probe.start()
    for x in feed:
        try:
            q.put_nowait(x)
        except asyncio.QueueFull:
            await q.put(x)
    await q.put(_END)


async def _q_stage_nowait(
    qin: asyncio.Queue[Any], qout: asyncio.Queue[Any], fn: Callable[[Any], Any], ends: int = 1
) -> None:
    while True:
        try:
            x = qin.get_nowait()
        except asyncio.QueueEmpty:
            x = await qin.get()
        if x is _END:
            ends -= 1
            if ends == 0:
                break
            continue
        y = fn(x)
        try:
            qout.put_nowait(y)
        except asyncio.QueueFull:
            await qout.put(y)
    await qout.put(_END)


async def _q_source_await(q: asyncio.Queue[Any], feed: Iterable[Any], probe: Probe) -> None:
    probe.start()
    for x in feed:
        await q.put(x)
    await q.put(_END)


async def _q_stage_await(
    qin: asyncio.Queue[Any], qout: asyncio.Queue[Any], fn: Callable[[Any], Any], ends: int = 1
) -> None:
    while True:
        x = await qin.get()
        if x is _END:
            ends -= 1
            if ends == 0:
                break
            continue
        await qout.put(fn(x))
    await qout.put(_END)


async def _q_fanout_source(qs: list[asyncio.Queue[Any]], feed: Iterable[Any], probe: Probe) -> None:
    probe.start()
    for x in feed:
        for q in qs:
            try:
                q.put_nowait(x)
            except asyncio.QueueFull:
                await q.put(x)
    for q in qs:
        await q.put(_END)


async def _q_join(qa: asyncio.Queue[Any], qb: asyncio.Queue[Any], qout: asyncio.Queue[Any]) -> None:
    while True:
        a = await qa.get()
        b = await qb.get()
        if a is _END or b is _END:
            break
        await qout.put(a + b)
    await qout.put(_END)


async def _q_sink(q: asyncio.Queue[Any], probe: Probe) -> None:
    n = 0
    last = None
    while True:
        try:
            x = q.get_nowait()
        except asyncio.QueueEmpty:
            x = await q.get()
        if x is _END:
            break
        n += 1
        last = x
    probe.count = n
    probe.last = last


async def _run_asyncio(case: Case, items: Iterable[Any], probe: Probe, nowait: bool) -> Timing:
    fn = stage_function(case.payload)
    cap = case.capacity
    source = _q_source_nowait if nowait else _q_source_await
    stage = _q_stage_nowait if nowait else _q_stage_await
    coros: list[Coroutine[Any, Any, None]] = []

    def queue() -> asyncio.Queue[Any]:
        return asyncio.Queue(cap)

    if case.shape == "linear":
        q = queue()
        coros.append(source(q, items, probe))
        for _ in range(case.stages):
            nq = queue()
            coros.append(stage(q, nq, fn))
            q = nq
        coros.append(_q_sink(q, probe))
    elif case.shape == "diamond":
        qa, qb, qa2, qb2, qj = (queue() for _ in range(5))
        coros += [
            _q_fanout_source([qa, qb], items, probe),
            stage(qa, qa2, fn),
            stage(qb, qb2, fn),
            _q_join(qa2, qb2, qj),
            _q_sink(qj, probe),
        ]
    else:
        q, out = queue(), queue()
        coros += [source(q, f, probe) for f in merge_feeds(list(items))]
        coros += [stage(q, out, _same, MERGE_SOURCES), _q_sink(out, probe)]
    start = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for c in coros:
            tg.create_task(c)
    end = time.perf_counter()
    return Timing(end - (probe.t0 or start), end - start, probe.count, probe.last)


def run_asyncio(case: Case, items: Iterable[Any], *, nowait: bool) -> Timing:
    """Run a case as bare asyncio tasks and ``asyncio.Queue``s."""
    probe = Probe()
    return asyncio.run(_run_asyncio(case, items, probe, nowait))
