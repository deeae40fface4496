"""The operations and builtins of expressions, each metered before it runs.

Every function takes its operands and the evaluation's :class:`Meter`. The common case
(numbers, short text, a key or an index) goes straight to Python's operator; only
operations that copy, repeat, print, sort, compare or hash containers charge the meter
first. See :mod:`fbp_components.flow._expr_limits` for how cost is measured.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._expr_limits import (
    FLAT,
    MAX_DIGITS,
    MAX_POW_BITS,
    SMALL,
    Ctx,
    Refused,
    is_sequence,
    meter,
    shallow_bytes,
)

__all__ = (
    "BINARY",
    "BUILTINS",
    "COMPARE",
    "DIRECT",
    "UNARY",
    "call_builtin",
    "hash_cost",
    "subscript",
)

Op = Callable[[Any, Any, Ctx], Any]

_NUMBERS: Final = frozenset({int, float, bool})
_HASHED: Final = (Mapping, set, frozenset)


_SEQUENCE_TYPES: Final = frozenset({str, bytes, list, tuple})
_BIG: Final = 1 << 2048  # ints smaller than this multiply and print quickly


def _add(a: Any, b: Any, m: Ctx) -> Any:
    ta = type(a)
    if ta in _SEQUENCE_TYPES and type(b) is ta:
        n = len(a) + len(b)
        if n > SMALL:
            meter(m).charge(n, shallow_bytes(a, n) + shallow_bytes(b, 0), "joining with +")
    return a + b


def _multiply(a: Any, b: Any, m: Ctx) -> Any:
    ta, tb = type(a), type(b)
    if ta is float or tb is float:
        return a * b
    if (ta is int or ta is bool) and (tb is int or tb is bool):
        if -_BIG < a < _BIG and -_BIG < b < _BIG:
            return a * b
        bits = a.bit_length() + b.bit_length()
        meter(m).charge(bits // 64, bits // 8, "multiplying big numbers")
        return a * b
    for seq, n in ((a, b), (b, a)):
        if is_sequence(seq) and isinstance(n, int) and n > 0:
            _charge_repeat(seq, n, m)
            break
    return a * b


def _charge_repeat(seq: Any, n: int, m: Ctx) -> None:
    count = len(seq) * n
    what = f"repeating a sequence of {len(seq)} item{'' if len(seq) == 1 else 's'} {n:,} times"
    if count > m[0].memory:  # before any walk: this much is always too much
        meter(m).charge(count, count, what)
    if count <= SMALL and (type(seq) is str or type(seq) is bytes):
        return
    memory = shallow_bytes(seq, count)
    if isinstance(seq, list | tuple):
        # The copies share their items: printing, comparing or hashing the result
        # touches each copy in full, so it costs what n separate copies would.
        memory = max(memory, n * meter(m).size(seq))
    meter(m).charge(count, memory, what)


def _power(a: Any, b: Any, m: Ctx) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        bits = int(b * math.log2(abs(a))) + 1
        if bits > MAX_POW_BITS:
            msg = f"the result of {a!r} ** {b!r} would be too large (about {bits:,} bits)"
            raise Refused(msg)
        meter(m).charge(bits // 64, bits // 8, "a power")
    return a**b


def _modulo(a: Any, b: Any, m: Ctx) -> Any:
    if isinstance(a, str | bytes):
        msg = "'%' formatting of strings is not supported; use str() and + instead"
        raise TypeError(msg)
    return a % b


def _plain(op: Callable[[Any, Any], Any]) -> Op:
    return lambda a, b, m: op(a, b)


BINARY: Final[dict[str, Op]] = {
    "Add": _add,
    "Sub": _plain(operator.sub),
    "Mult": _multiply,
    "Div": _plain(operator.truediv),
    "FloorDiv": _plain(operator.floordiv),
    "Mod": _modulo,
    "Pow": _power,
}

UNARY: Final[dict[str, Callable[[Any], Any]]] = {
    "USub": operator.neg,
    "UAdd": operator.pos,
    "Not": operator.not_,
}


# -- comparisons -------------------------------------------------------------------------


def _ordered(op: Callable[[Any, Any], Any]) -> Op:
    def compare(a: Any, b: Any, m: Ctx) -> Any:
        if type(a) not in FLAT and type(b) not in FLAT:
            meter(m).charge(min(meter(m).size(a), meter(m).size(b)), 0, "comparing containers")
        return op(a, b)

    return compare


def _contains(a: Any, b: Any, m: Ctx) -> bool:
    flat = type(a) in FLAT
    if isinstance(b, _HASHED):
        if not flat:
            meter(m).charge(meter(m).size(a), 0, "looking up a container")
    elif isinstance(b, list | tuple):
        if not flat:
            meter(m).charge(meter(m).size(b), 0, "searching a sequence")
        elif len(b) > SMALL:
            meter(m).charge(len(b), 0, "searching a sequence")
    return a in b


def _not_contains(a: Any, b: Any, m: Ctx) -> bool:
    return not _contains(a, b, m)


COMPARE: Final[dict[str, Op]] = {
    "Eq": _ordered(operator.eq),
    "NotEq": _ordered(operator.ne),
    "Lt": _ordered(operator.lt),
    "LtE": _ordered(operator.le),
    "Gt": _ordered(operator.gt),
    "GtE": _ordered(operator.ge),
    "In": _contains,
    "NotIn": _not_contains,
    "Is": _plain(operator.is_),
    "IsNot": _plain(operator.is_not),
}


# -- access ------------------------------------------------------------------------------


def subscript(obj: Any, key: Any, m: Ctx) -> Any:
    """``obj[key]`` for a key computed by the expression."""
    tk = type(key)
    if tk is slice:
        if is_sequence(obj):
            n = len(range(*key.indices(len(obj))))
            if n > SMALL:
                meter(m).charge(n, shallow_bytes(obj, n), "slicing")
    elif tk not in FLAT and isinstance(obj, Mapping):
        meter(m).charge(meter(m).size(key), 0, "looking up a container key")
    return obj[key]


def hash_cost(item: Any, m: Ctx) -> None:
    """Charge for hashing ``item`` into a set or as a dict key."""
    if type(item) not in FLAT:
        meter(m).charge(meter(m).size(item), 0, "hashing a container")


# -- builtins ----------------------------------------------------------------------------


def _str(m: Ctx, *args: Any) -> str:
    if len(args) != 1:
        return str(*args)  # str() is '', str(data, encoding) decodes
    return _str1(m, args[0])


def _str1(m: Ctx, value: Any) -> str:
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if t is int:
        if not -_BIG < value < _BIG:
            _check_digits(value.bit_length() * 0.302, "str() of a number")
    elif t not in FLAT or t is bytes:
        mt = meter(m)
        size = mt.size(value)
        if size > 8 * SMALL:
            mt.charge(size, size, "str() of a value")
    return str(value)


def _check_digits(digits: float, what: str) -> None:
    if digits > MAX_DIGITS:
        msg = f"{what} of about {digits:,.0f} digits is too large (at most {MAX_DIGITS})"
        raise Refused(msg)


def _int(m: Ctx, *args: Any) -> int:
    if args and isinstance(args[0], str | bytes | bytearray):
        _check_digits(len(args[0].strip()), "int() of text")
    return int(*args)


def _round(m: Ctx, value: Any, ndigits: Any = None) -> Any:
    if isinstance(value, int) and isinstance(ndigits, int) and ndigits < 0:
        bits = -ndigits * 3.33
        if bits > MAX_POW_BITS:
            msg = f"round() to {ndigits:,} digits would compute a number of {bits:,.0f} bits"
            raise Refused(msg)
    return round(value, ndigits)


def _items(m: Ctx, value: Any, what: str) -> Any:
    """``value`` ready to go through (see :meth:`Meter.items`); small ones as they are."""
    if type(value) in _SIZED and len(value) <= SMALL:
        return value
    return meter(m).items(value, what)


_SIZED: Final = frozenset({list, tuple, str, dict, set, frozenset, bytes})


def _walk(m: Ctx, items: Any, what: str, factor: float = 1.0) -> None:
    """Charge for going through ``items`` in full (comparing or adding them)."""
    if len(items) <= 16:
        for item in items:
            if type(item) not in FLAT:
                break
        else:
            return  # a few numbers or strings
    mt = meter(m)
    work = int(mt.size(items) * factor)
    if work > 8 * SMALL:
        mt.charge(work, 0, what)


def _collect(fn: Callable[[Any], Any], what: str) -> Callable[..., Any]:
    def collect(m: Ctx, value: Any) -> Any:
        items = _items(m, value, what)
        if len(items) > SMALL:
            meter(m).charge(0, 8 * len(items), what)
        return fn(items)

    return collect


def _sorted(m: Ctx, value: Any) -> list[Any]:
    items = _items(m, value, "sorted()")
    n = len(items)
    _walk(m, items, "sorted()", math.log2(n + 1))
    if n > SMALL:
        meter(m).charge(0, 8 * n, "sorted()")
    return sorted(items)


def _extreme(fn: Callable[..., Any], what: str) -> Callable[..., Any]:
    def extreme(m: Ctx, *args: Any) -> Any:
        if len(args) == 1:
            items = _items(m, args[0], what)
            _walk(m, items, what)
            return fn(items)
        _walk(m, args, what)
        return fn(*args)

    return extreme


def _sum(m: Ctx, value: Any, start: Any = 0) -> Any:
    if type(start) not in _NUMBERS:
        msg = "sum() adds numbers; join sequences with + instead"
        raise TypeError(msg)
    items = _items(m, value, "sum()")
    _walk(m, items, "sum()")
    return sum(items, start)


def _truth(fn: Callable[[Any], bool], what: str) -> Callable[..., bool]:
    def truth(m: Ctx, value: Any) -> bool:
        return fn(_items(m, value, what))

    return truth


def _direct(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda m, *args: fn(*args)


#: The functions an expression may call: pure, and metered where they can be costly.
BUILTINS: Final[Mapping[str, Callable[..., Any]]] = {
    f.__name__: f
    for f in (abs, all, any, bool, float, int, len, list, max, min, round, sorted, str, sum, tuple)
}

_METERED: Final[dict[str, Callable[..., Any]]] = {
    "abs": _direct(abs),
    "all": _truth(all, "all()"),
    "any": _truth(any, "any()"),
    "bool": _direct(bool),
    "float": _direct(float),
    "int": _int,
    "len": _direct(len),
    "list": _collect(list, "list()"),
    "max": _extreme(max, "max()"),
    "min": _extreme(min, "min()"),
    "round": _round,
    "sorted": _sorted,
    "str": _str,
    "sum": _sum,
    "tuple": _collect(tuple, "tuple()"),
}


#: Builtins that cost no more than their argument: called as they are.
DIRECT: Final = frozenset({"abs", "bool", "float", "len"})


def call_builtin(name: str, nargs: int) -> Callable[..., Any]:
    """The metered form of the builtin ``name`` for ``nargs`` arguments: call it as
    ``fn(ctx, *args)``."""
    if name == "str" and nargs == 1:
        return _str1
    return _METERED[name]
