"""Scaling: networks of 100 and 1,000 processes, and a long run for memory.

- ``chain-N``: a source, N - 2 ``x + 1`` stages and a sink in one line.
- ``fan-N``: a source deals items round-robin over an array port to N - 2 workers whose
  outputs all feed one sink port (fan-in).

Each runs as an fbp network and as bare anyio tasks for comparison. The report gives the
steady throughput and the start-up cost (wiring, starting and ending the tasks).

The memory run sends millions of ints through ``source -> stage -> sink`` and samples
the resident set size while it runs: memory must stay flat, since channels are bounded
and nothing is kept per IP when the network is not traced. The traced memory run does
the same with every IP recorded by a ``TraceWriter`` (5 million IPs in full mode):
the writer's buffers are bounded too, and the trace must hold every IP at the end.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from ._baselines import run_anyio, run_anyio_fan
from ._cases import CAPACITY, Case, Probe, Timing, frozen_heap
from ._fbp import build_case, build_chain, build_fan, run_network, tracing_sink
from ._settings import Settings

__all__ = ("rss_bytes", "run_memory", "run_scaling")

Progress = Callable[[str], None]


def rss_bytes() -> tuple[int, str]:
    """The resident set size now, and how it was read."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        return int(psutil.Process().memory_info().rss), "psutil"
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE"), "/proc/self/statm"
    except OSError:
        return _peak(), "getrusage peak"


def _peak() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024)


def _one(shape: str, processes: int, items: int, tool: str) -> Timing:
    feed = range(items)
    if tool == "anyio-nowait":
        if shape == "chain":
            return run_anyio(Case("chain", "linear", processes - 2, "int", items), feed)
        return run_anyio_fan(processes, feed, CAPACITY)
    probe = Probe()
    net = (build_chain if shape == "chain" else build_fan)(processes, feed, probe)
    return run_network(net, probe)


def run_scaling(
    settings: Settings, only: set[str] | None, progress: Progress
) -> list[dict[str, Any]]:
    """Throughput of chains and fans of each size in ``settings.scale_processes``."""
    out: list[dict[str, Any]] = []
    for shape in ("chain", "fan"):
        for p in settings.scale_processes:
            name = f"{shape}-{p}"
            if only is not None and name not in only:
                continue
            with frozen_heap():
                entry = _scale_one(shape, p, settings, progress)
            out.append(entry)
    return out


def _scale_one(shape: str, p: int, settings: Settings, progress: Progress) -> dict[str, Any]:
    """Time one network of the scaling runs, as fbp and as bare anyio tasks."""
    name = f"{shape}-{p}"
    hops_per_item = p - 1 if shape == "chain" else 2
    # Size the run from a small fbp warm-up: about scale_s per run.
    warm = max(100, settings.scale_hops // hops_per_item // 10)
    t = _one(shape, p, warm, "fbp")
    per_item = t.seconds / warm
    items = min(settings.scale_hops // hops_per_item, int(settings.scale_s / per_item))
    # A fan needs items for every worker, or start-up is all it measures.
    items = max(100 if shape == "chain" else 10 * p, items)
    entry: dict[str, Any] = {
        "name": name,
        "shape": shape,
        "processes": p,
        "items": items,
        "hops": hops_per_item,
        "results": [],
    }
    samples: dict[str, list[Timing]] = {"fbp": [], "anyio-nowait": []}
    reps = max(1, settings.repeats - 2)
    for r in range(reps):
        order = ["fbp", "anyio-nowait"] if r % 2 == 0 else ["anyio-nowait", "fbp"]
        for tool in order:
            gc.collect()
            t = _one(shape, p, items, tool)
            if t.count != items:
                msg = f"{tool} on {name}: the sink got {t.count} items, expected {items}"
                raise AssertionError(msg)
            samples[tool].append(t)
    for tool, ts in samples.items():
        med = statistics.median(t.seconds for t in ts)
        setup = statistics.median(t.total - t.seconds for t in ts)
        entry["results"].append(
            {
                "tool": tool,
                "samples_s": [round(t.seconds, 6) for t in ts],
                "median_s": round(med, 6),
                "startup_s": round(setup, 6),
                "ips_per_s": round(items / med, 1),
                "us_per_hop": round(med / (items * hops_per_item) * 1e6, 4),
            }
        )
    fbp, bare = entry["results"]
    entry["ratio_to_bare"] = round(fbp["us_per_hop"] / bare["us_per_hop"], 3)
    progress(
        f"  {name:<10} fbp {fbp['us_per_hop']:.3f} us/hop, anyio {bare['us_per_hop']:.3f};"
        f" fbp start-up {fbp['startup_s'] * 1e3:.1f} ms"
    )
    return entry


def run_memory(settings: Settings, progress: Progress, *, traced: bool = False) -> dict[str, Any]:
    """Send ints through source -> stage -> sink, sampling RSS.

    Untraced, ``settings.memory_items`` ints; traced, as many as make
    ``settings.traced_memory_ips`` IPs, every one recorded in a temporary trace file.
    """
    n = settings.traced_memory_ips // 2 if traced else settings.memory_items
    every = max(1, n // 20)
    samples: list[tuple[int, int]] = []

    async def sampling_sink(self: Any) -> None:
        count = 0
        last = None
        next_mark = every
        async for x in self.in_:
            count += 1
            last = x
            if count == next_mark:
                samples.append((count, rss_bytes()[0]))
                next_mark += every
        self.probe.count = count
        self.probe.last = last

    gc.collect()
    before, how = rss_bytes()
    probe = Probe()
    case = Case("memory", "linear", 1, "int", n)
    stored = None
    with tracing_sink() if traced else contextlib.nullcontext() as sink:
        net = build_case(case, range(n), probe, sink_run=sampling_sink, trace=sink)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        t = run_network(net, probe)
        wall = time.perf_counter() - t0
        del net
        if sink is not None:
            stored = sink.statistics().stored  # type: ignore[attr-defined]
    if stored is not None and stored != n * case.hops:
        msg = f"traced memory run: the trace holds {stored} records, expected {n * case.hops}"
        raise AssertionError(msg)
    gc.collect()
    after, _ = rss_bytes()
    if t.count != n or t.last != n:
        msg = f"memory run: the sink got {t.count} items ending with {t.last}, expected {n}"
        raise AssertionError(msg)
    # Growth over the run: from the first sample (channels full, caches warm) to the last.
    mid = [rss for _, rss in samples]
    growth = (mid[-1] - mid[0]) if len(mid) >= 2 else 0
    res = {
        "traced": traced,
        "items": n,
        "ips": n * case.hops,
        "hops": case.hops,
        "seconds": round(t.seconds, 3),
        "wall_s": round(wall, 3),
        "ips_per_s": round(n / t.seconds, 1),
        "us_per_hop": round(t.seconds / (n * case.hops) * 1e6, 4),
        "rss_method": how,
        "rss_before_mb": round(before / 2**20, 2),
        "rss_during_mb": [round(x / 2**20, 2) for x in mid],
        "rss_after_mb": round(after / 2**20, 2),
        "rss_growth_during_run_mb": round(growth / 2**20, 2),
        "peak_rss_mb": round(_peak() / 2**20, 2),
        "flat": abs(growth) < 8 * 2**20,
    }
    progress(
        f"  memory{' (traced)' if traced else ''}: {n:,} items in {t.seconds:.1f} s;"
        f" RSS {res['rss_before_mb']} MB before,"
        f" {res['rss_after_mb']} MB after, growth during run {res['rss_growth_during_run_mb']} MB"
    )
    return res
