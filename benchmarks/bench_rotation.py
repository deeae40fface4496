"""What trace rotation costs a traced run: one trace file against a rotated folder.

Run: ``python benchmarks/bench_rotation.py`` (``--quick`` for a short run).

A three-process pipeline (a counter source, a looper adding one, a sink) moves N int IPs,
traced (2N records, about 67 bytes each on disk). Cases: one trace file; a rotated
folder with segments of 32 MB (a few rotations), keeping two; segments of 8 MB (many
rotations), keeping two. Each case runs REPEATS times, interleaved; the table gives the
median IPs/s, the ratio to the single file, the segments opened, and the disk the trace
takes at the end. Each repeat starts with the next case, so that no case always runs
first. The machine is shared and noisy: read differences of a few percent as noise.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from fbp import Component, InPort, Network, OutPort
from fbp.tracing import Rotation, TraceWriter
from fbp.tracing._rotation import list_segments


class Count(Component):
    """Send 0..N-1."""

    n: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        for i in range(await self.n.receive()):
            await self.out.send(i)


class Inc(Component):
    """Add one."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x + 1)


class Sink(Component):
    """Consume."""

    in_: InPort[int]

    async def run(self) -> None:
        async for _ in self.in_:
            pass


def network(n: int, sink: TraceWriter) -> Network:
    net = Network("bench", validate=False, trace=sink)
    net.add_process("Count", Count)
    net.add_process("Inc", Inc)
    net.add_process("Sink", Sink)
    net.add_initial(("Count", "N", None), n)
    net.connect(("Count", "OUT", None), ("Inc", "IN", None))
    net.connect(("Inc", "OUT", None), ("Sink", "IN", None))
    return net


CASES: dict[str, Rotation | None] = {
    "file": None,
    "rotated 32MB, keep 2": Rotation(every_bytes=32_000_000, keep_segments=2),
    "rotated 8MB, keep 2": Rotation(every_bytes=8_000_000, keep_segments=2),
}


def one(n: int, rotation: Rotation | None, where: Path) -> tuple[float, int, int]:
    """IPs/s, segments opened, bytes on disk at the end."""
    path = where / ("run.d" if rotation else "run.trace")
    t0 = time.perf_counter()
    with TraceWriter(path, rotation=rotation) as sink:
        anyio.run(network(n, sink).run)
        dt = time.perf_counter() - t0
    files = list(path.iterdir()) if rotation else [path]
    opened = int(list_segments(path)[-1].name[:6]) if rotation else 1
    size = sum(f.stat().st_size for f in files)
    shutil.rmtree(path) if rotation else path.unlink()
    return 2 * n / dt, opened, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=6)
    args = ap.parse_args()
    n = 100_000 if args.quick else 1_000_000
    repeats = 2 if args.quick else args.repeats
    rates: dict[str, list[float]] = {k: [] for k in CASES}
    shape: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        names = list(CASES)
        for k in range(repeats):
            # Each repeat starts with the next case: no case always runs first.
            for name in names[k % len(names) :] + names[: k % len(names)]:
                rate, opened, size = one(n, CASES[name], Path(tmp))
                rates[name].append(rate)
                shape[name] = (opened, size)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"trace rotation: {n:,} IPs through 2 hops, traced; medians of {repeats}"
          " interleaved repeats")  # fmt: skip
    print(f"{'trace':22} {'IPs/s':>10} {'vs file':>8} {'segments':>9} {'MB on disk':>11}")
    for name, rate in med.items():
        opened, size = shape[name]
        print(f"{name:22} {rate:10,.0f} {rate / med['file']:8.3f} {opened:9} {size / 1e6:11.1f}")


if __name__ == "__main__":
    main()
