"""What actors print reaches the driver's standard output once, in order, even when a
host answers a poll late or the run ends while a poll is on its way.

A host hands over its printed text when it answers a poll, so a dropped answer would be
lost output. The hosts here are stand-ins with the actor interface the driver calls
(``poll.remote``), answering after a delay, so the timing is exact without Ray.
"""

from __future__ import annotations

import asyncio
import io
from types import SimpleNamespace
from typing import Any

from fbp.ray._driver import _Job


class _SlowHost:
    """Hands over the lines printed since the last poll at once, and its answer arrives
    ``delay`` seconds later; like a Ray actor's call, the host's side goes on when the
    driver stops waiting for it."""

    def __init__(self, lines: list[str], delay: float) -> None:
        self.lines = lines
        self.delay = delay
        self.polls = 0
        self.poll = SimpleNamespace(remote=self._remote)

    def _remote(self, run_id: str) -> asyncio.Future[tuple[list[Any], str]]:
        self.polls += 1
        text = "".join(self.lines)
        self.lines.clear()
        return asyncio.shield(asyncio.ensure_future(self._answer(text)))

    async def _answer(self, text: str) -> tuple[list[Any], str]:
        await asyncio.sleep(self.delay)
        return [], text


class _Local:
    async def poll(self, run_id: str) -> tuple[list[Any], str]:
        return [], ""


def _job(host: _SlowHost, out: io.StringIO) -> _Job:
    spec = SimpleNamespace(run_id="r", deadlock_interval=0.01)
    return _Job(spec, None, _Local(), {1: host}, out)  # type: ignore[arg-type]


async def test_a_late_answer_is_printed_when_it_arrives_and_the_host_is_not_asked_twice() -> None:
    out = io.StringIO()
    host = _SlowHost(["a\n", "b\n"], delay=0.2)
    job = _job(host, out)
    assert await job._poll() is None  # no verdict: the host did not answer within 0.04 s
    assert await job._poll() is None  # the same poll is still on its way: not asked again
    assert host.polls == 1
    await job._drain_stdout()
    assert out.getvalue() == "a\nb\n"
    assert host.polls == 2  # the drain's own last poll, after the late answer


async def test_output_handed_to_a_poll_survives_the_watch_being_cancelled() -> None:
    out = io.StringIO()
    host = _SlowHost(["last line\n"], delay=0.1)
    job = _job(host, out)
    watch = asyncio.ensure_future(job._poll())
    await asyncio.sleep(0.02)  # the host has been asked; its answer is on its way
    watch.cancel()  # the run ended: the watch stops as it does then
    await asyncio.gather(watch, return_exceptions=True)
    await job._drain_stdout()
    assert out.getvalue() == "last line\n"
