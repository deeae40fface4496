"""math: arithmetic and aggregates on numbers.

``Add`` and ``Multiply`` combine two streams pairwise (non-loopers); ``Scale``
multiplies by a constant; ``Sum``, ``Mean`` and ``Count`` aggregate a stream, or each
substream of it. Numbers are ``int | float``: ints stay ints.
"""

from ._aggregate import Count, Mean, Sum
from ._arith import Add, Multiply, Number, Scale

__all__ = ("Add", "Count", "Mean", "Multiply", "Number", "Scale", "Sum")
