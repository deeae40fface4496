"""How the trace writer serialises batches: orjson for plain payloads, pydantic-core
for everything else, with the same JSON for what both can encode."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, field_serializer

from fbp._core._tracehook import KIND_DATA
from fbp.tracing import _chunks, _payload
from fbp.tracing._payload import BatchEncoder

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_SCALARS = st.none() | st.booleans() | _INT64 | st.floats() | st.text()
_PLAIN = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


def records(payloads: list[Any]) -> list[Any]:
    return [
        (i, KIND_DATA, 0, i, 10**12 + i, (i - 1,) if i else (), p) for i, p in enumerate(payloads)
    ]


class Reading(BaseModel):
    sensor: str
    value: float


class Custom(BaseModel):
    """A model whose JSON is not its fields' (a serialiser of its own)."""

    sensor: str
    value: float

    @field_serializer("value")
    def _rounded(self, value: float) -> float:
        return round(value, 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PLAIN, min_size=1, max_size=6))
def test_plain_payloads_read_back_the_same_from_either_encoder(payloads: list[Any]) -> None:
    batch = records(payloads)
    fast = BatchEncoder({}).encode(batch)
    exact = _payload._encode_exact(batch)
    assert json.loads(fast) == json.loads(exact)


def test_a_payload_object_sent_on_many_hops_is_encoded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[Any] = []
    encode_json = _payload.encode_json

    def counted(value: Any) -> bytes:
        encoded.append(value)
        return encode_json(value)

    monkeypatch.setattr(_payload, "encode_json", counted)
    enc = BatchEncoder({})
    r = Reading(sensor="t1", value=0.5)
    first = json.loads(enc.encode(records([r, r, 3, r])))  # forwarded on three hops
    assert [row[6] for row in first] == [{"sensor": "t1", "value": 0.5}] * 2 + [3, first[0][6]]
    assert encoded == [r]
    enc.encode(records([r]))  # a later batch still knows it
    assert encoded == [r]
    twin = Reading(sensor="t1", value=0.5)  # equal, but another object
    assert json.loads(enc.encode(records([twin, 7]))) == json.loads(
        _payload._encode_exact(records([twin, 7]))
    )
    assert encoded == [r, twin]


def test_after_a_batch_of_new_objects_batches_are_encoded_whole_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole: list[int] = []
    encode_exact = _payload._encode_exact

    def counted(rows: Any) -> str:
        whole.append(len(rows))
        return encode_exact(rows)

    monkeypatch.setattr(_payload, "_encode_exact", counted)
    enc = BatchEncoder({})
    fresh = [Custom(sensor=str(i), value=i) for i in range(3)]  # written by pydantic-core
    expected = json.loads(encode_exact(records(fresh)))
    assert json.loads(enc.encode(records(fresh))) == expected  # one by one: all new
    assert whole == []
    for _ in range(_payload._WHOLE_BATCHES):  # then whole, as one call is cheaper
        assert json.loads(enc.encode(records(fresh))) == expected
    assert whole == [3] * _payload._WHOLE_BATCHES
    enc.encode(records(fresh))  # then one by one again (and now all known)
    assert len(whole) == _payload._WHOLE_BATCHES


def test_models_and_bytes_inside_containers_are_encoded_as_pydantic_core_does() -> None:
    batch = records([[Reading(sensor="a", value=1.0)], {"when": b"\x00"}, 5])
    text = BatchEncoder({}).encode(batch)
    assert text == _payload._encode_exact(batch)
    assert json.loads(text)[0][6] == [{"sensor": "a", "value": 1.0}]


_ODD = st.one_of(
    st.builds(Reading, sensor=st.text(max_size=4), value=st.floats()),
    st.binary(max_size=4),
    st.integers(min_value=2**64, max_value=2**80),
    st.datetimes(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PLAIN | _ODD, min_size=1, max_size=6))
def test_mixed_payloads_read_back_as_pydantic_core_writes_them(payloads: list[Any]) -> None:
    batch = records(payloads)
    assert json.loads(BatchEncoder({}).encode(batch)) == json.loads(_payload._encode_exact(batch))


@pytest.mark.parametrize(
    "payload",
    [2**70, b"\x01", {1: "a"}, float("inf")],
    ids=["big int", "bytes", "int keys", "infinity"],
)
def test_values_orjson_would_encode_differently_or_not_at_all_match_pydantic_core(
    payload: Any,
) -> None:
    batch = records([payload])
    assert BatchEncoder({}).encode(batch) == _payload._encode_exact(batch)


# -- plain models, written by orjson from their fields ---------------------------------


class Inner(BaseModel):
    name: str
    weights: list[float] = []


class Plain(BaseModel):
    seq: int
    label: str | None = None
    ratio: float = 0.5
    ok: bool = True
    tags: dict[str, int] = {}
    inner: Inner | None = None
    extra: Any = None


class Aliased(BaseModel):
    seq: int = Field(alias="Seq")


class Hidden(BaseModel):
    seq: int
    secret: str = Field("x", exclude=True)


class Raw(BaseModel):
    seq: int
    blob: bytes


def written_by_pydantic(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The values encode_json writes from now on."""
    written: list[Any] = []
    encode_json = _payload.encode_json

    def counted(value: Any) -> bytes:
        written.append(value)
        return encode_json(value)

    monkeypatch.setattr(_payload, "encode_json", counted)
    return written


def test_plain_models_are_written_from_their_fields_and_read_back_as_pydantic_core_writes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = Plain(
        seq=2**62,
        label="é\n\"'",
        ratio=float("nan"),
        tags={"a": 1},
        inner=Inner(name="i", weights=[1.5, float("inf")]),
        extra={"when": b"\x00\xff", "n": [1, None]},
    )
    assert _payload._plain_model(Plain) == 7
    payloads = [plain, Plain(seq=-1), Plain(seq=3, extra=Inner(name="x")), 4]
    exact = [json.loads(_payload.encode_json(p)) for p in payloads]
    written = written_by_pydantic(monkeypatch)
    text = BatchEncoder({}, references=True).encode(records(payloads))
    assert [r[6] for r in json.loads(text)] == exact
    assert b'"inner":{"name":"i"' in text
    assert written and not any(type(w) is Plain for w in written)  # what they hold only


@pytest.mark.parametrize("cls", [Aliased, Hidden, Custom, Raw])
def test_models_whose_json_is_not_their_fields_are_written_by_pydantic_core(
    cls: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _payload._plain_model(cls) is None
    value = {
        Aliased: lambda: Aliased(Seq=1),
        Hidden: lambda: Hidden(seq=1),
        Custom: lambda: Custom(sensor="s", value=0.25),
        Raw: lambda: Raw(seq=1, blob=b"\xff\x00"),
    }[cls]()
    written = written_by_pydantic(monkeypatch)
    text = BatchEncoder({}, references=True).encode(records([value]))
    assert written == [value]
    assert json.loads(text)[0][6] == json.loads(_payload.encode_json(value))


def test_a_plain_model_with_more_in_its_dict_than_its_fields_is_written_by_pydantic_core() -> None:
    value = Plain(seq=1)
    value.__dict__["cached"] = "not a field"  # what a cached property leaves there
    text = BatchEncoder({}, references=True).encode(records([value]))
    assert json.loads(text)[0][6] == json.loads(_payload.encode_json(Plain(seq=1)))


def test_a_plain_model_with_an_int_beyond_64_bits_is_written_by_pydantic_core() -> None:
    value = Plain(seq=0)
    value.__dict__["seq"] = 2**70
    text = BatchEncoder({}, references=True).encode(records([value]))
    assert json.loads(text)[0][6]["seq"] == 2**70


# -- references to payloads forwarded unchanged ----------------------------------------


def read_back(text: bytes, split: Any) -> list[Any]:
    """The payloads of a commit's text as a splitter stores them."""
    chunk = split(text)
    starts = memoryview(chunk[8]).cast("q").tolist()
    ends = memoryview(chunk[9]).cast("q").tolist()
    pairs = zip(starts, ends, strict=True)
    return [json.loads(chunk[10][a:b]) if b > a else "(not kept)" for a, b in pairs]


SPLITTERS = [
    pytest.param(_chunks.split, id="c", marks=pytest.mark.compiled),
    pytest.param(_chunks.split_python, id="python"),
]


@pytest.mark.parametrize("split", SPLITTERS)
def test_a_forwarded_payload_is_written_once_per_commit_and_referred_to_after(split: Any) -> None:
    enc = BatchEncoder({}, references=True)
    a, b = Reading(sensor="a", value=1.0), Custom(sensor="b", value=2.25)
    stamp = b"\x00\x01"
    batches = [
        records([a, a, 7, b, a, "s", b, stamp]),
        records([b, stamp, [a], {"k": a}, a]),  # inside containers: written in full
    ]
    texts = [enc.encode(batch) for batch in batches]
    rows = [json.loads(t) for t in texts]  # JSON: references are [..., parents, null, k]
    assert [[r[7] for r in rs if len(r) > 7] for rs in rows] == [[0, 0, 3], [3, 7, 0]]
    commit = b"[" + b",".join(t[1:-1] for t in texts) + b"]"
    exact = [json.loads(_payload._encode_exact(batch)) for batch in batches]
    assert read_back(commit, split) == [r[6] for rows in exact for r in rows]
    chunk = split(commit)
    assert chunk[10].count(b'"sensor":"a"') == 3  # once, then twice inside containers

    enc.new_commit()  # the next commit writes them in full again
    again = enc.encode(records([b, a, b]))
    assert [len(r) for r in json.loads(again)] == [7, 7, 8]
    expected = [{"sensor": "b", "value": 2.2}, {"sensor": "a", "value": 1.0}]
    assert read_back(again, split) == [*expected, expected[0]]


def test_a_batch_encoded_whole_keeps_the_payloads_later_ones_refer_to() -> None:
    enc = BatchEncoder({}, references=True)
    a = Reading(sensor="a", value=1.0)
    text = enc.encode(records([a, 2**70]))  # orjson refuses the big int: pydantic-core whole
    follow = enc.encode(records([a]))
    assert follow.endswith(b"],null,0]]")
    commit = b"[" + text[1:-1] + b"," + follow[1:-1] + b"]"
    reading = {"sensor": "a", "value": 1.0}
    assert read_back(commit, _chunks.split_python) == [reading, 2**70, reading]


@pytest.mark.parametrize(
    "text", [b"[[1,0,0,0,0,[],null,0]]", b'[[1,0,0,0,0,[],{"a":1}],[2,0,0,0,0,[1],null,1]]']
)
@pytest.mark.parametrize("split", SPLITTERS)
def test_a_reference_to_no_earlier_record_is_refused(text: bytes, split: Any) -> None:
    with pytest.raises(ValueError, match="not a batch of trace records"):
        split(text)


@pytest.mark.compiled
def test_the_c_and_python_passes_over_a_batch_write_the_same_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _payload._payloads_of is not None, "fbp.tracing._split is not built"
    a, b = Reading(sensor="a", value=1.0), Custom(sensor="b", value=2.25)
    odd = Plain(seq=1)
    odd.__dict__["cached"] = 1
    batches = [
        records([a, a, 7, b, None, b"\x01", odd, a, Plain(seq=2, inner=Inner(name="n"))]),
        [(1, 1, 0, 1, 5, (), "tag"), (2, 0, 0, 1, 6, (1,)), *records([[a], b, {"k": b}, odd])],
        # Negative and multi-parent fields, then ones the C writer leaves to orjson: an
        # int beyond 63 bits, a bool.
        [(3, 0, 0, -1, 7, (1, 2, 3), a), (4, 0, 0, 1, 2**63, (2,), b), (5, True, 0, 1, 8, (), a)],
        [(6, 0, 0, 1, 9, (5,), b), (7, 0, 0, -12, 10, (), Reading(sensor="c", value=-0.5))],
    ]

    def texts() -> list[bytes]:
        enc = BatchEncoder({}, references=True)
        out = [enc.encode(batch) for batch in batches]
        enc.new_commit()
        return [*out, enc.encode(batches[0])]

    c = texts()
    monkeypatch.setattr(_payload, "_payloads_of", None)
    assert texts() == c
