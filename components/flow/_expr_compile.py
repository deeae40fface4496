"""Compiling expressions: the whitelist, checked on the syntax tree, and closures.

See :mod:`fbp_components.flow._expr` for the language.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ("BUILTINS", "ExpressionError", "compile_expression", "describe_value", "read_attribute")

Fn = Callable[[Any], Any]

#: The functions an expression may call: pure, and safe on any argument.
BUILTINS: Final[Mapping[str, Callable[..., Any]]] = {
    f.__name__: f
    for f in (abs, all, any, bool, float, int, len, list, max, min, round, sorted, str, sum, tuple)
}

#: Attribute prefixes that lead from a value to the interpreter's internals.
_INTROSPECTION: Final = ("_", "f_", "gi_", "cr_", "ag_", "co_", "tb_", "func_")

#: Results beyond these sizes are refused rather than computed.
_MAX_POW_BITS: Final = 100_000
_MAX_REPEAT: Final = 10_000_000

_EXAMPLES: Final = "e.g. 'x > 3', 'x[\"value\"] * 2' or \"{'id': x['id'], 'ok': x['v'] > 0}\""


def describe_value(value: Any, limit: int = 60) -> str:
    """Render a value briefly for messages: its type and a clipped repr."""
    text = repr(value)
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


def _power(a: Any, b: Any) -> Any:
    big = isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1
    if big and b * a.bit_length() > _MAX_POW_BITS:
        msg = f"the result of {a!r} ** {b!r} would be too large"
        raise OverflowError(msg)
    return a**b


def _multiply(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        repeat = isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int)
        if repeat and len(seq) * n > _MAX_REPEAT:
            msg = f"repeating a sequence of {len(seq)} items {n} times would be too large"
            raise OverflowError(msg)
    return a * b


def _modulo(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        msg = "'%' formatting of strings is not supported; use str() and + instead"
        raise TypeError(msg)
    return a % b


_BINARY: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _multiply,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _modulo,
    ast.Pow: _power,
}

_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
}

_COMPARE: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}

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


def read_attribute(obj: Any, name: str) -> Any:
    """Read ``obj.name`` the way expressions do: a mapping's key, else an attribute."""
    if type(obj) is dict or isinstance(obj, Mapping):
        try:
            return obj[name]
        except KeyError:
            keys = ", ".join(repr(k) for k in list(obj)[:10])
            msg = f"no key {name!r} (the keys: {keys or 'none'})"
            raise AttributeError(msg) from None
    return getattr(obj, name)


class _Compiler:
    """Turns a checked AST into nested closures of one argument, ``x``."""

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
        return lambda x: value

    def _Name(self, node: ast.Name) -> Fn:
        if node.id == "x":
            return lambda x: x
        if node.id in BUILTINS:
            raise self.fail(node, f"{node.id} can only be called, as in {node.id}(x)")
        raise self.fail(node, f"unknown name {node.id!r}; the only variable is x (the IP)")

    # -- operators ----------------------------------------------------------------------

    def _BinOp(self, node: ast.BinOp) -> Fn:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
        left, right = self.compile(node.left), self.compile(node.right)
        return lambda x: op(left(x), right(x))

    def _UnaryOp(self, node: ast.UnaryOp) -> Fn:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
        operand = self.compile(node.operand)
        return lambda x: op(operand(x))

    def _BoolOp(self, node: ast.BoolOp) -> Fn:
        parts = [self.compile(v) for v in node.values]
        if isinstance(node.op, ast.And):

            def all_of(x: Any) -> Any:
                value: Any = True
                for p in parts:
                    value = p(x)
                    if not value:
                        return value
                return value

            return all_of

        def any_of(x: Any) -> Any:
            value: Any = False
            for p in parts:
                value = p(x)
                if value:
                    return value
            return value

        return any_of

    def _Compare(self, node: ast.Compare) -> Fn:
        first = self.compile(node.left)
        ops = [_COMPARE[type(op)] for op in node.ops]
        rest = [self.compile(c) for c in node.comparators]
        if len(ops) == 1:
            op, right = ops[0], rest[0]
            return lambda x: op(first(x), right(x))

        def chain(x: Any) -> Any:
            left = first(x)
            for op, part in zip(ops, rest, strict=True):
                right = part(x)
                if not op(left, right):
                    return False
                left = right
            return True

        return chain

    def _IfExp(self, node: ast.IfExp) -> Fn:
        test, body, orelse = (self.compile(n) for n in (node.test, node.body, node.orelse))
        return lambda x: body(x) if test(x) else orelse(x)

    # -- access -------------------------------------------------------------------------

    def _Attribute(self, node: ast.Attribute) -> Fn:
        name = node.attr
        if name.startswith(_INTROSPECTION):
            raise self.fail(node, f"the attribute {name!r} is private or internal")
        obj = self.compile(node.value)
        return lambda x: read_attribute(obj(x), name)

    def _Subscript(self, node: ast.Subscript) -> Fn:
        obj = self.compile(node.value)
        index = self.compile(node.slice)
        if isinstance(node.slice, ast.Constant):
            key = node.slice.value
            return lambda x: obj(x)[key]
        return lambda x: obj(x)[index(x)]

    def _Slice(self, node: ast.Slice) -> Fn:
        bounds = (node.lower, node.upper, node.step)
        lo, hi, step = (None if n is None else self.compile(n) for n in bounds)
        return lambda x: slice(
            None if lo is None else lo(x),
            None if hi is None else hi(x),
            None if step is None else step(x),
        )

    # -- displays -----------------------------------------------------------------------

    def _List(self, node: ast.List) -> Fn:
        items = [self.compile(e) for e in node.elts]
        return lambda x: [f(x) for f in items]

    def _Tuple(self, node: ast.Tuple) -> Fn:
        items = [self.compile(e) for e in node.elts]
        return lambda x: tuple(f(x) for f in items)

    def _Set(self, node: ast.Set) -> Fn:
        items = [self.compile(e) for e in node.elts]
        return lambda x: {f(x) for f in items}

    def _Dict(self, node: ast.Dict) -> Fn:
        entries: list[tuple[Fn | None, Fn]] = [
            (None if k is None else self.compile(k), self.compile(v))
            for k, v in zip(node.keys, node.values, strict=True)
        ]
        if all(k is not None for k, _ in entries):
            pairs = [(k, v) for k, v in entries if k is not None]
            return lambda x: {k(x): v(x) for k, v in pairs}

        def build(x: Any) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for k, v in entries:
                if k is None:
                    value = v(x)
                    if not isinstance(value, Mapping):
                        msg = f"** needs a mapping, got {describe_value(value)}"
                        raise TypeError(msg)
                    out.update(value)
                else:
                    out[k(x)] = v(x)
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
        fn = BUILTINS[func.id]
        args = [self.compile(a) for a in node.args]
        if len(args) == 1:
            arg = args[0]
            return lambda x: fn(arg(x))
        return lambda x: fn(*(a(x) for a in args))


def compile_expression(source: str) -> Fn:
    """Check and compile an expression into a function of ``x``.

    Raises:
        ExpressionError: the text does not parse or uses something not allowed.
    """
    if not isinstance(source, str):
        msg = f"expected the text of an expression, got {describe_value(source)}"
        raise TypeError(msg)
    text = source.strip()
    if not text:
        raise ExpressionError(source, f"the expression is empty; write one, {_EXAMPLES}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        where = f"column {e.offset}" if e.offset else "the end"
        reason = f"{e.msg} at {where}; write a Python expression over x, {_EXAMPLES}"
        raise ExpressionError(source, reason) from None
    return _Compiler(text).compile(tree.body)
