"""What building causal tables from traces costs, against the record-by-record assembly
the causal layer used before (kept in ``benchmarks/_tables.py``), in the same run.

Run: ``python benchmarks/bench_tables.py`` from the project root (``--quick`` for small
sizes; ``--big`` adds 200 variables x 100,000 rows, which traces 40 million IPs).

1. **One large run**: the causal table of a traced chain (``core/Range`` through five
   ``x + 1`` loopers) of 1.2 million IPs: reading the run's columns, the assembly on
   them, and the baseline assembly of the same file.
2. **A shift query**: two traced runs of a synthetic network of V causal variables and
   R rows (``_tables.synthetic``, one stage changed in the second run): the data layer
   (reading, assembling and joining the two tables) against the engine (``shift`` on
   the tables), for the new code and the baseline's assembly of the same files.
3. With ``--big``, 200 x 100,000 end to end in a child process, with its peak RSS.

Times are medians of interleaved repeats on a shared machine (2 cores; other jobs
running): read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _trace(graph: Any, path: Path, values: dict[str, Any]) -> float:
    from fbp.graph import run
    from fbp.tracing import TraceWriter

    t0 = time.perf_counter()
    with TraceWriter(path) as sink:
        run(graph, set_values=values, trace=sink, capacity=64)
    return time.perf_counter() - t0


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _read(path: Path) -> Any:
    from fbp.tracing import open_trace

    with open_trace(path) as trace:
        frames = trace.run().frames()
        frames.payloads([0], [""])  # anything lazy is read now
        return frames


def one_run(n: int, repeats: int, tmp: Path) -> dict[str, Any]:
    """The table of one traced chain run: read, assemble, and the baseline."""
    from benchmarks._lineage import chain
    from benchmarks._tables import baseline_assemble
    from fbp.causal import causal_graph
    from fbp.causal._dataset import extract, fill
    from fbp.tracing import open_trace

    g = chain(n)
    path = tmp / "chain.trace"
    traced = _trace(g, path, {})
    nv = causal_graph(g)
    samples: dict[str, list[float]] = {"read": [], "assemble": [], "baseline": []}
    records = 0
    for i in range(repeats):
        for step in ("new", "old") if i % 2 == 0 else ("old", "new"):
            if step == "new":
                t_read, frames = _timed(lambda: _read(path))
                t_asm, _ = _timed(lambda frames=frames: fill([extract(frames, nv)], nv))
                samples["read"].append(t_read)
                samples["assemble"].append(t_asm)
                records = len(frames.records)
            else:
                with open_trace(path) as trace:
                    t_old, _ = _timed(lambda trace=trace: baseline_assemble(trace.run(), nv))
                samples["baseline"].append(t_old)
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {"records": records, "traced_s": traced, **{f"{k}_s": v for k, v in med.items()}}


def _culprit(nv: Any, target: str) -> str:
    """The stage halfway up the target's ancestors: the one the second run changes."""
    import networkx as nx

    ups = sorted(
        (int(str(n)[1:].split(".")[0]) for n in nx.ancestors(nv.graph, target)), reverse=True
    )
    return f"S{ups[len(ups) // 2]}"


def shift_query(n_vars: int, rows: int, repeats: int, tmp: Path) -> dict[str, Any]:
    """A shift query between two traced runs: data layer and engine, new and baseline."""
    from benchmarks._tables import baseline_assemble, synthetic
    from fbp.causal import causal_graph, shift, tables
    from fbp.causal._dataset import model_inputs
    from fbp.tracing import open_trace

    g = synthetic(n_vars, rows)
    target = f"S{n_vars - 1}.OUT"
    nv = causal_graph(g)
    culprit = _culprit(nv, target)
    paths = [tmp / f"v{n_vars}-before.trace", tmp / f"v{n_vars}-after.trace"]
    traced = _trace(g, paths[0], {"S0.SEED": 1})
    traced += _trace(g, paths[1], {"S0.SEED": 2, f"{culprit}.FAULT": 0.5})
    samples: dict[str, list[float]] = {"tables": [], "engine": [], "baseline": []}
    top: tuple[str, ...] = ()
    for i in range(repeats):
        for step in ("new", "old") if i % 2 == 0 else ("old", "new"):
            if step == "new":
                t_tab, t = _timed(lambda: tables(g, paths))
                t_eng, result = _timed(
                    lambda t=t: shift(t.graph, t.frames[0], t.frames[1], target, seed=0)
                )
                samples["tables"].append(t_tab)
                samples["engine"].append(t_eng)
                top = result.top_processes(1)
            else:

                def old() -> Any:
                    datasets = []
                    for p in paths:
                        with open_trace(p) as trace:
                            datasets.append(baseline_assemble(trace.run(), nv))
                    return model_inputs(nv, datasets)

                t_old, _ = _timed(old)
                samples["baseline"].append(t_old)
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "variables": n_vars,
        "rows": rows,
        "traced_s": traced,
        "top": list(top),
        "culprit": culprit,
        **{f"{k}_s": v for k, v in med.items()},
    }


def _big_child(n_vars: int, rows: int) -> None:
    """Trace two runs, then time ``shift_between`` end to end; print JSON with the RSS."""
    from benchmarks._tables import synthetic
    from fbp.causal import shift_between

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        from fbp.causal import causal_graph

        g = synthetic(n_vars, rows)
        culprit = _culprit(causal_graph(g), f"S{n_vars - 1}.OUT")
        before, after = tmp / "before.trace", tmp / "after.trace"
        traced = _trace(g, before, {"S0.SEED": 1})
        traced += _trace(g, after, {"S0.SEED": 2, f"{culprit}.FAULT": 0.5})
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t, result = _timed(lambda: shift_between(g, before, after, f"S{n_vars - 1}.OUT", seed=0))
        print(
            json.dumps(
                {
                    "variables": n_vars,
                    "rows": rows,
                    "traced_s": traced,
                    "shift_between_s": t,
                    "top": list(result.top_processes(1)),
                    "culprit": culprit,
                    "peak_rss_mb_during_tracing": rss_before / 1024,
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big", action="store_true", help="also 200 variables x 100,000 rows")
    ap.add_argument("--repeats", type=int, default=0, help="default 3 (quick: 1)")
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        _big_child(*args.child)
        return
    repeats = args.repeats or (1 if args.quick else 3)
    chain_n = 20_000 if args.quick else 200_000
    grid = [(20, 2_000)] if args.quick else [(50, 10_000)]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        r = one_run(chain_n, repeats, tmp)
        print(
            f"one run of {r['records']:,} records (traced in {r['traced_s']:.1f} s):"
            f" read {r['read_s']:.2f} s + assemble {r['assemble_s']:.2f} s ="
            f" {r['read_s'] + r['assemble_s']:.2f} s; baseline {r['baseline_s']:.2f} s"
            f" ({r['baseline_s'] / (r['read_s'] + r['assemble_s']):.1f}x)"
        )
        for n_vars, rows in grid:
            q = shift_query(n_vars, rows, repeats, tmp)
            print(
                f"shift, {n_vars} variables x {rows:,} rows: tables {q['tables_s']:.2f} s,"
                f" engine {q['engine_s']:.2f} s (data layer {q['tables_s'] / q['engine_s']:.1f}x"
                f" the engine); baseline tables {q['baseline_s']:.2f} s"
                f" ({q['baseline_s'] / q['engine_s']:.1f}x); top {q['top']}, culprit {q['culprit']}"
            )
    if args.big:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "200", "100000"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        print("200 x 100,000:", out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
