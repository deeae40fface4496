"""flow: routing, filtering and grouping streams.

``Filter``, ``Map``, ``Split`` and ``Collate`` take an expression IIP: one line of
Python over ``x``, the IP's payload (``'x.value > 3'``, ``'x * 2'``,
``"{'id': x['id'], 'v': x['v'] + 1}"``). It is compiled once, when the graph is checked,
by a safe evaluator that allows literals, arithmetic, comparisons, ``and``/``or``/
``not``, ``a if c else b``, subscripts, public attributes (``x.key`` reads a mapping's
key too) and calls to a few pure builtins; see :class:`Expression`. Each evaluation is
bounded in time and memory (:class:`ExpressionLimits`).
"""

from ._expr import (
    BUILTINS,
    Expression,
    ExpressionError,
    ExpressionLimitError,
    ExpressionLimits,
)
from ._group import Batch, Collate, GroupBy, Unbatch
from ._route import Merge, Replicate, Zip
from ._select import Filter, Map, Split, Take

__all__ = (
    "BUILTINS",
    "Batch",
    "Collate",
    "Expression",
    "ExpressionError",
    "ExpressionLimitError",
    "ExpressionLimits",
    "Filter",
    "GroupBy",
    "Map",
    "Merge",
    "Replicate",
    "Split",
    "Take",
    "Unbatch",
    "Zip",
)
