"""A seeded subset of the fault-localisation evaluation (benchmarks/bench_causal_eval.py).

One generated case of every kind of fbp.causal.testing (data shifts, parameter changes,
code changes in linear and non-linear transforms, routers, filters, joins,
aggregations, double and cancelling faults, a no-change control) on random networks of
random mechanism families, answered by fbp.causal.shift and by the no-graph z-score
baseline in the same run, held to the targets of the full evaluation.
"""

from __future__ import annotations

import pytest

from benchmarks.bench_causal_eval import Outcome, generated_cases, summarise
from fbp.causal.testing import FAULT_KINDS

SEED = 7000


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    return list(generated_cases(len(FAULT_KINDS), rows=2000, seed0=SEED))


def test_every_kind_is_evaluated_without_a_crash(outcomes: list[Outcome]) -> None:
    assert sorted(o.kind for o in outcomes) == sorted(FAULT_KINDS)
    assert {m: o.errors for o in outcomes for m in o.errors} == {}


def test_the_causal_answer_meets_the_targets(outcomes: list[Outcome]) -> None:
    s = summarise(outcomes, "causal")
    assert s["crashes"] == 0
    assert s["first"] >= 0.95, s
    assert s["top3"] == 1.0, s
    assert s["flagged"] >= 0.90, s
    assert s["innocent"] <= 0.05, s
    assert s["false_alarms"] == 0, s


def test_the_causal_answer_beats_the_zscore_baseline_mid_graph(
    outcomes: list[Outcome],
) -> None:
    mid = [o for o in outcomes if o.truth and o.mid_graph]
    assert len(mid) >= 8
    causal, zscore = summarise(mid, "causal"), summarise(mid, "zscore")
    # The baseline flags every descendant of a changed component.
    assert zscore["innocent"] >= 0.5, zscore
    assert causal["innocent"] < zscore["innocent"]
    assert causal["top3"] >= zscore["top3"]
    assert causal["first"] >= zscore["first"]


# One seed of the traced networks, a fault of each family: a join, a router's
# parameter and a stale model (fraud scoring), an aggregation and a code change
# upstream of it (recommender), a filter and a non-linear formula (sensor ETL).
NETWORK_FAULTS = {
    "fraud_scoring": ("ledger bug", "triage cut", "stale model"),
    "recommender": ("basket max", "relevance bug"),
    "sensor_etl": ("strict filter", "heat index bug"),
}


@pytest.fixture(scope="module")
def traced() -> list[Outcome]:
    from benchmarks._causal_networks import network_cases

    return list(network_cases(1, seed0=3, only=NETWORK_FAULTS))


def test_traced_networks_meet_the_targets(traced: list[Outcome]) -> None:
    assert len(traced) == 3 + sum(map(len, NETWORK_FAULTS.values()))
    s = summarise(traced, "causal")
    assert s["crashes"] == 0, [o.errors for o in traced if o.errors]
    assert s["first"] == 1.0 and s["top3"] == 1.0, s
    assert s["flagged"] == 1.0, s
    assert s["innocent"] == 0.0, s
    assert s["false_alarms"] == 0, s
    z = summarise(traced, "zscore")
    assert z["innocent"] > s["innocent"]
