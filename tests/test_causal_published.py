"""Published data: the insurance-claims study of Paleyes and Lawrence, through the public API.

20 repeats of 500 claims each, as deployed, with a bug in the complexity classifier,
and on shifted input (tests/data/insurance-claims-seldon, MIT licence, README there).
The culprit must come first and be reported significant in at least 18 of 20 repeats
for the bug and for the data shift, and nothing may be reported between two samples of
the deployed application.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pandas as pd
import pytest

from fbp.causal import shift

DATA = Path(__file__).resolve().parent / "data" / "insurance-claims-seldon"
REPEATS = 20
EDGES = """
input calculate_claim_value
input simple_claims
input complex_claims
input calculate_simple_claim_payout
input calculate_complex_claim_payout
calculate_claim_value low_value_claims
calculate_claim_value high_value_claims
low_value_claims simple_claims
low_value_claims complex_claims
simple_claims calculate_simple_claim_payout
complex_claims calculate_complex_claim_payout
high_value_claims calculate_complex_claim_payout
calculate_simple_claim_payout output
calculate_complex_claim_payout output
"""
PROCESS = {
    "input": "Claims",
    "calculate_claim_value": "Value",
    "low_value_claims": "ClassifyValue",
    "high_value_claims": "ClassifyValue",
    "simple_claims": "ClassifyComplexity",
    "complex_claims": "ClassifyComplexity",
    "calculate_simple_claim_payout": "SimplePayout",
    "calculate_complex_claim_payout": "ComplexPayout",
    "output": "Payout",
}


def _graph() -> nx.DiGraph:
    g = nx.DiGraph([tuple(line.split()) for line in EDGES.strip().splitlines()])
    for n in g:
        g.nodes[n].update(process=PROCESS[n], port=n, role="stream")
    return g


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv")


@pytest.mark.parametrize(
    ("kind", "culprit"), [("broken_app", "ClassifyComplexity"), ("broken_data", "Claims")]
)
def test_the_culprit_is_first_and_significant(kind: str, culprit: str) -> None:
    graph = _graph()
    first = flagged = 0
    for i in range(REPEATS):
        result = shift(graph, _read(f"normal_{i}"), _read(f"{kind}_{i}"), "output", seed=i)
        first += result.top_processes(1) == (culprit,)
        flagged += culprit in {graph.nodes[n]["process"] for n in result.significant}
    assert first >= 18, first
    assert flagged >= 18, flagged


def test_two_samples_of_the_deployed_application_report_nothing() -> None:
    graph = _graph()
    for i in range(REPEATS):
        after = _read(f"normal_{(i + 1) % REPEATS}")
        result = shift(graph, _read(f"normal_{i}"), after, "output", seed=i)
        assert result.significant == (), (i, result.significant)
