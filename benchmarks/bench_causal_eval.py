"""Evaluate fault localisation broadly: generated cases and real traced networks.

Usage::

    python benchmarks/bench_causal_eval.py              # the full run (hundreds of cases)
    python benchmarks/bench_causal_eval.py --quick      # a small run
    python benchmarks/bench_causal_eval.py --cases 280 --rows 2000 --no-networks

Two families of cases, each knowing its culprits:

* **generated**: :func:`fbp.causal.testing.random_case`, the kinds taken in turn
  (every kind of :data:`~fbp.causal.testing.FAULT_KINDS`: data shifts at sources and
  categorical sources, parameter changes, code changes in linear and non-linear
  transforms, gains, routers, filters, joins, aggregations, two faults at once, two
  cancelling faults, and no-change controls), on random networks of 10 to 30
  variables with random mixes of every mechanism family;
* **networks**: the real-looking networks of ``networks/`` (fraud scoring with a
  router and a join, a recommender with an aggregation, a sensor ETL with a filter),
  run through the runtime with tracing, their fault knobs set, the traces turned
  into tables and localised end to end.

Each case is answered by :func:`fbp.causal.shift` (default settings) and by a no-graph
baseline: per-variable mean-shift z-scores, ranked, a variable flagged when its
Bonferroni-corrected two-sided p-value is below ``alpha``. Reported per method and per
group: culprit first (a culprit is the first process), culprits in the top 3 (every
culprit among the first three processes), culprits flagged (share of culprits
reported significant), an innocent process flagged (share of fault cases), false
alarms on controls and crashes. Results go to ``benchmarks/results/causal_eval.json``
and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ALPHA = 0.01
TARGETS = {"first": 0.95, "top3": 1.0, "flagged": 0.90, "innocent": 0.05}


@dataclass
class Answer:
    """What one method answered on one case: processes ranked, processes flagged."""

    ranked: tuple[str, ...]
    flagged: frozenset[str]
    seconds: float = 0.0


@dataclass
class Outcome:
    """One case and both methods' answers."""

    group: str
    kind: str
    name: str
    truth: frozenset[str]
    mid_graph: bool
    answers: dict[str, Answer | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def zscore_baseline(
    graph: Any, before: pd.DataFrame, after: pd.DataFrame, alpha: float = ALPHA
) -> Answer:
    """Rank processes by the largest mean-shift z-score of their variables (no graph).

    A variable's z-score is ``|mean(after) - mean(before)|`` over its standard error
    (Welch); categorical columns use their category codes. A variable is flagged when
    its two-sided p-value, Bonferroni-corrected over all variables, is below ``alpha``.
    """
    from scipy import stats

    t0 = time.perf_counter()
    scores: dict[str, float] = {}
    flagged: set[str] = set()
    nodes = [n for n in graph.nodes if n in before.columns and n in after.columns]
    crit = float(stats.norm.isf(alpha / (2 * max(len(nodes), 1))))
    for node in nodes:
        a, b = _numeric(before[node]), _numeric(after[node])
        diff = abs(float(b.mean()) - float(a.mean()))
        se = math.sqrt(float(a.var()) / len(a) + float(b.var()) / len(b))
        z = diff / se if se > 0 else (math.inf if diff > 0 else 0.0)
        proc = graph.nodes[node].get("process", node)
        scores[proc] = max(scores.get(proc, 0.0), z)
        if z > crit:
            flagged.add(proc)
    ranked = tuple(sorted(scores, key=lambda p: (-scores[p], p)))
    return Answer(ranked, frozenset(flagged), time.perf_counter() - t0)


def _numeric(col: pd.Series) -> np.ndarray:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return np.asarray(col.cat.codes, dtype=float)
    return np.asarray(col, dtype=float)


def causal_answer(
    graph: Any, before: pd.DataFrame, after: pd.DataFrame, target: str, seed: int, **kw: Any
) -> Answer:
    """Rank and flag processes with :func:`fbp.causal.shift`."""
    from fbp.causal import shift

    t0 = time.perf_counter()
    result = shift(graph, before, after, target, seed=seed, **kw)
    flagged = frozenset(p.process for p in result.ranking.processes if p.significant)
    return Answer(
        result.top_processes(len(result.ranking.processes)), flagged, time.perf_counter() - t0
    )


def _answer(outcome: Outcome, method: str, fn: Callable[[], Answer]) -> None:
    try:
        outcome.answers[method] = fn()
    except Exception as exc:  # a crash is a finding of the evaluation
        outcome.answers[method] = None
        outcome.errors[method] = "".join(traceback.format_exception_only(exc)).strip()


def generated_cases(
    n: int, rows: int, seed0: int = 0, min_effect: float = 0.25
) -> Iterable[Outcome]:
    """Run ``n`` generated cases, the kinds taken in turn."""
    from fbp.causal.testing import FAULT_KINDS, random_case

    for i in range(n):
        kind = FAULT_KINDS[i % len(FAULT_KINDS)]
        seed = seed0 + i
        case = random_case(seed, rows=rows, kinds=[kind], min_effect=min_effect)
        net = case.network
        out = Outcome("generated", kind, f"{kind}#{seed}", case.truth, case.mid_graph)
        answer_both(out, net.graph, case.before, case.after, net.target, seed)
        yield out


def answer_both(
    out: Outcome,
    graph: Any,
    before: pd.DataFrame,
    after: pd.DataFrame,
    target: str,
    seed: int,
) -> None:
    """Answer one case with the causal method and the z-score baseline."""
    _answer(out, "causal", lambda: causal_answer(graph, before, after, target, seed))
    _answer(out, "zscore", lambda: zscore_baseline(graph, before, after))


def summarise(outcomes: Sequence[Outcome], method: str) -> dict[str, Any]:
    """The figures of one method over some outcomes."""
    faults = [o for o in outcomes if o.truth]
    controls = [o for o in outcomes if not o.truth]
    crashes = sum(1 for o in outcomes if o.answers.get(method) is None)
    first = top3 = culprits = flagged = innocent = 0
    for o in faults:
        a = o.answers.get(method)
        culprits += len(o.truth)
        if a is None:
            continue
        first += bool(a.ranked) and a.ranked[0] in o.truth
        top3 += o.truth <= set(a.ranked[:3])
        flagged += len(o.truth & a.flagged)
        innocent += bool(a.flagged - o.truth)
    alarms = sum(1 for o in controls if (a := o.answers.get(method)) is not None and a.flagged)
    nf = len(faults)
    secs = [a.seconds for o in outcomes if (a := o.answers.get(method)) is not None]
    return {
        "cases": len(outcomes),
        "fault_cases": nf,
        "controls": len(controls),
        "first": first / nf if nf else None,
        "top3": top3 / nf if nf else None,
        "flagged": flagged / culprits if culprits else None,
        "innocent": innocent / nf if nf else None,
        "false_alarms": alarms,
        "crashes": crashes,
        "median_s": float(np.median(secs)) if secs else None,
    }


def report(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Figures per method, overall, per group, mid-graph vs roots, and per kind."""
    methods = sorted({m for o in outcomes for m in o.answers})
    groups: dict[str, list[Outcome]] = {"all": list(outcomes)}
    for o in outcomes:
        groups.setdefault(o.group, []).append(o)
    groups["mid-graph faults"] = [o for o in outcomes if o.truth and o.mid_graph]
    groups["source/parameter faults"] = [o for o in outcomes if o.truth and not o.mid_graph]
    for o in outcomes:
        groups.setdefault(f"{o.group}: {o.kind}", []).append(o)
    return {g: {m: summarise(os, m) for m in methods} for g, os in groups.items()}


def misses(outcomes: Sequence[Outcome], method: str) -> list[dict[str, Any]]:
    """The cases a method got wrong, for reading."""
    out = []
    for o in outcomes:
        a = o.answers.get(method)
        if a is None:
            out.append({"case": o.name, "error": o.errors.get(method)})
            continue
        bad = []
        if o.truth and (not a.ranked or a.ranked[0] not in o.truth):
            bad.append("not first")
        if o.truth and not o.truth <= set(a.ranked[:3]):
            bad.append("not top 3")
        if o.truth - a.flagged:
            bad.append(f"not flagged {sorted(o.truth - a.flagged)}")
        if a.flagged - o.truth:
            bad.append(f"innocent flagged {sorted(a.flagged - o.truth)}")
        if bad:
            out.append({"case": o.name, "truth": sorted(o.truth), "top3": a.ranked[:3], "why": bad})
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(rep: dict[str, Any], header: str) -> str:
    lines = [
        header,
        "",
        "| group | method | cases | first | top 3 | culprits flagged | "
        "innocent flagged | false alarms (controls) | crashes | median s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for group, by_method in rep.items():
        for m, s in by_method.items():
            secs = "-" if s["median_s"] is None else f"{s['median_s']:.2f}"
            lines.append(
                f"| {group} | {m} | {s['cases']} | {_pct(s['first'])} | {_pct(s['top3'])} | "
                f"{_pct(s['flagged'])} | {_pct(s['innocent'])} | "
                f"{s['false_alarms']}/{s['controls']} | {s['crashes']} | "
                f"{secs} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run")
    parser.add_argument("--cases", type=int, default=None, help="generated cases")
    parser.add_argument("--rows", type=int, default=2000, help="units per generated run")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--min-effect",
        type=float,
        default=0.25,
        help="smallest effect of a generated fault on the target's mean, in its sd",
    )
    parser.add_argument("--no-networks", action="store_true", help="skip the traced networks")
    parser.add_argument("--repeats", type=int, default=None, help="seeds per network fault")
    parser.add_argument("--out", type=Path, default=RESULTS / "causal_eval")
    args = parser.parse_args(argv)
    n = args.cases if args.cases is not None else (42 if args.quick else 420)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    t0 = time.perf_counter()
    outcomes: list[Outcome] = []
    for o in generated_cases(n, args.rows, args.seed, args.min_effect):
        outcomes.append(o)
        if len(outcomes) % 20 == 0:
            print(
                f"  {len(outcomes)} generated cases, {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
            )
    if not args.no_networks:
        from benchmarks._causal_networks import network_cases

        for o in network_cases(repeats):
            outcomes.append(o)
    rep = report(outcomes)
    header = (
        f"# Causal fault localisation, evaluated\n\n{n} generated cases at {args.rows} "
        f"units per run (faults moving the target by >= {args.min_effect} sd)"
        + ("" if args.no_networks else f", traced networks x {repeats} seeds")
        + f"; alpha {ALPHA}; {time.perf_counter() - t0:.0f} s on {platform.node()} "
        f"({platform.python_version()})"
    )
    text = markdown(rep, header)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    payload = {
        "settings": {
            "cases": n,
            "rows": args.rows,
            "seed": args.seed,
            "repeats": repeats,
            "alpha": ALPHA,
            "min_effect": args.min_effect,
            "targets": TARGETS,
        },
        "report": rep,
        "misses": {m: misses(outcomes, m) for m in ("causal", "zscore")},
        "outcomes": [
            {
                "case": o.name,
                "truth": sorted(o.truth),
                "mid_graph": o.mid_graph,
                **{
                    m: None if a is None else [list(a.ranked[:3]), sorted(a.flagged)]
                    for m, a in o.answers.items()
                },
            }
            for o in outcomes
        ],
    }
    args.out.with_suffix(".json").write_text(json.dumps(payload, default=list) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
