"""What building causal tables from traces costs, against the record-by-record assembly
the causal layer used before (kept in ``benchmarks/_tables.py``) and, with
``--baseline REV``, against the data layer of an earlier commit, in the same run.

Run: ``python benchmarks/bench_tables.py`` from the project root (``--quick`` for small
sizes; ``--big`` adds 200 variables x 100,000 rows, which traces 40 million IPs;
``--baseline REV`` runs the same queries on the ``fbp`` package of commit REV, taken
with ``git archive`` into a temporary folder, in child processes).

1. **One large run**: the causal table of a traced chain (``core/Range`` through five
   ``x + 1`` loopers) of 1.2 million IPs: reading the run's columns, the assembly on
   them, and the baseline assembly of the same file.
2. **A shift query**: two traced runs of a synthetic network of V causal variables and
   R rows (``_tables.synthetic``, one stage changed in the second run): the data layer
   (reading, assembling and joining the two tables) against the engine (``shift`` on
   the tables), for the new code and the baseline's assembly of the same files; with
   ``--baseline``, the same query in child processes on both versions of the code
   (wall and CPU seconds, peak RSS).
3. With ``--big``, 200 x 100,000 end to end (``shift_between``) in a child process per
   version, with its wall and CPU time and its peak RSS (the child's own
   ``ru_maxrss``: its tracing is done by another child).

Times are medians of interleaved repeats on a shared machine (2 cores; other jobs
running, the load average is printed): read the ratios, not the seconds. CPU seconds
(user + system) are less sensitive to the load than wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
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
    from fbp.causal._tables._dataset import extract, fill
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
    from fbp.causal._tables._dataset import model_inputs
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


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _trace_child(n_vars: int, rows: int, folder: str) -> None:
    """Trace the two runs of a shift query into ``folder``; print the culprit."""
    from benchmarks._tables import synthetic
    from fbp.causal import causal_graph

    g = synthetic(n_vars, rows)
    culprit = _culprit(causal_graph(g), f"S{n_vars - 1}.OUT")
    tmp = Path(folder)
    traced = _trace(g, tmp / "before.trace", {"S0.SEED": 1})
    traced += _trace(g, tmp / "after.trace", {"S0.SEED": 2, f"{culprit}.FAULT": 0.5})
    print(json.dumps({"traced_s": traced, "culprit": culprit}))


def _query_child(n_vars: int, rows: int, folder: str, repeats: int) -> None:
    """In a fresh process (the code of ``fbp`` on ``sys.path``): with ``repeats`` 0,
    ``shift_between`` end to end once; else ``tables`` then ``shift`` ``repeats``
    times after a warm-up. Print JSON: medians of wall and CPU seconds, peak RSS."""
    from benchmarks._tables import synthetic
    from fbp.causal import shift, shift_between, tables

    g = synthetic(n_vars, rows)
    target = f"S{n_vars - 1}.OUT"
    paths = [Path(folder) / "before.trace", Path(folder) / "after.trace"]
    out: dict[str, Any] = {"fbp": str(Path(sys.modules["fbp"].__file__ or "").parent)}
    if repeats == 0:
        w0, c0 = time.perf_counter(), _cpu()
        result = shift_between(g, paths[0], paths[1], target, seed=0)
        out |= {"wall_s": time.perf_counter() - w0, "cpu_s": _cpu() - c0}
    else:
        samples: dict[str, list[float]] = {k: [] for k in ("tw", "tc", "ew", "ec")}
        for i in range(repeats + 1):
            w0, c0 = time.perf_counter(), _cpu()
            t = tables(g, paths)
            w1, c1 = time.perf_counter(), _cpu()
            result = shift(t.graph, t.frames[0], t.frames[1], target, seed=0)
            w2, c2 = time.perf_counter(), _cpu()
            if i:  # the first is a warm-up (imports, caches)
                for k, v in zip(samples, (w1 - w0, c1 - c0, w2 - w1, c2 - c1), strict=True):
                    samples[k].append(v)
        med = {k: statistics.median(v) for k, v in samples.items()}
        out |= {
            "tables_s": med["tw"],
            "tables_cpu_s": med["tc"],
            "engine_s": med["ew"],
            "engine_cpu_s": med["ec"],
        }
    out |= {"top": list(result.top_processes(1)), "peak_rss_mb": _peak_mb()}
    print(json.dumps(out))


def _child(args: list[str], code: Path | None) -> dict[str, Any]:
    """Run this script as a child (niced), on the ``fbp`` of ``code`` when given."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")])
        env["FBP_BENCH_BASELINE"] = "1"
    cmd = ["nice", "-n", "5", sys.executable, str(Path(__file__).resolve()), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        msg = f"child {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _baseline_code(rev: str, tmp: Path) -> Path:
    """The ``fbp`` package of commit ``rev``, extracted into ``tmp`` (no compiled
    extensions: what a query reads needs none)."""
    folder = tmp / f"baseline-{rev}"
    folder.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "fbp"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def versions(
    n_vars: int, rows: int, repeats: int, tmp: Path, baseline: Path | None, rounds: int
) -> dict[str, Any]:
    """A shift query on this code and on ``baseline``, each in child processes, the
    versions interleaved; medians over ``rounds`` children per version."""
    folder = tmp / f"q{n_vars}x{rows}"
    folder.mkdir()
    traced = _child(["--trace-child", str(n_vars), str(rows), str(folder)], None)
    codes: dict[str, Path | None] = {"new": None}
    if baseline is not None:
        codes["baseline"] = baseline
    got: dict[str, list[dict[str, Any]]] = {k: [] for k in codes}
    for i in range(rounds):
        for name in list(codes) if i % 2 == 0 else list(reversed(codes)):
            args = ["--query-child", str(n_vars), str(rows), str(folder), str(repeats)]
            got[name].append(_child(args, codes[name]))
    out: dict[str, Any] = {"variables": n_vars, "rows": rows, **traced}
    for name, runs in got.items():
        keys = [k for k, v in runs[0].items() if isinstance(v, float)]
        out[name] = {k: statistics.median(r[k] for r in runs) for k in keys}
        out[name]["top"] = runs[0]["top"]
    for f in folder.iterdir():
        f.unlink()
    return out


def _show(label: str, q: dict[str, Any]) -> None:
    for name in ("new", "baseline"):
        r = q.get(name)
        if r is None:
            continue
        if "tables_s" in r:
            print(
                f"  {label} {name:8}: tables {r['tables_s']:.2f} s (cpu {r['tables_cpu_s']:.2f}),"
                f" engine {r['engine_s']:.2f} s (cpu {r['engine_cpu_s']:.2f}): data layer"
                f" {r['tables_s'] / r['engine_s']:.2f}x the engine"
                f" (cpu {r['tables_cpu_s'] / r['engine_cpu_s']:.2f}x);"
                f" peak RSS {r['peak_rss_mb']:.0f} MB; top {r['top']}"
            )
        else:
            print(
                f"  {label} {name:8}: shift_between {r['wall_s']:.1f} s (cpu {r['cpu_s']:.1f}),"
                f" peak RSS {r['peak_rss_mb']:.0f} MB; top {r['top']}"
            )
    if "culprit" in q:
        print(f"  (culprit {q['culprit']}; traced in {q['traced_s']:.0f} s)")


def _load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big", action="store_true", help="also 200 variables x 100,000 rows")
    ap.add_argument("--repeats", type=int, default=0, help="default 3 (quick: 1)")
    ap.add_argument("--baseline", metavar="REV", help="also measure the fbp of commit REV")
    ap.add_argument("--trace-child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--query-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    # The baseline's fbp comes first on the path (PYTHONPATH); this tree only gives
    # the benchmarks package.
    if os.environ.get("FBP_BENCH_BASELINE"):
        sys.path.append(str(ROOT))
    else:
        sys.path.insert(0, str(ROOT))
    if args.trace_child:
        n, r, folder = args.trace_child
        _trace_child(int(n), int(r), folder)
        return
    if args.query_child:
        n, r, folder, rep = args.query_child
        _query_child(int(n), int(r), folder, int(rep))
        return
    repeats = args.repeats or (1 if args.quick else 3)
    chain_n = 20_000 if args.quick else 200_000
    grid = [(20, 2_000)] if args.quick else [(50, 10_000)]
    print(_load())
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = _baseline_code(args.baseline, tmp) if args.baseline else None
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
            v = versions(n_vars, rows, repeats, tmp, base, rounds=2)
            print(f"shift, {n_vars} x {rows:,} in child processes ({_load()}):")
            _show(f"{n_vars}x{rows}", v)
        if args.big:
            v = versions(200, 100_000, 0, tmp, base, rounds=1)
            print(f"shift_between, 200 x 100,000 end to end ({_load()}):")
            _show("200x100k", v)


if __name__ == "__main__":
    main()
