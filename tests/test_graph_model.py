"""The graph model: FBP JSON and YAML forms, JSON paths in errors, component lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fbp import ComponentNotFoundError, GraphSyntaxError, GraphValidationError
from fbp.graph import Graph, Registry, dump_graph, load_graph, loads_graph, parse_address

EXAMPLE_B = {
    "caseSensitive": True,
    "properties": {"name": "SortMerge", "description": "merge, sort, display"},
    "inports": {"COUNT": {"process": "GenA", "port": "COUNT", "metadata": {"x": 0, "y": 0}}},
    "outports": {"SORTED": {"process": "Sort", "port": "OUT"}},
    "groups": [{"name": "generators", "nodes": ["GenA", "GenB"], "metadata": {"d": 1}}],
    "processes": {
        "GenA": {"component": "misc/Gen"},
        "GenB": {"component": "misc/Gen", "metadata": {"label": "B", "custom": [1, 2]}},
    },
    "connections": [
        {"data": 5, "tgt": {"process": "GenB", "port": "COUNT"}},
        {
            "src": {"process": "GenA", "port": "OUT"},
            "tgt": {"process": "Sort", "port": "IN", "index": 0},
        },
        {
            "src": {"process": "GenB", "port": "OUT"},
            "tgt": {"process": "Sort", "port": "IN", "index": 1},
            "metadata": {"schema": "https://example.net/s.json", "capacity": 4},
        },
    ],
}


def test_fbp_json_round_trips_keeping_unknown_metadata() -> None:
    g = Graph.from_dict(EXAMPLE_B)
    assert g.to_dict() == EXAMPLE_B
    assert g.name == "SortMerge"
    assert [str(e) for e in g.edges] == ["GenA.OUT -> Sort.IN[0]", "GenB.OUT -> Sort.IN[1]"]


def test_yaml_readable_form_loads_to_the_same_graph(tmp_path: Path) -> None:
    g = Graph.from_dict(EXAMPLE_B)
    text = dump_graph(g, "yaml")
    assert "GenA.OUT -> Sort.IN[0]" in text
    again = loads_graph(text, "yaml")
    assert again.to_dict() == EXAMPLE_B
    path = tmp_path / "g.json"
    path.write_text(dump_graph(g, "json"))
    assert load_graph(path).to_dict() == EXAMPLE_B


def test_structural_errors_name_their_json_path() -> None:
    bad = {
        "processes": {"A": {"component": "core/Repeat"}},
        "connections": [
            {"src": {"process": "A"}, "tgt": {"process": "A", "port": "IN", "index": -1}}
        ],
    }
    with pytest.raises(GraphValidationError) as info:
        Graph.from_dict(bad)
    text = str(info.value)
    assert "connections[0].src.port: missing port name" in text
    assert "connections[0].tgt.index: index must be an integer >= 0, got -1" in text


def test_json_syntax_errors_give_line_and_column() -> None:
    with pytest.raises(GraphSyntaxError) as info:
        loads_graph('{\n  "processes": {,}\n}', "json", source="x.json")
    assert str(info.value).startswith("x.json:2:17: ")


def test_yaml_errors_give_line_and_column_and_elements_keep_their_lines() -> None:
    with pytest.raises(GraphSyntaxError) as info:
        loads_graph("processes:\n  A: [unclosed\n", "yaml", source="x.yaml")
    assert "x.yaml:3" in str(info.value)
    g = loads_graph(
        "processes:\n  A: core/Repeat\nconnections:\n  - {data: 1, tgt: A.IN}\n",
        "yaml",
        source="y.yaml",
    )
    assert str(g.processes["A"].location) == "y.yaml:2:6"
    assert str(g.initials[0].location) == "y.yaml:4:5"


def test_addresses_parse_with_and_without_index() -> None:
    assert parse_address("Proc.OUT[3]").index == 3
    assert str(parse_address("a_b.in")) == "a_b.IN"
    with pytest.raises(ValueError, match="is not a port address"):
        parse_address("nodot")


def test_registry_resolves_collection_import_and_entry_point_names() -> None:
    reg = Registry()
    from fbp_components.core import Repeat

    assert reg.resolve("core/Repeat") is Repeat
    assert reg.resolve("fbp_components.core:Repeat") is Repeat
    assert "core" in reg.collections()
    import importlib.metadata

    eps = {ep.name for ep in importlib.metadata.entry_points(group="fbp.components")}
    assert "core" in eps  # the standard library registers itself like any other package
    with pytest.raises(ComponentNotFoundError, match=r"did you mean 'core/Repeat'\?"):
        reg.resolve("core/Repaet")
    with pytest.raises(ComponentNotFoundError, match="no collection 'nope'"):
        reg.resolve("nope/Thing")


def test_a_registry_without_imports_refuses_import_paths() -> None:
    with pytest.raises(ComponentNotFoundError, match="import paths are not allowed here"):
        Registry(allow_imports=False).resolve("os:path")


def test_set_initial_replaces_iips_of_a_port() -> None:
    g = Graph.from_dict(EXAMPLE_B)
    g.set_initial("GenB.count", 9)
    assert [(i.data, str(i.tgt)) for i in g.initials] == [(9, "GenB.COUNT")]


def test_json_dump_is_valid_json_for_python_built_graphs() -> None:
    from fbp_components.core import Range

    g = Graph("py").add_process("r", Range).add_initial(3, "r.COUNT")
    d = json.loads(dump_graph(g, "json"))
    assert d["processes"]["r"]["component"] == "fbp_components.core._basic:Range"
