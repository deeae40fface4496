"""The synthetic network generator used by the causal tests and benchmarks."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest

from fbp.causal.testing import (
    FAULT_KINDS,
    SHAPES,
    Fault,
    FaultKind,
    fault_case,
    make_network,
    random_case,
)


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


def test_filters_drop_units_and_say_so() -> None:
    net = make_network(20, filters=0.5, seed=4)
    filters = net.names("filter")
    assert filters
    data = net.sample(1000, seed=0)
    for f in filters:
        fired = data[f"{f}.OUT.fired"]
        assert 0 < fired.mean() < 1
        assert (data.loc[fired == 0, f"{f}.OUT"] == 0).all()
        assert net.graph.has_edge(f"{f}.OUT.fired", next(iter(net.graph.successors(f"{f}.OUT"))))


def test_joins_and_aggregations_follow_their_operation() -> None:
    net = make_network(25, joins=0.4, aggregates=0.3, branches=0.2, seed=5)
    joins, aggs = net.names("join"), net.names("aggregate")
    assert joins and aggs
    for name in joins + aggs:
        p = net.process(name)
        other = "max" if p.op != "max" else ("sum" if p.kind == "join" else "mean")
        base = net.sample(3000, seed=1)[f"{name}.OUT"]
        moved = net.sample(3000, seed=1, faults=[Fault(name, op=other)])[f"{name}.OUT"]
        assert abs(moved.mean() - base.mean()) > 0.05 * base.std(), name
        assert len(net.graph.in_edges(f"{name}.OUT")) >= len(p.inputs)


def test_every_shape_is_drawn_and_pair_shapes_read_two_streams() -> None:
    seen = set()
    for seed in range(6):
        net = make_network(30, nonlinear=1.0, shapes=SHAPES, seed=seed)
        for p in net.processes:
            if p.kind == "transform":
                seen.add(p.shape)
                if p.shape in ("product", "decay", "gate", "max"):
                    assert len(p.inputs) >= 2
    assert seen >= set(SHAPES) - {"tanh"}
    with pytest.raises(ValueError, match="unknown shapes"):
        make_network(10, shapes=["wavy"])  # type: ignore[list-item]


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_random_cases_of_every_kind_know_their_culprits(kind: FaultKind) -> None:
    case = random_case(11, rows=300, kinds=[kind])
    assert case.kind == kind
    assert len(case.after) == len(case.before) == 300
    expected = {"none": 0, "two": 2, "two-mid": 2, "cancel": 2}.get(kind, 1)
    assert len(case.truth) == expected
    effect = case.network.target_effect(case.faults, n=8000) if case.faults else 0.0
    if kind == "cancel":
        assert abs(effect) < 0.1
        for f in case.faults:
            assert abs(case.network.target_effect(f, n=8000)) >= 0.2
    elif kind != "none":
        assert abs(effect) >= 0.15
    assert case.mid_graph == (kind not in ("none", "input", "parameter", "category"))


def test_the_documented_example_runs() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "causal.md").read_text()
    section = doc[doc.index("## `fbp.causal.testing`") :]
    example = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    scope: dict[str, object] = {}
    exec(compile(example, "docs/causal.md", "exec"), scope)
    assert len(scope["broad"]) == len(FAULT_KINDS)  # type: ignore[arg-type]
