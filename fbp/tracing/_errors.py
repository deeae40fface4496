"""Errors raised by the trace store, under :class:`fbp.FbpError`.

``TraceError`` and its subclasses are drawn with every other exception of fbp in one
tree, in :mod:`fbp._core._exceptions`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from fbp._core._exceptions import FbpError

__all__ = (
    "TraceError",
    "TraceFileError",
    "TraceLookupError",
    "TraceWriterError",
    "suggest",
)


_CUTOFF = 0.6
_MARGIN = 0.1


class TraceError(FbpError):
    """Base class of the errors of :mod:`fbp.tracing`."""


class TraceFileError(TraceError):
    """A trace file is missing, is not a trace, or has a format this version does not
    read (newer, or older and to be converted).

    Attributes:
        path: the file, as the caller gave it.
        old_version: the format of a file written by an older fbp (which ``python -m
            fbp trace convert`` converts), else None.
    """

    def __init__(self, path: str, message: str, *, old_version: int | None = None) -> None:
        self.path = path
        self.old_version = old_version
        super().__init__(message)


class TraceLookupError(TraceError, LookupError):
    """A run, port, edge or IP that the caller named is not in the trace.

    Attributes:
        what: the kind of thing looked up (``"run"``, ``"port or edge"``, ``"IP"``).
        name: what the caller asked for.
        suggestions: close matches that do exist, best first.
    """

    def __init__(
        self, message: str, *, what: str, name: str, suggestions: Sequence[str] = ()
    ) -> None:
        self.what = what
        self.name = name
        self.suggestions = tuple(suggestions)
        if self.suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(message)

    def __str__(self) -> str:
        # LookupError would render the message with quotes, like a KeyError.
        return str(self.args[0])


class TraceWriterError(TraceError):
    """The trace writer failed and cannot take more records.

    The original exception is chained as ``__cause__``.
    """


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close matches of ``name`` among ``candidates``, compared without case.

    Only the matches about as close as the best one are kept, so that an obvious
    typo gets one suggestion rather than a list.

    Args:
        name: what the caller typed.
        candidates: the names that exist.
        n: at most this many suggestions.

    Returns:
        The matching candidates, best first, spelled as in ``candidates``.
    """
    key = name.lower()
    scored: list[tuple[float, str]] = []
    for c in dict.fromkeys(candidates):
        ratio = difflib.SequenceMatcher(None, key, c.lower()).ratio()
        if ratio >= _CUTOFF:
            scored.append((ratio, c))
    if not scored:
        return []
    scored.sort(key=lambda rc: -rc[0])
    best = scored[0][0]
    return [c for r, c in scored[:n] if r >= best - _MARGIN]
