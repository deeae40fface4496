"""Safe expressions over one IP: the ``EXPR`` of ``Filter``, ``Map``, ``Split`` and ``Collate``.

An expression is one line of Python over the variable ``x``, the IP's payload::

    x.value > 3
    x * 2
    {'id': x['id'], 'v': x['v'] + 1}
    'big' if abs(x) > 100 else 'small'

It is parsed with :mod:`ast` and compiled once, when the IIP reaches the port (for an
IIP in a graph file: when the graph is checked, before anything runs), into a tree of
small Python closures. Nothing is handed to ``eval``. The language is a whitelist:

- literals (numbers, strings, bytes, ``True``, ``False``, ``None``), and list, tuple,
  set and dict displays (``{**x, 'v': 1}`` copies a mapping);
- the name ``x``;
- arithmetic ``+ - * / // % **`` and unary ``- + not``;
- comparisons (chains too, ``in``, ``is``), ``and``, ``or``, ``a if cond else b``;
- subscripts and slices, ``x['key']``, ``x[0]``, ``x[1:3]``;
- attribute reads ``x.value``: on a mapping (a JSON object) they read the key, so
  ``x.value`` works for a dict and a model alike; private names (``_x``, ``__class__``)
  and the introspection attributes of frames, code and generators are refused;
- calls to the pure builtins in :data:`BUILTINS`, with positional arguments only.

Everything else (other names, other calls, keyword arguments, lambdas,
comprehensions, f-strings, assignment expressions) is refused with an
:class:`ExpressionError` that names the expression and the offending part.

Each evaluation is bounded by :class:`ExpressionLimits` (time and memory per IP): the
operations that can cost more than their operands are metered before they run, and an
evaluation that would pass a limit stops with :class:`ExpressionLimitError`.
"""

from __future__ import annotations

from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from ._expr_compile import (
    BUILTINS,
    ExpressionError,
    ExpressionLimitError,
    Fn,
    compile_expression,
    describe_value,
)
from ._expr_limits import ExpressionLimits, Refused, limits_from_env

__all__ = ("BUILTINS", "Expression", "ExpressionError", "ExpressionLimitError", "ExpressionLimits")


class Expression(str):
    """The text of a safe expression over ``x``, compiled once; call it with a payload.

    A port typed ``InPort[Expression]`` compiles its IIP when the graph is checked, so a
    bad expression is reported before the network runs. An Expression is a ``str``
    (its text), so it prints, compares and serialises as the text.

    Example::

        >>> Expression("x * 2")(21)
        42
    """

    _fn: Fn
    #: What one evaluation may use.
    limits: ExpressionLimits

    def __new__(cls, source: str, limits: ExpressionLimits | None = None) -> Expression:
        """Compile ``source``; raise :class:`ExpressionError` if it is not allowed.

        ``limits`` bound each evaluation; by default they come from ``FBP_EXPR_TIME``
        (seconds) and ``FBP_EXPR_MEMORY`` (MiB), else 1 s and 64 MiB.
        """
        if limits is None:
            try:
                limits = limits_from_env()
            except ValueError as e:
                raise ExpressionError(str(source), str(e)) from None
        fn = compile_expression(source)
        self = super().__new__(cls, source)
        self._fn = fn
        self.limits = limits
        return self

    def __call__(self, x: Any) -> Any:
        """Evaluate the expression with ``x`` bound to ``x``.

        Raises:
            ExpressionLimitError: the evaluation would take more time or memory than
                its limits allow; it is stopped before the operation that would.
            ExpressionError: the evaluation failed (a missing key, a wrong type, ...);
                the message names the expression and the value.
        """
        try:
            return self._fn(x, [self.limits])
        except Refused as e:
            reason = (
                f"stopped on {describe_value(x)}: {e}; simplify the expression, or raise"
                " the limit (FBP_EXPR_TIME in seconds, FBP_EXPR_MEMORY in MiB)"
            )
            raise ExpressionLimitError(str(self), reason, self.limits) from None
        except Exception as e:
            reason = f"failed on {describe_value(x)}: {type(e).__name__}: {_clip(e)}"
            raise ExpressionError(str(self), reason) from e

    def __reduce__(self) -> tuple[type[Expression], tuple[str, ExpressionLimits]]:
        return (type(self), (str(self), self.limits))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate a string by compiling it (an Expression passes as it is); dump the text."""
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.to_string_ser_schema(),
        )

    @classmethod
    def _validate(cls, value: Any) -> Expression:
        if isinstance(value, Expression):
            return value
        if not isinstance(value, str):
            msg = f"an expression must be a string of text, not {describe_value(value)}"
            raise ValueError(msg)  # pydantic reports ValueErrors as validation errors
        return cls(value)


def _clip(e: BaseException, limit: int = 300) -> str:
    text = str(e)
    return text if len(text) <= limit else text[: limit - 3] + "..."
