"""The cost of evaluating an expression, metered while it is evaluated.

Every operation of the language whose cost can grow beyond the size of its operands
(repeating a sequence, joining, converting to text, sorting, comparing or hashing
containers, big powers...) asks the evaluation's :class:`Meter` for the work and memory
it is about to use *before* it runs; the meter refuses it when the evaluation would pass
its :class:`ExpressionLimits`. Operations on numbers, short strings and single items
cost nothing to meter. The size of a value is its approximate printed length, found by
a walk that stops as soon as it passes the limit and remembers shared parts, so a
structure of many references to one list is never walked twice and a huge one is
refused after a short walk.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final

from pydantic import BaseModel

__all__ = (
    "FLAT",
    "SMALL",
    "Ctx",
    "ExpressionLimits",
    "Meter",
    "Refused",
    "limits_from_env",
    "meter",
)

#: Environment variables that set the default limits.
TIME_ENV: Final = "FBP_EXPR_TIME"
MEMORY_ENV: Final = "FBP_EXPR_MEMORY"

#: How many metered steps (an item copied, compared or printed) a second is taken to
#: hold. Set low on purpose: the estimate decides before the work starts, and a slower
#: machine must not overrun the time limit by much.
STEPS_PER_SECOND: Final = 20_000_000

#: The largest integer power, in bits, and the largest number of digits that int() and
#: str() convert (Python's own conversion limit may be switched off by the host).
MAX_POW_BITS: Final = 100_000
MAX_DIGITS: Final = 4300

_MIB: Final = 1 << 20

#: Operations on at most this many items are too cheap to meter one by one. An
#: expression has at most ``MAX_SOURCE`` characters, so what they add up to is bounded.
SMALL: Final = 256


@dataclass(frozen=True, slots=True)
class ExpressionLimits:
    """What one evaluation of an expression may use, per IP.

    Attributes:
        time: seconds of work. Operations are refused before they start when their
            estimated work would pass it, and the clock is checked after each one.
        memory: bytes the evaluation may allocate for the values it builds (payloads
            read from the IP are not counted).

    The defaults come from ``FBP_EXPR_TIME`` (seconds, default 1) and
    ``FBP_EXPR_MEMORY`` (MiB, default 64).
    """

    time: float = 1.0
    memory: int = 64 * _MIB

    def __post_init__(self) -> None:
        if not (isinstance(self.time, int | float) and math.isfinite(self.time) and self.time > 0):
            msg = f"the time limit must be a positive number of seconds, not {self.time!r}"
            raise ValueError(msg)
        if not isinstance(self.memory, int) or isinstance(self.memory, bool) or self.memory <= 0:
            msg = f"the memory limit must be a positive number of bytes, not {self.memory!r}"
            raise ValueError(msg)

    @property
    def steps(self) -> int:
        """The work budget in metered steps."""
        return int(self.time * STEPS_PER_SECOND)


def limits_from_env() -> ExpressionLimits:
    """The default limits, read from ``FBP_EXPR_TIME`` and ``FBP_EXPR_MEMORY``.

    Raises:
        ValueError: a variable is set to something that is not a positive number.
    """
    seconds = _env_number(TIME_ENV, "seconds", 1.0)
    mib = _env_number(MEMORY_ENV, "MiB", 64.0)
    return ExpressionLimits(time=seconds, memory=max(1, int(mib * _MIB)))


def _env_number(name: str, unit: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        msg = f"{name}={raw!r} is not a positive number of {unit}; set it to e.g. {default:g}"
        raise ValueError(msg)
    return value


class Refused(Exception):
    """An operation would pass the limits of the evaluation (the reason says which)."""


#: Values whose cost to compare, hash or print does not depend on anything else.
FLAT: Final = frozenset({int, float, bool, str, bytes, type(None), complex})

_SEQUENCES: Final = (str, bytes, bytearray, list, tuple)


#: What every operation of an evaluation is given: ``[limits]``, and once something has
#: been metered, ``[limits, meter]`` (most evaluations never need a meter).
Ctx = list[Any]


def meter(ctx: Ctx) -> Meter:
    """The meter of an evaluation, made when it is first needed."""
    if len(ctx) == 1:
        ctx.append(Meter(ctx[0]))
    return ctx[1]  # type: ignore[no-any-return]


class Meter:
    """The work and memory one evaluation has used, against its limits."""

    __slots__ = ("limits", "memo", "memory", "started", "work")

    def __init__(self, limits: ExpressionLimits) -> None:
        self.limits = limits
        self.work = 0
        self.memory = 0
        self.started = 0.0
        #: Sizes of the containers walked so far: ``id -> (object, size)``.
        self.memo: dict[int, tuple[Any, int]] | None = None

    def charge(self, work: int, memory: int, what: str) -> None:
        """Take ``work`` steps and ``memory`` bytes for ``what``, or refuse."""
        limits = self.limits
        self.memory += memory
        if self.memory > limits.memory:
            msg = (
                f"{what} would need about {_amount(self.memory)} of memory, more than"
                f" the limit of {_amount(limits.memory)} per evaluation"
            )
            raise Refused(msg)
        self.work += work
        if self.work > limits.steps:
            msg = (
                f"{what} would take about {self.work / STEPS_PER_SECOND:.3g} s, more than"
                f" the limit of {limits.time:g} s per evaluation"
            )
            raise Refused(msg)
        now = time.perf_counter()
        if not self.started:
            self.started = now
        elif now - self.started > limits.time:
            msg = f"{what}: the evaluation has run for more than {limits.time:g} s"
            raise Refused(msg)

    def size(self, value: Any) -> int:
        """The approximate printed length of ``value`` (its cost to print, compare or
        hash), or a number past every limit if it is larger than that."""
        cap = max(self.limits.memory - self.memory, self.limits.steps - self.work) + 1
        if self.memo is None:
            self.memo = {}
        return self._size(value, cap)

    def _size(self, v: Any, cap: int) -> int:
        t = type(v)
        if t is int:
            return v.bit_length() // 3 + 2  # type: ignore[no-any-return]
        if t is str:
            return len(v) + 2
        if t is float or t is bool or v is None:
            return 8
        if t is bytes or t is bytearray:
            return 4 * len(v) + 3
        memo = self.memo
        assert memo is not None
        key = id(v)
        seen = memo.get(key)
        if seen is not None:
            return seen[1]
        if isinstance(v, Mapping):
            total = 2 + 4 * len(v)
            if total <= cap:
                for k, item in v.items():
                    total += self._size(k, cap - total) + self._size(item, cap - total)
                    if total > cap:
                        break
        elif isinstance(v, list | tuple | set | frozenset):
            total = 2 + 2 * len(v)
            for item in v:
                if total > cap:
                    break
                ti = type(item)  # the common items inline, the others by recursion
                if ti is int:
                    total += item.bit_length() // 3 + 2
                elif ti is str:
                    total += len(item) + 2
                elif ti is float or ti is bool or item is None:
                    total += 8
                else:
                    total += self._size(item, cap - total)
        elif isinstance(v, BaseModel):
            fields = v.__dict__
            total = len(t.__name__) + 2 + 4 * len(fields)
            if total <= cap:
                for k, item in fields.items():
                    total += len(k) + self._size(item, cap - total)
                    if total > cap:
                        break
        else:
            total = 32  # another object: its repr is its own business
        memo[key] = (v, total)
        return total

    def items(self, value: Any, what: str) -> Any:
        """``value`` ready to iterate: itself when its length is known, else its first
        items as a list, refused when there are more than the memory allows."""
        try:
            n = len(value)
        except TypeError:
            room = max(0, (self.limits.memory - self.memory) // 8)
            items = list(islice(iter(value), room + 1))
            self.charge(len(items), 8 * len(items), what)
            if len(items) > room:
                msg = f"{what} would go through more items than the memory limit allows"
                raise Refused(msg) from None
            return items
        if n > SMALL:
            self.charge(n, 0, what)
        return value


def shallow_bytes(value: Any, n: int | None = None) -> int:
    """Bytes a sequence like ``value`` with ``n`` items (default: its own) takes."""
    count = len(value) if n is None else n
    t = type(value)
    if t is str:
        return count if value.isascii() else 4 * count
    if t is bytes or t is bytearray:
        return count
    if isinstance(value, Mapping):
        return 48 * count
    return 8 * count


def _amount(nbytes: int) -> str:
    if nbytes >= _MIB:
        return f"{nbytes / _MIB:,.0f} MiB"
    return f"{nbytes:,} bytes"


def is_sequence(value: Any) -> bool:
    """Whether ``value`` is a str, bytes, list or tuple (what ``*`` repeats, ``+`` joins)."""
    return isinstance(value, _SEQUENCES)
