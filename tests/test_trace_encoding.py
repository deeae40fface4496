"""How the trace writer serialises batches: orjson for plain payloads, pydantic-core
for everything else, with the same JSON for what both can encode."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from fbp._core._tracehook import KIND_DATA
from fbp.tracing import _payload
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
    fresh = [Reading(sensor=str(i), value=i) for i in range(3)]
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
