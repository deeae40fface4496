"""Compiling expressions: the whitelist, checked on the syntax tree, and closures.

See :mod:`fbp_components.flow._expr` for the language. Each closure takes the IP's
payload ``x`` and the evaluation's :class:`~._expr_limits.Meter`; the operations that
can cost more than their operands charge it first (:mod:`._expr_ops`).
"""

from __future__ import annotations

import ast
import operator
import reprlib
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any, Final

from ._expr_limits import FLAT, SMALL, Ctx, ExpressionLimits, meter
from ._expr_ops import (
    BINARY,
    BUILTINS,
    COMPARE,
    DIRECT,
    UNARY,
    call_builtin,
    hash_cost,
    subscript,
)

__all__ = (
    "BUILTINS",
    "MAX_SOURCE",
    "ExpressionError",
    "ExpressionLimitError",
    "compile_expression",
    "describe_value",
    "read_attribute",
)

#: A compiled expression: a function of the payload and the evaluation's meter.
Fn = Callable[[Any, Ctx], Any]

#: Attribute prefixes that lead from a value to the interpreter's internals.
_INTROSPECTION: Final = ("_", "f_", "gi_", "cr_", "ag_", "co_", "tb_", "func_")

#: The longest expression text accepted, in characters.
MAX_SOURCE: Final = 10_000

_EXAMPLES: Final = "e.g. 'x > 3', 'x[\"value\"] * 2' or \"{'id': x['id'], 'ok': x['v'] > 0}\""

DEFAULT_LIMITS: Final = ExpressionLimits()

_PLAIN_COMPARE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "Eq": operator.eq,
    "NotEq": operator.ne,
    "Lt": operator.lt,
    "LtE": operator.le,
    "Gt": operator.gt,
    "GtE": operator.ge,
}

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def describe_value(value: Any, limit: int = 60) -> str:
    """Render a value briefly for messages: its type and a clipped repr (a bounded
    walk, so a huge value is described as quickly as a small one)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a repr that fails, or a number too long to print
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


class ExpressionError(ValueError):
    """An expression is not allowed, does not parse, or failed on an IP.

    Attributes:
        source: the expression's text.
        part: the offending part of the expression, when one is to blame.
        column: where that part starts (1-based), when known.
    """

    def __init__(
        self, source: str, reason: str, part: str | None = None, column: int | None = None
    ) -> None:
        self.source = source
        self.part = part
        self.column = column
        where = ""
        if part is not None:
            where = f", at {part!r}"
            if column is not None:
                where += f" (column {column})"
        super().__init__(f"expression {source!r}{where}: {reason}")


_REFUSED: Final[dict[type[ast.AST], str]] = {
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.JoinedStr: "f-strings are not allowed; join strings with str() and +",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Starred: "unpacking with * is not allowed",
}


class ExpressionLimitError(ExpressionError):
    """An evaluation was stopped because it would pass its time or memory limit.

    Attributes:
        limits: the limits it would have passed.
    """

    def __init__(self, source: str, reason: str, limits: ExpressionLimits) -> None:
        super().__init__(source, reason)
        self.limits = limits


def read_attribute(obj: Any, name: str) -> Any:
    """Read ``obj.name`` the way expressions do: a mapping's key, else an attribute."""
    if type(obj) is dict or isinstance(obj, Mapping):
        try:
            return obj[name]
        except KeyError:
            keys = ", ".join(_REPR.repr(k) for k in islice(obj, 10))
            msg = f"no key {name!r} (the keys: {keys or 'none'})"
            raise AttributeError(msg) from None
    return getattr(obj, name)


class _Compiler:
    """Turns a checked AST into nested closures of ``(x, meter)``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: ast.AST, reason: str) -> ExpressionError:
        part = ast.get_source_segment(self.source, node)
        col = getattr(node, "col_offset", None)
        return ExpressionError(self.source, reason, part, None if col is None else col + 1)

    def compile(self, node: ast.AST) -> Fn:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            reason = _REFUSED.get(type(node), f"{type(node).__name__} is not allowed")
            raise self.fail(node, reason)
        fn: Fn = method(node)
        return fn

    # -- leaves -------------------------------------------------------------------------

    def _Constant(self, node: ast.Constant) -> Fn:
        value = node.value
        if value is Ellipsis:
            raise self.fail(node, "'...' is not allowed")
        return lambda x, m: value

    def _Name(self, node: ast.Name) -> Fn:
        if node.id == "x":
            return lambda x, m: x
        if node.id in BUILTINS:
            raise self.fail(node, f"{node.id} can only be called, as in {node.id}(x)")
        raise self.fail(node, f"unknown name {node.id!r}; the only variable is x (the IP)")

    # -- operators ----------------------------------------------------------------------

    def _BinOp(self, node: ast.BinOp) -> Fn:
        op = BINARY.get(type(node.op).__name__)
        if op is None:
            raise self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
        left, right = self.compile(node.left), self.compile(node.right)
        return lambda x, m: op(left(x, m), right(x, m), m)

    def _UnaryOp(self, node: ast.UnaryOp) -> Fn:
        op = UNARY.get(type(node.op).__name__)
        if op is None:
            raise self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
        operand = self.compile(node.operand)
        return lambda x, m: op(operand(x, m))

    def _BoolOp(self, node: ast.BoolOp) -> Fn:
        parts = [self.compile(v) for v in node.values]
        if isinstance(node.op, ast.And):

            def all_of(x: Any, m: Ctx) -> Any:
                value: Any = True
                for p in parts:
                    value = p(x, m)
                    if not value:
                        return value
                return value

            return all_of

        def any_of(x: Any, m: Ctx) -> Any:
            value: Any = False
            for p in parts:
                value = p(x, m)
                if value:
                    return value
            return value

        return any_of

    def _Compare(self, node: ast.Compare) -> Fn:
        first = self.compile(node.left)
        ops = [self._comparison(op, c) for op, c in zip(node.ops, node.comparators, strict=True)]
        rest = [self._right(op, c) for op, c in zip(node.ops, node.comparators, strict=True)]
        if len(ops) == 1:
            right = rest[0]
            if self._plain_compare(node.ops[0], node.left, node.comparators[0]):
                plain = _PLAIN_COMPARE[type(node.ops[0]).__name__]
                return lambda x, m: plain(first(x, m), right(x, m))
            op = ops[0]
            return lambda x, m: op(first(x, m), right(x, m), m)

        def chain(x: Any, m: Ctx) -> Any:
            left = first(x, m)
            for op, part in zip(ops, rest, strict=True):
                right = part(x, m)
                if not op(left, right, m):
                    return False
                left = right
            return True

        return chain

    def _comparison(self, op: ast.cmpop, right: ast.expr) -> Callable[[Any, Any, Ctx], Any]:
        """The operation of a comparison. Membership in a display of constants
        (``x in ('a', 'b')``) costs no more than the text, so it is not metered."""
        name = type(op).__name__
        constant = _constant_display(right)
        if constant and name == "In":
            return lambda a, b, m: a in b
        if constant and name == "NotIn":
            return lambda a, b, m: a not in b
        return COMPARE[name]

    def _plain_compare(self, op: ast.cmpop, left: ast.expr, right: ast.expr) -> bool:
        """Whether comparing these sides costs no more than the text: one side is a
        constant number, text or None (containers never equal it, or fail at once)."""
        if isinstance(op, ast.In | ast.NotIn | ast.Is | ast.IsNot):
            return False
        return any(
            isinstance(side, ast.Constant) and type(side.value) in FLAT for side in (left, right)
        )

    def _right(self, op: ast.cmpop, right: ast.expr) -> Fn:
        """The right side of a comparison; a display of constants after ``in`` is made once."""
        fn = self.compile(right)
        if isinstance(op, ast.In | ast.NotIn) and _constant_display(right):
            fixed = fn(None, [DEFAULT_LIMITS])
            fixed = frozenset(fixed) if isinstance(fixed, set) else tuple(fixed)
            return lambda x, m: fixed
        return fn

    def _IfExp(self, node: ast.IfExp) -> Fn:
        test, body, orelse = (self.compile(n) for n in (node.test, node.body, node.orelse))
        return lambda x, m: body(x, m) if test(x, m) else orelse(x, m)

    # -- access -------------------------------------------------------------------------

    def _Attribute(self, node: ast.Attribute) -> Fn:
        name = node.attr
        if name.startswith(_INTROSPECTION):
            raise self.fail(node, f"the attribute {name!r} is private or internal")
        obj = self.compile(node.value)
        return lambda x, m: read_attribute(obj(x, m), name)

    def _Subscript(self, node: ast.Subscript) -> Fn:
        obj = self.compile(node.value)
        index = self.compile(node.slice)
        if isinstance(node.slice, ast.Constant) and type(node.slice.value) in (int, str):
            key = node.slice.value
            return lambda x, m: obj(x, m)[key]
        return lambda x, m: subscript(obj(x, m), index(x, m), m)

    def _Slice(self, node: ast.Slice) -> Fn:
        bounds = (node.lower, node.upper, node.step)
        lo, hi, step = (None if n is None else self.compile(n) for n in bounds)
        return lambda x, m: slice(
            None if lo is None else lo(x, m),
            None if hi is None else hi(x, m),
            None if step is None else step(x, m),
        )

    # -- displays -----------------------------------------------------------------------

    def _List(self, node: ast.List) -> Fn:
        items = [self.compile(e) for e in node.elts]
        return lambda x, m: [f(x, m) for f in items]

    def _Tuple(self, node: ast.Tuple) -> Fn:
        items = [self.compile(e) for e in node.elts]
        return lambda x, m: tuple([f(x, m) for f in items])

    def _Set(self, node: ast.Set) -> Fn:
        items = [self.compile(e) for e in node.elts]

        def build(x: Any, m: Ctx) -> set[Any]:
            values = [f(x, m) for f in items]
            for v in values:
                hash_cost(v, m)
            return set(values)

        return build

    def _Dict(self, node: ast.Dict) -> Fn:
        entries: list[tuple[Fn | None, Fn]] = [
            (None if k is None else self.compile(k), self.compile(v))
            for k, v in zip(node.keys, node.values, strict=True)
        ]
        if all(isinstance(k, ast.Constant) for k in node.keys):
            pairs = [(k.value, v) for k, (_, v) in zip(node.keys, entries, strict=True)]  # type: ignore[union-attr]
            return lambda x, m: {k: v(x, m) for k, v in pairs}

        def build(x: Any, m: Ctx) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for k, v in entries:
                if k is None:
                    value = v(x, m)
                    if not isinstance(value, Mapping):
                        msg = f"** needs a mapping, got {describe_value(value)}"
                        raise TypeError(msg)
                    if len(value) > SMALL:
                        meter(m).charge(len(value), 48 * len(value), "copying a mapping with **")
                    out.update(value)
                else:
                    key = k(x, m)
                    hash_cost(key, m)
                    out[key] = v(x, m)
            return out

        return build

    # -- calls --------------------------------------------------------------------------

    def _Call(self, node: ast.Call) -> Fn:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in BUILTINS:
            allowed = ", ".join(sorted(BUILTINS))
            raise self.fail(node, f"only these functions may be called: {allowed}")
        if node.keywords:
            raise self.fail(node, "keyword arguments are not allowed")
        args = [self.compile(a) for a in node.args]
        if func.id in DIRECT:
            plain = BUILTINS[func.id]
            if len(args) == 1:
                one = args[0]
                return lambda x, m: plain(one(x, m))
            return lambda x, m: plain(*[a(x, m) for a in args])
        fn = call_builtin(func.id, len(args))
        if len(args) == 1:
            arg = args[0]
            return lambda x, m: fn(m, arg(x, m))
        return lambda x, m: fn(m, *[a(x, m) for a in args])


def _constant_display(node: ast.expr) -> bool:
    return isinstance(node, ast.Tuple | ast.List | ast.Set) and all(
        isinstance(e, ast.Constant) for e in node.elts
    )


def compile_expression(source: str) -> Fn:
    """Check and compile an expression into a function of ``(x, meter)``.

    Raises:
        ExpressionError: the text does not parse, is too long or too deeply nested, or
            uses something not allowed.
    """
    if not isinstance(source, str):
        msg = f"expected the text of an expression, got {describe_value(source)}"
        raise TypeError(msg)
    text = source.strip()
    if not text:
        raise ExpressionError(source, f"the expression is empty; write one, {_EXAMPLES}")
    if len(text) > MAX_SOURCE:
        reason = f"it is {len(text):,} characters long, more than the {MAX_SOURCE:,} allowed"
        raise ExpressionError(_clip(source), reason)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        where = f"column {e.offset}" if e.offset else "the end"
        reason = f"{e.msg} at {where}; write a Python expression over x, {_EXAMPLES}"
        raise ExpressionError(_clip(source), reason) from None
    except (RecursionError, MemoryError):
        raise ExpressionError(_clip(source), _TOO_DEEP) from None
    try:
        return _Compiler(text).compile(tree.body)
    except RecursionError:
        raise ExpressionError(_clip(source), _TOO_DEEP) from None


_TOO_DEEP: Final = "the expression is nested too deeply; write it with fewer nested parts"


def _clip(source: str) -> str:
    return source if len(source) <= 200 else source[:197] + "..."
