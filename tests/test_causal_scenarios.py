"""End to end: trace the insurance-claims network, build its causal tables, find the fault.

The network (after Paleyes et al.'s dataflow fault-localisation study) is run with its
fault knobs; the knobs are not causal variables, so the causal layer must find each
fault from the traced data alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fbp.causal import shift

ROOT = Path(__file__).resolve().parent.parent
NETWORK = ROOT / "networks" / "insurance_claims.fbp"
RUNS = {
    "normal": [],
    "again": ["--set", "Claims.SEED=1"],
    "bug": ["--set", "Complexity.BUG=true"],
    "shift": ["--set", "Claims.AMOUNT_SCALE=1.5"],
}


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from fbp.causal._tables._dataset import assemble, model_inputs
    from fbp.causal._tables._wiring import network_causal_graph
    from fbp.graph import load_graph
    from fbp.tracing import open_trace

    nv = network_causal_graph(load_graph(NETWORK))
    datasets = {}
    for name, extra in RUNS.items():
        trace = tmp_path_factory.mktemp("traces") / f"{name}.trace"
        subprocess.run(
            [sys.executable, "-m", "fbp", "run", str(NETWORK), "--trace", str(trace), *extra],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        with open_trace(trace) as t:
            datasets[name] = assemble(t.run(), nv)
    out = {}
    for name in ("again", "bug", "shift"):
        out[name] = model_inputs(nv, [datasets["normal"], datasets[name]])
    return out


def test_a_deployed_bug_is_found_in_the_classifier(tables: dict[str, Any]) -> None:
    graph, (before, after), _ = tables["bug"]
    result = shift(graph, before, after, "Payout.OUT", n_bootstrap=10)
    assert result.top_processes(1) == ("Complexity",)
    assert {graph.nodes[n]["process"] for n in result.significant} == {"Complexity"}


def test_an_input_data_shift_is_found_at_the_source(tables: dict[str, Any]) -> None:
    graph, (before, after), _ = tables["shift"]
    result = shift(graph, before, after, "Payout.OUT", n_bootstrap=10)
    assert result.top(1) == ("Claims.OUT.total_claim_amount",)
    assert result.significant == ("Claims.OUT.total_claim_amount",)


def test_another_sample_of_the_same_program_reports_nothing(tables: dict[str, Any]) -> None:
    graph, (before, after), _ = tables["again"]
    result = shift(graph, before, after, "Payout.OUT", n_bootstrap=10)
    assert result.significant == ()
