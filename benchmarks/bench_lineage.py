"""Looper lineage: how right the default rule is, and what it costs per send.

Run: ``python benchmarks/bench_lineage.py`` (``--quick`` for a short run), from the
project root. ``--against PATH`` also runs the cost half with the fbp of another
checkout (``PYTHONPATH=PATH``), interleaved with this one's runs, and prints the ratio.

1. **Accuracy.** Every shape of ``benchmarks/_lineage.py`` (map, filter, merge,
   aggregate by key, replicate, windowed batch, ...), written without ``parents=``:
   sends whose recorded parents are exactly the true ones, and the precision and
   recall of the parent links.
2. **Cost.** Traced runs into a sink that drops its batches (the runtime's side of
   tracing: making records, lineage included; the writer is not timed), in ns per IP
   sent, for a K=5 chain of ``x + 1`` loopers over ints and for some shapes; the
   untraced run of the same network is measured alongside, and the figure to compare
   is traced ÷ untraced, median of interleaved repeats (this machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _Drop:
    """A trace sink that keeps nothing."""

    batch_size = 256

    def start_run(self, info: Any) -> None:
        pass

    def write(self, records: list[Any]) -> None:
        pass

    def finish_run(self, status: Any, error: Any, stats: Any) -> None:
        pass


def _cases(quick: bool) -> dict[str, tuple[Any, int]]:
    from benchmarks._lineage import SHAPES, chain

    n = 20_000 if quick else 100_000
    cases: dict[str, tuple[Any, int]] = {"chain K=5 ints": (chain(n), 6 * n)}
    for name in ("windowed batch (floats)", "merge (array port)", "aggregate by key, at the end"):
        g = SHAPES[name].graph(n // 4).add_process("K", "core/Drop")  # the output read
        cases[name] = (g.connect("L.OUT", "K.IN"), 0)
    return cases


def _time(graph: Any, traced: bool) -> tuple[float, int]:
    from fbp.graph import build_network

    class Count(_Drop):
        sent = 0

        def write(self, records: list[Any]) -> None:
            Count.sent += sum(1 for r in records if r[1] == 0)

    sink = Count() if traced else None
    net = build_network(graph, trace=sink, capacity=32)
    gc.collect()
    t0 = time.perf_counter()
    result = asyncio.run(net.run())
    dt = time.perf_counter() - t0
    return dt, (Count.sent if traced else result.ips)


def cost(quick: bool, repeats: int) -> dict[str, dict[str, float]]:
    """Median traced and untraced ns per IP sent, and their ratio, per case."""
    cases = _cases(quick)
    samples: dict[str, dict[str, list[float]]] = {c: {"traced": [], "plain": []} for c in cases}
    for _ in range(repeats):
        for name, (graph, _) in cases.items():
            for mode in ("plain", "traced") if _ % 2 else ("traced", "plain"):
                dt, ips = _time(graph, mode == "traced")
                samples[name][mode].append(dt / max(ips, 1) * 1e9)
    out: dict[str, dict[str, float]] = {}
    for name, s in samples.items():
        ratios = [t / p for t, p in zip(s["traced"], s["plain"], strict=True)]
        out[name] = {
            "traced_ns": statistics.median(s["traced"]),
            "plain_ns": statistics.median(s["plain"]),
            "ratio": statistics.median(ratios),
        }
    return out


def accuracy() -> list[tuple[str, Any]]:
    from benchmarks._lineage import SHAPES, run_shape, score

    out = []
    for name, shape in SHAPES.items():
        run = asyncio.run(run_shape(shape, 400, 4))
        out.append((name, score(shape, run)))
    return out


def _child(args: argparse.Namespace) -> None:
    print(json.dumps(cost(args.quick, 1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=0, help="cost repeats (default 5, quick 3)")
    ap.add_argument("--against", metavar="PATH", help="another checkout to compare the cost with")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        # The fbp measured is the one on PYTHONPATH (this checkout's or the other's);
        # the shapes are this checkout's benchmarks package, whatever the other has.
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            "benchmarks",
            ROOT / "benchmarks" / "__init__.py",
            submodule_search_locations=[str(ROOT / "benchmarks")],
        )
        assert spec is not None
        assert spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = package
        spec.loader.exec_module(package)
        _child(args)
        return
    sys.path.insert(0, str(ROOT))
    repeats = args.repeats or (3 if args.quick else 5)
    print("accuracy (400 IPs per source, capacity 4):")
    print(f"  {'shape':32} {'sends':>6} {'exact':>6} {'precision':>10} {'recall':>7}")
    for name, s in accuracy():
        print(f"  {name:32} {s.sends:6} {s.exact:6} {s.precision:10.3f} {s.recall:7.3f}")
    if not args.against:
        print(f"\ncost ({repeats} interleaved repeats, medians):")
        for name, c in cost(args.quick, repeats).items():
            print(
                f"  {name:32} traced {c['traced_ns']:7.0f} ns/IP, untraced"
                f" {c['plain_ns']:7.0f} ns/IP, traced ÷ untraced {c['ratio']:.2f}x"
            )
        return
    checkouts = {"this": str(ROOT), "other": str(Path(args.against).resolve())}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {k: [] for k in checkouts}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child"]
    cmd += ["--quick"] if args.quick else []
    for i in range(repeats):
        order = list(checkouts) if i % 2 == 0 else list(reversed(checkouts))
        for who in order:
            env = {**os.environ, "PYTHONPATH": checkouts[who] + os.pathsep + str(ROOT)}
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs[who].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\ncost against {checkouts['other']} ({repeats} interleaved processes, medians):")
    for name in runs["this"][0]:
        this = statistics.median(r[name]["ratio"] for r in runs["this"])
        other = statistics.median(r[name]["ratio"] for r in runs["other"])
        t_ns = statistics.median(r[name]["traced_ns"] for r in runs["this"])
        o_ns = statistics.median(r[name]["traced_ns"] for r in runs["other"])
        print(
            f"  {name:32} traced ÷ untraced {this:.2f}x here, {other:.2f}x there;"
            f" traced {t_ns:.0f} vs {o_ns:.0f} ns/IP ({t_ns / o_ns:.2f}x)"
        )


if __name__ == "__main__":
    main()
