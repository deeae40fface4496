"""Cost of a replay against the run it replays.

Run: ``python benchmarks/bench_replay.py`` (``--quick`` for a short run).

A five-stage traced pipeline (a source, two stages before the middle, the middle
stage, one after it, and a sink) sends ``--units`` units of work, each a small
pydantic model, through every stage: 200,000 units make a trace of 1,000,000 IPs.
The original run is timed from the start until its trace is written and closed. A
replay is timed from the call until its answer is ready (reading the trace, copying
the held records, feeding the first re-executed stage, running it and the stages
after it, writing the new trace, and comparing the two runs unit by unit), once
without the determinism check (``repeat=1``) and once with it as a user gets it by
default (a second replay of the first 10,000 units; ``--check-units all`` makes it a
second replay of every unit), for three swaps: the first stage after the source
(``Clean``: everything but the source runs again), the middle stage (``Score``) and
the last stage before the sink (``Decide``), which draw the cost against how much of
the graph a replay re-executes. Repeats are interleaved and each figure is a median;
ratios are taken within the same repeat. Next to the wall-clock seconds, the CPU
seconds of the whole process (every thread): on a shared, loaded machine they move
less than the wall clock.
"""

from __future__ import annotations

import argparse
import inspect
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fbp import Component, InPort, OutPort
from fbp.causal import replay
from fbp.graph import Graph, build_network
from fbp.tracing import TraceWriter


class Item(BaseModel):
    """A unit of work."""

    id: int
    x: float
    score: float = 0.0


class Source(Component):
    """N items."""

    n: InPort[int]
    out: OutPort[Item]

    async def run(self) -> None:
        for i in range(await self.n.receive()):
            await self.out.send(Item(id=i, x=(i * 7919 % 1000) / 10))


class Clean(Component):
    """Clip x (a non-looper)."""

    in_: InPort[Item]
    out: OutPort[Item]

    async def process(self, in_: Item) -> None:
        await self.out.send(Item(id=in_.id, x=min(in_.x, 90.0)))


class CleanV2(Clean):
    """The new first stage: clip x lower."""

    async def process(self, in_: Item) -> None:
        await self.out.send(Item(id=in_.id, x=min(in_.x, 80.0)))


class Enrich(Component):
    """Scale x (a looper)."""

    in_: InPort[Item]
    out: OutPort[Item]

    async def run(self) -> None:
        async for it in self.in_:
            await self.out.send(Item(id=it.id, x=it.x * 1.1))


class Score(Component):
    """The middle stage: a linear score."""

    in_: InPort[Item]
    out: OutPort[Item]

    async def process(self, in_: Item) -> None:
        await self.out.send(Item(id=in_.id, x=in_.x, score=0.5 * in_.x))


class ScoreV2(Score):
    """The new middle stage."""

    async def process(self, in_: Item) -> None:
        await self.out.send(Item(id=in_.id, x=in_.x, score=0.4 * in_.x + 3.0))


class Decide(Component):
    """The decision: the score as a number."""

    in_: InPort[Item]
    out: OutPort[float]

    async def process(self, in_: Item) -> None:
        await self.out.send(in_.score if in_.score > 10 else 0.0)


class DecideV2(Decide):
    """The new last stage: a higher threshold."""

    async def process(self, in_: Item) -> None:
        await self.out.send(in_.score if in_.score > 12 else 0.0)


class Sink(Component):
    """Drops everything."""

    in_: InPort[float]

    async def run(self) -> None:
        async for _ in self.in_:
            pass


def graph(units: int) -> Graph:
    g = Graph("replay-bench")
    for name, cls in (
        ("Source", Source),
        ("Clean", Clean),
        ("Enrich", Enrich),
        ("Score", Score),
        ("Decide", Decide),
        ("Sink", Sink),
    ):
        g.add_process(name, cls)
    g.add_initial(units, "Source.N")
    for a, b in (
        ("Source", "Clean"),
        ("Clean", "Enrich"),
        ("Enrich", "Score"),
        ("Score", "Decide"),
        ("Decide", "Sink"),
    ):
        g.connect(f"{a}.OUT", f"{b}.IN")
    return g


def _cpu() -> float:
    """CPU seconds of this process so far, every thread."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def original(g: Graph, path: Path) -> tuple[float, float]:
    """Run the network traced into ``path``: wall and CPU seconds."""
    import anyio

    c0, t0 = _cpu(), time.perf_counter()
    with TraceWriter(path) as sink:
        anyio.run(build_network(g, trace=sink).run)
    return time.perf_counter() - t0, _cpu() - c0


#: The swaps timed: (label, process, new class).
CASES: tuple[tuple[str, str, type[Component]], ...] = (
    ("first stage", "Clean", CleanV2),
    ("middle stage", "Score", ScoreV2),
    ("last stage", "Decide", DecideV2),
)


#: ``replay``'s own default for ``check_units``.
DEFAULT_CHECK: Any = inspect.signature(replay).parameters["check_units"].default


def replayed(
    g: Graph,
    before: Path,
    out: Path,
    repeat: int,
    process: str = "Score",
    cls: Any = ScoreV2,
    check_units: int | None = DEFAULT_CHECK,
) -> tuple[float, float, Any]:
    """Replay ``before`` with ``process`` swapped for ``cls``: wall and CPU seconds
    until the answer is ready, and the answer."""
    c0, t0 = _cpu(), time.perf_counter()
    result = replay(
        g,
        before,
        swap={process: cls},
        trace_out=out,
        repeat=repeat,
        check_units=check_units,
        target="Decide.OUT",
    )
    return time.perf_counter() - t0, _cpu() - c0, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=200_000, help="units of work (5 IPs each)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20,000 units, 2 repeats")
    ap.add_argument(
        "--check-units",
        default=str(DEFAULT_CHECK),
        metavar="N|all",
        help=f"units the determinism check replays again (replay's default, {DEFAULT_CHECK:,});"
        " 'all': every unit",
    )
    args = ap.parse_args(argv)
    check = None if args.check_units == "all" else int(args.check_units)
    if args.quick:
        args.units, args.repeats = 20_000, 2
    g = graph(args.units)
    # name -> per repeat: (wall, cpu); ratios to the original of the same repeat
    times: dict[str, list[tuple[float, float]]] = {"original": []}
    ratios: dict[str, list[tuple[float, float]]] = {"original": []}
    results: dict[str, Any] = {}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            before = Path(tmp) / f"before{k}.trace"
            wall0, cpu0 = original(g, before)
            times["original"].append((wall0, cpu0))
            ratios["original"].append((1.0, 1.0))
            line = [f"repeat {k + 1}: original {wall0:.2f} s"]
            for label, proc, cls in CASES:
                for repeat, name in ((1, label), (2, f"{label}, checked")):
                    out = Path(tmp) / f"{proc}{repeat}-{k}.trace"
                    wall, cpu, result = replayed(g, before, out, repeat, proc, cls, check)
                    out.unlink()
                    times.setdefault(name, []).append((wall, cpu))
                    ratios.setdefault(name, []).append((wall / wall0, cpu / cpu0))
                    results.setdefault(name, result)
                    line.append(f"{name} {wall:.2f} s")
            before.unlink()
            loads.append(os.getloadavg()[0])
            print(", ".join(line), file=sys.stderr)
    ips = args.units * 5
    print(
        f"\n{args.units:,} units, {ips:,} IPs in the recorded trace; medians of"
        f" {args.repeats} interleaved repeats; load average {min(loads):.1f} to {max(loads):.1f}"
    )
    print(f"{'':<40}{'seconds':>9}{'÷ original':>12}{'CPU s':>8}{'÷ original':>12}")
    rows = [("original", "original run, traced")]
    for label, proc, _ in CASES:
        rows += [(label, f"replay of {proc} ({label})"), (f"{label}, checked", "  checked")]
    for name, text in rows:
        wall, cpu = (statistics.median(x) for x in zip(*times[name], strict=True))
        rw, rc = (statistics.median(x) for x in zip(*ratios[name], strict=True))
        print(f"{text:<40}{wall:>9.2f}{rw:>11.2f}x{cpu:>8.2f}{rc:>11.2f}x")
    sampled = {results[f"{label}, checked"].checked_units for label, _, _ in CASES}
    what = ", ".join("every unit" if n is None else f"the first {n:,} units" for n in sampled)
    print(f"(checked: with the determinism check, a second replay of {what})\n")
    for label, proc, _ in CASES:
        r = results[label]
        print(
            f"replay of {proc}: re-executed {', '.join(r.executed)}; copied"
            f" {r.records_copied:,} records, fed {r.records_fed:,}, made {r.records_new:,}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
