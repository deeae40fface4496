"""Port types: compatibility at wiring time, validation at run time.

Types are any type pydantic can validate. Wiring asks one question of each edge: can
everything the sender's type allows be accepted by the receiver's type? The answer is
one of three:

- ``EXACT``: yes, without conversion (same type, a subclass, ``int`` into ``float``, a
  member of a union, ``Any`` on the receiving side). Nothing is checked per IP beyond
  the sender's own validation.
- ``CHECK``: maybe; the sender's type is looser than the receiver's (``Any`` into
  ``Reading``, ``str`` that may hold JSON for a model). The receiving port validates
  every IP arriving on such an edge.
- ``NEVER``: no value of the sender's type can be accepted (``str`` into ``int``, one
  model into an unrelated one). Wiring refuses the edge.
"""

from __future__ import annotations

import enum
import types
import typing
from functools import lru_cache
from typing import Any, Union

from pydantic import BaseModel, TypeAdapter, ValidationError

from ._exceptions import PacketTypeError
from ._ip import describe_value

__all__ = ("Compat", "Validator", "compatibility", "type_name")


class Compat(enum.Enum):
    """How a sender's type relates to a receiver's type."""

    EXACT = "exact"
    CHECK = "check"
    NEVER = "never"


_NUMERIC_TOWER: dict[type, tuple[type, ...]] = {
    bool: (int, float, complex),
    int: (float, complex),
    float: (complex,),
}


def type_name(tp: Any) -> str:
    """Render a type the way a user wrote it: ``int``, ``list[Reading]``, ``Any``."""
    if tp is Any:
        return "Any"
    if tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return type_name(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in typing.get_args(tp)) + "]"
    if origin is not None:
        args = typing.get_args(tp)
        name = getattr(origin, "__name__", repr(origin))
        return f"{name}[{', '.join(type_name(a) for a in args)}]" if args else name
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp)


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return None


@lru_cache(maxsize=4096)
def compatibility(src: Any, dst: Any) -> Compat:
    """Say whether IPs of type ``src`` can enter a port of type ``dst``."""
    src, dst = _strip(src), _strip(dst)
    if dst is Any or dst is object or src == dst:
        return Compat.EXACT
    if src is Any or src is object:
        return Compat.CHECK
    dst_args = _union_args(dst)
    src_args = _union_args(src)
    if src_args is not None:
        results = [compatibility(a, dst) for a in src_args]
        if all(r is Compat.EXACT for r in results):
            return Compat.EXACT
        if all(r is Compat.NEVER for r in results):
            return Compat.NEVER
        return Compat.CHECK
    if dst_args is not None:
        results = [compatibility(src, a) for a in dst_args]
        if Compat.EXACT in results:
            return Compat.EXACT
        if Compat.CHECK in results:
            return Compat.CHECK
        return Compat.NEVER
    if typing.get_origin(dst) is typing.Literal:
        if typing.get_origin(src) is typing.Literal:
            ok = set(typing.get_args(src)) <= set(typing.get_args(dst))
            return Compat.EXACT if ok else Compat.CHECK
        return Compat.CHECK
    if typing.get_origin(src) is typing.Literal:
        vals = typing.get_args(src)
        if all(_accepts_instance(dst, v) for v in vals):
            return Compat.EXACT
        return Compat.CHECK
    s_origin, d_origin = typing.get_origin(src), typing.get_origin(dst)
    if s_origin is not None or d_origin is not None:
        return _generic_compat(src, dst)
    if isinstance(src, type) and isinstance(dst, type):
        if issubclass(src, dst):
            return Compat.EXACT
        if dst in _NUMERIC_TOWER.get(src, ()):
            return Compat.EXACT
        if issubclass(dst, src):
            return Compat.CHECK  # a general value may happen to be the specific kind
        if src in (str, bytes, dict) and issubclass(dst, BaseModel):
            return Compat.CHECK  # JSON text or a mapping can validate into a model
        if src is str and dst in (int, float, bool):
            return Compat.NEVER
        return Compat.NEVER
    return Compat.CHECK


def _accepts_instance(tp: Any, value: Any) -> bool:
    return isinstance(tp, type) and isinstance(value, tp)


_SEQUENCES = (list, tuple, set, frozenset, typing.Sequence, typing.Iterable)


def _generic_compat(src: Any, dst: Any) -> Compat:
    s_origin = typing.get_origin(src) or src
    d_origin = typing.get_origin(dst) or dst
    s_args, d_args = typing.get_args(src), typing.get_args(dst)
    try:
        same_family = (
            isinstance(s_origin, type)
            and isinstance(d_origin, type)
            and (issubclass(s_origin, d_origin))
        )
    except TypeError:
        same_family = False
    if not same_family:
        if s_origin in _SEQUENCES and d_origin in _SEQUENCES:
            same_family = True
        elif isinstance(s_origin, type) and isinstance(d_origin, type):
            return Compat.NEVER
        else:
            return Compat.CHECK
    if not s_args or not d_args:
        return Compat.EXACT if not d_args else Compat.CHECK
    if len(s_args) != len(d_args):
        # tuple[int, ...] against list[int] and similar: compare element types.
        s_elems = [a for a in s_args if a is not Ellipsis]
        d_elems = [a for a in d_args if a is not Ellipsis]
        if len(s_elems) == 1 and len(d_elems) == 1:
            s_args, d_args = tuple(s_elems), tuple(d_elems)
        else:
            return Compat.CHECK
    results = [compatibility(a, b) for a, b in zip(s_args, d_args, strict=True)]
    if Compat.NEVER in results:
        return Compat.NEVER
    if all(r is Compat.EXACT for r in results):
        return Compat.EXACT
    return Compat.CHECK


class Validator:
    """Validates values against a port's type with pydantic, building the adapter once.

    ``check`` returns the validated value (pydantic's lax mode: ``1`` becomes ``1.0``
    for a float port, a JSON string becomes a model when the type is not ``str``).
    """

    __slots__ = ("_adapter", "_plain", "address", "tp")

    def __init__(self, tp: Any, address: str) -> None:
        self.tp = tp
        self.address = address
        self._adapter: TypeAdapter[Any] | None = None
        # Fast exit for plain classes: an instance of the exact class needs no work.
        # Not for Annotated types, whose constraints must run on every value.
        self._plain: type | None = (
            tp if isinstance(tp, type) and typing.get_origin(tp) is None else None
        )

    @property
    def adapter(self) -> TypeAdapter[Any]:
        """The pydantic adapter of the port's type (built on first use)."""
        if self._adapter is None:
            self._adapter = TypeAdapter(self.tp)
        return self._adapter

    def check(self, value: Any) -> Any:
        """Return ``value`` validated against the type, or raise PacketTypeError."""
        plain = self._plain
        if plain is not None and type(value) is plain:
            return value
        if self.tp is Any:
            return value
        try:
            return self.adapter.validate_python(value)
        except ValidationError as first:
            errors = first
            if isinstance(value, (str, bytes)) and not _accepts_text(self.tp):
                try:
                    return self.adapter.validate_json(value)
                except ValidationError as second:
                    # Valid JSON that does not fit says more than "not a dict".
                    if not any(e["type"] == "json_invalid" for e in second.errors()):
                        errors = second
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
                for e in errors.errors()[:3]
            )
            raise PacketTypeError(
                self.address, type_name(self.tp), describe_value(value), detail
            ) from None


def _accepts_text(tp: Any) -> bool:
    tp = _strip(tp)
    if tp in (str, bytes, Any, object):
        return True
    args = _union_args(tp)
    return bool(args and any(_accepts_text(a) for a in args))
