"""Anomaly attribution, interventions and influence on fitted models."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from fbp.causal import FittedModel, anomaly, fit, influence, whatif, worst

GRAPH = nx.DiGraph(
    [
        ("Read.A", "Join.X"),
        ("Read.B", "Join.X"),
        ("Join.X", "Price.Y"),
        ("Join.X", "Tax.Z"),
        ("Price.Y", "Sum.T"),
        ("Tax.Z", "Sum.T"),
    ]
)


def _draw(n: int, seed: int, *, y_bump: float = 0.0, a_value: float | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 1.0, n) if a_value is None else np.full(n, a_value)
    b = rng.normal(2.0, 1.0, n)
    x = 0.8 * a + 0.5 * b + rng.normal(0, 0.5, n)
    y = 1.5 * x + y_bump + rng.normal(0, 0.5, n)
    z = -0.5 * x + rng.normal(0, 0.5, n)
    t = y + z + rng.normal(0, 0.3, n)
    return pd.DataFrame(
        {"Read.A": a, "Read.B": b, "Join.X": x, "Price.Y": y, "Tax.Z": z, "Sum.T": t}
    )


@pytest.fixture(scope="module")
def model() -> FittedModel:
    return fit(GRAPH, _draw(2000, 0))


def test_worst_picks_the_injected_outliers(model: FittedModel) -> None:
    data = _draw(300, 1)
    data.loc[[17, 230], "Price.Y"] += 6.0
    data.loc[[17, 230], "Sum.T"] += 6.0
    scores = worst(model, data, "Sum.T", n=2)
    assert set(scores.index) == {17, 230}
    assert scores.name == "anomaly_score"
    assert list(scores) == sorted(scores, reverse=True)


def test_anomaly_blames_the_variable_whose_noise_was_extreme(model: FittedModel) -> None:
    rows = _draw(3, 2, y_bump=5.0)
    result = anomaly(model, rows, "Sum.T", n_bootstrap=10, num_samples=1500)
    assert result.top(1) == ("Price.Y",)
    assert result.ranking.processes[0].process == "Price"
    for i in range(3):
        assert result.row_top(i, 1) == ("Price.Y",)
        assert result.scores[i] == pytest.approx(result.row_values[i].sum())
    top = result.ranking.variables[0]
    assert top.ci_low is not None and top.ci_low > 0
    assert result.row_ci_low is not None and result.row_ci_low.shape == result.row_values.shape
    assert "per row" in result.table()
    assert json.loads(json.dumps(result.to_dict()))["target"] == "Sum.T"


def test_anomaly_agrees_with_dowhy_attribute_anomalies(model: FittedModel) -> None:
    rows = _draw(1, 3, y_bump=4.0)
    fast = anomaly(model, rows, "Sum.T", n_bootstrap=0, num_samples=1000)
    slow = anomaly(model, rows, "Sum.T", n_bootstrap=0, num_samples=1000, method="dowhy")
    assert fast.top(1) == slow.top(1) == ("Price.Y",)
    assert fast.scores[0] == pytest.approx(slow.scores[0], rel=0.25)
    assert np.corrcoef(fast.row_values[0], slow.row_values[0])[0, 1] > 0.9


def test_anomaly_is_reproducible(model: FittedModel) -> None:
    rows = _draw(1, 4, y_bump=4.0)
    a = anomaly(model, rows, "Sum.T", n_bootstrap=2, num_samples=500, seed=3)
    b = anomaly(model, rows, "Sum.T", n_bootstrap=2, num_samples=500, seed=3)
    np.testing.assert_array_equal(a.row_values, b.row_values)
    assert a.to_dict()["ranking"] == b.to_dict()["ranking"]


def test_whatif_predicts_the_effect_of_setting_a_root(model: FittedModel) -> None:
    result = whatif(model, {"Read.A": 3.0}, "Sum.T", n=5000, n_bootstrap=20)
    # Sum.T = (1.5 - 0.5) * Join.X + noise and Join.X = 0.8 * Read.A + ...: +2 in A -> +1.6
    assert result.effect == pytest.approx(1.6, abs=0.15)
    assert result.effect_ci_low is not None and result.effect_ci_high is not None
    assert result.effect_ci_low <= result.effect <= result.effect_ci_high
    assert result.predicted.ci_low is not None and result.predicted.ci_high is not None
    assert result.predicted.ci_low <= result.predicted.mean <= result.predicted.ci_high
    assert result.predicted.quantiles == tuple(sorted(result.predicted.quantiles))
    text = result.table()
    assert text.startswith("what if Read.A := 3.0: 'Sum.T'")
    assert "samples" not in result.to_dict()
    json.dumps(result.to_dict())


def test_whatif_compares_with_a_real_rerun(model: FittedModel) -> None:
    result = whatif(model, {"Read.A": 3.0}, "Sum.T", n=5000, n_bootstrap=20)
    rerun = _draw(2000, 9, a_value=3.0)["Sum.T"]
    check = result.compare_with(rerun)
    assert abs(check.error) < 0.1
    assert check.within_interval
    assert check.z is not None and abs(check.z) < 3
    assert check.ks_p_value > 0.001
    wrong = result.compare_with(_draw(2000, 9, a_value=0.0)["Sum.T"])
    assert abs(wrong.error) > 1.0
    assert not wrong.within_interval
    assert "observed mean inside the predicted interval: no" in wrong.table()


def test_whatif_accepts_functions_and_notes_unrelated_variables(model: FittedModel) -> None:
    shifted = whatif(
        model, {"Join.X": lambda x: x + 1.0, "Tax.Z": 0.0}, "Price.Y", n=4000, n_bootstrap=0
    )
    assert shifted.effect == pytest.approx(1.5, abs=0.1)
    assert shifted.not_ancestors == ("Tax.Z",)
    assert "no path to the target from: Tax.Z" in shifted.table()


def test_whatif_is_reproducible(model: FittedModel) -> None:
    a = whatif(model, {"Read.B": 0.0}, "Sum.T", n=1000, n_bootstrap=3, seed=5)
    b = whatif(model, {"Read.B": 0.0}, "Sum.T", n=1000, n_bootstrap=3, seed=5)
    assert {**a.to_dict(), "timings": None} == {**b.to_dict(), "timings": None}
    c = whatif(model, {"Read.B": 0.0}, "Sum.T", n=1000, n_bootstrap=3, seed=6)
    assert c.predicted.mean != a.predicted.mean


def test_arrow_strength_ranks_the_strong_input_first(model: FittedModel) -> None:
    result = influence(model, "Sum.T", n_bootstrap=5)
    assert result.kind == "arrow_strength"
    assert result.top(2) == ("Price.Y", "Tax.Z")
    top = result.ranking.variables[0]
    assert top.ci_low is not None and top.ci_low > 0
    assert "arrow strength of each input on 'Sum.T'" in result.table()


def test_intrinsic_influence_covers_every_ancestor() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 3.0, 500)
    b = a + rng.normal(0, 0.1, 500)
    c = b + rng.normal(0, 1.0, 500)
    frame = pd.DataFrame({"In.A": a, "Copy.B": b, "Noisy.C": c})
    small = fit(nx.DiGraph([("In.A", "Copy.B"), ("Copy.B", "Noisy.C")]), frame)
    result = influence(small, "Noisy.C", kind="intrinsic", n_bootstrap=2)
    assert set(result.ranking.nodes) == {"In.A", "Copy.B", "Noisy.C"}
    # A passes on most of the variance; B only copies it with little noise of its own.
    assert result.top(2) == ("In.A", "Noisy.C")
    json.dumps(result.to_dict())


THRESHOLD = nx.DiGraph([("Read.A", "Gate.G"), ("Gate.G", "Sum.T"), ("Read.B", "Sum.T")])


def _gated(n: int, seed: int, a_value: float | None = None) -> pd.DataFrame:
    """A component that passes only the part of its input above 1: ``max(A - 1, 0)``."""
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 1.0, n) if a_value is None else np.full(n, a_value)
    b = rng.normal(0.0, 1.0, n)
    g = 3.0 * np.maximum(a - 1.0, 0.0) + rng.normal(0, 0.2, n)
    t = g + b + rng.normal(0, 0.2, n)
    return pd.DataFrame({"Read.A": a, "Read.B": b, "Gate.G": g, "Sum.T": t})


def test_select_fits_a_threshold_flexibly_and_whatif_predicts_a_rerun() -> None:
    data = _gated(2000, 0)
    selected = fit(THRESHOLD, data)
    assert selected.mechanisms["Gate.G"] == "flexible"
    assert selected.mechanisms["Sum.T"] == "linear"  # a sum stays linear
    rerun = _gated(2000, 5, a_value=2.5)
    result = whatif(selected, {"Read.A": 2.5}, "Sum.T", n_bootstrap=10, units=rerun)
    check = result.compare_with(rerun["Sum.T"])
    # 3 * (2.5 - 1) = 4.5 in truth; a straight line through the hinge is far off.
    assert check.within_interval, check.table()
    assert check.interval_low is not None and check.interval_high is not None
    assert check.interval_low <= check.observed_mean <= check.interval_high
    assert check.warnings == ()
    linear = fit(THRESHOLD, data, mechanisms="linear")
    missed = whatif(linear, {"Read.A": 2.5}, "Sum.T", n_bootstrap=10, units=rerun)
    miss = missed.compare_with(rerun["Sum.T"])
    assert miss.within_interval is False
    assert "Gate.G (R^2" in miss.warnings[0]  # the likely cause: a poorly fitted mechanism


def test_shapley_queries_use_linear_fits_where_select_chose_flexible() -> None:
    data = _gated(1500, 1)
    selected = fit(THRESHOLD, data)
    view = selected.for_shapley()
    assert view.mechanisms["Gate.G"] == "linear" and selected.mechanisms["Gate.G"] == "flexible"
    assert selected.for_shapley() is view and view.for_shapley() is view
    linear = fit(THRESHOLD, data, mechanisms="linear")
    rows = _gated(2, 2)
    a = anomaly(selected, rows, "Sum.T", n_bootstrap=0, num_samples=500)
    b = anomaly(linear, rows, "Sum.T", n_bootstrap=0, num_samples=500)
    np.testing.assert_allclose(a.row_values, b.row_values)
    # A flexible mechanism asked for by name is kept.
    explicit = fit(THRESHOLD, data, mechanisms={"Gate.G": "flexible"})
    assert explicit.for_shapley().mechanisms["Gate.G"] == "flexible"


@pytest.mark.parametrize("b", [2, 5, 20])
def test_every_interval_contains_its_estimate(model: FittedModel, b: int) -> None:
    rows = _draw(2, 6, y_bump=4.0)
    why = anomaly(model, rows, "Sum.T", n_bootstrap=b, num_samples=500)
    drivers = influence(model, "Sum.T", n_bootstrap=b)
    for ranking in (why.ranking, drivers.ranking):
        for v in ranking.variables:
            assert v.ci_low is not None and v.ci_high is not None
            assert v.ci_low <= v.value <= v.ci_high
        for p in ranking.processes:
            assert p.ci_low is not None and p.ci_high is not None
            assert p.ci_low <= p.value <= p.ci_high
    what = whatif(model, {"Read.A": 2.0}, "Sum.T", n=1000, n_bootstrap=b)
    for s in (what.predicted, what.observational):
        assert s.ci_low is not None and s.ci_high is not None
        assert s.ci_low <= s.mean <= s.ci_high
    assert what.effect_ci_low is not None and what.effect_ci_high is not None
    assert what.effect_ci_low <= what.effect <= what.effect_ci_high
