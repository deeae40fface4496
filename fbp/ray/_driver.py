"""The driver: plans a run, starts its partitions on hosts, watches them, reports.

The driver keeps the partition ``main`` in its own process and event loop (so a
network without placement metadata runs as it would in-process, printing to the
driver's terminal and reading files relative to its directory), starts the other
partitions in Ray actors, and collects the trace of every partition into the one
trace sink of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

from .._core._exceptions import (
    DeadlockError,
    GraphValidationError,
    NetworkError,
    ProcessError,
)
from .._core._fuse import enabled as fuse_enabled
from .._core._network import DEFAULT_CAPACITY, EdgeStats, Network, ProcessStats, RunResult
from .._core._tracehook import PortInfo, RunInfo, RunStatus, TraceSink
from .._core._types import type_name
from ..graph._model import Connection, Graph
from ..graph._registry import Registry
from ..graph._run import apply_settings
from ..graph._wiring import FlatGraph, check_graph
from ._host import Failure, Outcome, PartitionHost, Snapshot, actor_class
from ._partition import RunSpec, SerialSink, TraceTarget, port_key
from ._plan import Placement, Plan, ProcessInfo, plan

__all__ = ("PartitionLost", "RayBackend")

log = logging.getLogger("fbp.ray")


class PartitionLost(NetworkError):
    """A partition's process died (killed, out of memory, its machine lost).

    Attributes:
        partition: the partition's name (``name#replica`` for a replica).
        processes: the processes it ran.
    """

    def __init__(self, partition: str, processes: tuple[str, ...], detail: str = "") -> None:
        self.partition = partition
        self.processes = processes
        names = ", ".join(processes)
        msg = (
            f"partition {partition!r} (process{'es' if len(processes) != 1 else ''} {names})"
            " was lost: the process running it died"
        )
        if detail:
            msg += f" ({detail})"
        msg += (
            "\n  the trace keeps every IP recorded before;"
            " check the worker's log (killed, out of memory, machine lost)"
        )
        super().__init__(msg)


# How bad each kind of failure is: the worst one is the run's error.
_RANK = {"lost": 0, "process": 1, "route": 1, "deadlock": 2, "other": 3, "stopped": 4}


class RayBackend:
    """Runs networks on Ray: one network across cores and machines.

    Args:
        address: the Ray cluster to join (``ray://...`` or ``host:port``); None starts
            a local Ray on demand (or uses the one this process already started).
        hosts: keep this many actors and place every run's partitions on them, in
            turn (fast repeated runs: no worker start per run). None starts one actor
            per partition instance for each run and stops it after.
        num_cpus: CPUs of a local Ray started here (default: all).
    """

    def __init__(
        self, address: str | None = None, *, hosts: int | None = None, num_cpus: int | None = None
    ) -> None:
        self.address = address
        self.hosts = hosts
        self.num_cpus = num_cpus
        self._started_ray = False
        self._pool: list[Any] = []
        self._bind = "127.0.0.1"
        #: The result of the latest run (also when it raised).
        self.last_result: RunResult | None = None

    def __enter__(self) -> RayBackend:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Connect to Ray (starting a local one if needed)."""
        import ray

        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": True,
            }
            if self.address is None:
                options["num_cpus"] = self.num_cpus
                options["_node_ip_address"] = "127.0.0.1"
                # Workers import components the way the driver does.
                paths = [os.path.abspath(p or ".") for p in sys.path]
                options["runtime_env"] = {
                    "env_vars": {
                        "PYTHONPATH": os.pathsep.join(p for p in paths if os.path.isdir(p))
                    }
                }
            ray.init(address=self.address, **options)
            self._started_ray = True
        if self.address is not None or not self._started_ray:
            self._bind = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Stop the actors kept for runs, and the local Ray if this backend started it."""
        import ray

        for actor in self._pool:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self._pool.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def _new_host(self, num_cpus: float | None) -> Any:
        options: dict[str, Any] = {"max_concurrency": 10_000}
        if num_cpus is not None:
            options["num_cpus"] = num_cpus
        return actor_class().options(**options).remote(True)

    async def run(
        self,
        graph: Graph | str | Path,
        *,
        set_values: dict[str, Any] | None = None,
        registry: Registry | None = None,
        capacity: int = DEFAULT_CAPACITY,
        validate: bool = True,
        trace: TraceSink | None = None,
        placement: Placement = "metadata",
        deadlock_interval: float = 0.25,
        stdout: Any = None,
    ) -> RunResult:
        """Run a graph on Ray to its end; return what happened.

        The options are those of :func:`fbp.graph.run`, plus ``placement`` ("metadata",
        the default: the graph's metadata places processes; "each": every process in
        an actor of its own).

        Raises:
            GraphValidationError: the graph, or its placement metadata, is wrong.
            ProcessError: a component raised (the same message as in-process).
            DeadlockError: every live process of every partition was blocked.
            PartitionLost: the process running a partition died.
        """
        import ray

        self.start()
        g, settings = apply_settings(graph, set_values)
        flat = check_graph(g, registry)
        if flat.issues:
            raise GraphValidationError(flat.issues, graph_name=g.source or g.name)
        the_plan = plan(_infos(flat), placement, g.source or g.name)
        run_id = uuid.uuid4().hex
        settings = {**settings, "backend": "ray", "placement": the_plan.describe()}
        t0_wall, t0_perf = time.time_ns(), time.perf_counter_ns()
        ports = port_table(flat)
        if trace is not None:
            trace = SerialSink(trace)
        local = PartitionHost(writer=trace)
        bind = self._bind
        target = None
        if trace is not None:
            address = await local.listen(bind)
            target = TraceTarget(
                address,
                trace.batch_size,
                {port_key(p.process, p.port, p.index, p.direction): i for i, p in enumerate(ports)},
                t0_wall,
                t0_perf,
            )
        spec = RunSpec(
            run_id=run_id,
            token=secrets.token_hex(16),
            name=g.name,
            processes=flat.processes,
            edges=flat.edges,
            initials=flat.initials,
            array_sizes=flat.array_sizes,
            plan=the_plan,
            capacity=capacity,
            validate=validate,
            deadlock_interval=deadlock_interval,
            trace=target,
            graph=g.to_dict(),
            fuse=fuse_enabled(),
        )
        driver_side = [
            i.index for i in the_plan.instances if the_plan.partitions[i.partition].on_driver
        ]
        remote = [i for i in the_plan.instances if i.index not in driver_side]
        owned: list[Any] = []
        hosts: dict[int, Any] = {}
        for n, inst in enumerate(remote):
            if self.hosts:
                while len(self._pool) < self.hosts:
                    self._pool.append(self._new_host(None))
                hosts[inst.index] = self._pool[n % self.hosts]
            else:
                actor = self._new_host(the_plan.partitions[inst.partition].num_cpus)
                owned.append(actor)
                hosts[inst.index] = actor
        if trace is not None:
            trace.start_run(
                RunInfo(
                    run_id=run_id,
                    graph_name=g.name,
                    graph=g.to_dict(),
                    ports=ports,
                    t0_wall_ns=t0_wall,
                    t0_perf_ns=t0_perf,
                    settings=settings,
                )
            )
        job = _Job(spec, the_plan, local, hosts, stdout or sys.stdout)
        started = time.perf_counter()
        status: RunStatus = "interrupted"
        error: NetworkError | None = None
        try:
            _, error = await job.run(driver_side, bind)
            status = _status(error)
        finally:
            duration = time.perf_counter() - started
            result = _merge(job, flat, run_id, g.name, duration, status, error)
            self.last_result = result
            if trace is not None:
                with anyio.CancelScope(shield=True):
                    await local.collected(grace=5.0)
                trace.finish_run(status, str(error) if error else None, result.to_dict())
            for actor in owned:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
            # A kept actor that died or was stopped is replaced by the next run.
            self._pool = [a for a in self._pool if a not in job.dead]
        if error is not None:
            raise error
        return result


def _status(error: NetworkError | None) -> RunStatus:
    if error is None:
        return "completed"
    return "deadlock" if isinstance(error, DeadlockError) else "failed"


class _Job:
    """One run across its hosts: start, watch, stop."""

    def __init__(
        self,
        spec: RunSpec,
        the_plan: Plan,
        local: PartitionHost,
        hosts: dict[int, Any],
        stdout: Any,
    ) -> None:
        self.spec = spec
        self.plan = the_plan
        self.local = local
        self.hosts = hosts
        self.stdout = stdout
        self.outcomes: dict[int, Outcome] = {}
        self.failures: list[tuple[int, Failure]] = []
        #: Actors that died or had to be killed.
        self.dead: set[Any] = set()
        self._done = asyncio.Event()
        #: Each actor's poll still on its way back. An actor hands over what it printed
        #: when it answers a poll, so an answer is never dropped: it is printed when it
        #: arrives, however late, and a host is not asked again before it answered.
        self._polls: dict[Any, asyncio.Future[Any]] = {}

    def _processes(self, instance: int) -> tuple[str, ...]:
        inst = self.plan.instances[instance]
        return self.plan.partitions[inst.partition].processes

    async def run(
        self, driver_side: list[int], bind: str
    ) -> tuple[dict[int, Outcome], NetworkError | None]:
        spec = self.spec
        addresses: dict[int, tuple[str, int]] = {}
        address = await self.local.prepare(spec, driver_side, bind)
        addresses.update({k: address for k in driver_side})
        by_host: dict[Any, list[int]] = {}
        for k, actor in self.hosts.items():
            by_host.setdefault(actor, []).append(k)
        try:
            prepared = await asyncio.gather(
                *(_await(actor.prepare.remote(spec, ks, bind)) for actor, ks in by_host.items())
            )
        except Exception as e:
            self.dead.update(by_host)
            raise _remote_error(e, "starting the partitions' actors") from e
        for (_, ks), addr in zip(by_host.items(), prepared, strict=True):
            addresses.update({k: (addr[0], addr[1]) for k in ks})
        tasks = [
            asyncio.ensure_future(self._one(k, self.local.run(spec.run_id, k, addresses)))
            for k in driver_side
        ]
        tasks += [
            asyncio.ensure_future(self._one(k, _await(actor.run.remote(spec.run_id, k, addresses))))
            for k, actor in self.hosts.items()
        ]
        watch = asyncio.ensure_future(self._watch())
        try:
            while not all(t.done() for t in tasks):
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                if self.failures:
                    await self._stop(tasks, grace=10.0)
                    break
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._stop(tasks, grace=10.0)
            raise
        finally:
            watch.cancel()
            with contextlib.suppress(BaseException):
                await watch
            with anyio.CancelScope(shield=True):
                await self._drain_stdout()
        return self.outcomes, self._error()

    async def _one(self, k: int, call: Any) -> None:
        try:
            outcome: Outcome = await call
        except Exception as e:
            if k not in self.hosts:
                raise  # the driver's own partition: a bug, not a lost process
            self.failures.append((k, Failure("lost", _died(e), peer=k)))
            self.dead.add(self.hosts[k])
            return
        self.outcomes[k] = outcome
        if outcome.stdout:
            # What the host printed before (handed to a poll still on its way) comes first.
            earlier = self._polls.get(self.hosts.get(k))
            if earlier is not None:
                await asyncio.wait([earlier], timeout=2.0)
            self._print(outcome.stdout)
        if outcome.failure is not None:
            self.failures.append((k, outcome.failure))

    def _print(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    async def _stop(self, tasks: list[asyncio.Task[None]], grace: float) -> None:
        """Cancel every instance still running and wait (a bounded time) for them."""
        import ray

        await self.local.cancel(self.spec.run_id)
        for actor in set(self.hosts.values()):
            with contextlib.suppress(Exception):
                actor.cancel.remote(self.spec.run_id)
        pending = [t for t in tasks if not t.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for t in still:
                t.cancel()
            for k, actor in self.hosts.items():
                if k not in self.outcomes:
                    self.dead.add(actor)
                    with contextlib.suppress(Exception):
                        ray.kill(actor)

    def _poll_host(self, actor: Any) -> asyncio.Future[Any]:
        """The host's poll on its way, or a new one; its printed text is printed on arrival."""
        call = self._polls.get(actor)
        if call is None:
            call = asyncio.ensure_future(_await(actor.poll.remote(self.spec.run_id)))
            self._polls[actor] = call
            call.add_done_callback(lambda done: self._answered(actor, done))
        return call

    def _answered(self, actor: Any, call: asyncio.Future[Any]) -> None:
        if self._polls.get(actor) is call:
            del self._polls[actor]
        if call.cancelled() or call.exception() is not None:
            return
        _, text = call.result()
        if text:
            self._print(text)

    async def _drain_stdout(self) -> None:
        """Print what every host printed up to the end: polls on their way, then one more."""
        if self._polls:
            await asyncio.wait(list(self._polls.values()), timeout=2.0)
        calls = [self._poll_host(actor) for actor in set(self.hosts.values())]
        if calls:
            await asyncio.wait(calls, timeout=2.0)

    async def _poll(self) -> list[Snapshot] | None:
        snaps, text = await self.local.poll(self.spec.run_id)
        if text:
            self._print(text)
        calls = [self._poll_host(a) for a in set(self.hosts.values())]
        if not calls:
            return snaps
        # Not cancelled when they are late or the watch stops: an answer carries the
        # host's printed text, which _answered prints whenever it comes.
        _, pending = await asyncio.wait(calls, timeout=self.spec.deadlock_interval * 4)
        failed = [c for c in calls if c.done() and (c.cancelled() or c.exception() is not None)]
        if pending or failed:
            return None  # a host did not answer in time: no verdict this round
        for call in calls:
            more, _ = call.result()
            snaps.extend(more)
        return snaps

    async def _watch(self) -> None:
        """Print what actors print, and detect deadlocks that span partitions."""
        last: tuple[Any, ...] | None = None
        while True:
            await asyncio.sleep(self.spec.deadlock_interval)
            snaps = await self._poll()
            if snaps is None:
                last = None
                continue
            state = _quiet_state(snaps, set(self.outcomes))
            if state is None:
                last = None
                continue
            if state == last:
                waits = [w for s in snaps for w in s.waits]
                cycle = _cycle(waits, self.spec.edges)
                self.failures.append(
                    (-1, Failure("deadlock", "", cycle=cycle, waits=tuple(w[3] for w in waits)))
                )
                self._done.set()
                return
            last = state

    def _error(self) -> NetworkError | None:
        if not self.failures:
            return None
        k, f = min(self.failures, key=lambda kf: _RANK.get(kf[1].kind, 9))
        if f.kind == "lost":
            peer = f.peer if f.peer is not None else k
            label = self.plan.instances[peer].label
            return PartitionLost(label, self._processes(peer), f.message if f.peer == k else "")
        if f.kind == "process":
            return _process_error(f)
        if f.kind == "deadlock":
            if f.cycle:
                return DeadlockError(f.cycle, f.waits)
            err = DeadlockError((), f.waits)
            return err
        return NetworkError(f.message)


def _quiet_state(snaps: list[Snapshot], finished: set[int]) -> tuple[Any, ...] | None:
    """A fingerprint of the run when nothing can move, else None."""
    running = [s for s in snaps if s.instance not in finished and s.running]
    if not running or not all(s.all_waiting for s in running):
        return None
    shipped: dict[Any, int] = {}
    received: dict[Any, int] = {}
    for s in running:
        shipped.update(s.shipped)
        received.update(s.received)
    for link, n in shipped.items():
        if link in received and received[link] != n:
            return None  # IPs in transit
    return tuple(sorted((s.instance, s.mark) for s in running))


def _cycle(
    waits: list[tuple[str, str, tuple[str, ...], str]], edges: list[Connection]
) -> tuple[str, ...]:
    """The wait-for cycle among processes of all partitions, as lines of ``waits``."""
    text = {w[0]: w[3] for w in waits}
    senders: dict[str, set[str]] = {}
    for e in edges:
        senders.setdefault(str(e.tgt), set()).add(e.src.process)
    graph: dict[str, list[str]] = {}
    for proc, op, ports, _ in waits:
        if op == "send":
            graph[proc] = [p.split(".", 1)[0] for p in ports[:1]]
        else:
            graph[proc] = sorted({s for p in ports for s in senders.get(p, ())})
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in text:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt) :]
            if state.get(nxt, 0) == 0 and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if state.get(start, 0) == 0 and (found := visit(start)):
            return tuple(text[p] for p in found)
    return ()


async def _await(ref: Any) -> Any:
    return await ref


def _died(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def _remote_error(e: BaseException, what: str) -> NetworkError:
    return NetworkError(f"{what} failed: {type(e).__name__}: {e}")


class _RemoteCause(Exception):
    """Stands for an exception that could not cross processes (same name and text)."""


def _process_error(f: Failure) -> ProcessError:
    cause = f.cause
    if cause is None:
        kind = type(f.cause_type or "Exception", (_RemoteCause,), {})
        cause = kind(f.message.split(": ", 1)[-1].split("\n", 1)[0])
    err = ProcessError(
        f.process or "?",
        f.component or "?",
        cause,
        port=f.port,
        ip=f.ip,
        location=f.location,
    )
    err.__cause__ = cause
    if f.cause_text:
        err.add_note(f"in the partition's process:\n{f.cause_text}")
    return err


def _infos(flat: FlatGraph) -> dict[str, ProcessInfo]:
    streamed: dict[str, list[str]] = {}
    for e in flat.edges:
        names = streamed.setdefault(e.tgt.process, [])
        if e.tgt.port.lower() not in names:
            names.append(e.tgt.port.lower())
    return {
        name: ProcessInfo(p.metadata, p.location, tuple(streamed.get(name, ())))
        for name, p in flat.processes.items()
    }


def port_table(flat: FlatGraph) -> tuple[PortInfo, ...]:
    """The run's ports, numbered as an in-process network of the same graph numbers them."""
    net = Network(flat.name)
    targets: dict[str, list[str]] = {}
    for e in flat.edges:
        targets.setdefault(str(e.src), []).append(str(e.tgt))
    ports: list[PortInfo] = []
    for p in flat.processes.values():
        proc = net.add_process(
            p.name, p.cls, component_name=p.component, array_sizes=flat.array_sizes.get(p.name)
        )
        for direction, plist in (("in", proc.in_list), ("out", proc.out_list)):
            for port in plist:
                ports.append(
                    PortInfo(
                        process=p.name,
                        component=p.component,
                        port=port.spec.display,
                        index=port.index,
                        direction=direction,  # type: ignore[arg-type]
                        type_name=type_name(port.spec.tp),
                        targets=tuple(targets.get(port.address, ())) if direction == "out" else (),
                    )
                )
    return tuple(ports)


def _merge(
    job: _Job,
    flat: FlatGraph,
    run_id: str,
    name: str,
    duration: float,
    status: RunStatus,
    error: NetworkError | None,
) -> RunResult:
    """One RunResult for the run, from the results of its instances."""
    procs: dict[str, list[ProcessStats]] = {}
    for out in job.outcomes.values():
        for p in out.result.processes:
            if p.name not in out.bridges:
                procs.setdefault(p.name, []).append(p)
    processes = []
    for pname, fp in flat.processes.items():
        got = procs.get(pname, [])
        processes.append(
            ProcessStats(
                name=pname,
                component=fp.component,
                received=sum(s.received for s in got),
                sent=sum(s.sent for s in got),
                ended=bool(got) and all(s.ended for s in got),
            )
        )
    edges = []
    for e in flat.edges:
        src, tgt = str(e.src), str(e.tgt)
        ips = buffered = capacity = peak = dropped = 0
        for out in job.outcomes.values():
            sender = next(
                (
                    s
                    for s in out.result.edges
                    if s.src == src and s.tgt in (tgt, f"{tgt}<bridge.IN")
                ),
                None,
            )
            if sender is not None:
                ips += sender.ips
            # The receiving channel, once per instance (fan-in edges share it).
            receiver = next((s for s in out.result.edges if s.tgt == tgt), None)
            if receiver is not None:
                buffered += receiver.buffered
                capacity = max(capacity, receiver.capacity)
                peak = max(peak, receiver.peak)
                dropped += receiver.dropped
        edges.append(EdgeStats(src, tgt, ips, buffered, capacity, peak, dropped))
    return RunResult(
        name=name,
        run_id=run_id,
        status=status,
        duration_s=duration,
        processes=tuple(processes),
        edges=tuple(edges),
        error=str(error) if error is not None else None,
    )
