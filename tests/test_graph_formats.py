"""Every example network loads identically from .fbp, FBP JSON and YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from fbp.graph import check_graph, dump_graph, load_graph, loads_graph

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = sorted((ROOT / "networks").glob("*.fbp"))


def test_there_are_example_networks() -> None:
    assert len(NETWORKS) >= 8


@pytest.mark.parametrize("path", NETWORKS, ids=lambda p: p.stem)
def test_each_network_is_the_same_graph_in_every_format(path: Path) -> None:
    g = load_graph(path)
    as_json = loads_graph(dump_graph(g, "json"), "json")
    as_yaml = loads_graph(dump_graph(g, "yaml"), "yaml")
    back = loads_graph(dump_graph(as_json, "fbp"), "fbp")
    reference = g.to_dict()
    for other in (as_json, as_yaml, back):
        assert other.to_dict() == reference


@pytest.mark.parametrize("path", NETWORKS, ids=lambda p: p.stem)
def test_each_network_checks_clean(path: Path) -> None:
    flat = check_graph(load_graph(path))
    assert flat.issues == [], [str(i) for i in flat.issues]
