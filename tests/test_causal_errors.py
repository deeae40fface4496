"""Errors of the causal layer name the element and suggest the fix."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from fbp._core._exceptions import CausalModelError
from fbp.causal import anomaly, fit, influence, shift, whatif, worst

GRAPH = nx.DiGraph([("Read.OUT", "Parse.OUT"), ("Parse.OUT", "Score.OUT")])


def _frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)
    return pd.DataFrame({"Read.OUT": x, "Parse.OUT": y, "Score.OUT": y + rng.normal(size=n)})


def test_unknown_target_suggests_a_close_name() -> None:
    with pytest.raises(
        CausalModelError,
        match=r"^target 'Score.OUTT' is not a variable of the causal graph; did you mean "
        r"'Score.OUT' or 'Parse.OUT'\?$",
    ):
        shift(GRAPH, _frame(), _frame(seed=1), "Score.OUTT")


def test_unknown_target_without_close_name_lists_some_variables() -> None:
    with pytest.raises(CausalModelError, match=r"^target 'Nope' is not a variable .* e\.g\. "):
        shift(GRAPH, _frame(), _frame(seed=1), "Nope")


def test_cycle_is_named() -> None:
    graph = nx.DiGraph([("A.OUT", "B.OUT"), ("B.OUT", "C.OUT"), ("C.OUT", "A.OUT")])
    with pytest.raises(
        CausalModelError,
        match=r"^the causal graph has a cycle: A\.OUT -> B\.OUT -> C\.OUT -> A\.OUT; a causal "
        r"model needs a DAG",
    ):
        shift(graph, _frame(), _frame(), "A.OUT")


def test_non_numeric_column_is_refused_with_a_hint() -> None:
    before = _frame()
    before["Parse.OUT"] = before["Parse.OUT"].astype(str)
    with pytest.raises(
        CausalModelError,
        match=r"^before column 'Parse.OUT' has dtype (object|str); causal variables must be "
        r"numeric, bool or pandas 'category': project payloads to a number, or convert labels with "
        r"before\['Parse.OUT'\]\.astype\('category'\)$",
    ):
        shift(GRAPH, before, _frame(seed=1), "Score.OUT")


def test_too_few_rows() -> None:
    with pytest.raises(
        CausalModelError,
        match=r"^after has 5 row\(s\); the causal layer needs at least 20 units of work per "
        r"frame: trace a longer run$",
    ):
        shift(GRAPH, _frame(), _frame(5), "Score.OUT")


def test_too_few_rows_for_a_wide_mechanism() -> None:
    graph = nx.DiGraph([(f"In{i}.OUT", "Join.OUT") for i in range(20)])
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(21, 21)), columns=[*graph.nodes])
    with pytest.raises(CausalModelError, match=r"^too few rows for 'Join.OUT': its model has 21 "):
        shift(graph, frame, frame, "Join.OUT")


def test_missing_column() -> None:
    with pytest.raises(
        CausalModelError, match=r"^after has no column for variable\(s\) \['Parse.OUT'\]"
    ):
        shift(GRAPH, _frame(), _frame().drop(columns="Parse.OUT"), "Score.OUT")


def test_missing_values_suggest_an_indicator() -> None:
    after = _frame()
    after.loc[3, "Parse.OUT"] = np.nan
    with pytest.raises(CausalModelError, match=r"fill its value with 0 and add an indicator"):
        shift(GRAPH, _frame(), after, "Score.OUT")


def test_infinite_values() -> None:
    after = _frame()
    after.loc[3, "Parse.OUT"] = np.inf
    with pytest.raises(CausalModelError, match=r"^after column 'Parse.OUT' has infinite values"):
        shift(GRAPH, _frame(), after, "Score.OUT")


def test_parameter_with_parents() -> None:
    graph = nx.DiGraph([("A.OUT", "B.FACTOR")])
    graph.nodes["B.FACTOR"]["role"] = "parameter"
    with pytest.raises(CausalModelError, match=r"^parameter 'B.FACTOR' has parents \['A.OUT'\]"):
        shift(graph, _frame(), _frame(), "B.FACTOR")


def test_unknown_role() -> None:
    graph = nx.DiGraph([("A.OUT", "B.OUT")])
    graph.nodes["B.OUT"]["role"] = "sream"
    with pytest.raises(CausalModelError, match=r"^variable 'B.OUT' has role 'sream'"):
        shift(graph, _frame(), _frame(), "B.OUT")


def test_not_a_graph() -> None:
    with pytest.raises(CausalModelError, match=r"needs a networkx.DiGraph or a FittedModel"):
        shift({"a": "b"}, _frame(), _frame(), "Score.OUT")


def test_bad_options() -> None:
    before, after = _frame(), _frame(seed=1)
    with pytest.raises(CausalModelError, match=r"^unknown method 'fastest'"):
        shift(GRAPH, before, after, "Score.OUT", method="fastest")  # type: ignore[arg-type]
    with pytest.raises(CausalModelError, match=r"^unknown measure 'median'"):
        shift(GRAPH, before, after, "Score.OUT", measure="median")  # type: ignore[arg-type]
    with pytest.raises(CausalModelError, match=r"^unknown correction 'fdr'"):
        shift(GRAPH, before, after, "Score.OUT", correction="fdr")  # type: ignore[arg-type]
    with pytest.raises(CausalModelError, match=r"^confidence must be between 0 and 1"):
        shift(GRAPH, before, after, "Score.OUT", confidence=95)


def test_fit_errors() -> None:
    with pytest.raises(CausalModelError, match=r"^unknown mechanisms 'cubic'"):
        fit(GRAPH, _frame(), mechanisms="cubic")  # type: ignore[arg-type]
    with pytest.raises(
        CausalModelError, match=r"^mechanisms names unknown variable 'Parse.OU'; did you mean"
    ):
        fit(GRAPH, _frame(), mechanisms={"Parse.OU": "linear"})
    with pytest.raises(CausalModelError, match=r"^variable 'Parse.OUT' has parents, so it cannot"):
        fit(GRAPH, _frame(), mechanisms={"Parse.OUT": "empirical"})


def test_query_errors_on_a_fitted_model() -> None:
    model = fit(GRAPH, _frame())
    with pytest.raises(CausalModelError, match=r"^intervened variable 'Read.IN' is not a variable"):
        whatif(model, {"Read.IN": 1.0}, "Score.OUT")
    with pytest.raises(CausalModelError, match=r"^whatif\(\) needs at least one intervention"):
        whatif(model, {}, "Score.OUT")
    with pytest.raises(CausalModelError, match=r"^intervention on 'Read.OUT' must be a number"):
        whatif(model, {"Read.OUT": [1, 2]}, "Score.OUT")  # type: ignore[dict-item]
    with pytest.raises(CausalModelError, match=r"^'Read.OUT' is a root"):
        influence(model, "Read.OUT")
    with pytest.raises(CausalModelError, match=r"^unknown kind 'direct'"):
        influence(model, "Score.OUT", kind="direct")  # type: ignore[arg-type]
    with pytest.raises(CausalModelError, match=r"^anomaly\(\) needs a FittedModel"):
        anomaly(GRAPH, _frame(), "Score.OUT")
    with pytest.raises(CausalModelError, match=r"^target 'Score' is not a variable"):
        worst(model, _frame(), "Score")


def test_anomaly_refuses_non_invertible_ancestors() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    frame = pd.DataFrame(
        {
            "Read.OUT": x,
            "Parse.OUT": pd.Categorical(np.where(x > 0, "big", "small")),
            "Score.OUT": x + rng.normal(size=200),
        }
    )
    model = fit(GRAPH, frame)
    assert model.mechanisms["Parse.OUT"] == "classifier"
    with pytest.raises(CausalModelError, match=r"^anomaly\(\) needs invertible mechanisms"):
        anomaly(model, frame.iloc[:1], "Score.OUT", n_bootstrap=0)
