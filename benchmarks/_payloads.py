"""Payloads: what the benchmark pipelines carry, and the work each stage does.

Three payload kinds: a bare ``int``, a small pydantic model (3 fields) and a wide one
(20 fields). Every tool gets the same prebuilt list of payloads and the same stage
function, so the tools differ only in how they move items:

- ``int``: each stage computes ``x + 1``.
- the models: each stage forwards the object unchanged. What a model costs is then what
  the tool does with it (for fbp: port validation, and serialisation when traced).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

__all__ = (
    "PAYLOADS",
    "PayloadKind",
    "Small",
    "Wide",
    "expected_last",
    "make_items",
    "payload_type",
    "stage_function",
)

PayloadKind = Literal["int", "small", "wide"]
PAYLOADS: tuple[PayloadKind, ...] = ("int", "small", "wide")


class Small(BaseModel):
    """A small record: 3 fields."""

    seq: int
    sensor: str
    value: float


class Wide(BaseModel):
    """A wide record: 20 fields of mixed types."""

    seq: int
    sensor: str
    value: float
    f03: int = 3
    f04: int = 4
    f05: int = 5
    f06: int = 6
    f07: float = 7.0
    f08: float = 8.0
    f09: float = 9.0
    f10: float = 10.0
    f11: str = "eleven"
    f12: str = "twelve"
    f13: str = "thirteen"
    f14: str = "fourteen"
    f15: bool = True
    f16: bool = False
    f17: int = 17
    f18: float = 18.0
    f19: str = "nineteen"


def payload_type(kind: PayloadKind) -> type[Any]:
    """The Python type of a payload kind (what fbp ports are declared with)."""
    return {"int": int, "small": Small, "wide": Wide}[kind]


def make_items(kind: PayloadKind, n: int) -> list[Any]:
    """Build ``n`` payloads of a kind, before any timing starts."""
    if kind == "int":
        return list(range(n))
    if kind == "small":
        return [Small(seq=i, sensor="t1", value=i * 0.5) for i in range(n)]
    return [Wide(seq=i, sensor="t1", value=i * 0.5) for i in range(n)]


def _inc(x: int) -> int:
    return x + 1


def _same(x: Any) -> Any:
    return x


def stage_function(kind: PayloadKind) -> Callable[[Any], Any]:
    """The work of one stage for a payload kind: ``x + 1`` for ints, else forward."""
    return _inc if kind == "int" else _same


def expected_last(kind: PayloadKind, items: list[Any], stages: int) -> Any:
    """What the sink must see last after ``stages`` stages (to check every run)."""
    last = items[-1]
    if kind == "int":
        return last + stages
    return last
