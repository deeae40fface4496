"""What a process waits on: for deadlock reports, quiet-network warnings and summaries.

A process blocked in a channel operation says so itself (:class:`Waiter.waiting`).
Any other wait (an event, a lock, a sleep, a subtask) is read from the suspended
coroutines of its task: the innermost one names what it awaits, and the innermost
frame of the component's own code says where. When a run is stopped (Ctrl-C, SIGTERM,
another process failed), the same is read from the traceback of the cancellation, so a
summary can say what each process was doing when it was stopped.

Whether a wait has a deadline (``anyio.move_on_after``, ``fail_after``,
``asyncio.timeout``, ``asyncio.wait_for``, a sleep) is read from the event loop's
pending timers: each belongs to a task (the host of a cancel scope, the task a timeout
cancels, the task a sleeping future wakes), and a task belongs to the process whose
task started it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from types import CodeType, FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from ._channel import Channel
    from ._process import Process

__all__ = ("channel_wait", "live_state", "stopped_state", "timed_processes")

# Frames of these packages are machinery: the place shown is the component's own code.
_MACHINERY = tuple(
    os.path.dirname(p) + os.sep
    for p in (__file__, asyncio.__file__, anyio.__file__)
    if p is not None
)


_FUSE_FILE = os.path.join(os.path.dirname(__file__), "_fuse.py")


def channel_wait(
    proc: Process,
    waiting: tuple[tuple[Channel[Any], ...], str],
    senders: Mapping[Channel[Any], Sequence[Process]],
) -> tuple[str, list[Process]]:
    """Describe a channel wait (``waits to receive on a.IN (...)``) and whom it waits for."""
    chans, op = waiting
    names = ", ".join(ch.name for ch in chans)
    if op == "receive":
        others = sorted(
            {s for ch in chans for s in senders.get(ch, ()) if not s.ended},
            key=lambda x: x.name,
        )
        stats = f"empty; open senders: {', '.join(s.name for s in others) or 'none'}"
        return f"waits to receive on {names} ({stats})", others
    ch = chans[0]
    owner = ch.receiver
    from ._process import Process

    waits_for = [owner] if isinstance(owner, Process) and not owner.ended else []
    return f"waits to send on {names} (full {len(ch)}/{ch.capacity})", waits_for


def live_state(proc: Process, senders: Mapping[Channel[Any], Sequence[Process]]) -> str:
    """What a live process is doing now: a channel wait, another await, or running."""
    waiting = proc.waiting
    if waiting is not None:
        return channel_wait(proc, waiting, senders)[0]
    task = proc.task
    if task is None:
        return "not started"
    # Fused, the task only stands by and a scheduler steps the process's coroutine.
    frames, awaited = _suspended(proc.coro if proc.coro is not None else task.get_coro())
    if awaited is None:
        return "running"
    return f"awaits {awaited}{_place(frames)}"


def stopped_state(
    exc: BaseException, last_wait: tuple[tuple[Channel[Any], ...], str] | None = None
) -> str:
    """What a process was doing when ``exc`` (its cancellation) reached it.

    ``last_wait`` is the last channel wait the process entered: a compiled port waits
    without a Python frame, so when the cancellation landed straight in the component's
    own code (not in a wait of asyncio, anyio or fbp), that wait is what it was doing.
    """
    frames: list[FrameType] = []
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        # A fused process's cancellation comes from the task that stands by for it.
        if tb.tb_frame.f_code.co_filename != _FUSE_FILE:
            frames.append(tb.tb_frame)
        tb = tb.tb_next
    if not frames:
        return "stopped"
    for frame in reversed(frames):
        wait = _channel_frame(frame)
        if wait is not None:
            return f"stopped while it waited to {wait}"
    inner = frames[-1]
    if last_wait is not None and not inner.f_code.co_filename.startswith(_MACHINERY):
        chans, op = last_wait
        return f"stopped while it waited to {op} on {', '.join(ch.name for ch in chans)}"
    return f"stopped while it awaited {_callable(inner.f_code)}(){_place(frames)}"


def timed_processes(processes: Iterable[Process]) -> set[Process]:
    """The processes that a pending timer of the event loop will wake or cancel."""
    loop = asyncio.get_running_loop()
    scheduled = getattr(loop, "_scheduled", None)
    if not scheduled:
        return set()
    timed: set[int] = set()
    for handle in list(scheduled):
        if not handle.cancelled():
            task = _timer_task(handle)
            if task is not None:
                timed.add(id(task))
    if not timed:
        return set()
    by_task = {id(p.task): p for p in processes if p.task is not None}
    parents = {t.id: t.parent_id for t in anyio.get_running_tasks()}
    found: set[Process] = set()
    for tid in timed:
        seen = 0
        node: int | None = tid
        while node is not None and seen < 1000:  # up the tree of tasks to a process
            if node in by_task:
                found.add(by_task[node])
                break
            node = parents.get(node)
            seen += 1
    return found


def _timer_task(handle: asyncio.TimerHandle) -> asyncio.Task[Any] | None:
    callback = handle._callback  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return owner
    for attr in ("_host_task", "_task"):  # an anyio cancel scope, an asyncio timeout
        task = getattr(owner, attr, None)
        if isinstance(task, asyncio.Task):
            return task
    for arg in handle._args or ():
        if isinstance(arg, asyncio.Future):  # a sleep, a wait_for: the future it wakes
            for cb, _ctx in getattr(arg, "_callbacks", None) or ():
                waiter = getattr(cb, "__self__", None)
                if isinstance(waiter, asyncio.Task):
                    return waiter
    return None


def _suspended(coro: Any) -> tuple[list[FrameType], str | None]:
    """The frames of a suspended coroutine chain, and what its innermost one awaits."""
    frames: list[FrameType] = []
    awaited: str | None = None
    seen = 0
    while coro is not None and seen < 200:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        awaited = f"{_callable(frame.f_code)}()"
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        seen += 1
    return frames, awaited


def _channel_frame(frame: FrameType) -> str | None:
    from ._arrays import _wait_any
    from ._channel import Channel

    code = frame.f_code
    if code is Channel.wait_receivable.__code__:
        return f"receive on {frame.f_locals['self'].name}"
    if code is Channel.wait_send.__code__:
        return f"send on {frame.f_locals['self'].name}"
    if code is _wait_any.__code__:
        chans = frame.f_locals.get("chans") or ()
        return f"receive on {', '.join(ch.name for ch in chans)}"
    return None


def _callable(code: CodeType) -> str:
    return code.co_qualname


def _place(frames: Sequence[FrameType]) -> str:
    """`` (file.py:12, in Comp.run)``: the innermost frame of the component's code."""
    for frame in reversed(frames):
        filename = frame.f_code.co_filename
        if not filename.startswith(_MACHINERY):
            short = os.path.relpath(filename) if not filename.startswith("<") else filename
            if short.startswith(".." + os.sep):
                short = filename
            return f" ({short}:{frame.f_lineno}, in {_callable(frame.f_code)})"
    return ""
