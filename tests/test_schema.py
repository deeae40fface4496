"""Checking JSON graphs against the ecosystem's graph schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fbp._core._exceptions import GraphIssue, SourceLocation
from fbp.graph._dsl import parse_fbp
from fbp.graph._schema import graph_schema, schema_issues

HELLO: dict[str, Any] = {
    "caseSensitive": True,
    "properties": {"name": "HelloWorld", "environment": {"type": "python-fbp"}},
    "processes": {
        "Greet": {"component": "core/Repeat", "metadata": {"x": 100, "y": 100}},
        "Show": {"component": "core/Output"},
    },
    "connections": [
        {"data": "hello, world", "tgt": {"process": "Greet", "port": "IN"}},
        {"src": {"process": "Greet", "port": "OUT"}, "tgt": {"process": "Show", "port": "IN"},
         "metadata": {"route": 1}},
    ],
}  # fmt: skip

SORT_MERGE: dict[str, Any] = {
    "caseSensitive": True,
    "properties": {"name": "SortMerge", "description": "merge two generators, sort, display"},
    "inports": {"COUNT": {"process": "GenA", "port": "COUNT", "metadata": {"x": 0, "y": 0}}},
    "outports": {"SORTED": {"process": "Sort", "port": "OUT"}},
    "groups": [{"name": "generators", "nodes": ["GenA", "GenB"],
                "metadata": {"description": "sources"}}],
    "processes": {
        "GenA": {"component": "misc/GenerateTestData"},
        "GenB": {"component": "misc/GenerateTestData"},
        "Mux": {"component": "routing/RRMerge"},
        "Sort": {"component": "routing/Sort", "metadata": {"label": "Sorter"}},
    },
    "connections": [
        {"data": 5, "tgt": {"process": "GenB", "port": "COUNT"}},
        {"src": {"process": "GenA", "port": "OUT"},
         "tgt": {"process": "Mux", "port": "IN", "index": 0}},
        {"src": {"process": "GenB", "port": "OUT"},
         "tgt": {"process": "Mux", "port": "IN", "index": 1},
         "metadata": {"schema": "https://example.net/schemas/record.json", "secure": False}},
        {"src": {"process": "Mux", "port": "OUT"}, "tgt": {"process": "Sort", "port": "IN"}},
    ],
}  # fmt: skip


def where(issues: list[GraphIssue]) -> list[str]:
    return [str(i.location) for i in issues]


@pytest.mark.parametrize("graph", [HELLO, SORT_MERGE, {}], ids=["hello", "sort-merge", "empty"])
def test_valid_graphs_have_no_issues(graph: dict[str, Any]) -> None:
    assert schema_issues(graph) == []


def test_parsed_corpus_graphs_pass() -> None:
    corpus = Path(__file__).parent / "dsl_corpus" / "valid"
    for path in sorted(corpus.glob("*.fbp")):
        graph = parse_fbp(path.read_bytes().decode("utf-8")).graph
        issues = schema_issues(graph)
        # x/y metadata that JavaScript's parseFloat cannot read becomes null, which the
        # schema (integers only) rejects; nothing else may fail.
        assert all(i.msg == "must be a whole number, not null" for i in issues), (path, issues)


def test_the_schema_file_is_the_ecosystem_schema() -> None:
    shipped = Path(__file__).parents[1] / "fbp" / "graph" / "fbp-graph.schema.json"
    assert graph_schema() == json.loads(shipped.read_text(encoding="utf-8"))
    assert graph_schema()["$schema"] == "http://json-schema.org/draft-04/schema"


def test_every_problem_is_reported_with_its_path() -> None:
    graph = copy.deepcopy(SORT_MERGE)
    graph["caseSensitive"] = "yes"
    graph["extra"] = 1
    graph["processes"]["Mux"]["component"] = 7
    graph["processes"]["Sort"]["metadata"]["x"] = 1.5
    graph["processes"]["???"] = {"component": "x"}
    graph["connections"][3]["tgt"]["port"] = 5
    graph["connections"][1]["src"]["idx"] = 0
    graph["connections"][2]["metadata"]["route"] = "blue"
    graph["connections"].append("Mux OUT -> IN Sort")
    graph["properties"]["environment"] = {"content": "<div/>"}
    graph["groups"][0]["nodes"] = "GenA"
    issues = schema_issues(graph)
    assert [str(i) for i in issues] == [  # in the order the elements appear in the graph
        "caseSensitive: must be true or false, not the text 'yes'; write true or false",
        "properties.environment: missing required key 'type';"
        ' add "type" naming the runtime, e.g. "type": "python-fbp"',
        "groups[0].nodes: must be a list, not the text 'GenA'; write a list, e.g. []",
        "processes.Mux.component: must be text, not the number 7;"
        " write it as text in double quotes",
        "processes.Sort.metadata.x: must be a whole number, not the number 1.5;"
        " write a whole number without a fraction, e.g. 0",
        "processes.???: name '???' is not allowed here;"
        " use a name with at least one ASCII letter, digit or underscore",
        "connections[1].src.idx: unexpected key 'idx'; allowed keys here: process, port, index",
        "connections[2].metadata.route: must be a whole number, not the text 'blue';"
        " write a whole number without a fraction, e.g. 0",
        "connections[3].tgt.port: must be text, not the number 5;"
        " write it as text in double quotes",
        "connections[4]: must be a JSON object, not the text 'Mux OUT -> IN Sort';"
        ' write a JSON object, e.g. {"key": "value"}',
        "extra: unexpected key 'extra'; allowed keys here: caseSensitive, properties, inports,"
        " outports, groups, processes, connections",
    ]
    assert issues[8].location == SourceLocation(path=("connections", 3, "tgt", "port"))


def test_not_an_object() -> None:
    assert [str(i) for i in schema_issues([1, 2])] == [
        "the graph must be a JSON object, not a list of 2;"
        ' write a JSON object, e.g. {"key": "value"}'
    ]


def test_exports_of_the_wrong_type() -> None:
    # The schema allows the non-JSON type "undefined" here; it must not crash the check.
    assert where(schema_issues({"inports": None, "outports": []})) == ["inports", "outports"]
    assert schema_issues({"inports": None})[0].msg == "must be a JSON object, not null"


def test_schema_quirks_are_kept() -> None:
    # As in the ecosystem's own validator: export names without a lowercase letter or
    # digit are not checked at all, URI formats are not checked, and 1e26 is an integer.
    graph = {
        "inports": {"IN": {"process": 1}},
        "connections": [
            {"tgt": {"process": "A", "port": "IN", "index": 1e26}, "metadata": {"schema": "::"}}
        ],
    }
    assert schema_issues(graph) == []
    assert where(schema_issues({"inports": {"in": {"process": 1}}})) == ["inports.in.process"]
