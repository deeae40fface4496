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


def test_a_batch_of_models_goes_to_pydantic_core_and_later_batches_try_orjson_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exact_calls: list[int] = []
    encode_exact = _payload._encode_exact

    def counted(rows: Any) -> str:
        exact_calls.append(len(rows))
        return encode_exact(rows)

    monkeypatch.setattr(_payload, "_encode_exact", counted)
    enc = BatchEncoder({})
    models = records([Reading(sensor="t1", value=0.5)])
    assert json.loads(enc.encode(models))[0][6] == {"sensor": "t1", "value": 0.5}
    assert len(exact_calls) == 1  # orjson refused the model
    plain = records([1, 2])
    for _ in range(_payload._RETRY_AFTER):  # straight to pydantic-core for a while
        assert json.loads(enc.encode(plain)) == [[*r[:5], list(r[5]), r[6]] for r in plain]
    assert len(exact_calls) == 1 + _payload._RETRY_AFTER
    enc.encode(plain)  # then orjson again
    assert len(exact_calls) == 1 + _payload._RETRY_AFTER


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
