"""Payload settings and payload serialisation for the trace writer.

A setting says what to keep of the payloads a port sends: ``"all"`` (the default),
``"none"``, or a list of field names (for dict, pydantic-model and dataclass payloads;
the payload of any other type is then not recorded). Settings apply per network
(``"*"``) and per port (``"proc.OUT"`` for every element of an array port,
``"proc.OUT[1]"`` for one element), the most specific winning::

    TraceWriter("run.trace", payload={"*": "all", "Split.OUT": ["word"], "Auth.OUT": "none"})

Payloads are serialised to JSON a whole batch at a time (see :class:`BatchEncoder`),
by orjson, with the JSON of ``pydantic_core.to_json`` for what orjson does not write
itself (plain pydantic models are written by orjson from their fields, with the same
result): pydantic models and dataclasses as their fields, plain JSON values as they
are, NaN and infinities as null, bytes as base64 (inside models too: a model whose
fields may hold bytes is dumped to Python values first, since its own JSON would
write them as UTF-8 text). Anything else is stored as
``{"$repr": repr(x), "$type": "module.Class"}``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

import orjson
import pydantic_core
from pydantic_core import SchemaSerializer
from pydantic_core import core_schema as cs

from fbp._core._record import CLOSE, KIND, OPEN, PAYLOAD, PORT_ID
from fbp._core._tracehook import PortInfo, TraceRecord

from ._address import format_address, parse_address
from ._errors import suggest

__all__ = (
    "NONE",
    "BatchEncoder",
    "PayloadMode",
    "PayloadSetting",
    "Selection",
    "check_setting",
    "encode_batch",
    "encode_json",
    "resolve_payload_modes",
)

PayloadMode: TypeAlias = Literal["all", "none"] | Sequence[str]
PayloadSetting: TypeAlias = PayloadMode | Mapping[str, PayloadMode]

#: A resolved mode: None for "all", NONE, or the field names to keep.
Mode: TypeAlias = str | tuple[str, ...] | None
#: A port as settings name it: (process, PORT, index or None for every element).
PortKey: TypeAlias = tuple[str, str, int | None]

#: What a port keeps, once resolved (ports keeping everything are left out): NONE
#: or the field names.
Selection: TypeAlias = str | tuple[str, ...]

#: The resolved mode of a port that records no payload.
NONE: Final = "none"

_REPR_LIMIT = 4096
_BRACKETS = (OPEN, CLOSE)


def _check_mode(mode: object, where: str) -> Mode:
    """Normalise one mode: None for "all", NONE, or a tuple of field names."""
    if mode == "all":
        return None
    if mode == "none":
        return NONE
    if isinstance(mode, Sequence) and not isinstance(mode, str | bytes):
        fields = tuple(mode)
        if fields and all(isinstance(f, str) for f in fields):
            return fields
    msg = (
        f"payload setting for {where} is {mode!r}; use 'all', 'none' or a non-empty"
        " list of field names"
    )
    raise ValueError(msg)


def check_setting(setting: PayloadSetting) -> tuple[Mode, dict[PortKey, Mode]]:
    """Check a payload setting's shape; return its default mode and per-port modes.

    Raises:
        ValueError: a mode or a port address is malformed.
    """
    if not isinstance(setting, Mapping):
        return _check_mode(setting, "every port"), {}
    default = _check_mode(setting.get("*", "all"), "'*'")
    by_port: dict[PortKey, Mode] = {}
    for key, mode in setting.items():
        if key == "*":
            continue
        parsed = parse_address(key) if isinstance(key, str) else None
        if parsed is None:
            msg = f"payload setting key {key!r} is not '*' or a port address like 'proc.OUT'"
            raise ValueError(msg)
        by_port[parsed] = _check_mode(mode, repr(key))
    return default, by_port


def resolve_payload_modes(
    setting: PayloadSetting, ports: Sequence[PortInfo]
) -> dict[int, Selection]:
    """Resolve a payload setting against a run's ports.

    Args:
        setting: a mode for every port, or a mapping from ``"*"`` and port addresses
            to modes.
        ports: the run's ports, indexed by port id.

    Returns:
        The port ids whose mode is not "all", with their mode (NONE or field names).

    Raises:
        ValueError: a mode is malformed, or an address names no port of the run.
    """
    default, by_port = check_setting(setting)
    known = {(p.process, p.port.upper(), p.index) for p in ports}
    known |= {(p.process, p.port.upper(), None) for p in ports}
    for key in by_port:
        if key not in known:
            name = format_address(*key)
            names = {format_address(*k) for k in known if (k[2] is None) == (key[2] is None)}
            hint = suggest(name, sorted(names))
            msg = f"payload setting names {name!r}, which is not a port of this network"
            if hint:
                msg += "; did you mean " + " or ".join(repr(h) for h in hint) + "?"
            raise ValueError(msg)
    modes: dict[int, Selection] = {}
    for port_id, p in enumerate(ports):
        exact = (p.process, p.port.upper(), p.index)
        whole = (p.process, p.port.upper(), None)
        if exact in by_port:
            mode = by_port[exact]
        elif whole in by_port:
            mode = by_port[whole]
        else:
            mode = default
        if mode is not None:
            modes[port_id] = mode
    return modes


def _safe_repr(obj: object) -> str:
    try:
        text = repr(obj)
    except Exception as exc:  # a broken __repr__ must not lose the record
        text = f"<{type(obj).__qualname__} object; repr() raised {exc!r}>"
    if len(text) > _REPR_LIMIT:
        text = text[: _REPR_LIMIT - 3] + "..."
    return text


def _type_name(obj: object) -> str:
    tp = type(obj)
    return f"{tp.__module__}.{tp.__qualname__}"


def _fallback(obj: Any) -> Any:
    """Turn a value JSON cannot encode into something it can."""
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        try:
            return tolist()
        except Exception:  # a failing tolist() falls through to the repr
            pass
    return {"$repr": _safe_repr(obj), "$type": _type_name(obj)}


def _holds_bytes(schema: Any) -> bool:
    """Whether a pydantic core schema has a bytes type anywhere, or a type that may
    hold bytes (``Any``)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in ("bytes", "any"):
                return True
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False


_HOLDS_BYTES: dict[type, bool] = {}


def _dumps_bytes(cls: type) -> bool:
    """Whether instances of a pydantic model class hold bytes: those are dumped to
    Python values first, so that their bytes are written as base64, as bare bytes are
    (a model's own JSON writes bytes as UTF-8 text, which binary data is not)."""
    known = _HOLDS_BYTES.get(cls)
    if known is None:
        known = _HOLDS_BYTES[cls] = _holds_bytes(getattr(cls, "__pydantic_core_schema__", None))
    return known


def encode_json(value: Any) -> bytes:
    """Encode one value as JSON the way the writer does, never raising."""
    model = getattr(type(value), "__pydantic_serializer__", None) is not None
    try:
        if model and _dumps_bytes(type(value)):
            value = value.model_dump(mode="python")
        return pydantic_core.to_json(
            value, inf_nan_mode="null", bytes_mode="base64", fallback=_fallback
        )
    except Exception:
        if not model:
            return _marker(value)
    try:  # a model's own JSON failed (bytes in a field typed Any, say): its Python dump
        return pydantic_core.to_json(
            value.model_dump(mode="python"),
            inf_nan_mode="null",
            bytes_mode="base64",
            fallback=_fallback,
        )
    except Exception:
        return _marker(value)


def _marker(value: Any) -> bytes:
    """The JSON of a ``$repr`` marker for a value JSON cannot encode, with the error."""
    try:
        pydantic_core.to_json(value, inf_nan_mode="null", bytes_mode="base64", fallback=_fallback)
        error = "the value's JSON could not be written"
    except Exception as exc:
        error = repr(exc)
    marker = {"$repr": _safe_repr(value), "$type": _type_name(value), "$error": error}
    return pydantic_core.to_json(marker)


def _select(payload: Any, fields: tuple[str, ...]) -> tuple[bool, Any]:
    """Keep only ``fields`` of a payload; (False, None) if it has no fields."""
    if isinstance(payload, Mapping):
        return True, {f: payload[f] for f in fields if f in payload}
    if getattr(type(payload), "__pydantic_fields__", None) is not None or (
        dataclasses.is_dataclass(payload) and not isinstance(payload, type)
    ):
        return True, {f: getattr(payload, f) for f in fields if hasattr(payload, f)}
    return False, None


_to_json = functools.partial(
    pydantic_core.to_json, inf_nan_mode="null", bytes_mode="base64", fallback=_fallback
)

# Records as the runtime shapes them. Serialising with their schema gives the same
# JSON as ``_to_json`` (the payload is inferred alike) in about three quarters of the
# time, which is time the writer thread holds the GIL.
_RECORDS = SchemaSerializer(
    cs.list_schema(
        cs.tuple_schema(
            [
                *[cs.int_schema()] * 5,
                cs.tuple_schema([cs.int_schema()], variadic_item_index=0),
                cs.any_schema(),
            ]
        )
    ),
    cs.CoreConfig(ser_json_inf_nan="null", ser_json_bytes="base64"),
)


def _apply_modes(
    records: list[TraceRecord], modes: Mapping[int, Selection]
) -> list[tuple[Any, ...]]:
    """The records with the ports' payload settings applied: a record whose payload
    is not kept loses its last element."""
    out: list[tuple[Any, ...]] = []
    get = modes.get
    for r in records:
        mode = get(r[PORT_ID])
        if mode is None or (r[KIND] in _BRACKETS and mode != NONE):
            out.append(r)  # kept whole; a bracket's tag is structure, not data
        elif mode == NONE:
            out.append(r[:PAYLOAD])
        else:
            keep, value = _select(r[PAYLOAD], mode)  # type: ignore[arg-type]
            out.append((*r[:PAYLOAD], value) if keep else r[:PAYLOAD])
    return out


def _json_safe(payload: Any) -> Any:
    """The payload if JSON can encode it, else a marker saying what it was."""
    try:
        _to_json(payload)
    except Exception as exc:
        return {"$repr": _safe_repr(payload), "$type": _type_name(payload), "$error": repr(exc)}
    return payload


def _encode_exact(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Encode records with pydantic-core: every payload type, never raising."""
    models = {type(r[PAYLOAD]) for r in rows if len(r) > PAYLOAD}
    if any(getattr(m, "__pydantic_serializer__", None) and _dumps_bytes(m) for m in models):
        try:  # models holding bytes: each encoded by encode_json
            return orjson.dumps(
                [
                    (*r[:PAYLOAD], orjson.Fragment(encode_json(r[PAYLOAD])))
                    if len(r) > PAYLOAD
                    else r
                    for r in rows
                ]
            )
        except TypeError:
            pass
    try:
        return _RECORDS.to_json(rows, fallback=_fallback, warnings=False)
    except Exception:  # a payload JSON cannot encode: isolate it
        pass
    safe = [(*r[:PAYLOAD], _json_safe(r[PAYLOAD])) if len(r) > PAYLOAD else r for r in rows]
    return _to_json(safe)


# What orjson must not encode itself, so that its output is the same as pydantic-core's:
# subclasses of the built-in types, datetimes and dataclasses make it raise instead.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
#: Payload objects remembered with their JSON: at least this many, at most twice.
_REMEMBERED = 2048
#: Batches encoded by pydantic-core whole after one whose objects were mostly new.
_WHOLE_BATCHES = 32
#: Payload types orjson writes itself (the containers calling back for what they hold).
_CONTAINERS = frozenset((list, dict, tuple))
_NATIVE = frozenset((int, float, str, bool, type(None))) | _CONTAINERS

# Core schemas of fields whose values orjson writes as pydantic-core would.
_PLAIN_FIELDS = frozenset(("int", "float", "str", "bool", "none", "any"))
_WRAPPERS = frozenset(("nullable", "default"))
#: Keys of a model field's core schema that do not change how its value is written.
_FIELD_KEYS = frozenset(("type", "schema", "metadata", "validation_alias", "frozen"))


def _plain_schema(schema: Any, seen: set[type]) -> bool:
    """Whether a field's core schema is written by pydantic-core as orjson writes its
    value: plain JSON types, lists and string-keyed dicts of them, and models that are
    themselves plain (see :func:`_plain_model`)."""
    if not isinstance(schema, dict) or "serialization" in schema:
        return False
    kind = schema.get("type")
    if kind in _PLAIN_FIELDS:
        return True
    if kind in _WRAPPERS:
        return _plain_schema(schema.get("schema"), seen)
    if kind == "list":
        items = schema.get("items_schema")
        return items is None or _plain_schema(items, seen)
    if kind == "dict":
        keys, values = schema.get("keys_schema"), schema.get("values_schema")
        plain_keys = keys is None or (keys.get("type") == "str" and "serialization" not in keys)
        return plain_keys and (values is None or _plain_schema(values, seen))
    if kind == "model":
        return _plain_model(schema.get("cls"), seen) is not None
    return False


def _plain_model(cls: Any, seen: set[type] | None = None) -> int | None:
    """How many fields a pydantic model class has, if its JSON is its ``__dict__``'s
    as orjson writes it; else None. Plain: no aliases for serialisation, no excluded
    or computed fields, no custom serialisers, no extra fields, no serialisation
    settings, and every field's type plain (see :func:`_plain_schema`)."""
    seen = set() if seen is None else seen
    if cls in seen:  # a recursive model: not worth following
        return None
    seen.add(cls)
    schema = getattr(cls, "__pydantic_core_schema__", None)
    if not isinstance(schema, dict) or schema.get("type") != "model":
        return None
    if schema.get("cls") is not cls:
        return None
    config = schema.get("config") or {}
    if (
        schema.get("root_model")
        or "serialization" in schema
        or config.get("extra_fields_behavior") == "allow"
        or any(str(k).startswith("ser_") for k in config)
    ):
        return None
    inner = schema.get("schema")
    if (
        not isinstance(inner, dict)
        or inner.get("type") != "model-fields"
        or inner.get("computed_fields")
        or "serialization" in inner
    ):
        return None
    fields = inner.get("fields") or {}
    for field in fields.values():
        if not set(field) <= _FIELD_KEYS or not _plain_schema(field.get("schema"), seen):
            return None
    return len(fields)


_PLAIN_MODELS: dict[type, int | None] = {}


def _c_split(name: str) -> Any:
    """A function of ``fbp.tracing._split`` where built (not with ``FBP_NO_ACCEL`` set)."""
    from fbp._core._compiled import load

    module: Any = load("fbp.tracing._split")
    return None if module is None else getattr(module, name, None)


#: The C pass over a batch: its payloads and a code per record (see _referred_text).
_payloads_of = _c_split("payloads_of")
_rows_json = _c_split("rows_json")
#: The codes of _payloads_of besides a reference's record number.
_PAYLOAD, _NO_PAYLOAD = -1, -2


def _fields_count(cls: type) -> int | None:
    """:func:`_plain_model`, remembered per class."""
    try:
        return _PLAIN_MODELS[cls]
    except KeyError:
        pass
    try:
        n = _plain_model(cls)
    except Exception:  # an unusual schema: written by pydantic-core
        n = None
    _PLAIN_MODELS[cls] = n
    return n


class BatchEncoder:
    """Encode batches of records as JSON texts, applying the ports' payload settings.

    Each text is an array with one array per record, ``[ip_id, kind, port_id,
    activation, t_ns, [parents...], payload]``, the payload left out when its port
    keeps none. orjson writes the text, about three times faster than pydantic-core.
    Values it would not encode as pydantic-core does (pydantic models, dataclasses,
    datetimes, bytes, subclasses of the built-in types...) it hands back, and they are
    encoded by pydantic-core, one call per object, and spliced in as they are: an
    object sent on many hops (forwarded unchanged, fanned out) is encoded once while
    it is among the last ``_REMEMBERED`` such objects. A batch orjson refuses even
    then (an int beyond 64 bits, a dict with keys that are not strings) is encoded by
    pydantic-core whole. A payload that cannot be encoded at all is replaced by a
    ``$repr`` marker (with ``$error``), so one bad payload never loses the batch.

    Objects encoded one by one cost more than in one call for the batch, so after a
    batch whose objects were mostly new (a source of models, a stage making new ones),
    the next ``_WHOLE_BATCHES`` batches are encoded by pydantic-core whole.

    With ``references`` (what the trace writer uses), the texts are parts of one
    commit (see :meth:`new_commit`), and a record whose payload object was met before
    in the commit (a model forwarded unchanged, fanned out) is written as a reference
    to the commit's record k that carried it first, ``[..., [parents...], null, k]``;
    the splitters (:mod:`fbp.tracing._chunks`) give it that record's stored text. The
    first time, a plain pydantic model (see :func:`_plain_model`) is
    written by orjson from its fields, in the same call as the batch: about as fast
    as a dict, where a call per model to pydantic-core costs some microseconds.
    """

    __slots__ = (
        "_base",
        "_carried",
        "_encoded",
        "_hits",
        "_misses",
        "_previous",
        "_whole_left",
        "modes",
        "references",
    )

    def __init__(self, modes: Mapping[int, Selection], *, references: bool = False) -> None:
        self.modes = modes
        self.references = references
        # Encoded values by object id, with the object (which keeps the id valid):
        # the latest ones, and the generation before them.
        self._encoded: dict[int, tuple[Any, orjson.Fragment]] = {}
        self._previous: dict[int, tuple[Any, orjson.Fragment]] = {}
        self._hits = self._misses = self._whole_left = 0
        #: With references: the records of the commit before this batch, and the
        #: payload objects carried so far, by id, with their reference (the object
        #: keeps its id valid).
        self._base = 0
        self._carried: dict[int, tuple[Any, int]] = {}

    def new_commit(self) -> None:
        """The texts encoded so far were handed over as one commit (the splitters
        resolve references within a commit): the next text starts a new one."""
        self._base = 0
        self._carried = {}

    def encode(self, records: list[TraceRecord]) -> bytes:
        """One JSON text (UTF-8) for a batch of records."""
        rows: Sequence[tuple[Any, ...]] = (
            _apply_modes(records, self.modes) if self.modes else records
        )
        base = self._base
        self._base += len(rows)
        if self._whole_left:
            self._whole_left -= 1
            return _encode_exact(rows)
        self._hits = self._misses = 0
        if self.references:
            try:  # most batches hold only what orjson writes itself (ints, strings...)
                return orjson.dumps(rows, default=_refuse, option=_ORJSON_OPTIONS)
            except TypeError:
                pass
            try:
                text = self._referred_text(rows, base)
            except TypeError:  # whole: its first payloads in full, as references expect
                return _encode_exact(rows)
        else:
            try:
                text = orjson.dumps(rows, default=self._fragment, option=_ORJSON_OPTIONS)
            except TypeError:
                return _encode_exact(rows)
        if self._misses > 2 * self._hits:
            self._whole_left = _WHOLE_BATCHES
        return text

    def _referred_text(self, rows: Sequence[tuple[Any, ...]], base: int) -> bytes:
        """The text of the rows :meth:`_referring` makes, as orjson writes them.

        Where built, in C and without making the rows: ``_split.payloads_of`` takes
        the payloads to write (a code per record says which, or which record it
        refers to), orjson writes them alone, and ``_split.rows_json`` writes each
        record's fields around them.

        Raises:
            TypeError: orjson refuses a payload.
        """
        if _payloads_of is None:
            referred = self._referring(rows, base)
        else:
            payloads, codes, hits, misses = _payloads_of(
                rows, self._carried, base, _PLAIN_MODELS, _fields_count
            )
            self._hits += hits
            self._misses += misses
            text = orjson.dumps(payloads, default=self._fragment, option=_ORJSON_OPTIONS)
            done: bytes | None = _rows_json(rows, codes, text)
            if done is not None:
                return done
            referred = _rows_of(rows, memoryview(codes).cast("q"), payloads)
        return orjson.dumps(referred, default=self._fragment, option=_ORJSON_OPTIONS)

    def _referring(self, rows: Sequence[tuple[Any, ...]], base: int) -> list[tuple[Any, ...]]:
        """The rows with each payload object carried before in the commit replaced by
        a reference, and each plain model carried the first time by its fields."""
        out: list[tuple[Any, ...]] = []
        append = out.append
        carried = self._carried
        native = _NATIVE
        models = _PLAIN_MODELS
        hits = 0
        for i, r in enumerate(rows):
            if len(r) > PAYLOAD:
                p = r[PAYLOAD]
                tp = type(p)
                if tp not in native:
                    hit = carried.get(id(p))
                    if hit is not None:
                        hits += 1
                        r = (*r[:PAYLOAD], None, hit[1])
                    else:
                        carried[id(p)] = (p, base + i)
                        n = models[tp] if tp in models else _fields_count(tp)
                        if n is not None and len(p.__dict__) == n:
                            r = (*r[:PAYLOAD], p.__dict__)
                        else:
                            self._misses += 1  # written by pydantic-core
            append(r)
        self._hits += hits
        return out

    def _fragment(self, obj: Any) -> orjson.Fragment:
        """The JSON of a value orjson handed back, encoded by pydantic-core.

        Remembered by id: the memory holds the object, so no other object can have
        its id meanwhile.
        """
        key = id(obj)
        hit = self._encoded.get(key)
        if hit is None:
            hit = self._previous.get(key)
            if hit is None:
                self._misses += 1
                hit = (obj, orjson.Fragment(encode_json(obj)))
            else:
                self._hits += 1
            if len(self._encoded) >= _REMEMBERED:
                self._previous, self._encoded = self._encoded, {}
            self._encoded[key] = hit
        else:
            self._hits += 1
        return hit[1]


def _rows_of(
    rows: Sequence[tuple[Any, ...]], codes: Sequence[int], payloads: list[Any]
) -> list[tuple[Any, ...]]:
    """The rows ``_split.payloads_of``'s codes describe (for records ``rows_json`` does
    not write: fields that are not the runtime's)."""
    out: list[tuple[Any, ...]] = []
    taken = iter(payloads)
    for r, code in zip(rows, codes, strict=True):
        if code >= 0:
            out.append((*r[:PAYLOAD], None, code))
        elif code == _PAYLOAD:
            out.append((*r[:PAYLOAD], next(taken)))
        else:
            out.append(r)
    return out


def _refuse(obj: Any) -> Any:
    """orjson's ``default`` for a first try: any value it does not write itself ends it."""
    raise TypeError


def encode_batch(records: list[TraceRecord], modes: Mapping[int, Selection]) -> bytes:
    """Encode one batch of records as :class:`BatchEncoder` does."""
    return BatchEncoder(modes).encode(records)
