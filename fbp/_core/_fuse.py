"""Fused execution: the processes of a network stepped by one scheduler, in turn.

Run as tasks of their own, processes hand IPs to each other through the event loop: a
receiver that finds its channel empty waits on a future, the sender's next send sets
it, the loop schedules the receiver's task, polls for I/O, runs it. With bounded
channels that round trip comes about once per channel-full of IPs, and it costs more
than moving the IPs.

Fused, the processes still each have their own asyncio task (so ``current_task()``,
cancel scopes, timeouts and task groups in a component behave as always), but that
task only stands by; a scheduler task steps the processes' coroutines itself, each
as the current task of its own asyncio task, in the order they become ready. Whoever
ends a wait on a channel (:func:`release`) puts the waiting process straight back in
the scheduler's queue: no trip through the event loop. The scheduler yields to the
event loop when nothing is ready, and every ``YIELD_EVERY`` steps so that other tasks
are not starved.

A process that awaits anything other than a channel (a sleep, I/O, another task)
leaves the scheduler for good at that point: its own task takes its coroutine over and
awaits what it awaited, exactly as if it had always run alone. Cancellation of a
process's task (the network stopping) does the same, then delivers the cancellation.

Channels, back-pressure, the deadlock watchdog (processes still say what they wait
on), lineage and error attribution are the same code fused or not: only who resumes a
waiting coroutine changes.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from asyncio import tasks as _tasks
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._process import Process

__all__ = ("YIELD_EVERY", "Scheduler", "enabled", "wait_future")

#: Steps of processes between two yields of the scheduler to the event loop.
YIELD_EVERY = 256

_enter_task = getattr(_tasks, "_enter_task", None)
_leave_task = getattr(_tasks, "_leave_task", None)

# A member's states.
_NEW, _FUSED, _ALONE, _DONE = range(4)


def enabled() -> bool:
    """Whether networks fuse their processes (``FBP_NO_FUSE=1`` turns it off)."""
    return not os.environ.get("FBP_NO_FUSE") and _enter_task is not None


class _Member:
    """A process under the scheduler: its coroutine, its task and its state."""

    __slots__ = ("coro", "ctx", "left_for", "parked", "proc", "sched", "state", "task", "wait")

    def __init__(self, sched: Scheduler, proc: Process) -> None:
        self.sched = sched
        self.proc = proc
        self.coro: Coroutine[Any, Any, None] = proc.main()
        proc.coro = self.coro  # what the process awaits is read from it (see _waits)
        self.ctx: contextvars.Context | None = None
        self.task: asyncio.Task[Any] | None = None
        # What the process's own task waits on while the scheduler runs the process:
        # set to None when the scheduler finishes it, to a future when it leaves.
        self.parked: asyncio.Future[Any] | None = None
        self.state = _NEW
        # The channel wait it is in, while fused (see wait_future and release).
        self.wait: asyncio.Future[None] | None = None
        # What it awaited when it left the scheduler.
        self.left_for: Any = None


def wait_future(waiter: Any) -> asyncio.Future[None]:
    """The future a process waits on in a channel operation (``waiter`` is the
    process, or None). Whoever ends the wait calls :func:`release`."""
    m = None if waiter is None else waiter.fused
    if m is None:
        return asyncio.get_running_loop().create_future()
    # The scheduler's loop (asking for the running loop costs a system call).
    fut: asyncio.Future[None] = m.sched.loop.create_future()
    m.wait = fut
    return fut


def release(fut: asyncio.Future[None], waiter: Any) -> None:
    """End a channel wait: resolve its future and, for a fused process, queue it."""
    if not fut.done():
        fut.set_result(None)
        if waiter is not None:
            m = waiter.fused
            if m is not None and m.wait is fut:
                m.wait = None
                m.sched.wake(m)


class Scheduler:
    """Steps the coroutines of several processes in one task (see the module doc)."""

    __slots__ = ("_idle", "live", "loop", "members", "ready")

    def __init__(self, procs: Sequence[Process]) -> None:
        self.members = [_Member(self, p) for p in procs]
        self.ready: deque[_Member] = deque()
        self.live = len(self.members)
        self._idle: asyncio.Future[None] | None = None
        self.loop = asyncio.get_running_loop()  # made by a running network
        for m in self.members:
            m.proc.fused = m

    def wake(self, m: _Member) -> None:
        """Queue a process whose wait is over."""
        self.ready.append(m)
        idle = self._idle
        if idle is not None and not idle.done():
            idle.set_result(None)

    # -- the scheduler's task ------------------------------------------------------------

    async def run(self) -> None:
        """The scheduler's task: step ready processes until none is left fused."""
        loop = self.loop
        me = asyncio.current_task()
        enter, leave = _enter_task, _leave_task
        assert me is not None
        assert enter is not None
        assert leave is not None
        ready = self.ready
        try:
            while self.live:
                if not ready:
                    self._idle = loop.create_future()
                    try:
                        await self._idle
                    finally:
                        self._idle = None
                    continue
                steps = YIELD_EVERY
                while ready and steps:
                    m = ready.popleft()
                    if m.state != _FUSED:
                        continue
                    steps -= 1
                    leave(loop, me)
                    enter(loop, m.task)
                    try:
                        y = m.ctx.run(m.coro.send, None)  # type: ignore[union-attr]
                    except StopIteration:
                        self._finish(m, None)
                        continue
                    except BaseException as e:
                        self._finish(m, e)
                        if isinstance(e, (KeyboardInterrupt, SystemExit)):
                            raise
                        continue
                    finally:
                        leave(loop, m.task)
                        enter(loop, me)
                    if y is None:  # a bare yield (sleep(0)): its turn comes again
                        ready.append(m)
                        steps = 0
                    elif y is m.wait:  # a channel wait: release() queues it again
                        y._asyncio_future_blocking = False  # type: ignore[union-attr]
                    else:
                        if isinstance(y, asyncio.Future):
                            y._asyncio_future_blocking = False  # as a task does
                        self._leave(m, y)
                if not steps:
                    await asyncio.sleep(0)
        finally:
            for m in self.members:
                m.proc.fused = None
                if m.state == _NEW:  # its task never started (the run was stopped)
                    m.coro.close()

    def _finish(self, m: _Member, error: BaseException | None) -> None:
        m.state = _DONE
        self.live -= 1
        m.proc.fused = None
        parked = m.parked
        if parked is not None and not parked.done():
            if error is None:
                parked.set_result(None)
            else:
                parked.set_exception(error)

    def _leave(self, m: _Member, awaited: Any) -> None:
        """The process awaits something else than a channel: its task takes it over."""
        m.state = _ALONE
        self.live -= 1
        m.proc.fused = None
        m.left_for = awaited
        parked = m.parked
        if parked is not None and not parked.done():
            parked.set_result(awaited)
        if self.live == 0 and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    # -- each process's own task -----------------------------------------------------------

    async def host(self, m: _Member) -> None:
        """A process's own task: stands by while the scheduler runs the process."""
        loop = asyncio.get_running_loop()
        m.task = asyncio.current_task()
        m.ctx = contextvars.copy_context()
        m.parked = loop.create_future()
        m.state = _FUSED
        self.wake(m)
        error: BaseException | None = None
        try:
            awaited = await m.parked
        except asyncio.CancelledError as e:
            if m.state == _DONE:
                raise
            if m.state == _ALONE and isinstance(m.left_for, asyncio.Future):
                # It had just left, awaiting this: cancel that, as a task would.
                m.left_for.cancel()
            # Stopped while fused: take the process over and deliver the cancellation.
            if m.state == _FUSED:
                m.state = _ALONE
                self.live -= 1
                m.proc.fused = None
                if self.live == 0 and self._idle is not None and not self._idle.done():
                    self._idle.set_result(None)
            awaited, error = None, e
        if m.state == _DONE:
            return
        await self._alone(m, awaited, error)

    async def _alone(self, m: _Member, awaited: Any, error: BaseException | None) -> None:
        """Drive a process's coroutine from its own task, as a task would."""
        coro, ctx = m.coro, m.ctx
        assert ctx is not None
        while True:
            if awaited is not None and not isinstance(awaited, asyncio.Future):
                error = RuntimeError(f"Task got bad yield: {awaited!r}")
                awaited = None
            if error is None:
                try:
                    if awaited is None:
                        await asyncio.sleep(0)
                    else:
                        await awaited
                except asyncio.CancelledError as e:
                    # The process sees a cancelled future itself; otherwise deliver it.
                    if awaited is None or not awaited.cancelled():
                        error = e
                except BaseException:
                    pass  # the process reads the future's exception when it resumes
            try:
                if error is not None:
                    awaited = ctx.run(coro.throw, error)
                else:
                    awaited = ctx.run(coro.send, None)
            except StopIteration:
                m.state = _DONE
                return
            finally:
                error = None
            if isinstance(awaited, asyncio.Future):
                awaited._asyncio_future_blocking = False
