"""The safe expression language of flow/Filter, Map, Split and Collate."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from fbp_components.flow import BUILTINS, Expression, ExpressionError
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError


class Point(BaseModel):
    x: int
    y: int


@pytest.mark.parametrize(
    ("source", "x", "expected"),
    [
        ("x * 2", 21, 42),
        ("x + 1 - 3 / 2 // 1 % 5 ** 2", 4, 4.0),
        ("-x", 3, -3),
        ("not x", 0, True),
        ("x.value > 3", {"value": 5}, True),
        ("x.y", Point(x=1, y=2), 2),
        ("x['id']", {"id": 7}, 7),
        ("x[1:3]", [0, 1, 2, 3], [1, 2]),
        ("x[::-1]", "abc", "cba"),
        ("1 < x < 3", 2, True),
        ("1 < x < 3", 3, False),
        ("x in ('a', 'b')", "b", True),
        ("x not in [1, 2]", 3, True),
        ("x is None", None, True),
        ("x is not None and x > 1", 2, True),
        ("x and x[0]", [], []),
        ("x or 'default'", "", "default"),
        ("'big' if x > 100 else 'small'", 101, "big"),
        ("{'id': x['id'], 'v': x['v'] + 1}", {"id": 1, "v": 2}, {"id": 1, "v": 3}),
        ("{**x, 'v': 0}", {"id": 1, "v": 2}, {"id": 1, "v": 0}),
        ("[x, x]", 1, [1, 1]),
        ("(x, 1)", 0, (0, 1)),
        ("{x, x}", 1, {1}),
        ("abs(x) + len('ab')", -3, 5),
        ("max(x) - min(x)", [3, 9, 4], 6),
        ("round(x, 1)", 2.345, 2.3),
        ("int(x) + float('1.5')", "2", 3.5),
        ("str(x) + '!'", 5, "5!"),
        ("sum(sorted(x)[:2])", [5, 1, 3], 4),
        ("any(x) and not all(x)", [0, 1], True),
        ("bool(x), tuple(x), list(x)", "ab", (True, ("a", "b"), ["a", "b"])),
        ("  x  ", 1, 1),
    ],
)
def test_allowed_expressions_evaluate_like_python(source: str, x: Any, expected: Any) -> None:
    assert Expression(source)(x) == expected


@pytest.mark.parametrize(
    ("source", "part", "reason"),
    [
        ("x.__class__", "x.__class__", "the attribute '__class__' is private or internal"),
        ("x._secret", "x._secret", "the attribute '_secret' is private or internal"),
        ("x.gi_frame", "x.gi_frame", "the attribute 'gi_frame' is private or internal"),
        ("x.f_globals", "x.f_globals", "the attribute 'f_globals' is private or internal"),
        ("y + 1", "y", "unknown name 'y'; the only variable is x (the IP)"),
        ("__import__('os')", "__import__('os')", "only these functions may be called"),
        ("open('f')", "open('f')", "only these functions may be called"),
        ("x.upper()", "x.upper()", "only these functions may be called"),
        ("max(x, key=abs)", "max(x, key=abs)", "keyword arguments are not allowed"),
        ("len", "len", "len can only be called, as in len(x)"),
        ("[y for y in x]", "[y for y in x]", "comprehensions are not allowed"),
        ("{k: 1 for k in x}", "{k: 1 for k in x}", "comprehensions are not allowed"),
        ("(lambda: 1)", "lambda: 1", "lambdas are not allowed"),
        ("(y := 1)", "y := 1", "assignment expressions (:=) are not allowed"),
        ("f'{x}'", "f'{x}'", "f-strings are not allowed"),
        ("max(*x)", "*x", "unpacking with * is not allowed"),
        ("x << 2", "x << 2", "the operator LShift is not allowed"),
        ("~x", "~x", "the operator Invert is not allowed"),
        ("x[...]", "...", "'...' is not allowed"),
    ],
)
def test_refused_expressions_name_the_expression_and_the_bad_part(
    source: str, part: str, reason: str
) -> None:
    with pytest.raises(ExpressionError) as info:
        Expression(source)
    err = info.value
    assert err.source == source
    assert err.part == part
    assert str(err).startswith(f"expression {source!r}, at {part!r} (column ")
    assert reason in str(err)


def test_the_column_points_at_the_offending_part() -> None:
    with pytest.raises(ExpressionError) as info:
        Expression("x['a'] + y")
    assert info.value.column == 10


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x >", "invalid syntax at the end"),
        ("x y", "invalid syntax at column 3"),
        ("(x", "'(' was never closed"),
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
        ("x = 1", "invalid syntax"),
    ],
)
def test_text_that_is_not_an_expression_is_refused_with_an_example(
    source: str, message: str
) -> None:
    with pytest.raises(ExpressionError, match="write") as info:
        Expression(source)
    assert str(info.value).startswith(f"expression {source!r}: ")
    assert message in str(info.value)


def test_evaluation_errors_name_the_expression_and_the_value() -> None:
    with pytest.raises(ExpressionError) as info:
        Expression("x['v'] + 1")({"a": 1})
    assert str(info.value) == "expression \"x['v'] + 1\": failed on dict {'a': 1}: KeyError: 'v'"
    assert isinstance(info.value.__cause__, KeyError)


def test_attribute_reads_of_a_mapping_list_its_keys_when_one_is_missing() -> None:
    with pytest.raises(ExpressionError, match=r"no key 'v' \(the keys: 'a', 'b'\)"):
        Expression("x.v")({"a": 1, "b": 2})


def test_attribute_reads_of_a_mapping_read_keys_not_methods() -> None:
    assert Expression("x.items")({"items": 3}) == 3


@pytest.mark.parametrize(
    ("source", "x", "message"),
    [
        ("2 ** x", 10**7, "would be too large"),
        ("'ab' * x", 10**8, "would be too large"),
        ("x * [0]", 10**8, "would be too large"),
        ("'%s' % x", 1, "'%' formatting of strings is not supported"),
        ("{**x}", [1], r"\*\* needs a mapping"),
    ],
)
def test_results_too_large_or_unsafe_to_build_are_refused(
    source: str, x: Any, message: str
) -> None:
    with pytest.raises(ExpressionError, match=message):
        Expression(source)(x)


def test_small_powers_and_repeats_still_work() -> None:
    assert Expression("2 ** x")(100) == 2**100
    assert Expression("'ab' * x")(3) == "ababab"
    assert Expression("x % 3")(10) == 1


def test_boolean_operators_short_circuit() -> None:
    # The right side would fail; it must not be evaluated.
    assert Expression("x is None or x['k']")(None) is True
    assert Expression("x is not None and x['k']")(None) is False


def test_the_builtins_are_pure_functions_of_their_arguments() -> None:
    assert set(BUILTINS) == {
        "abs", "all", "any", "bool", "float", "int", "len", "list", "max", "min", "round",
        "sorted", "str", "sum", "tuple",
    }  # fmt: skip


def test_an_expression_is_its_text() -> None:
    e = Expression("x * 2")
    assert isinstance(e, str)
    assert e == "x * 2"
    assert pickle.loads(pickle.dumps(e))(4) == 8


def test_pydantic_compiles_expressions_and_reports_bad_ones() -> None:
    adapter = TypeAdapter(Expression)
    e = adapter.validate_python("x + 1")
    assert isinstance(e, Expression)
    assert e(1) == 2
    assert adapter.validate_python(e) is e
    assert adapter.dump_json(e) == b'"x + 1"'
    assert adapter.json_schema() == {"type": "string"}
    with pytest.raises(ValidationError, match="private or internal"):
        adapter.validate_python("x.__dict__")
    with pytest.raises(ValidationError, match="an expression must be a string of text, not int 3"):
        adapter.validate_python(3)


@given(st.integers(), st.integers(min_value=-50, max_value=50))
def test_arithmetic_agrees_with_python(a: int, b: int) -> None:
    e = Expression("(x[0] + x[1]) * 3 - x[0] % 7 if x[1] >= 0 else abs(x[0] - x[1])")
    expected = (a + b) * 3 - a % 7 if b >= 0 else abs(a - b)
    assert e((a, b)) == expected
