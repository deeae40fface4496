"""Benchmark cases (the shapes every tool runs) and what one run measures."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from ._payloads import PayloadKind

__all__ = (
    "CAPACITY",
    "MERGE_SOURCES",
    "Case",
    "Probe",
    "Shape",
    "Timing",
    "Unsupported",
    "frozen_heap",
    "merge_feeds",
)

#: Capacity of every edge, queue and stream (for tools that have one).
CAPACITY = 32
#: Sources of the merge case.
MERGE_SOURCES = 4

Shape = Literal["linear", "diamond", "merge"]


class Unsupported(Exception):
    """A tool has no natural way to build a case's shape (reported as n/a)."""


@dataclass(frozen=True, slots=True)
class Case:
    """One benchmark configuration.

    Attributes:
        name: unique, e.g. ``linear-k5-int``.
        shape: ``linear`` (source, ``stages`` stages, sink); ``diamond`` (a source fans
            out to two ``x + 1`` branches that a pairing join adds up, then a sink);
            ``merge`` (4 sources into a 4-element array port, forwarded to a sink).
        stages: K for a linear pipeline (0 for the other shapes).
        payload: what the items are.
        items: items produced by the source(s) per run.
    """

    name: str
    shape: Shape
    stages: int
    payload: PayloadKind
    items: int
    capacity: int = CAPACITY

    @property
    def hops(self) -> int:
        """Channel transfers per item: the edges an item (or its copies) crosses."""
        if self.shape == "linear":
            return self.stages + 1
        if self.shape == "diamond":
            return 5  # src->a, src->b, a->join, b->join, join->sink
        return 2  # src->merge, merge->sink

    @property
    def work_stages(self) -> int:
        """How many ``x + 1`` stages the last item passes through (to check outputs)."""
        return self.stages if self.shape == "linear" else 0

    def describe(self) -> str:
        """One line for tables: the shape and its size."""
        if self.shape == "linear":
            return f"linear, K={self.stages}, {self.payload}"
        if self.shape == "diamond":
            return f"diamond (fan-out, join), {self.payload}"
        return f"merge of {MERGE_SOURCES} sources, {self.payload}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {
            "name": self.name,
            "shape": self.shape,
            "stages": self.stages,
            "payload": self.payload,
            "items": self.items,
            "hops": self.hops,
            "capacity": self.capacity,
            "description": self.describe(),
        }


def merge_feeds(items: list[Any]) -> list[list[Any]]:
    """Split the items among the merge case's sources."""
    return [items[i::MERGE_SOURCES] for i in range(MERGE_SOURCES)]


@dataclass(slots=True)
class Probe:
    """Shared by a run's source(s) and sink: when items started flowing, what arrived."""

    t0: float = 0.0
    count: int = 0
    last: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        """Mark the first send (the first caller wins)."""
        if not self.t0:
            self.t0 = time.perf_counter()


@dataclass(frozen=True, slots=True)
class Timing:
    """What one run measured.

    Attributes:
        seconds: the steady part, from the first item a source sends to the end of the
            run (every task ended; for a traced fbp run, the trace is stored).
        total: the whole run call, including starting and ending the tasks (graph
            building and imports excluded).
        count: items the sink received.
        last: the last item the sink received.
    """

    seconds: float
    total: float
    count: int
    last: Any


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Hide everything alive now (modules, prebuilt items) from the garbage collector.

    The collections made between runs then stay cheap, and a full collection of the
    whole heap never lands inside a timed run.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
