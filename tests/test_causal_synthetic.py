"""The synthetic network generator used by the causal tests and benchmarks."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pytest

from fbp.causal._cases import fault_case
from fbp.causal._synthetic import Fault, make_network


def test_networks_are_reproducible_dags_with_fbp_attributes() -> None:
    a = make_network(30, nonlinear=0.3, branches=0.2, parameters=1, categorical=1, seed=3)
    b = make_network(30, nonlinear=0.3, branches=0.2, parameters=1, categorical=1, seed=3)
    assert nx.is_directed_acyclic_graph(a.graph)
    assert list(a.graph.edges) == list(b.graph.edges)
    assert 28 <= a.graph.number_of_nodes() <= 33
    assert a.target == "Sink.OUT" and a.graph.out_degree("Sink.OUT") == 0
    roles = nx.get_node_attributes(a.graph, "role")
    assert set(roles.values()) == {"stream", "parameter", "indicator"}
    for node, attrs in a.graph.nodes(data=True):
        assert node.startswith(attrs["process"] + "." + attrs["port"])
    pd.testing.assert_frame_equal(a.sample(100, seed=1), b.sample(100, seed=1))


def test_routers_send_each_unit_down_one_branch() -> None:
    net = make_network(20, branches=1.0, seed=1)
    routers = net.names("router")
    assert routers
    data = net.sample(500, seed=0)
    for r in routers:
        high, low = data[f"{r}.HIGH.fired"], data[f"{r}.LOW.fired"]
        assert ((high + low) == 1).all()
        assert (data.loc[high == 0, f"{r}.HIGH"] == 0).all()


def test_faults_change_what_they_name() -> None:
    net = make_network(15, categorical=1, seed=2)
    source = net.names("source")[0]
    base = net.sample(2000, seed=0)
    moved = net.sample(2000, seed=0, faults=[Fault(source, offset=1.0)])
    assert (moved[f"{source}.OUT"] - base[f"{source}.OUT"]).mean() == pytest.approx(1.0)
    assert isinstance(base["Kind0.OUT"].dtype, pd.CategoricalDtype)
    with pytest.raises(ValueError, match="unknown processes"):
        net.sample(10, faults=[Fault("Nope")])


def test_fault_cases_move_the_target() -> None:
    case = fault_case("mechanism", 0)
    assert case is not None and len(case.truth) == 1
    (fault,) = case.faults
    assert abs(case.network.target_effect(fault)) >= 0.25
    assert fault_case("none", 0) is not None
