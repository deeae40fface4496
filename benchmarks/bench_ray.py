"""The Ray backend: the cost of an edge between actors, and what replicas gain.

Run: ``python benchmarks/bench_ray.py`` (``--quick`` for a short run). Needs the
``ray`` extra. It starts a local Ray with two CPUs and eight actors kept for every run
(so no worker start is timed), and prints three tables:

1. **A cross-actor edge.** ``Range -> Drop`` with the two processes in two actors, at
   several edge capacities (traced and not), against the same network in-process and
   against a plain Ray pipeline doing the same work: a source actor that makes the ints
   one by one and sends them to a sink actor (which takes them one by one) in batches of
   B by remote calls, at most W calls in flight, in its best configuration (the fastest
   B, W of a sweep, chosen in the same run). Each figure is the wall time per IP of the
   run's streaming part: the difference between a run of N IPs and one of N/4, divided
   by the 3N/4 IPs between them, so that starting the partitions (or the plain
   pipeline's calls) cancels out. Runs are interleaved (every case once, then again...),
   medians reported.
2. **Replicas of a CPU-bound stage.** ``Range -> Spin (5 ms of pure Python per IP) ->
   Drop`` with ``replicas: R`` on Spin, R = 1..4, against a plain Ray actor pool of R
   actors doing the same Spin (fed round-robin, two calls in flight per actor), runs
   interleaved (R = 1, 2, 3, 4, 1, 2, ...), medians reported with the speedup over R = 1
   and the load average of the machine. Replicas beyond the machine's cores show where
   it stops growing; the last lines project the growth with more cores from the measured
   efficiency.
3. **Replicas beyond the cores, simulated.** The same with ``Hold`` instead of ``Spin``:
   a stage that holds its actor 5 ms per IP with a blocking sleep, using no CPU (as a
   stage bound by a GPU, a remote service or a machine of its own would), R = 1, 2, 4,
   8, against the plain Ray pool: how far replicas grow when cores are not the limit,
   and what the backend's own overhead leaves of it.

The machine may be shared: the load average is printed before and after each table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import anyio

from fbp import Component, InPort, OutPort
from fbp.graph import Graph
from fbp.graph import run_async as run_in_process


def spin(ms: float) -> int:
    """Burn ``ms`` milliseconds of this thread's CPU in pure Python."""
    end = time.thread_time() + ms / 1000
    x = 0
    while time.thread_time() < end:
        x += 1
    return x


class Spin(Component):
    """Burn MS milliseconds of CPU in pure Python per IP, then forward it."""

    in_: InPort[Any]
    ms: InPort[float]
    out: OutPort[Any]

    async def process(self, in_: Any, ms: float) -> None:
        spin(ms)
        await self.out.send(in_)


# -- the plain Ray pipeline: what a user would write with Ray alone ----------------------


class _PlainSink:
    def __init__(self) -> None:
        self.n = 0
        self.last = -1

    def take(self, batch: list[int]) -> int:
        for x in batch:  # one at a time, as Drop receives them
            self.n += 1
            self.last = x
        return len(batch)

    def total(self) -> tuple[int, int]:
        n, last = self.n, self.last
        self.n, self.last = 0, -1
        return n, last


class _PlainSource:
    def run(self, sink: Any, n: int, batch: int, window: int) -> int:
        import ray

        pending: list[Any] = []
        buf: list[int] = []
        for i in range(n):  # one at a time, as Range sends them
            buf.append(i)
            if len(buf) == batch or i == n - 1:
                pending.append(sink.take.remote(buf))
                buf = []
                if len(pending) >= window:
                    _, pending = ray.wait(pending, num_returns=1)
        ray.get(pending)
        return n


class Hold(Component):
    """Hold its actor MS milliseconds per IP without using a core (a blocking sleep:
    a stage bound by something else than this machine's CPUs), then forward it."""

    in_: InPort[Any]
    ms: InPort[float]
    out: OutPort[Any]

    async def process(self, in_: Any, ms: float) -> None:
        time.sleep(ms / 1000)  # noqa: ASYNC251 - holding the actor is the point
        await self.out.send(in_)


class _PlainWorker:
    def work(self, x: int, ms: float) -> int:
        spin(ms)
        return x

    def hold(self, x: int, ms: float) -> int:
        time.sleep(ms / 1000)
        return x


class Plain:
    """The plain Ray actors, started once (as the backend's kept actors are)."""

    def __init__(self, workers: int) -> None:
        import ray

        self.source = ray.remote(_PlainSource).remote()  # type: ignore[call-overload]
        self.sink = ray.remote(_PlainSink).remote()  # type: ignore[call-overload]
        self.workers = [
            ray.remote(_PlainWorker).remote()  # type: ignore[call-overload]
            for _ in range(workers)
        ]
        ray.get([self.sink.total.remote(), self.source.__ray_ready__.remote()])
        ray.get([w.__ray_ready__.remote() for w in self.workers])

    async def edge(self, n: int, batch: int, window: int) -> float:
        t = time.perf_counter()
        await self.source.run.remote(self.sink, n, batch, window)
        got = await self.sink.total.remote()
        assert got == (n, n - 1), got
        return time.perf_counter() - t

    async def pool(self, n: int, replicas: int, ms: float, hold: bool = False) -> float:
        import ray

        workers = self.workers[:replicas]

        def feed() -> list[int]:
            # Round-robin, two calls in flight per actor: none idles between calls.
            out: list[int] = []
            pending: list[Any] = []
            for x in range(n):
                w = workers[x % replicas]
                pending.append((w.hold if hold else w.work).remote(x, ms))
                if len(pending) >= 2 * replicas:
                    done, pending = ray.wait(pending, num_returns=1)
                    out.extend(ray.get(done))
            out.extend(ray.get(pending))
            return out

        t = time.perf_counter()
        out = await asyncio.to_thread(feed)
        assert sorted(out) == list(range(n))
        return time.perf_counter() - t


def edge_graph(n: int, capacity: int, actors: bool) -> Graph:
    g = Graph("edge")
    g.add_process("Numbers", "core/Range", **({"partition": "a"} if actors else {}))
    g.add_process("Sink", "core/Drop", **({"partition": "b"} if actors else {}))
    g.add_initial(n, "Numbers.COUNT")
    g.connect("Numbers.OUT", "Sink.IN", capacity=capacity)
    return g


def replica_graph(n: int, replicas: int, ms: float, stage: type[Component] = Spin) -> Graph:
    g = Graph("replicas")
    g.add_process("Numbers", "core/Range")
    g.add_process("Work", stage, replicas=replicas)
    g.add_process("Sink", "core/Drop")
    g.add_initial(n, "Numbers.COUNT")
    g.add_initial(ms, "Work.MS")
    g.connect("Numbers.OUT", "Work.IN", capacity=4)
    g.connect("Work.OUT", "Sink.IN")
    return g


async def timed(run: Any, graph: Graph, **options: Any) -> float:
    t = time.perf_counter()
    result = await run(graph, **options)
    assert result.status == "completed"
    return time.perf_counter() - t


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


class _NullTrace:
    """A trace sink that keeps nothing: the records still cross the bridges (with
    their ids and parents) and reach the driver, whose writer is not what is measured."""

    batch_size = 1024

    def start_run(self, info: Any) -> None:
        pass

    def write(self, records: list[Any]) -> None:
        pass

    def finish_run(self, status: Any, error: Any, stats: Any) -> None:
        pass


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


async def edge_table(
    backend: Any,
    plain: Plain,
    n: int,
    repeats: int,
    capacities: list[int],
    plain_configs: list[tuple[int, int]],
) -> dict[str, Any]:
    print(f"\n## A cross-actor edge: Range -> Drop, N = {n:,} ints (load before {load()})\n")
    Case = tuple[str, int, int]
    cases: list[Case] = [("in-process", 64, 0)]
    cases += [("two actors", c, 0) for c in capacities]
    cases += [("two actors, traced", c, 0) for c in capacities if c >= 64]
    cases += [("plain Ray", b, w) for b, w in plain_configs]
    per_ip: dict[Case, list[float]] = {c: [] for c in cases}

    async def once(case: Case, count: int) -> float:
        where, a, b = case
        if where == "plain Ray":
            return await plain.edge(count, a, b)
        if where == "in-process":
            return await timed(run_in_process, edge_graph(count, a, False))
        trace = _NullTrace() if "traced" in where else None
        return await timed(backend.run, edge_graph(count, a, True), trace=trace)

    for _ in range(repeats):
        for case in cases:  # interleaved
            big = await once(case, n)
            small = await once(case, n // 4)
            per_ip[case].append((big - small) / (n - n // 4) * 1e6)
    best_plain = min((c for c in cases if c[0] == "plain Ray"), key=lambda c: _median(per_ip[c]))
    base = _median(per_ip[("in-process", 64, 0)])
    plain_us = _median(per_ip[best_plain])
    print(
        "| where | capacity (plain Ray: batch, calls in flight) | µs per IP (median) |"
        " x in-process | x plain Ray (best) | runs (µs per IP) |"
    )
    print("|---|---|---|---|---|---|")
    for case in cases:
        where, a, b = case
        xs = per_ip[case]
        m = _median(xs)
        setting = f"{a}, {b}" if where == "plain Ray" else str(a)
        if case == best_plain:
            setting += " (best)"
        print(
            f"| {where} | {setting} | {m:.2f} | {m / base:.1f}x | {m / plain_us:.2f}x"
            f" | {', '.join(f'{x:.2f}' for x in xs)} |"
        )
    print(f"\nload after: {load()}")
    return {
        "n": n,
        "us_per_ip": {f"{w}|{a}|{b}": xs for (w, a, b), xs in per_ip.items()},
        "best_plain": list(best_plain),
    }


async def replica_table(
    backend: Any, plain: Plain, n: int, repeats: int, ms: float, counts: list[int], hold: bool
) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    if hold:
        print(
            f"\n## Replicas beyond the cores (simulated): Range -> Hold ({ms:g} ms per IP,"
            f" no CPU) -> Drop, N = {n}, {cores} cores (load before {load()})\n"
        )
    else:
        print(
            f"\n## Replicas: Range -> Spin ({ms:g} ms CPU per IP) -> Drop, N = {n},"
            f" {cores} cores (load before {load()})\n"
        )
    stage = Hold if hold else Spin
    times: dict[int, list[float]] = {r: [] for r in counts}
    plain_times: dict[int, list[float]] = {r: [] for r in counts}
    for _ in range(repeats):
        for r in counts:  # interleaved
            times[r].append(await timed(backend.run, replica_graph(n, r, ms, stage)))
            plain_times[r].append(await plain.pool(n, r, ms, hold))
    base = _median(times[1])
    ideal = n * ms / 1000
    print(
        "| replicas | seconds (median) | IPs/s | speedup over 1 | efficiency per replica"
        " | plain Ray: seconds | x plain Ray | runs (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r, xs in times.items():
        m = _median(xs)
        pm = _median(plain_times[r])
        print(
            f"| {r} | {m:.3f} | {n / m:,.0f} | {base / m:.2f}x | {ideal / r / m:.0%}"
            f" | {pm:.3f} | {m / pm:.2f}x | {', '.join(f'{x:.3f}' for x in xs)} |"
        )
    print(f"\nload after: {load()}")
    print(
        f"\nThe work alone takes {ideal:.2f} s; efficiency per replica is that divided by"
        " replicas x seconds (100%: no overhead at all)."
    )
    return {
        "n": n,
        "ms": ms,
        "stage": stage.__name__,
        "cores": cores,
        "fbp": times,
        "plain": plain_times,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run the tables; return every sample."""
    from fbp.ray import RayBackend

    quick = args.quick
    most = 8
    report: dict[str, Any] = {"load_before": load()}
    with RayBackend(num_cpus=2, hosts=most) as backend:
        plain = Plain(most)
        # Warm the kept actors (worker start, imports) before timing anything.
        await backend.run(replica_graph(8, most, 0.1))
        await backend.run(edge_graph(1000, 64, True))
        if args.only in (None, "edge"):
            report["edge"] = await edge_table(
                backend,
                plain,
                n=40_000 if quick else 400_000,
                repeats=1 if quick else 5,
                capacities=[8, 64, 256, 1024],
                plain_configs=[(64, 4), (256, 4), (1024, 2), (1024, 8), (4096, 4)],
            )
        if args.only in (None, "replicas"):
            report["replicas"] = await replica_table(
                backend,
                plain,
                n=40 if quick else 400,
                repeats=1 if quick else 5,
                ms=5.0,
                counts=[1, 2, 3, 4],
                hold=False,
            )
        if args.only in (None, "simulated"):
            report["simulated"] = await replica_table(
                backend,
                plain,
                n=80 if quick else 800,
                repeats=1 if quick else 3,
                ms=5.0,
                counts=[1, 2, 4, 8],
                hold=True,
            )
    report["load_after"] = load()
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--json", metavar="OUT", help="write every sample to OUT as JSON")
    parser.add_argument(
        "--only", choices=("edge", "replicas", "simulated"), help="run one of the two tables"
    )
    arguments = parser.parse_args()
    result = anyio.run(main, arguments)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(result, indent=1))
