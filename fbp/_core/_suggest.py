"""Suggestions for misspelt names ("did you mean ...?"), at a bounded cost.

Comparing two strings costs up to the product of their lengths, and names in a graph
come from its file: a name much longer than any sensible one gets no suggestion, and
such names are never offered, so a hostile file cannot make an error message slow.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ("MAX_NAME", "close_matches")

#: Names longer than this are neither matched nor suggested.
MAX_NAME = 200


def close_matches(
    word: str, candidates: Iterable[str], n: int = 1, cutoff: float = 0.6
) -> list[str]:
    """:func:`difflib.get_close_matches`, for names of at most :data:`MAX_NAME` characters."""
    if len(word) > MAX_NAME:
        return []
    return difflib.get_close_matches(
        word, [c for c in candidates if len(c) <= MAX_NAME], n=n, cutoff=cutoff
    )
