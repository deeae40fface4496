"""What the Prometheus endpoint costs a run: off, on, and on while scraped at 10 Hz.

Run: ``python benchmarks/bench_metrics.py`` (``--quick`` for a short run). Needs the
``metrics`` extra.

A three-process pipeline (a counter source, a looper adding one, a sink) moves N int IPs
untraced; each case runs REPEATS times, interleaved, and the table gives the median
IPs/s and the ratio to the run without an endpoint. The endpoint counts nothing per IP
(it reads the runtime's counters when scraped), so "on" should equal "off" within noise;
"scraped" adds the serving thread's work (one pass over the ports per scrape, under the
GIL); the scraper is another process, as Prometheus is. The machine is shared and
noisy: read differences of a few percent as noise.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import anyio

from fbp import Component, InPort, Network, OutPort
from fbp.observe import serve_metrics


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


def network(n: int) -> Network:
    net = Network("bench", validate=False)
    net.add_process("Count", Count)
    net.add_process("Inc", Inc)
    net.add_process("Sink", Sink)
    net.add_initial(("Count", "N", None), n)
    net.connect(("Count", "OUT", None), ("Inc", "IN", None))
    net.connect(("Inc", "OUT", None), ("Sink", "IN", None))
    return net


SCRAPER = """
import sys, time, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=5).read()
print("ready", flush=True)
n = 0
while True:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
            r.read()
        n += 1
    except OSError:
        break
    time.sleep(0.1)
print(n)
"""


def one(n: int, mode: str) -> tuple[float, int]:
    net = network(n)
    server = serve_metrics(net, 0) if mode != "off" else None
    scraper = None
    if mode == "scraped":
        # Prometheus scrapes from another process: so does this scraper.
        assert server is not None
        scraper = subprocess.Popen(
            [sys.executable, "-c", SCRAPER, server.url], stdout=subprocess.PIPE, text=True
        )
        assert scraper.stdout is not None
        assert scraper.stdout.readline() == "ready\n"  # started: its startup is not timed
    t0 = time.perf_counter()
    anyio.run(net.run)
    dt = time.perf_counter() - t0
    if server is not None:
        server.close()
    scrapes = 0
    if scraper is not None:
        out, _ = scraper.communicate(timeout=30)
        scrapes = int(out.strip() or 0)
    return 2 * n / dt, scrapes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    n = 100_000 if args.quick else 1_000_000
    repeats = 3 if args.quick else args.repeats
    rates: dict[str, list[float]] = {"off": [], "on": [], "scraped": []}
    scrapes: list[int] = []
    for _ in range(repeats):
        for mode in rates:
            rate, k = one(n, mode)
            rates[mode].append(rate)
            if mode == "scraped":
                scrapes.append(k)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"metrics endpoint: {n:,} IPs through 2 hops, medians of {repeats} interleaved repeats;"
          f" {statistics.median(scrapes)} scrapes per scraped run")  # fmt: skip
    print(f"{'endpoint':10} {'IPs/s':>12} {'vs off':>8}")
    for mode, rate in med.items():
        print(f"{mode:10} {rate:12,.0f} {rate / med['off']:8.3f}")


if __name__ == "__main__":
    main()
