"""A host runs partition instances: in a Ray actor, or in the driver itself.

The same class serves both: the driver calls its methods directly for the partition
that stays with it, and :func:`actor_class` wraps it as an async Ray actor for the
others. A host listens on one TCP port for the bridges of every instance it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

import anyio

from .._core._exceptions import DeadlockError, NetworkError, ProcessError
from .._core._network import RunResult
from .._core._tracehook import TraceSink
from ._frames import HELLO, PeerGone, read_frame
from ._link import PeerLost, PeerStopped, RouteError
from ._partition import Built, LocalSink, RunSpec, UplinkSink, build_partition, connect_targets

__all__ = ("Failure", "Outcome", "PartitionHost", "actor_class")


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an instance failed, in a form that crosses processes."""

    #: "process", "deadlock", "lost" (a peer vanished), "stopped" (a peer stopped),
    #: "route" (an IP could not be routed) or "other".
    kind: str
    message: str
    process: str | None = None
    component: str | None = None
    port: str | None = None
    ip: str | None = None
    location: Any = None
    cause: BaseException | None = None
    cause_type: str = ""
    cause_text: str = ""
    #: For "lost" and "stopped": the instance at the other end.
    peer: int | None = None
    cycle: tuple[str, ...] = ()
    waits: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one instance's run came to."""

    instance: int
    status: str
    result: RunResult
    bridges: frozenset[str]
    failure: Failure | None = None
    stdout: str = ""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An instance's state for the driver's deadlock watchdog."""

    instance: int
    running: bool
    #: Every live process (bridges included) is waiting: on a channel, or remotely.
    all_waiting: bool
    #: Changes whenever an IP moves through a channel or a bridge.
    mark: int
    #: IPs shipped and received per link, ``(source, target, port) -> count``.
    shipped: dict[tuple[int, int, str], int]
    received: dict[tuple[int, int, str], int]
    #: What each live process waits on: ``(process, "send" | "receive", ports, text)``.
    waits: tuple[tuple[str, str, tuple[str, ...], str], ...]


class _Capture(io.TextIOBase):
    """Standard output of an actor, kept for the driver to print."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.parts.append(s)
        return len(s)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


@dataclass
class _Run:
    spec: RunSpec
    built: dict[int, Built] = field(default_factory=dict)
    scopes: dict[int, anyio.CancelScope] = field(default_factory=dict)
    cancelled: bool = False


class PartitionHost:
    """Runs partition instances and serves their incoming bridges."""

    def __init__(self, capture_stdout: bool = False, writer: TraceSink | None = None) -> None:
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._runs: dict[str, _Run] = {}
        self._writer = writer
        self._stdout: _Capture | None = None
        self._collectors: set[asyncio.Task[Any]] = set()
        if capture_stdout:
            self._stdout = _Capture()
            sys.stdout = self._stdout

    def pid(self) -> int:
        """The host's process id."""
        return os.getpid()

    async def listen(self, bind: str) -> tuple[str, int]:
        """Start listening for bridges (once); return the address to connect to."""
        if self._server is None:
            self._server = await asyncio.start_server(self._connection, bind, 0)
            port = self._server.sockets[0].getsockname()[1]
            self._address = (bind, port)
        assert self._address is not None
        return self._address

    async def prepare(self, spec: RunSpec, instances: list[int], bind: str) -> tuple[str, int]:
        """Wire the given instances of a run; return where their bridges listen."""
        address = await self.listen(bind)
        run = self._runs.setdefault(spec.run_id, _Run(spec))
        for k in instances:
            inst = spec.plan.instances[k]
            bridges: dict[str, str] = {}
            sink: Any = None
            if spec.trace is not None:
                if self._writer is not None:
                    sink = LocalSink(self._writer, spec.trace, bridges)
                else:
                    sink = UplinkSink(spec, k, bridges)
            built = build_partition(spec, inst, None, sink)
            bridges.update({link.name: link.target_port for link in built.out_links})
            run.built[k] = built
        return address

    async def run(
        self, run_id: str, instance: int, addresses: dict[int, tuple[str, int]]
    ) -> Outcome:
        """Run one prepared instance to its end."""
        run = self._runs[run_id]
        built = run.built[instance]
        connect_targets(built, addresses)
        failure: Failure | None = None
        status = "completed"
        with anyio.CancelScope() as scope:
            run.scopes[instance] = scope
            if run.cancelled:
                scope.cancel()
            try:
                await built.net.run()
            except ProcessError as e:
                failure = _process_failure(e, built)
            except DeadlockError as e:
                failure = Failure("deadlock", str(e), cycle=e.cycle, waits=e.waits)
            except NetworkError as e:
                failure = Failure("other", str(e))
        if scope.cancelled_caught:
            status = "interrupted"
        elif failure is not None:
            status = "deadlock" if failure.kind == "deadlock" else "failed"
        result = built.net.result()
        out = self._stdout.take() if self._stdout is not None else ""
        del run.built[instance]
        run.scopes.pop(instance, None)
        if not run.built:
            self._runs.pop(run_id, None)
        return Outcome(instance, status, result, frozenset(built.bridges), failure, out)

    async def collected(self, grace: float) -> None:
        """Wait (at most ``grace`` seconds) until every trace connection has ended:
        the records a lost partition sent before it died are written by then."""
        if self._collectors:
            await asyncio.wait(set(self._collectors), timeout=grace)

    async def cancel(self, run_id: str) -> None:
        """Stop every instance of a run (they end as interrupted)."""
        run = self._runs.get(run_id)
        if run is None:
            return
        run.cancelled = True
        for scope in run.scopes.values():
            scope.cancel()

    async def poll(self, run_id: str) -> tuple[list[Snapshot], str]:
        """The state of this host's instances of a run, and what they printed."""
        run = self._runs.get(run_id)
        snaps = [] if run is None else [_snapshot(b) for b in run.built.values()]
        return snaps, (self._stdout.take() if self._stdout is not None else "")

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            kind, body = await read_frame(reader)
        except PeerGone:
            writer.close()
            return
        if kind != HELLO or not isinstance(body, tuple) or len(body) != 3:
            writer.close()
            return
        token, purpose, key = body
        if purpose == "link":
            run_id = str(key).split(":", 1)[0]
            run = self._runs.get(run_id)
            if run is not None and token == run.spec.token:
                for built in run.built.values():
                    link = built.in_links.get(key)
                    if link is not None:
                        await link.serve(reader, writer)
                        return
        elif (
            purpose == "trace"
            and self._writer is not None
            and any(token == r.spec.token for r in self._runs.values())
        ):
            task = asyncio.current_task()
            assert task is not None
            self._collectors.add(task)
            try:
                await _collect(reader, writer, self._writer)
            finally:
                self._collectors.discard(task)
            return
        writer.close()


async def _collect(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sink: TraceSink
) -> None:
    """Hand the records an instance streams to the run's writer (in the driver)."""
    from ._frames import ACK, FINISH, TRACE, frame

    with contextlib.closing(writer):
        while True:
            try:
                kind, body = await read_frame(reader)
            except PeerGone:
                return  # what arrived before is written; the driver reports the loss
            if kind == TRACE:
                sink.write(body)
            elif kind == FINISH:
                writer.write(frame(ACK))
                await writer.drain()
                return


def _process_failure(e: ProcessError, built: Built) -> Failure:
    cause = e.cause
    if e.process in built.bridges:
        if isinstance(cause, PeerLost):
            return Failure("lost", str(cause), peer=cause.instance)
        if isinstance(cause, PeerStopped):
            return Failure("stopped", str(cause), peer=cause.instance)
        if isinstance(cause, RouteError):
            return Failure("route", str(cause))
    try:
        import pickle

        pickle.loads(pickle.dumps(cause))
        portable: BaseException | None = cause
    except Exception:
        portable = None
    return Failure(
        "process",
        str(e),
        process=e.process,
        component=e.component,
        port=e.port,
        ip=e.ip,
        location=e.location,
        cause=portable,
        cause_type=type(cause).__name__,
        cause_text="".join(traceback.format_exception(cause)),
    )


def _snapshot(built: Built) -> Snapshot:
    net = built.net
    live = [p for p in net.processes.values() if not p.ended]
    waits: list[tuple[str, str, tuple[str, ...], str]] = []
    all_waiting = True
    links = {link.name: link for link in built.out_links}
    in_links = {link.name: link for link in built.in_links.values()}
    for p in live:
        remote = None
        if p.name in links:
            remote = links[p.name].remote_wait
        elif p.name in in_links:
            remote = in_links[p.name].remote_wait
        if p.waiting is not None:
            chans, op = p.waiting
            ch = chans[0]
            # The sending end of a bridge is named after the port it feeds.
            ports = [c.name.removesuffix("<bridge.IN") for c in chans]
            names = ", ".join(ports)
            if op == "send":
                text = f"{p.name} waits to send on {names} (full {len(ch)}/{ch.capacity})"
            else:
                text = f"{p.name} waits to receive on {names} (empty)"
            if p.name not in built.bridges:
                waits.append((p.name, op, tuple(ports), text))
        elif remote is None:
            all_waiting = False
    inst = built.instance.index
    shipped = {
        (inst, t.instance, link.target_port): t.shipped
        for link in built.out_links
        for t in link.targets
    }
    received = {
        (link.source, inst, link.name.split("<", 1)[0]): link.received
        for link in built.in_links.values()
    }
    from .._core._deadlock import progress_mark

    mark = progress_mark(net._channels) + sum(shipped.values()) + sum(received.values())
    return Snapshot(
        inst,
        net.status == "running",
        all_waiting,
        mark,
        shipped,
        received,
        tuple(waits),
    )


def actor_class() -> Any:
    """The Ray actor class of :class:`PartitionHost` (imports ray)."""
    import ray

    return ray.remote(PartitionHost)
