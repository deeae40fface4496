"""Writing JSON graphs as .fbp: exact text, losses, and the round trip."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from dsl_corpus import dsl_support as support
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fbp._core._exceptions import GraphError
from fbp.graph._dsl import parse_fbp
from fbp.graph._dsl_write import NotExpressibleError, fbp_losses, fbp_normal_form, to_fbp


def round_trip(graph: dict[str, Any]) -> None:
    text = to_fbp(graph)
    assert support.canonical(parse_fbp(text).graph) == support.canonical(fbp_normal_form(graph)), (
        text
    )


PIPELINE: dict[str, Any] = {
    "caseSensitive": True,
    "properties": {"name": "WordCount", "environment": {"type": "python-fbp"}},
    "inports": {"FILENAME": {"process": "Read", "port": "SOURCE"}},
    "outports": {"OUT": {"process": "Show", "port": "OUT", "metadata": {}}},
    "groups": [],
    "processes": {
        "Read": {"component": "io/ReadFile", "metadata": {"x": 10, "y": 20}},
        "Split": {"component": "text/SplitWords", "metadata": {"capacity": "4"}},
        "Count": {"component": "stats/Counter"},
        "Show": {"component": "core/Output", "metadata": {}},
        "Spare": {"component": "core/Drop"},
    },
    "connections": [
        {"data": "words.txt", "tgt": {"process": "Read", "port": "SOURCE"}},
        {"src": {"process": "Read", "port": "OUT"}, "tgt": {"process": "Split", "port": "IN"}},
        {"src": {"process": "Split", "port": "OUT"},
         "tgt": {"process": "Count", "port": "IN", "index": 0}},
        {"data": {"min": 2, "stop": ["a", "the"]}, "tgt": {"process": "Count", "port": "OPTIONS"}},
        {"src": {"process": "Read", "port": "ERROR"}, "tgt": {"process": "Show", "port": "IN"},
         "metadata": {}},
        {"src": {"process": "Count", "port": "COUNT"}, "tgt": {"process": "Show", "port": "IN"}},
        {"data": True, "tgt": {"process": "Show", "port": "FLUSH"}},
    ],
}  # fmt: skip


def test_readable_text() -> None:
    assert to_fbp(PIPELINE) == (
        "# @name WordCount\n"
        "# @runtime python-fbp\n"
        "\n"
        "'words.txt' -> SOURCE Read(io/ReadFile:x=10,y=20)"
        " OUT -> IN Split(text/SplitWords:capacity=4)\n"
        "Split OUT -> IN[0] Count(stats/Counter)\n"
        '{"min": 2, "stop": ["a", "the"]} -> OPTIONS Count\n'
        "Read ERROR -> IN Show(core/Output)\n"
        "Count COUNT -> IN Show\n"
        "\ttrue -> FLUSH Show\n"
        "Spare(core/Drop)\n"
        "\n"
        "INPORT=Read.SOURCE:FILENAME\n"
        "OUTPORT=Show.OUT:OUT\n"
    )
    round_trip(PIPELINE)


def test_written_text_parses_back_with_locations() -> None:
    parsed = parse_fbp(to_fbp(PIPELINE), source="out.fbp")
    assert parsed.locations["processes", "Spare"].line == 10
    assert parsed.locations["inports", "FILENAME"].line == 12


@pytest.mark.parametrize(
    ("data", "written"),
    [
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ("a\\b", "'a\\b'"),
        ("\\'", "'\\\\''"),
        ("ends with \\", '"ends with \\\\"'),
        ("two\nlines", '"two\\nlines"'),
        ("tab\there", '"tab\\there"'),
        ("\u2028", '"\\u2028"'),
        ("\ud800", '"\\ud800"'),
        ("caf\u00e9 \U0001f600", "'caf\u00e9 \U0001f600'"),
        (None, "\tnull"),
        (False, "\tfalse"),
        (-1.5e-7, "-1.5e-07"),
        (10**30, "1000000000000000000000000000000"),
        ([], "[]"),
        ({"k": [1, {"n": None}]}, '{"k": [1, {"n": null}]}'),
    ],
)
def test_iip_values(data: Any, written: str) -> None:
    graph = {"processes": {"P": {"component": "c"}}, "connections": [
        {"data": data, "tgt": {"process": "P", "port": "IN"}}]}  # fmt: skip
    assert to_fbp(graph) == f"{written} -> IN P(c)\n"
    round_trip(graph)


def test_every_loss_is_listed() -> None:
    graph = copy.deepcopy(PIPELINE)
    graph["groups"] = [{"name": "g", "nodes": ["Read"]}]
    graph["properties"]["description"] = "reads, then counts"
    graph["processes"]["Read"]["metadata"]["rate"] = "0.5"
    graph["processes"]["Show"]["metadata"]["x"] = -3
    graph["processes"]["bad name"] = {"component": "core/Drop"}
    graph["processes"]["NoComponent"] = {}
    graph["connections"][1]["metadata"] = {"route": 1}
    graph["connections"][2]["tgt"]["process"] = "Ghost"
    graph["connections"][3]["data"] = float("nan")
    graph["inports"]["FILENAME"]["index"] = 0
    assert fbp_losses(graph) == [
        "properties.description: annotation values are text of letters, digits, '-', '_',"
        " '.' and spaces, not starting with a space",
        "inports.FILENAME.index: .fbp exports carry only process and port",
        "groups: 1 group(s); .fbp has no groups",
        "processes.Read.metadata.rate: metadata values are text of letters, digits, '/' and '_'",
        "processes.Show.metadata.x: x and y must be non-negative integers",
        "processes.bad name: process names must match [a-zA-Z_][a-zA-Z0-9_\\-]*",
        "processes.NoComponent.component: must be text matching [a-zA-Z/\\-0-9_]+",
        "connections[1].metadata: .fbp has no connection metadata",
        "connections[2].tgt.process: 'Ghost' is not among the processes",
        "connections[3].data: nan is not a JSON number",
    ]
    with pytest.raises(NotExpressibleError) as caught:
        to_fbp(graph)
    assert isinstance(caught.value, GraphError)
    assert caught.value.losses == tuple(fbp_losses(graph))
    assert str(caught.value).startswith(
        "the graph cannot be written as .fbp without losing:\n  - properties.description:"
    )


def test_normal_form() -> None:
    graph = {"processes": {"P": {"component": "c", "metadata": {}}},
             "connections": [{"data": [2.0, 10**400], "tgt": {"process": "P", "port": "IN",
                                                              "index": 3.0}, "metadata": {}}],
             "properties": {}, "caseSensitive": False}  # fmt: skip
    assert fbp_losses(graph) == []
    assert fbp_normal_form(graph) == {
        "inports": {}, "outports": {}, "groups": [],
        "processes": {"P": {"component": "c"}},
        "connections": [{"data": [2, None], "tgt": {"process": "P", "port": "IN", "index": 3}}],
        "caseSensitive": True,
    }  # fmt: skip
    round_trip(graph)


@settings(max_examples=100, deadline=None)
@given(support.expressible_graphs())
@example(  # U+0085 in an IIP: str.splitlines() breaks there, the .fbp format does not
    {
        "processes": {"_Comp_1": {"component": "0"}},
        "connections": [{"data": "\x85 ", "tgt": {"process": "_Comp_1", "port": "a"}}],
        "inports": {},
        "outports": {},
    }
)
def test_expressible_graphs_round_trip(graph: dict[str, Any]) -> None:
    assert fbp_losses(graph) == []
    round_trip(graph)
    # Lines of the file as its readers split them: at "\n" (a "\r" is escaped in strings).
    assert all(not line.startswith(" ") for line in to_fbp(graph).split("\n"))


names = st.one_of(support.process_names, st.text(max_size=4))
anything = st.one_of(support.json_values, st.floats(), st.text(max_size=4))


@st.composite
def messy_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Expressible graphs with random damage: each is either lossless or lossy."""
    graph = draw(support.expressible_graphs())
    processes = graph["processes"]
    for _ in range(draw(st.integers(0, 3))):
        damage = draw(st.integers(0, 5))
        name = draw(st.sampled_from(sorted(processes)))
        if damage == 0:
            processes[draw(names)] = {"component": draw(st.text(max_size=5))}
        elif damage == 1:
            processes[name].setdefault("metadata", {})[draw(st.text(max_size=3))] = draw(anything)
        elif damage == 2 and graph["connections"]:
            connection = draw(st.sampled_from(graph["connections"]))
            connection["metadata"] = draw(
                st.dictionaries(st.text(max_size=3), anything, max_size=2)
            )
        elif damage == 3:
            graph.setdefault("properties", {})[draw(st.text(max_size=5))] = draw(anything)
        elif damage == 4:
            graph["inports"][draw(names)] = {"process": draw(names), "port": draw(names)}
        else:
            graph["groups"] = draw(st.lists(st.just({"name": "g", "nodes": [name]}), max_size=1))
    return graph


@settings(max_examples=100, deadline=None)
@given(messy_graphs())
def test_graphs_without_losses_round_trip_and_others_refuse(graph: dict[str, Any]) -> None:
    losses = fbp_losses(graph)
    if losses:
        with pytest.raises(NotExpressibleError) as caught:
            to_fbp(graph)
        assert list(caught.value.losses) == losses
    else:
        round_trip(graph)
