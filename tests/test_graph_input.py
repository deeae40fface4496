"""Loading graph files that are not what they should be: every case a GraphError that
names the file, the place and the fix, never another exception."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fbp import GraphError, GraphFileError, GraphSyntaxError
from fbp.graph import load_graph, loads_graph
from fbp.graph._load import MAX_DEPTH


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


@pytest.mark.parametrize("suffix", [".fbp", ".json", ".yaml"])
def test_text_that_is_not_utf8_names_the_byte_and_its_place(tmp_path: Path, suffix: str) -> None:
    p = write(tmp_path, f"g{suffix}", b"# ok\n  caf\xe9\n")
    with pytest.raises(GraphSyntaxError) as info:
        load_graph(p)
    assert str(info.value) == f"{p}:2:6: byte 0xe9 is not UTF-8 text; save the file as UTF-8"


@pytest.mark.parametrize("data", [b"\x00\x01\x02binary", "a: 1".encode("utf-16")])
def test_binary_data_and_utf16_are_refused_as_not_a_graph(tmp_path: Path, data: bytes) -> None:
    p = write(tmp_path, "g.yaml", data)
    with pytest.raises(GraphSyntaxError, match="binary data or UTF-16 text, not a graph"):
        load_graph(p)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("g.txt", "unknown graph format '.txt'; name the file .fbp, .json, .yaml or .yml"),
        ("graph", "no suffix to tell its format; name the file .fbp, .json, .yaml or .yml"),
    ],
)
def test_a_name_that_does_not_say_the_format_is_refused(
    tmp_path: Path, name: str, reason: str
) -> None:
    p = write(tmp_path, name, "A(core/Drop)")
    with pytest.raises(GraphFileError) as info:
        load_graph(p)
    assert info.value.path == str(p)
    assert reason in info.value.reason


def test_missing_files_folders_and_paths_through_files_are_graph_file_errors(
    tmp_path: Path,
) -> None:
    with pytest.raises(GraphFileError, match="no such file; check the path"):
        load_graph(tmp_path / "missing.fbp")
    folder = tmp_path / "nets.fbp"
    folder.mkdir()
    write(folder, "inner.yaml", "processes: {}")
    with pytest.raises(GraphFileError, match=r"is a folder, not a graph file; .*inner\.yaml"):
        load_graph(folder)
    f = write(tmp_path, "file.json", "{}")
    with pytest.raises(GraphFileError, match="a part of the path is a file"):
        load_graph(f / "g.fbp")


# What a load of it prints, as a user without the right to read it (root reads every
# file, so as root the child drops to nobody once the modules a load needs are imported).
_UNREADABLE = """
import os, sys
from fbp import GraphFileError
from fbp.graph import load_graph
load_graph(sys.argv[1])
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
try:
    load_graph(sys.argv[2])
except GraphFileError as e:
    print(e)
"""


def test_an_unreadable_file_is_a_graph_file_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    readable = write(tmp_path, "ok.fbp", "A(core/Drop)")
    p = write(tmp_path, "g.fbp", "A(core/Drop)")
    p.chmod(0)
    proc = subprocess.run(
        [sys.executable, "-c", _UNREADABLE, str(readable), str(p)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        f"{p}: cannot be read: permission denied; check the file's permissions"
    )


@pytest.mark.parametrize(("fmt", "text"), [("fbp", ""), ("json", " \n"), ("yaml", "\n\n")])
def test_an_empty_file_is_refused_with_an_example(fmt: str, text: str) -> None:
    with pytest.raises(GraphSyntaxError, match=r"the graph is empty; write one, e\.g\. "):
        loads_graph(text, fmt, source=f"g.{fmt}")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "text", "where"),
    [
        ("json", '{"processes": {}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "g:1:123"),
        ("json", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"g:1:{MAX_DEPTH + 1}"),
        ("yaml", "a:\n  b: " + "[" * 100_000 + "]" * 100_000, "g:2:"),
        ("yaml", "".join(f"{'  ' * i}k{i}:\n" for i in range(2000)) + "  " * 2000 + "v", "g:"),
        ("fbp", "[" * 150 + "]" * 150 + " -> IN A(core/Repeat)", "g:1:1"),
        ("fbp", "[" * 100_000 + "]" * 100_000 + " -> IN A(core/Repeat)", "g:1:"),
    ],
    ids=["json-deep", "json-just-too-deep", "yaml-flow", "yaml-block", "fbp-iip", "fbp-json"],
)
def test_deep_nesting_is_refused_where_it_happens(fmt: str, text: str, where: str) -> None:
    with pytest.raises(GraphSyntaxError) as info:
        loads_graph(text, fmt, source="g")  # type: ignore[arg-type]
    assert str(info.value).startswith(where), str(info.value)
    assert "nest" in str(info.value)


def test_nesting_up_to_the_limit_loads() -> None:
    data = "[" * (MAX_DEPTH - 4) + "]" * (MAX_DEPTH - 4)
    g = loads_graph(
        f'{{"connections": [{{"data": {data}, "tgt": {{"process": "A", '
        f'"port": "IN"}}}}], "processes": {{"A": {{"component": "core/Repeat"}}}}}}',
        "json",
    )
    assert g.initials[0].data is not None


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        (
            "json",
            '{"processes": {"A": {"component": "core/Repeat"},\n "A": {"component": "core/Drop"}}}',
            "g:2:2: the key 'A' is given twice in one object",
        ),
        (
            "yaml",
            "processes:\n  A: core/Repeat\n  A: core/Drop\n",
            "g:3:3: the key 'A' is given twice in one mapping (first at line 2",
        ),
    ],
)
def test_a_key_given_twice_is_refused(fmt: str, text: str, message: str) -> None:
    with pytest.raises(GraphSyntaxError) as info:
        loads_graph(text, fmt, source="g")  # type: ignore[arg-type]
    assert str(info.value).startswith(message), str(info.value)


def test_yaml_merge_keys_and_aliases_of_moderate_size_still_load() -> None:
    text = (
        "defaults: &d {capacity: 4}\n"
        "processes: {A: core/Repeat, B: core/Drop}\n"
        "connections:\n"
        "  - {src: A.OUT, tgt: B.IN, metadata: {<<: *d, overflow: block}}\n"
        "  - {data: 1, tgt: A.IN}\n"
    )
    with pytest.raises(GraphError, match="unknown key 'defaults'"):
        loads_graph(text, "yaml")
    g = loads_graph(
        text.replace("defaults: &d {capacity: 4}\n", "").replace("<<: *d, ", ""), "yaml"
    )
    assert g.edges[0].metadata == {"overflow": "block"}


def test_aliases_that_expand_too_far_are_refused() -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(GraphSyntaxError, match="expands to more than 1,000,000 values"):
        loads_graph("\n".join(lines), "yaml", source="g")


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_number_too_long_to_read_is_refused_with_its_place(fmt: str) -> None:
    digits = "7" * 5000
    text = (
        json.dumps({"processes": {}, "connections": []})[:-1] + f', "groups": [{digits}]}}'
        if fmt == "json"
        else f"processes: {{}}\ngroups: [{digits}]\n"
    )
    with pytest.raises(GraphSyntaxError, match="a number of 5,000 digits is too long to read"):
        loads_graph(text, fmt, source="g")  # type: ignore[arg-type]


def test_a_byte_order_mark_is_ignored_in_json_and_yaml(tmp_path: Path) -> None:
    j = write(tmp_path, "g.json", b"\xef\xbb\xbf" + b'{"processes": {"A": {"component": "x/Y"}}}')
    y = write(tmp_path, "g.yaml", b"\xef\xbb\xbfprocesses: {A: x/Y}")
    assert list(load_graph(j).processes) == list(load_graph(y).processes) == ["A"]


@pytest.mark.parametrize("name", ["Off", "On", "Yes", "No", "y", "n", "'1'", "'null'"])
def test_yaml_names_that_yaml_1_1_reads_as_other_types_are_names(name: str) -> None:
    # PyYAML reads yes/no/on/off as booleans (YAML 1.1) and keys as numbers or null:
    # a graph's names are text, and booleans are only true and false (YAML 1.2).
    text = (
        f"processes: {{{name}: core/Repeat, S: core/Drop}}\n"
        f"connections:\n"
        f"  - {{data: off, tgt: {{process: {name}, port: IN}}}}\n"
        f"  - {{src: {{process: {name}, port: OUT}}, tgt: {{process: S, port: IN}}}}\n"
    )
    g = loads_graph(text, "yaml", source="g.yaml")
    name = name.strip("'")
    assert list(g.processes) == [name, "S"]
    assert g.initials[0].data == "off"
    assert [e.src.process for e in g.edges] == [name]


def test_yaml_keys_are_names_even_where_they_look_like_numbers_or_null() -> None:
    text = "processes: {1: core/Repeat, 2.5: core/Drop, null: core/Drop, ~: core/Drop}\n"
    assert list(loads_graph(text, "yaml").processes) == ["1", "2.5", "null", "~"]


def test_yaml_true_and_false_are_still_booleans() -> None:
    text = "processes: {A: core/Repeat}\nconnections: [{data: true, tgt: A.IN}]\n"
    assert loads_graph(text, "yaml").initials[0].data is True


def test_a_process_name_that_is_not_text_is_a_graph_error_not_a_type_error() -> None:
    text = "processes: {A: core/Repeat}\nconnections: [{data: 1, tgt: {process: 7, port: IN}}]\n"
    with pytest.raises(GraphError) as info:
        loads_graph(text, "yaml", source="g.yaml")
    assert "g.yaml:2:" in str(info.value)
    assert "process name must be text, got 7; quote it: '7'" in str(info.value)
