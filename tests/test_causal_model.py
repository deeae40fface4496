"""Fitting, fit quality, and saving and loading fitted models."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from fbp._core._exceptions import CausalModelError
from fbp.causal import FittedModel, fit, whatif
from fbp.causal.testing import make_network


@pytest.fixture(scope="module")
def linear() -> tuple[nx.DiGraph, pd.DataFrame]:
    net = make_network(10, seed=5)
    return net.graph, net.sample(1000, seed=1)


def test_fit_uses_empirical_roots_and_linear_mechanisms(
    linear: tuple[nx.DiGraph, pd.DataFrame],
) -> None:
    graph, data = linear
    model = fit(graph, data)
    roots = {n for n in graph if graph.in_degree(n) == 0}
    assert {n for n, m in model.mechanisms.items() if m == "empirical"} == roots
    assert {m for n, m in model.mechanisms.items() if n not in roots} == {"linear"}
    assert model.nodes == tuple(nx.lexicographical_topological_sort(graph))
    assert repr(model) == "<FittedModel 10 variables (2 empirical, 8 linear), 1000 rows>"


def test_fit_does_not_touch_the_callers_graph(linear: tuple[nx.DiGraph, pd.DataFrame]) -> None:
    graph, data = linear
    before = {n: dict(a) for n, a in graph.nodes(data=True)}
    fit(graph, data)
    assert {n: dict(a) for n, a in graph.nodes(data=True)} == before
    assert fit(graph, data).graph.nodes["Sink.OUT"] == {
        "process": "Sink",
        "port": "OUT",
        "role": "stream",
    }


def test_quality_reports_r2_of_every_mechanism(linear: tuple[nx.DiGraph, pd.DataFrame]) -> None:
    graph, data = linear
    report = fit(graph, data).quality()
    assert len(report.nodes) == 8
    assert all(q.r2 is not None and 0.5 < q.r2 <= 1.0 for q in report.nodes)
    assert [q.r2 for q in report.nodes] == sorted(q.r2 for q in report.nodes if q.r2 is not None)
    assert report.poor == ()
    assert report.table().startswith("fit quality (in-sample), worst first")
    assert json.loads(json.dumps(report.to_dict()))["nodes"][0]["mechanism"] == "linear"


def test_quality_flags_a_poor_fit() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    frame = pd.DataFrame({"A.OUT": x, "B.OUT": x**2 + 0.1 * rng.normal(size=500)})
    graph = nx.DiGraph([("A.OUT", "B.OUT")])
    report = fit(graph, frame, mechanisms="linear").quality()
    assert report.poor == ("B.OUT",)
    # The default selects a flexible mechanism where it predicts clearly better.
    selected = fit(graph, frame)
    assert selected.mechanisms["B.OUT"] == "flexible"
    assert selected.quality().poor == ()
    assert "poor" in report.table()


def test_quality_can_run_dowhys_evaluation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"A.OUT": x, "B.OUT": 2 * x + rng.normal(size=200)})
    report = fit(nx.DiGraph([("A.OUT", "B.OUT")]), frame).quality(evaluate=True)
    assert report.evaluation is not None and "B.OUT" in report.evaluation
    assert report.overall_kl is not None


def test_auto_and_per_node_mechanisms() -> None:
    from dowhy import gcm

    rng = np.random.default_rng(0)
    x = rng.normal(size=150)
    frame = pd.DataFrame(
        {
            "A.OUT": x,
            "B.OUT": np.tanh(2 * x) + 0.1 * rng.normal(size=150),
            "C.OUT": x + rng.normal(size=150),
        }
    )
    graph = nx.DiGraph([("A.OUT", "B.OUT"), ("A.OUT", "C.OUT")])
    mixed = fit(
        graph,
        frame,
        mechanisms={
            "B.OUT": "auto",
            "C.OUT": gcm.AdditiveNoiseModel(gcm.ml.create_ridge_regressor()),
        },
    )
    assert mixed.mechanisms["A.OUT"] == "empirical"
    assert mixed.mechanisms["B.OUT"] != "linear"
    assert mixed.mechanisms["C.OUT"] == "anm:RidgeCV"
    with pytest.raises(CausalModelError, match="pass method='dowhy'"):
        mixed.require_fast_compatible(mixed.nodes)


def test_save_and_load_round_trip(linear: tuple[nx.DiGraph, pd.DataFrame], tmp_path: Path) -> None:
    graph, data = linear
    model = fit(graph, data)
    path = tmp_path / "model.pkl"
    model.save(path)
    loaded = FittedModel.load(path)
    assert loaded.mechanisms == model.mechanisms
    assert loaded.nodes == model.nodes
    pd.testing.assert_frame_equal(loaded.data, model.data)
    a = whatif(model, {"Source0.OUT": 3.0}, "Sink.OUT", n=2000, n_bootstrap=0)
    b = whatif(loaded, {"Source0.OUT": 3.0}, "Sink.OUT", n=2000, n_bootstrap=0)
    assert a.predicted == b.predicted


def test_save_without_data_refuses_bootstraps(
    linear: tuple[nx.DiGraph, pd.DataFrame], tmp_path: Path
) -> None:
    graph, data = linear
    path = tmp_path / "small.pkl"
    fit(graph, data).save(path, include_data=False)
    loaded = FittedModel.load(path)
    assert len(loaded.data) == 0
    assert whatif(loaded, {"Source0.OUT": 3.0}, "Sink.OUT", n=500, n_bootstrap=0).effect != 0
    with pytest.raises(
        CausalModelError, match=r"saved with include_data=False; pass n_bootstrap=0"
    ):
        whatif(loaded, {"Source0.OUT": 3.0}, "Sink.OUT", n=500, n_bootstrap=2)


def _rewrite(path: Path, **changes: object) -> None:
    payload = pickle.loads(path.read_bytes())
    for key, value in changes.items():
        if key == "dowhy":
            payload["versions"]["dowhy"] = value
        else:
            payload[key] = value
    path.write_bytes(pickle.dumps(payload))


def test_load_refuses_other_library_versions(
    linear: tuple[nx.DiGraph, pd.DataFrame], tmp_path: Path
) -> None:
    graph, data = linear
    path = tmp_path / "old.pkl"
    fit(graph, data).save(path)
    _rewrite(path, dowhy="0.8.0")
    with pytest.raises(
        CausalModelError,
        match=r"was saved with dowhy 0\.8\.0 \(now .*\); pickled models are only safe",
    ):
        FittedModel.load(path)
    assert FittedModel.load(path, strict=False).nodes


def test_load_refuses_other_format_versions(
    linear: tuple[nx.DiGraph, pd.DataFrame], tmp_path: Path
) -> None:
    graph, data = linear
    path = tmp_path / "future.pkl"
    fit(graph, data).save(path)
    _rewrite(path, format_version=99)
    with pytest.raises(
        CausalModelError, match=r"has model format version 99, this fbp reads version 1"
    ):
        FittedModel.load(path)


def test_load_refuses_other_files(tmp_path: Path) -> None:
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"hello": 1}))
    with pytest.raises(CausalModelError, match=r"is not a saved causal model"):
        FittedModel.load(other)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(CausalModelError, match=r"is not a readable saved causal model"):
        FittedModel.load(garbage)
    with pytest.raises(CausalModelError, match=r"^no saved causal model at"):
        FittedModel.load(tmp_path / "missing.pkl")
