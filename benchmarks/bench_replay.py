"""Cost of a replay against the run it replays.

Run: ``python benchmarks/bench_replay.py`` (``--quick`` for a short run).

A five-stage traced pipeline (a source, two stages before the middle, the middle
stage, one after it, and a sink) sends ``--units`` units of work, each a small
pydantic model, through every stage: 200,000 units make a trace of 1,000,000 IPs.
The original run is timed from the start until its trace is written and closed; a
replay of the middle stage swapped for a new version is timed from the call until
its answer is ready (reading the trace, copying the upstream records, feeding the
middle stage, running it and the stages after it, writing the new trace, and
comparing the two runs unit by unit), once without the determinism check
(``repeat=1``) and once with it (the default, two replays). Repeats are interleaved
and each figure is a median; ratios are taken within the same repeat.
"""

from __future__ import annotations

import argparse
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


def original(g: Graph, path: Path) -> float:
    import anyio

    t0 = time.perf_counter()
    with TraceWriter(path) as sink:
        anyio.run(build_network(g, trace=sink).run)
    return time.perf_counter() - t0


def replayed(g: Graph, before: Path, out: Path, repeat: int) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = replay(
        g, before, swap={"Score": ScoreV2}, trace_out=out, repeat=repeat, target="Decide.OUT"
    )
    return time.perf_counter() - t0, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=200_000, help="units of work (5 IPs each)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20,000 units, 2 repeats")
    args = ap.parse_args(argv)
    if args.quick:
        args.units, args.repeats = 20_000, 2
    g = graph(args.units)
    rows: dict[str, list[float]] = {"original": [], "replay": [], "replay+check": []}
    ratios: dict[str, list[float]] = {"replay": [], "replay+check": []}
    with tempfile.TemporaryDirectory() as tmp:
        result: Any = None
        for k in range(args.repeats):
            before = Path(tmp) / f"before{k}.trace"
            t_orig = original(g, before)
            t_one, result = replayed(g, before, Path(tmp) / f"one{k}.trace", 1)
            t_two, _ = replayed(g, before, Path(tmp) / f"two{k}.trace", 2)
            rows["original"].append(t_orig)
            rows["replay"].append(t_one)
            rows["replay+check"].append(t_two)
            ratios["replay"].append(t_one / t_orig)
            ratios["replay+check"].append(t_two / t_orig)
            print(
                f"repeat {k + 1}: original {t_orig:.2f} s, replay {t_one:.2f} s,"
                f" replay with the check {t_two:.2f} s",
                file=sys.stderr,
            )
    ips = args.units * 5
    print(f"\n{args.units:,} units, {ips:,} IPs in the recorded trace; medians of {args.repeats}")
    print(f"{'':<14}{'seconds':>9}{'vs original':>13}")
    for name, ts in rows.items():
        ratio = statistics.median(ratios[name]) if name in ratios else 1.0
        print(f"{name:<14}{statistics.median(ts):>9.2f}{ratio:>12.2f}x")
    if result is not None:
        print(
            f"\nthe replay re-executed {', '.join(result.executed)};"
            f" copied {result.records_copied:,} records, fed {result.records_fed:,},"
            f" made {result.records_new:,}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
