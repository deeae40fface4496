"""Deadlock detection: a wait-for graph built from the processes blocked on channels.

A process blocked in a channel operation says so (:class:`Waiter.waiting`), and whoever
wakes it clears that at once. So when every live process is waiting, none of them has a
deadline pending (a receive inside ``anyio.move_on_after`` is a live wait: it will wake
up), and two looks a short interval apart see the same state with no item moved between
them, nothing can ever move again: the network is deadlocked. The report follows the
wait-for edges (a receiver waits for the senders of its channel, a sender for the
receiver) to the cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._exceptions import DeadlockError
from ._waits import channel_wait, timed_processes

if TYPE_CHECKING:
    from ._channel import Channel
    from ._process import Process

__all__ = ("find_deadlock", "progress_mark")


def progress_mark(channels: Iterable[Channel[Any]]) -> int:
    """A number that changes whenever any item moves through any channel."""
    return sum(ch.sent + ch.received + ch.dropped for ch in channels)


def find_deadlock(
    processes: Sequence[Process],
    senders: Mapping[Channel[Any], Sequence[Process]],
) -> DeadlockError | None:
    """Return the deadlock if every live process waits on a channel, else None."""
    live = [p for p in processes if not p.ended]
    if not live or any(p.waiting is None for p in live):
        return None
    if timed_processes(processes):
        return None  # a deadline or a sleep will wake a process: the network is live
    live_set = set(live)
    waits_for: dict[Process, list[Process]] = {}
    described: dict[Process, str] = {}
    for p in live:
        assert p.waiting is not None
        text, others = channel_wait(p, p.waiting, senders)
        described[p] = f"{p.name} {text}"
        waits_for[p] = [o for o in others if o in live_set]
    cycle = _cycle(waits_for)
    return DeadlockError(
        cycle=[described[p] for p in cycle],
        waits=[described[p] for p in live],
    )


def _cycle(graph: Mapping[Process, Sequence[Process]]) -> list[Process]:
    color: dict[Process, int] = {}
    stack: list[Process] = []

    def visit(node: Process) -> list[Process] | None:
        color[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            state = color.get(nxt, 0)
            if state == 1:
                return stack[stack.index(nxt) :]
            if state == 0:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        color[node] = 2
        return None

    for start in sorted(graph, key=lambda p: p.name):
        if color.get(start, 0) == 0:
            found = visit(start)
            if found:
                return found
    return []
