"""The traced-network cases of the causal evaluation (benchmarks/bench_causal_eval.py).

Each network of ``networks/`` listed here is run through the runtime with tracing, as
deployed (one seed) and with a fault knob set (another seed), the traces are turned
into tables, and the case is answered by both methods of the evaluation.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class NetworkFaults:
    """A network, how to size and seed it, its target, and its faults with culprits."""

    network: str
    count_port: str
    units: int
    seed_port: str
    target: str
    faults: dict[str, tuple[dict[str, Any], frozenset[str]]]
    roots: frozenset[str]


def _f(values: dict[str, Any], *culprits: str) -> tuple[dict[str, Any], frozenset[str]]:
    return values, frozenset(culprits)


NETWORKS = (
    NetworkFaults(
        "fraud_scoring",
        "Txns.N",
        2000,
        "Txns.SEED",
        "Ledger.OUT",
        {
            "amount shift": _f({"Txns.AMOUNT_SCALE": 1.5}, "Txns"),
            "foreign shift": _f({"Txns.FOREIGN": 0.45}, "Txns"),
            "night bug": _f({"Features.BUG": True}, "Features"),
            "stale model": _f({"Model.DRIFT": 1.0}, "Model"),
            "triage cut": _f({"Triage.CUT": 0.1}, "Triage"),
            "ledger bug": _f({"Ledger.BUG": True}, "Ledger"),
            "stale model + amount shift": _f(
                {"Model.DRIFT": 1.0, "Txns.AMOUNT_SCALE": 1.5}, "Model", "Txns"
            ),
        },
        frozenset({"Txns"}),
    ),
    NetworkFaults(
        "recommender",
        "Sessions.N",
        400,
        "Sessions.SEED",
        "Rank.OUT",
        {
            "dwell shift": _f({"Sessions.DWELL_SCALE": 1.5}, "Sessions"),
            "relevance bug": _f({"Relevance.BUG": True}, "Relevance"),
            "basket max": _f({"Basket.MODE": "max"}, "Basket"),
            "ranker boost": _f({"Rank.BOOST": 1.6}, "Rank"),
            "relevance bug + ranker boost": _f(
                {"Relevance.BUG": True, "Rank.BOOST": 1.6}, "Relevance", "Rank"
            ),
        },
        frozenset({"Sessions"}),
    ),
    NetworkFaults(
        "sensor_etl",
        "Sensors.N",
        2000,
        "Sensors.SEED",
        "Alert.OUT",
        {
            "temperature drift": _f({"Sensors.DRIFT": 1.5}, "Sensors"),
            "calibration bug": _f({"Calibrate.BUG": True}, "Calibrate"),
            "strict filter": _f({"Valid.MAX_HUMIDITY": 65.0}, "Valid"),
            "heat index bug": _f({"HeatIndex.BUG": True}, "HeatIndex"),
            "drift + strict filter": _f(
                {"Sensors.DRIFT": 1.5, "Valid.MAX_HUMIDITY": 65.0}, "Sensors", "Valid"
            ),
        },
        frozenset({"Sensors"}),
    ),
)


def _traced(tmp: Path, nf: NetworkFaults, values: dict[str, Any], name: str) -> Path:
    from fbp.graph import run
    from fbp.tracing import TraceWriter

    path = tmp / f"{nf.network}-{name}.trace"
    with TraceWriter(path) as sink:
        run(ROOT / "networks" / f"{nf.network}.fbp", set_values=values, trace=sink)
    return path


def network_cases(
    repeats: int,
    networks: tuple[NetworkFaults, ...] = NETWORKS,
    seed0: int = 0,
    only: dict[str, tuple[str, ...]] | None = None,
) -> Iterator[Any]:
    """Run every fault of every network ``repeats`` times, plus a control each time.

    ``only`` restricts a network (by name) to some of its faults.
    """
    from fbp.causal import tables

    from .bench_causal_eval import Outcome, answer_both

    with tempfile.TemporaryDirectory(prefix="fbp-causal-eval-") as d:
        tmp = Path(d)
        for nf in networks:
            path = ROOT / "networks" / f"{nf.network}.fbp"
            for r in range(seed0, seed0 + repeats):
                base = {nf.count_port: nf.units}
                before = _traced(tmp, nf, {**base, nf.seed_port: 2 * r}, f"{r}-before")
                faults = nf.faults
                if only is not None and nf.network in only:
                    faults = {k: v for k, v in faults.items() if k in only[nf.network]}
                cases = {"none": ({}, frozenset[str]()), **faults}
                for fault, (values, culprits) in cases.items():
                    after = _traced(
                        tmp, nf, {**base, nf.seed_port: 2 * r + 1, **values}, f"{r}-{fault}"
                    )
                    out = Outcome(
                        "networks",
                        f"{nf.network}: {fault}",
                        f"{nf.network}: {fault} #{r}",
                        culprits,
                        bool(culprits - nf.roots),
                    )
                    try:
                        t = tables(path, [before, after], target=nf.target)
                    except Exception as exc:  # a crash is a finding of the evaluation
                        out.answers = {"causal": None, "zscore": None}
                        out.errors = {"causal": repr(exc), "zscore": repr(exc)}
                        yield out
                        continue
                    answer_both(out, t.graph, t.frames[0], t.frames[1], nf.target, r)
                    yield out
                    after.unlink()
                before.unlink()
