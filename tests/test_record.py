"""The trace record's kinds and layout have one definition, fbp._core._record."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from fbp._core import _ip, _record, _tracehook
from fbp._core._record import FIELDS, PAYLOAD, Kind

ROOT = Path(__file__).resolve().parent.parent
KIND_NAMES = {"DATA", "OPEN", "CLOSE", "IIP", "DROP", "DEAD"}
#: Modules whose names of that form mean something else.
OTHER_MEANING = {
    "fbp/_core/_record.py": "the definition itself",
    "fbp/ray/_frames.py": "the tags of the Ray link's wire frames",
}


def test_the_kinds_are_the_enum_and_its_ints() -> None:
    assert [k.value for k in Kind] == list(range(len(Kind)))
    for k in Kind:
        assert getattr(_record, k.name) == k.value
        assert type(getattr(_record, k.name)) is int  # records hold plain ints
        assert getattr(_tracehook, f"KIND_{k.name}") is getattr(_record, k.name)
    for name in ("DATA", "OPEN", "CLOSE"):
        assert getattr(_ip, name) is getattr(_record, name)
    assert _tracehook.TraceRecord is _record.TraceRecord
    # Trace files store the kinds by these codes and names: they must never change.
    stored = {0: "data", 1: "open", 2: "close", 3: "iip", 4: "drop", 5: "dead"}
    assert {k.value: k.label for k in Kind} == stored


def test_every_vocabulary_of_the_kinds_derives_from_the_enum() -> None:
    from fbp.observe import _otlp, _otlp_live
    from fbp.protocol import _events
    from fbp.tracing import _flowtrace, _schema

    assert {k.value: k.label for k in Kind} == _schema.KIND_NAMES
    assert {k.label: k.value for k in Kind} == _schema.KIND_CODES
    assert _events._COMMANDS is _record.PROTOCOL_COMMANDS
    assert {
        Kind(k).label: c for k, c in _record.PROTOCOL_COMMANDS.items()
    } == _flowtrace._COMMANDS
    assert set(_otlp._SPAN_KINDS) == set(_otlp_live._KIND_NAMES.values())
    assert repr(_ip.IP(3, _record.OPEN, "t")) == "<IP #3 open bracket 't'>"


def _kind_literals(path: Path) -> list[str]:
    """Places that spell a kind as a number or define a kind constant of their own."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = []
            for t in targets:
                elts = t.elts if isinstance(t, ast.Tuple) else [t]
                names += [e.id for e in elts if isinstance(e, ast.Name)]
            value = node.value
            if any(n in KIND_NAMES or n.startswith("KIND_") for n in names) and (
                isinstance(value, ast.Constant | ast.Tuple)
            ):
                found.append(f"{path.name}:{node.lineno} defines {', '.join(names)}")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            about_kind = any(
                (isinstance(s, ast.Attribute) and s.attr == "kind")
                or (isinstance(s, ast.Name) and s.id in ("kind", "kinds"))
                or (
                    isinstance(s, ast.Subscript)
                    and isinstance(s.slice, ast.Constant)
                    and s.slice.value == "kind"
                )
                or (isinstance(s, ast.Call) and "kind" in ast.unparse(s.func))
                for s in sides
            )
            numbers = any(
                isinstance(s, ast.Constant) and type(s.value) is int and s.value in range(6)
                for s in sides
            )
            if about_kind and numbers:
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_module_spells_a_kind_as_a_number() -> None:
    wrong = []
    for path in sorted((ROOT / "fbp").rglob("*.py")):
        if path.relative_to(ROOT).as_posix() not in OTHER_MEANING:
            wrong += _kind_literals(path)
    assert not wrong, "use fbp._core._record's Kind and constants:\n" + "\n".join(wrong)


def test_the_check_finds_a_kind_spelt_as_a_number(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("DATA = 0\nx = [r for r in rows if r.kind <= 2]\n", encoding="utf-8")
    assert len(_kind_literals(bad)) == 2


def test_the_file_columns_follow_the_record_fields() -> None:
    from fbp.tracing._chunks import COLUMNS
    from fbp.tracing._columns import RunColumns

    # The fixed-width fields, then parents and payload as (ends, values) pairs.
    assert COLUMNS[:5] == FIELDS[:5]
    assert COLUMNS[5:7] == ("parent_ends", "parents")
    assert COLUMNS[7:] == ("payload_starts", "payload_ends", "payloads")
    params = RunColumns.__init__.__code__.co_varnames
    assert all(f in params for f in FIELDS[:5])


@pytest.mark.parametrize("splitter", ["python", "c"])
def test_the_column_splitters_read_the_record_by_its_positions(splitter: str) -> None:
    from fbp.tracing import _chunks

    if splitter == "c":
        split = _chunks.split
        if split is _chunks.split_python:
            pytest.skip("fbp.tracing._split is not built here")
    else:
        split = _chunks.split_python
    rec = dict(ip_id=7, kind=_record.IIP, port_id=3, activation=5, t_ns=11, parents=[2, 4])
    text = json.dumps([[rec[f] for f in FIELDS[:PAYLOAD]] + ["x"]])
    n, *blobs = split(text.encode())
    assert n == 1
    cols = dict(zip(_chunks.COLUMNS, blobs, strict=True))
    widths = {"ip_id": "<i8", "kind": "<i1", "port_id": "<i4", "activation": "<i8", "t_ns": "<i8"}
    import numpy as np

    for field, dtype in widths.items():
        assert np.frombuffer(cols[field], dtype=dtype).tolist() == [rec[field]], field
    assert np.frombuffer(cols["parents"], dtype="<i8").tolist() == [2, 4]
    assert cols["payloads"] == b'"x"'


def test_a_read_record_keeps_the_record_order() -> None:
    """TracedIP, the record as a reader returns it, lists the record's fields in the
    record's order (the time as seconds, ``t``, where the record has ``t_ns``)."""
    import dataclasses

    from fbp.tracing import TracedIP

    names = [f.name for f in dataclasses.fields(TracedIP)]
    shared = [("t" if f == "t_ns" else f) for f in FIELDS]
    assert [n for n in names if n in shared] == shared
