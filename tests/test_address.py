"""The port address: one grammar and one spelling, in fbp._core._address."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fbp._core._address import PortAddress, parse_variable
from fbp._core._ports import address
from fbp.graph import PortRef, parse_address
from fbp.tracing._address import format_address, parse_edge
from fbp.tracing._address import parse_address as trace_parse

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A.OUT", ("A", "OUT", None)),
        ("A.out[1]", ("A", "out", 1)),
        ("A.OUT [1]", ("A", "OUT", 1)),
        ("  A.OUT[ 12 ]  ", ("A", "OUT", 12)),
        ("ns:A.OUT", ("ns:A", "OUT", None)),
        ("Büro.OUT", ("Büro", "OUT", None)),
        ("A.größe", ("A", "größe", None)),
        ("sub/Proc-2.IN", ("sub/Proc-2", "IN", None)),
        ("2nd.IN", ("2nd", "IN", None)),
        ("A.OUT.x", ("A", "OUT.x", None)),
        ("A._private[0]", ("A", "_private", 0)),
    ],
)
def test_the_grammar(text: str, expected: tuple[str, str, int | None]) -> None:
    a = PortAddress.parse(text)
    assert (a.process, a.port, a.index) == expected
    # The graph and the trace read it alike.
    assert parse_address(text) == a
    assert trace_parse(text) == (a.process, a.port.upper(), a.index)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("nodot", "no '.' between process and port"),
        (".OUT", "the process name '' is empty"),
        ("A B.OUT", "the process name 'A B' is empty or holds spaces"),
        ("A.", "the port name '' must start with a letter"),
        ("A.1X", "the port name '1X' must start with a letter"),
        ("A.OUT[x]", "an index is a whole number in brackets, as in A.OUT[0]"),
        ("A.OUT[-1]", "an index is a whole number in brackets"),
        ("A.OUT[1", "an index is a whole number in brackets"),
        ("A.OU T", "'OU T' is not a port name"),
    ],
)
def test_bad_addresses_say_what_is_wrong_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)) as e:
        PortAddress.parse(text)
    assert repr(text) in str(e.value)
    assert PortAddress.parse_or_none(text) is None
    assert trace_parse(text) is None
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_address(text)


def test_a_non_text_address_is_refused_with_its_type() -> None:
    with pytest.raises(ValueError, match="a port address is text, not int"):
        PortAddress.parse(3)  # type: ignore[arg-type]


def test_one_spelling() -> None:
    a = PortAddress("Büro", "out", 2)
    assert str(a) == "Büro.OUT[2]"
    assert address("Büro", "out", 2) == format_address("Büro", "out", 2) == str(a)
    assert str(PortAddress("A", "in")) == "A.IN"
    assert a.to_dict() == {"process": "Büro", "port": "out", "index": 2}
    assert PortRef is PortAddress
    assert parse_edge("A.out -> ns:B.IN [1]") == ("A.OUT", "ns:B.IN[1]")


_PROCESS = st.text(
    st.characters(blacklist_categories=("Zs", "Cc", "Cs", "Zl", "Zp"), blacklist_characters=".[]"),
    min_size=1,
    max_size=12,
).filter(lambda s: not any(c.isspace() for c in s))
_PORT = st.from_regex(r"[^\W\d][\w.]{0,10}", fullmatch=True).filter(lambda s: not s.endswith("."))


@given(_PROCESS, _PORT, st.none() | st.integers(0, 10**6))
@example("0", "ῢ", None)  # upper-cased, a letter and a combining accent
@example("0", "A²", None)
def test_str_and_parse_round_trip(process: str, port: str, index: int | None) -> None:
    a = PortAddress(process, port, index)
    b = PortAddress.parse(str(a))
    assert (b.process, b.port, b.index) == (process, port.upper(), index)


def test_no_other_module_spells_or_parses_an_address() -> None:
    """Formatting ``f"{process}.{port.upper()}[...]"`` or an address regex elsewhere is
    a second definition: use PortAddress."""
    spelled = re.compile(r"""f["'][^"']*\{[^}]+\}\.\{[^}]*\.upper\(\)\}""")
    parsed = re.compile(r"re\.compile\([^)]*\\\.[^)]*\\\[")
    wrong = []
    for path in sorted((ROOT / "fbp").rglob("*.py")):
        if path.name == "_address.py" and path.parent.name == "_core":
            continue
        text = path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            if spelled.search(line) or parsed.search(line):
                wrong.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not wrong, "\n".join(wrong)


def test_a_variable_name_is_an_address_and_a_field() -> None:
    assert parse_variable("Model.OUT") == (PortAddress("Model", "OUT"), None)
    assert parse_variable("Model.out.score") == (PortAddress("Model", "out"), "score")
    assert parse_variable("Model.OUT[2].a.b") == (PortAddress("Model", "OUT", 2), "a.b")
    assert parse_variable("ns:Büro.OUT [1]") == (PortAddress("ns:Büro", "OUT", 1), None)
    for bad in ("Model", "Model.", "Model.1x", "Mo del.OUT", "Model.OUT[x]", ".OUT"):
        assert parse_variable(bad) is None, bad


@given(_PROCESS, st.from_regex(r"[^\W\d]\w{0,8}", fullmatch=True), st.none() | st.integers(0, 99))
def test_a_variable_name_round_trips(process: str, port: str, index: int | None) -> None:
    address = PortAddress(process, port, index)
    assert parse_variable(f"{address}.field.x") == (
        PortAddress(process, port.upper(), index),
        "field.x",
    )
