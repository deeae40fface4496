"""The io collection: reading and writing lines, CSV and JSON Lines files."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fbp_components.io import FileAccessError

from fbp import GraphValidationError, Network, ProcessError
from fbp.graph import build_network, loads_graph


async def run(text: str, capacity: int = 1) -> Network:
    g = loads_graph(textwrap.dedent(text).strip() + "\n", "fbp")
    net = build_network(g, capacity=capacity)
    await net.run()
    return net


def collected(net: Network, name: str = "C") -> list[Any]:
    return list(net.processes[name].component.items)  # type: ignore[attr-defined]


async def fails(text: str) -> FileAccessError | ValueError:
    with pytest.raises(ProcessError) as info:
        await run(text)
    cause = info.value.cause
    assert isinstance(cause, (FileAccessError, ValueError))
    return cause


def q(path: Path) -> str:
    """A path as a quoted .fbp IIP."""
    return "'" + str(path).replace("'", "\\'") + "'"


# -- ReadLines ----------------------------------------------------------------------------


async def test_readlines_sends_each_line_without_its_ending(tmp_path: Path, capacity: int) -> None:
    f = tmp_path / "in.txt"
    f.write_bytes(b"one\r\ntwo\n\nfour")
    net = await run(f"{q(f)} -> FILENAME R(io/ReadLines) OUT -> IN C(core/Collect)", capacity)
    assert collected(net) == ["one", "two", "", "four"]


async def test_readlines_of_an_empty_file_sends_nothing(tmp_path: Path) -> None:
    f = tmp_path / "empty.txt"
    f.write_text("")
    net = await run(f"{q(f)} -> FILENAME R(io/ReadLines) OUT -> IN C(core/Collect)")
    assert collected(net) == []


async def test_readlines_reads_the_given_encoding(tmp_path: Path) -> None:
    f = tmp_path / "latin.txt"
    f.write_bytes("café\n".encode("latin-1"))
    net = await run(
        f"""
        {q(f)} -> FILENAME R(io/ReadLines) OUT -> IN C(core/Collect)
        'latin-1' -> ENCODING R
        """
    )
    assert collected(net) == ["café"]


async def test_a_missing_file_is_an_error_naming_file_port_and_fix(tmp_path: Path) -> None:
    f = tmp_path / "nope.txt"
    err = await fails(f"{q(f)} -> FILENAME R(io/ReadLines) OUT -> IN C(core/Drop)")
    assert isinstance(err, FileAccessError)
    assert err.path == str(f)
    assert err.port == "R.FILENAME"
    assert str(err) == (
        f"R.FILENAME: cannot read {str(f)!r}: No such file or directory; check the path"
        f" (a relative path starts from {os.getcwd()!r})"
    )


async def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    err = await fails(f"{q(tmp_path)} -> FILENAME R(io/ReadLines) OUT -> IN C(core/Drop)")
    assert f"cannot read {str(tmp_path)!r}" in str(err)
    assert "give the path of a file, not of a folder" in str(err)


async def test_text_in_another_encoding_is_an_error_naming_the_line(tmp_path: Path) -> None:
    f = tmp_path / "latin.txt"
    f.write_bytes(b"ok\ncaf\xe9\n")
    err = await fails(f"{q(f)} -> FILENAME R(io/ReadLines) OUT -> IN C(core/Drop)")
    assert f"{f}:" in str(err)
    assert "not valid utf-8 text; give the file's encoding on the ENCODING port" in str(err)


async def test_an_unknown_encoding_is_named(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("a\n")
    err = await fails(
        f"""
        {q(f)} -> FILENAME R(io/ReadLines) OUT -> IN C(core/Drop)
        'klingon' -> ENCODING R
        """
    )
    assert "unknown text encoding 'klingon'" in str(err)


# -- ReadCSV ------------------------------------------------------------------------------


CSV = "name,qty,price,ok,extra\napple,3,1.5,yes,[1]\npear,,2,no,{}\n\nfig,10,0.25,TRUE,null\n"


async def test_readcsv_sends_rows_of_strings_by_default(tmp_path: Path, capacity: int) -> None:
    f = tmp_path / "t.csv"
    f.write_text(CSV)
    net = await run(f"{q(f)} -> FILENAME R(io/ReadCSV) OUT -> IN C(core/Collect)", capacity)
    assert collected(net) == [
        {"name": "apple", "qty": "3", "price": "1.5", "ok": "yes", "extra": "[1]"},
        {"name": "pear", "qty": "", "price": "2", "ok": "no", "extra": "{}"},
        {"name": "fig", "qty": "10", "price": "0.25", "ok": "TRUE", "extra": "null"},
    ]


async def test_readcsv_converts_the_columns_types_names(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(CSV)
    types = {"qty": "int", "price": "float", "ok": "bool", "extra": "json", "name": "str"}
    net = await run(
        f"""
        {q(f)} -> FILENAME R(io/ReadCSV) OUT -> IN C(core/Collect)
        '{json.dumps(types)}' -> TYPES R
        """
    )
    assert collected(net) == [
        {"name": "apple", "qty": 3, "price": 1.5, "ok": True, "extra": [1]},
        {"name": "pear", "qty": None, "price": 2.0, "ok": False, "extra": {}},
        {"name": "fig", "qty": 10, "price": 0.25, "ok": True, "extra": None},
    ]


async def test_readcsv_reads_quoted_fields_with_line_breaks(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes(b'a,b\r\n"two\r\nlines",x\r\n3,y\r\n')
    net = await run(f"{q(f)} -> FILENAME R(io/ReadCSV) OUT -> IN C(core/Collect)")
    assert collected(net) == [{"a": "two\r\nlines", "b": "x"}, {"a": "3", "b": "y"}]


async def test_readcsv_takes_another_delimiter(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text('a;b\n1;"x;y"\n')
    net = await run(
        f"""
        {q(f)} -> FILENAME R(io/ReadCSV) OUT -> IN C(core/Collect)
        ';' -> DELIMITER R
        """
    )
    assert collected(net) == [{"a": "1", "b": "x;y"}]


async def test_readcsv_of_an_empty_file_sends_nothing(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("")
    net = await run(f"{q(f)} -> FILENAME R(io/ReadCSV) OUT -> IN C(core/Collect)")
    assert collected(net) == []


@pytest.mark.parametrize(
    ("text", "types", "message"),
    [
        ("a,b\n1,2,3\n", {}, "t.csv:2: the row has 3 field(s) but the header has 2 (a, b)"),
        ("a,b\n1\n", {}, "t.csv:2: the row has 1 field(s) but the header has 2 (a, b)"),
        ("a,b\n1,2\nx,2\n", {"a": "int"}, "t.csv:3: column 'a': cannot read 'x' as int"),
        ("a\nmaybe\n", {"a": "bool"}, "column 'a': cannot read 'maybe' as bool: expected one"),
        ("a\n{\n", {"a": "json"}, "t.csv:2: column 'a': cannot read '{' as json"),
        (
            "a,b\n1,2\n",
            {"c": "int", "a": "int"},
            "t.csv: TYPES names column(s) 'c' that the header does not have"
            " (its columns: 'a', 'b')",
        ),
    ],
)
async def test_readcsv_errors_name_file_line_and_column(
    tmp_path: Path, text: str, types: dict[str, str], message: str
) -> None:
    f = tmp_path / "t.csv"
    f.write_text(text)
    err = await fails(
        f"""
        {q(f)} -> FILENAME R(io/ReadCSV) OUT -> IN C(core/Drop)
        '{json.dumps(types)}' -> TYPES R
        """
    )
    assert isinstance(err, FileAccessError)
    assert message in str(err)
    assert str(err).startswith("R.FILENAME: ")


async def test_readcsv_refuses_a_delimiter_of_two_characters(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("a\n1\n")
    err = await fails(
        f"""
        {q(f)} -> FILENAME R(io/ReadCSV) OUT -> IN C(core/Drop)
        ';;' -> DELIMITER R
        """
    )
    assert str(err) == "R.DELIMITER must be one character, got ';;'"


def test_readcsv_refuses_an_unknown_column_type_before_running() -> None:
    text = """
        't.csv' -> FILENAME R(io/ReadCSV) OUT -> IN C(core/Drop)
        {"a": "date"} -> TYPES R
    """
    g = loads_graph(textwrap.dedent(text).strip(), "fbp")
    with pytest.raises(GraphValidationError) as info:
        build_network(g)
    assert "R.TYPES" in str(info.value)
    assert "'str', 'int', 'float', 'bool' or 'json'" in str(info.value)


# -- ReadJSONLines ------------------------------------------------------------------------


async def test_readjsonlines_parses_each_line_and_skips_blank_ones(
    tmp_path: Path, capacity: int
) -> None:
    f = tmp_path / "e.jsonl"
    f.write_text('{"a": 1}\n\n[1, 2]\n"s"\n  \nnull\n')
    net = await run(f"{q(f)} -> FILENAME R(io/ReadJSONLines) OUT -> IN C(core/Collect)", capacity)
    assert collected(net) == [{"a": 1}, [1, 2], "s", None]


async def test_readjsonlines_names_the_line_and_column_of_bad_json(tmp_path: Path) -> None:
    f = tmp_path / "e.jsonl"
    f.write_text('{"a": 1}\n{"a": }\n')
    err = await fails(f"{q(f)} -> FILENAME R(io/ReadJSONLines) OUT -> IN C(core/Drop)")
    assert str(err) == f"R.FILENAME: {f}:2:7: not valid JSON: Expecting value"


# -- WriteLines, WriteJSONLines -----------------------------------------------------------


async def test_writelines_writes_strings_as_they_are_and_others_as_json(
    tmp_path: Path, capacity: int
) -> None:
    out = tmp_path / "out.txt"
    values = ["plain", 3, {"k": [1, "é"]}, None, ["(", "g"], "in a group", [")", "g"]]
    net = await run(
        f"""
        '{json.dumps(values)}' -> IN S(core/Repeat)
        S OUT -> IN U(flow/Unbatch) OUT -> IN W(io/WriteLines) OUT -> IN C(core/Collect)
        {q(out)} -> FILENAME W
        """,
        capacity,
    )
    assert out.read_text(encoding="utf-8").splitlines() == [
        "plain",
        "3",
        '{"k": [1, "é"]}',
        "null",
        '["(", "g"]',
        "in a group",
        '[")", "g"]',
    ]
    assert collected(net) == [7]


async def test_writers_skip_brackets(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    await run(
        f"""
        '["b", "a", "b"]' -> IN S(core/Repeat) OUT -> IN U(flow/Unbatch)
        U OUT -> IN Co(flow/Collate) OUT -> IN W(io/WriteLines)
        'x' -> KEY Co
        {q(out)} -> FILENAME W
        """
    )
    assert out.read_text().splitlines() == ["b", "a", "b"]


async def test_writejsonlines_round_trips_through_readjsonlines(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    values = ["text", 1.5, {"a": [None, True]}, [], "line\nbreak"]
    await run(
        f"""
        '{json.dumps(values)}' -> IN S(core/Repeat) OUT -> IN U(flow/Unbatch)
        U OUT -> IN W(io/WriteJSONLines)
        {q(out)} -> FILENAME W
        """
    )
    assert len(out.read_text().splitlines()) == len(values)
    net = await run(f"{q(out)} -> FILENAME R(io/ReadJSONLines) OUT -> IN C(core/Collect)")
    assert collected(net) == values


async def test_writejsonlines_writes_models_by_their_fields(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    await run(
        f"""
        '{{"sensor": "t1", "value": 2}}' -> IN S(core/Repeat) OUT -> IN X(examples/Scale)
        3 -> FACTOR X
        X OUT -> IN W(io/WriteJSONLines)
        {q(out)} -> FILENAME W
        """
    )
    assert json.loads(out.read_text()) == {"sensor": "t1", "value": 6.0}


async def test_a_dash_writes_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    await run(
        """
        3 -> COUNT S(core/Range) OUT -> IN W(io/WriteJSONLines)
        '-' -> FILENAME W
        """
    )
    assert capsys.readouterr().out == "0\n1\n2\n"


async def test_a_file_is_created_even_when_nothing_arrives(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old content\n")
    net = await run(
        f"""
        0 -> COUNT S(core/Range) OUT -> IN W(io/WriteLines) OUT -> IN C(core/Collect)
        {q(out)} -> FILENAME W
        """
    )
    assert out.read_text() == ""
    assert collected(net) == [0]


async def test_writing_into_a_missing_folder_says_to_create_it(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "out.txt"
    err = await fails(
        f"""
        1 -> COUNT S(core/Range) OUT -> IN W(io/WriteLines)
        {q(out)} -> FILENAME W
        """
    )
    assert str(err) == (
        f"W.FILENAME: cannot write {str(out)!r}: No such file or directory; create the folder"
        f" {str(out.parent)!r} first"
    )
