"""The .fbp parser: the corpus against the recorded reference answers, and behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dsl_corpus import dsl_support as support

from fbp._core._exceptions import GraphError, GraphSyntaxError, SourceLocation
from fbp.graph._dsl import parse_fbp
from fbp.graph._dsl_json import js_number

SNAPSHOT = support.load_snapshot()
COMPARED = support.corpus_files("valid", "invalid")


def graph(text: str, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = parse_fbp(text, **options).graph
    return result


def syntax_error(text: str, **options: Any) -> GraphSyntaxError:
    with pytest.raises(GraphSyntaxError) as caught:
        parse_fbp(text, **options)
    return caught.value


# -- the corpus ------------------------------------------------------------------------


def test_corpus_is_large_and_recorded() -> None:
    valid = support.corpus_files("valid")
    invalid = support.corpus_files("invalid")
    assert len(valid) + len(invalid) >= 80
    assert len(valid) >= 30
    assert len(invalid) >= 30
    assert set(SNAPSHOT) == {support.name_of(p) for p in support.corpus_files()}, (
        "reference.json is out of date: run .venv/bin/python tests/dsl_corpus/dsl_support.py"
    )


@pytest.mark.parametrize("mode", list(support.MODES))
@pytest.mark.parametrize("path", COMPARED, ids=support.name_of)
def test_corpus_file_matches_reference_answer(path: Path, mode: str) -> None:
    record = SNAPSHOT[support.name_of(path)][mode]
    assert record["ok"] == (path.parent.name == "valid")
    expected = support.reference_verdict(record)
    actual = support.our_verdict(support.read(path), support.MODES[mode])
    assert actual == expected


# -- what the graph looks like ---------------------------------------------------------

WORD_COUNT = """\
# @name WordCount
# @runtime python-fbp
INPORT=Read.SOURCE:FILENAME
OUTPORT=Show.OUT:OUT
'words.txt' -> SOURCE Read(io/ReadFile) OUT -> IN Split(text/SplitWords:capacity=4)
Split OUT -> IN[0] Count(stats/Counter) COUNT -> IN Show(core/Output)
{"min": 2} -> OPTIONS Count
Read ERROR -> IN Show
"""


def test_word_count_example() -> None:
    assert graph(WORD_COUNT) == {
        "inports": {"FILENAME": {"process": "Read", "port": "SOURCE"}},
        "outports": {"OUT": {"process": "Show", "port": "OUT"}},
        "groups": [],
        "processes": {
            "Read": {"component": "io/ReadFile"},
            "Split": {"component": "text/SplitWords", "metadata": {"capacity": "4"}},
            "Count": {"component": "stats/Counter"},
            "Show": {"component": "core/Output"},
        },
        "connections": [
            {"data": "words.txt", "tgt": {"process": "Read", "port": "SOURCE"}},
            {"src": {"process": "Read", "port": "OUT"}, "tgt": {"process": "Split", "port": "IN"}},
            {
                "src": {"process": "Split", "port": "OUT"},
                "tgt": {"process": "Count", "port": "IN", "index": 0},
            },
            {
                "src": {"process": "Count", "port": "COUNT"},
                "tgt": {"process": "Show", "port": "IN"},
            },
            {"data": {"min": 2}, "tgt": {"process": "Count", "port": "OPTIONS"}},
            {"src": {"process": "Read", "port": "ERROR"}, "tgt": {"process": "Show", "port": "IN"}},
        ],
        "properties": {"name": "WordCount", "environment": {"type": "python-fbp"}},
        "caseSensitive": True,
    }


def test_case_insensitive_mode_lowercases_ports_and_public_names_only() -> None:
    g = graph("INPORT=Read.Source:FileName\nRead(io/Read) Out[1] -> In Show(Core/Out)\n",
              case_sensitive=False)  # fmt: skip
    assert g["caseSensitive"] is False
    assert g["inports"] == {"filename": {"process": "Read", "port": "source"}}
    assert g["processes"] == {"Read": {"component": "io/Read"}, "Show": {"component": "Core/Out"}}
    assert g["connections"] == [
        {"src": {"process": "Read", "port": "out", "index": 1},
         "tgt": {"process": "Show", "port": "in"}},
    ]  # fmt: skip


def test_anonymous_processes_count_per_component() -> None:
    g = graph("(core/Split) OUT -> IN (core/Split)\n(lib/sub/Comp) OUT -> IN (Merge)\n")
    assert list(g["processes"]) == ["_core_Split_1", "_core_Split_2", "_lib_sub/Comp_1", "_Merge_1"]
    assert g["processes"]["_lib_sub/Comp_1"] == {"component": "lib/sub/Comp"}


def test_node_metadata_values_are_text_except_x_and_y() -> None:
    g = graph("A(x/A:x=17,y=1e3,label=Main,main,k=a=b) OUT -> IN B(x/B:x=NaN,y=12px)\n")
    assert g["processes"]["A"]["metadata"] == {
        "x": 17, "y": 1000, "label": "Main", "routes": "main", "k": "a"
    }  # fmt: skip
    # JavaScript's parseFloat: NaN becomes null in JSON; leading digits are kept.
    assert g["processes"]["B"]["metadata"] == {"x": None, "y": 12}


def test_a_later_mention_replaces_metadata_but_keeps_the_component() -> None:
    g = graph("A(x/A:x=1) OUT -> IN B(x/B)\nA(:y=2) OUT -> IN B\nB() OUT -> IN A\n")
    assert g["processes"]["A"] == {"component": "x/A", "metadata": {"y": 2}}
    assert g["processes"]["B"] == {"component": "x/B"}


def test_default_ports_apply_from_their_statement_on() -> None:
    g = graph("A(x/A) -> B(x/B)\nDEFAULT_INPORT=DATA\nDEFAULT_OUTPORT=ERR\nA -> C(x/C)\n")
    ends = [(c["src"]["port"], c["tgt"]["port"]) for c in g["connections"]]
    assert ends == [("OUT", "IN"), ("ERR", "DATA")]


def test_chains_give_connections_in_order() -> None:
    g = graph("'go' -> IN A(x/A) OUT -> IN B(x/B) OUT[2] -> IN[0] C(x/C) OUT -> IN D(x/D)\n")
    pairs = [(c.get("src", {}).get("process"), c["tgt"]["process"]) for c in g["connections"]]
    assert pairs == [(None, "A"), ("A", "B"), ("B", "C"), ("C", "D")]
    assert g["connections"][2]["src"]["index"] == 2


def test_string_iips_keep_backslashes_except_before_a_quote() -> None:
    g = graph("'it\\'s' -> IN A(x/A)\n'a\\nb\\\\c' -> IN A\n'line\nbreak' -> IN A\n")
    assert [c["data"] for c in g["connections"]] == ["it's", "a\\nb\\\\c", "line\nbreak"]


def test_json_iips_are_json_with_javascript_numbers() -> None:
    text = '[1, 2.0, -0, 1e400, 12345678901234567890, "\\ud83d\\ude00\\u00e9"] -> IN A(x/A)\n'
    data = graph(text)["connections"][0]["data"]
    assert data == [1, 2, 0, None, 12345678901234567000, "\U0001f600\u00e9"]
    assert [type(v) for v in data[:3]] == [int, int, int]


def test_json_literals_need_a_leading_tab_to_be_iips() -> None:
    assert graph("\ttrue -> IN A(x/A)\n")["connections"][0]["data"] is True
    error = syntax_error("true -> IN A(x/A)\n")
    assert "undefined process 'true'" in error.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5.0, 5), (-0.0, 0), (0.5, 0.5), (1e21, 1e21), (1.2345678901234567e19, 12345678901234567000),
     (float("inf"), None), (float("nan"), None)],
)  # fmt: skip
def test_js_number_is_what_javascript_json_loads_as(value: float, expected: object) -> None:
    assert js_number(value) == expected
    assert type(js_number(value)) is type(expected)


def test_prototype_names_are_ordinary_names() -> None:
    # The reference parser loses these (see tests/dsl_corpus/divergent/).
    g = graph("A(x/A) OUT -> IN constructor(x/B)\n")
    assert g["processes"]["constructor"] == {"component": "x/B"}
    g = graph('{"__proto__": {"a": 1}, "b": 2} -> IN A(x/A)\n')
    assert g["connections"][0]["data"] == {"__proto__": {"a": 1}, "b": 2}
    assert graph("INPORT=A.IN:__proto__\nA(x/A)\n")["inports"] == {
        "__proto__": {"process": "A", "port": "IN"}
    }
    assert "_constructor_1" in graph("(constructor) OUT -> IN A(x/A)\n")["processes"]
    with pytest.raises(GraphSyntaxError, match="undefined process 'toString'"):
        parse_fbp("A(x/A) OUT -> IN toString\n")


# -- locations -------------------------------------------------------------------------


def test_locations_point_at_each_element() -> None:
    parsed = parse_fbp(WORD_COUNT, source="wc.fbp")
    at = {path: (loc.line, loc.column) for path, loc in parsed.locations.items()}
    assert at[("properties",)] == (1, 1)
    assert at[("properties", "environment")] == (2, 1)
    assert at[("inports", "FILENAME")] == (3, 1)
    assert at[("outports", "OUT")] == (4, 1)
    assert at[("processes", "Read")] == (5, 23)  # where its component is declared
    assert at[("processes", "Count")] == (6, 20)
    assert at[("connections", 0)] == (5, 1)  # the IIP
    assert at[("connections", 1)] == (5, 41)  # in a chain: the outport, Read OUT
    assert at[("connections", 5)] == (8, 1)
    assert parsed.locations["processes", "Show"] == SourceLocation("wc.fbp", 6, 53)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r", "\u2028"])
def test_lines_are_counted_for_every_line_ending(newline: str) -> None:
    text = newline.join(["# c", "", "'x' -> IN A(x/A)", "  A OUT -> IN B(x/B)"]) + newline
    parsed = parse_fbp(text)
    assert (parsed.locations["processes", "B"].line, parsed.locations["processes", "B"].column) == (
        4, 15,
    )  # fmt: skip
    error = syntax_error(text.replace("B(x/B)", "B(x/B:a=1.5)"))
    assert (error.location.line, error.location.column) == (4, 24)


# -- errors ----------------------------------------------------------------------------


def test_syntax_error_message_names_place_and_expectation() -> None:
    error = syntax_error("'x' -> IN A(x/A)\nA OUT -> IN B(x/B:rate=0.5)\n", source="g.fbp")
    assert isinstance(error, GraphError)
    assert error.location == SourceLocation("g.fbp", 2, 25)
    assert error.expected == ('")"', "a metadata character (letter, digit, '/', '_', '=' or ',')")
    assert str(error) == (
        'g.fbp:2:25: unexpected "."; expected ")" or a metadata character (letter, digit,'
        " '/', '_', '=' or ','); node metadata is written as key=value pairs of letters,"
        " digits, '/' and '_'; send other values as an IIP instead"
    )


def test_unclosed_quote_is_reported_at_the_end() -> None:
    error = syntax_error("'x -> IN A(x/A)\n")
    assert (error.location.line, error.location.column) == (2, 1)
    assert error.message == (
        'unexpected end of input; expected "\'", a backslash or any character but "\'";'
        " a quoted IIP is never closed; end it with ' (write \\' for a quote inside it)"
    )


def test_tab_between_tokens_is_named() -> None:
    error = syntax_error("A(x/A)\tOUT -> IN B(x/B)\n")
    assert (error.location.line, error.location.column) == (1, 8)
    error = syntax_error("A(x/A) OUT ->\tIN B(x/B)\n")
    assert error.message == (
        'unexpected "I"; expected a JSON value;'
        " only spaces may separate the parts of a statement; replace the tab with spaces"
    )
    assert error.expected == ('"["', '"{"', "a JSON string", "a number", "false", "null", "true")


def test_bad_arrow() -> None:
    error = syntax_error("'foo' --> Display(Output)\n")
    assert str(error) == (
        '1:7: unexpected "-"; expected "->" or a space;'
        " write connections as: Source OUT -> IN Target"
    )


def test_graph_errors_point_at_the_statement() -> None:
    error = syntax_error("A(x/A) OUT -> IN B(x/B)\n\nB OUT -> IN C\n", source="g.fbp")
    assert str(error) == (
        "g.fbp:3:1: connection from B.OUT goes to undefined process 'C'; declare it with its"
        " component where it is first used, e.g. C(lib/Component)"
    )
    assert error.expected == ()
    error = syntax_error("A() OUT -> IN B(x/B)\n")
    assert str(error) == (
        "1:1: process 'A' has no component; declare it once with its component, e.g."
        " A(lib/Component)"
    )
    error = syntax_error("A(x/A)\nOUTPORT=Nope.OUT:OUT\n")
    assert error.message.startswith("OUTPORT 'OUT' refers to undefined process 'Nope'")
    assert error.location.line == 2
    error = syntax_error("A(x/A)\n\n'data' -> IN Nope\n")
    assert error.message.startswith("IIP 'data' goes to undefined process 'Nope'")
    assert error.location.line == 3


def test_syntax_errors_win_over_graph_errors() -> None:
    # The statements before the bad line name an undeclared process; the syntax error
    # is the real problem, as the rest of the file was never read.
    error = syntax_error("A OUT -> IN B\n%%%\nB(x/B)\n")
    assert (error.location.line, error.location.column) == (2, 1)
    assert error.expected


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    error = syntax_error("[" * 5000 + "]" * 5000 + " -> IN A(x/A)\n")
    assert error.message == "a JSON IIP is nested too deeply to read"


def test_byte_order_mark_is_rejected_with_a_hint() -> None:
    error = syntax_error("\ufeff'x' -> IN A(x/A)\n")
    assert error.message.startswith("unexpected byte-order mark;")
    assert error.message.endswith("save the file without a byte-order mark")
