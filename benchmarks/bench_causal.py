"""Benchmark the causal layer: fit and shift-query time against graph size and rows.

Usage::

    python benchmarks/bench_causal.py            # full grid: 5-200 variables, 1k-100k rows
    python benchmarks/bench_causal.py --quick    # a small grid, for CI
    python benchmarks/bench_causal.py --dowhy    # also time method="dowhy" on small cells

Every cell builds a synthetic network (30 % non-linear transforms, 15 % routers),
injects a code change (+0.6 on a transform's output) between two runs of ``rows``
units each, then times ``fbp.causal.fit`` (dowhy, linear mechanisms) and
``fbp.causal.shift`` (fast method, 30 bootstrap replicates) and checks that the changed
process ranks first. A second table measures fault-localisation accuracy per fault
kind over several seeds (AC@1, AC@3 and, for unchanged runs, specificity: the share
of runs where nothing is reported significant). The model queries (worst, anomaly,
whatif, influence) are timed once each. Last, the insurance-claims network of
``networks/`` is traced with its fault knobs (the classifier bug, the x1.5 amount
shift, none) and localised end to end. Results are printed as tables and written as
JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from fbp.causal import fit, shift
from fbp.causal.testing import Fault, FaultKind, fault_case, make_network

# The kinds of the accuracy table of docs/causal.md (bench_causal_eval.py has them all).
FAULT_KINDS: tuple[FaultKind, ...] = ("mechanism", "input", "nonlinear", "branch", "two", "none")

FULL_VARIABLES = (5, 10, 25, 50, 100, 200)
FULL_ROWS = (1_000, 10_000, 100_000)
QUICK_VARIABLES = (5, 20, 50)
QUICK_ROWS = (1_000, 10_000)


def _fault(net: Any, seed: int) -> Fault:
    rng = np.random.default_rng(seed)
    names = net.names("transform") or net.names("source")
    rng.shuffle(names)
    best = None
    for name in names[:8]:
        fault = Fault(name, offset=0.6)
        effect = abs(net.target_effect(fault, n=4000))
        if best is None or effect > best[0]:
            best = (effect, fault)
        if effect >= 0.25:
            break
    assert best is not None
    return best[1]


def time_cell(n_vars: int, rows: int, n_bootstrap: int, with_dowhy: bool) -> dict[str, Any]:
    """Time fit and shift on one synthetic network."""
    net = make_network(n_vars, nonlinear=0.3, branches=0.15, seed=n_vars)
    fault = _fault(net, n_vars)
    before = net.sample(rows, seed=1)
    after = net.sample(rows, seed=2, faults=[fault])
    t = time.perf_counter()
    fit(net.graph, before)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    result = shift(net.graph, before, after, net.target, n_bootstrap=n_bootstrap)
    shift_s = time.perf_counter() - t
    cell: dict[str, Any] = {
        "variables": net.graph.number_of_nodes(),
        "rows": rows,
        "fit_s": round(fit_s, 3),
        "shift_s": round(shift_s, 3),
        "phases_s": {k: round(v, 3) for k, v in result.timings.items()},
        "changed": len(result.changed),
        "top1": result.top_processes(1)[0] == fault.process,
    }
    if with_dowhy and n_vars <= 25 and rows <= 10_000:
        t = time.perf_counter()
        slow = shift(net.graph, before, after, net.target, method="dowhy", n_bootstrap=0)
        cell["dowhy_s"] = round(time.perf_counter() - t, 3)
        cell["dowhy_top1"] = slow.top_processes(1)[0] == fault.process
    return cell


def time_queries(n_vars: int, rows: int, with_dowhy: bool) -> dict[str, Any]:
    """Time the model-based queries (no bootstrap) on a model fitted to ``rows`` units."""
    from fbp.causal import anomaly, influence, whatif, worst

    net = make_network(n_vars, nonlinear=0.3, branches=0.15, seed=n_vars)
    data = net.sample(rows, seed=1)
    model = fit(net.graph, data)
    source = net.names("source")[0] + ".OUT"
    out: dict[str, Any] = {"variables": net.graph.number_of_nodes(), "rows": rows}

    def timed(key: str, fn: Any) -> None:
        t = time.perf_counter()
        fn()
        out[key] = round(time.perf_counter() - t, 3)

    odd = net.sample(200, seed=2, faults=[Fault(net.names("transform")[0], offset=3.0)])
    picked = odd.loc[worst(model, odd, net.target, 1).index]
    timed("worst_s", lambda: worst(model, data, net.target, 10))
    timed("anomaly_s", lambda: anomaly(model, picked, net.target, n_bootstrap=0))
    timed("whatif_s", lambda: whatif(model, {source: 0.0}, net.target, n_bootstrap=0))
    timed("arrow_strength_s", lambda: influence(model, net.target, n_bootstrap=0))
    if n_vars <= 10:
        timed(
            "intrinsic_s",
            lambda: influence(model, net.target, kind="intrinsic", n_bootstrap=0),
        )
        if with_dowhy:
            timed(
                "anomaly_dowhy_s",
                lambda: anomaly(model, picked, net.target, n_bootstrap=0, method="dowhy"),
            )
    return out


def accuracy(kind: str, seeds: int, n_vars: int, rows: int) -> dict[str, Any]:
    """Measure AC@1, AC@3 (process level) or specificity for one fault kind."""
    hits1 = hits3 = quiet = n = 0
    seed = 0
    while n < seeds and seed < 4 * seeds:
        case = fault_case(kind, seed, n_variables=n_vars, rows=rows)  # type: ignore[arg-type]
        seed += 1
        if case is None:
            continue
        n += 1
        net = case.network
        result = shift(net.graph, case.before, case.after, net.target, seed=seed, n_bootstrap=0)
        procs = result.top_processes(3)
        k = len(case.truth)
        if k == 0:
            quiet += not result.significant
            continue
        hits1 += set(procs[:k]) == case.truth
        hits3 += case.truth <= set(procs)
    if kind == "none":
        return {"kind": kind, "cases": n, "specificity": quiet / max(n, 1)}
    return {"kind": kind, "cases": n, "ac1": hits1 / max(n, 1), "ac3": hits3 / max(n, 1)}


def insurance(seeds: int) -> dict[str, Any]:
    """Fault localisation on the traced insurance-claims network (500 claims per run).

    Each repeat runs the network with one seed, and again with the next seed and a
    fault knob: the bug in the complexity classifier, the x1.5 amount shift, or none.
    """
    import subprocess
    import tempfile

    from fbp.causal._tables._dataset import assemble, model_inputs
    from fbp.causal._tables._wiring import network_causal_graph
    from fbp.graph import load_graph
    from fbp.tracing import open_trace

    network = Path(__file__).resolve().parent.parent / "networks" / "insurance_claims.fbp"
    nv = network_causal_graph(load_graph(network))
    tmp = Path(tempfile.mkdtemp())
    knobs = {
        "bug": (["--set", "Complexity.BUG=true"], "Complexity"),
        "shift": (["--set", "Claims.AMOUNT_SCALE=1.5"], "Claims"),
        "none": ([], None),
    }

    def traced(seed: int, name: str, extra: list[str]) -> Any:
        path = tmp / f"{name}-{seed}.trace"
        cmd = [sys.executable, "-m", "fbp", "run", str(network), "--trace", str(path)]
        subprocess.run(
            [*cmd, "--set", f"Claims.SEED={seed}", *extra], check=True, capture_output=True
        )
        with open_trace(path) as trace:
            return assemble(trace.run(), nv)

    out: dict[str, Any] = {k: {"ac1": 0, "ac3": 0, "quiet": 0, "seconds": 0.0} for k in knobs}
    for i in range(seeds):
        normal = traced(2 * i, "normal", [])
        for kind, (extra, truth) in knobs.items():
            graph, (before, after), _ = model_inputs(nv, [normal, traced(2 * i + 1, kind, extra)])
            t = time.perf_counter()
            result = shift(graph, before, after, "Payout.OUT", seed=i)
            out[kind]["seconds"] += time.perf_counter() - t
            procs = result.top_processes(3)
            out[kind]["ac1"] += procs[0] == truth
            out[kind]["ac3"] += truth in procs
            out[kind]["quiet"] += not result.significant
    return {
        k: {
            "repeats": seeds,
            "ac1": v["ac1"] / seeds,
            "ac3": v["ac3"] / seeds,
            "specificity": v["quiet"] / seeds,
            "mean_shift_s": round(v["seconds"] / seeds, 3),
        }
        for k, v in out.items()
    }


_CHILD = """
import json, pickle, sys, time
tree, data = sys.argv[1], sys.argv[2]
sys.path.insert(0, tree)
import fbp
assert fbp.__file__.startswith(tree), fbp.__file__
from fbp.causal import fit, shift
import dowhy.gcm  # noqa: F401 - not charged to the first call
with open(data, "rb") as fh:
    graph, before, after, target = pickle.load(fh)
out = {}
t = time.perf_counter()
result = shift(graph, before, after, target, n_bootstrap=30)
out["shift_s"] = time.perf_counter() - t
out["test_s"] = result.timings.get("test")
t = time.perf_counter()
fit(graph, before)
out["fit_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def compare_engines(baseline: str, cells: list[tuple[int, int]], repeats: int) -> list[Any]:
    """Time ``shift`` and ``fit`` of this tree against the tree of git revision ``baseline``.

    Both run on the same data (one code change per network, as in the timing grid),
    each call in a fresh process, the two trees alternating ``repeats`` times so that
    the machine's load hits both alike; medians and the median of the per-repeat
    ratios are reported.
    """
    import pickle
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="bench-causal-"))
    old = tmp / "baseline"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", baseline], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    env = {**__import__("os").environ, "FBP_NO_ACCEL": "1"}  # the causal layer is Python
    out = []
    for n_vars, rows in cells:
        net = make_network(n_vars, nonlinear=0.3, branches=0.15, seed=n_vars)
        fault = _fault(net, n_vars)
        data = tmp / f"{n_vars}x{rows}.pickle"
        with open(data, "wb") as fh:
            pickle.dump(
                (
                    net.graph,
                    net.sample(rows, seed=1),
                    net.sample(rows, seed=2, faults=[fault]),
                    net.target,
                ),
                fh,
            )
        runs: dict[str, list[dict[str, float]]] = {"today": [], "baseline": []}
        for _ in range(repeats):
            for name, tree in (("today", root), ("baseline", old)):
                r = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(tree), str(data)],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                )
                runs[name].append(json.loads(r.stdout.strip().splitlines()[-1]))
        cell: dict[str, Any] = {"variables": n_vars, "rows": rows, "repeats": repeats}
        for key in ("shift_s", "test_s", "fit_s"):
            today = [r[key] for r in runs["today"]]
            base = [r[key] for r in runs["baseline"]]
            if None in today or None in base:
                continue
            cell[key] = (round(float(np.median(today)), 3), round(float(np.median(base)), 3))
            cell[key.replace("_s", "_ratio")] = round(
                float(np.median(np.array(today) / np.array(base))), 2
            )
        out.append(cell)
        print(f"  {n_vars} x {rows}: {cell}", file=sys.stderr)
    return out


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(title)
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    print()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid (about a minute)")
    parser.add_argument("--dowhy", action="store_true", help="also time method='dowhy'")
    parser.add_argument("--out", type=Path, default=Path("bench_causal.json"), help="JSON file")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="only compare shift and fit with git revision REV (e.g. b24a5c2, the first "
        "engine) at 50x10k and 200x100k, alternating; nothing else is run",
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats of --baseline")
    args = parser.parse_args(argv)
    if args.baseline:
        cells = compare_engines(args.baseline, [(50, 10_000), (200, 100_000)], args.repeats)
        _print_table(
            f"this tree against {args.baseline}: medians of {args.repeats} alternating runs "
            "(seconds; shift with 30 bootstrap replicates)",
            [
                "vars",
                "rows",
                "shift",
                "base",
                "ratio",
                "tests",
                "base",
                "ratio",
                "fit",
                "base",
                "ratio",
            ],
            [
                [
                    str(c["variables"]),
                    str(c["rows"]),
                    *(
                        x
                        for k in ("shift", "test", "fit")
                        for x in (
                            (
                                f"{c[k + '_s'][0]:.2f}",
                                f"{c[k + '_s'][1]:.2f}",
                                f"{c[k + '_ratio']:.2f}x",
                            )
                            if k + "_s" in c
                            else ("-", "-", "-")
                        )
                    ),
                ]
                for c in cells
            ],
        )
        args.out.write_text(json.dumps({"baseline": args.baseline, "cells": cells}, indent=2))
        print(f"wrote {args.out}")
        return 0

    import dowhy.gcm  # noqa: F401 - import once up front so the first fit is not charged for it

    variables = QUICK_VARIABLES if args.quick else FULL_VARIABLES
    rows_grid = QUICK_ROWS if args.quick else FULL_ROWS
    n_bootstrap = 30
    cells = []
    for n_vars in variables:
        for rows in rows_grid:
            cell = time_cell(n_vars, rows, n_bootstrap, args.dowhy)
            cells.append(cell)
            print(
                f"  {cell['variables']:>4} variables x {rows:>7} rows: shift {cell['shift_s']} s",
                file=sys.stderr,
            )
    table = [
        [
            str(c["variables"]),
            str(c["rows"]),
            f"{c['fit_s']:.2f}",
            f"{c['shift_s']:.2f}",
            f"{c['phases_s']['test']:.2f}",
            f"{c['phases_s']['bootstrap']:.2f}",
            str(c["changed"]),
            "yes" if c["top1"] else "NO",
            f"{c['dowhy_s']:.1f}" if "dowhy_s" in c else "-",
        ]
        for c in cells
    ]
    _print_table(
        f"fit and shift time (seconds; shift with {n_bootstrap} bootstrap replicates)",
        ["vars", "rows", "fit", "shift", "tests", "bootstrap", "changed", "top-1", "dowhy"],
        table,
    )

    queries = [
        time_queries(n, 10_000, args.dowhy) for n in ((10, 25) if args.quick else (10, 25, 50))
    ]
    keys = [
        "worst_s",
        "anomaly_s",
        "whatif_s",
        "arrow_strength_s",
        "intrinsic_s",
        "anomaly_dowhy_s",
    ]
    _print_table(
        "model queries, one call without bootstrap (seconds; model fitted on 10000 rows)",
        [
            "vars",
            "worst",
            "anomaly (1 row)",
            "whatif",
            "arrow strength",
            "intrinsic",
            "anomaly dowhy",
        ],
        [[str(q["variables"]), *(f"{q[k]:.2f}" if k in q else "-" for k in keys)] for q in queries],
    )

    seeds = 5 if args.quick else 20
    acc = [accuracy(kind, seeds, 20, 2000) for kind in FAULT_KINDS]
    _print_table(
        f"fault localisation, 20 variables x 2000 rows, {seeds} seeds per kind",
        ["kind", "cases", "AC@1", "AC@3", "specificity"],
        [
            [
                a["kind"],
                str(a["cases"]),
                f"{a.get('ac1', float('nan')):.2f}",
                f"{a.get('ac3', float('nan')):.2f}",
                f"{a.get('specificity', float('nan')):.2f}",
            ]
            for a in acc
        ],
    )
    repeats = 3 if args.quick else 20
    claims = insurance(repeats)
    _print_table(
        f"insurance claims network, 500 claims per run, {repeats} repeats (n_bootstrap=30)",
        ["fault", "AC@1", "AC@3", "specificity", "shift s"],
        [
            [
                k,
                "-" if k == "none" else f"{v['ac1']:.2f}",
                "-" if k == "none" else f"{v['ac3']:.2f}",
                f"{v['specificity']:.2f}" if k == "none" else "-",
                f"{v['mean_shift_s']:.2f}",
            ]
            for k, v in claims.items()
        ],
    )
    report = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "quick": args.quick,
        "n_bootstrap": n_bootstrap,
        "timing": cells,
        "queries": queries,
        "accuracy": acc,
        "insurance_claims": claims,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
