"""Payload fidelity: what pydantic can dump is stored and read back as its JSON,
bytes as base64 everywhere (bare, inside models, inside dataclasses)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import math
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from test_trace_support import run_info

from fbp._core._tracehook import KIND_DATA, PortInfo
from fbp.tracing import TraceWriter, _chunks, _store, open_trace

PORT = PortInfo("P", "t/P", "OUT", None, "out", "Any")


def expected(value: Any) -> Any:
    """The JSON value a payload must read back as (an oracle independent of the writer)."""
    if isinstance(value, BaseModel):
        return {k: expected(getattr(value, k)) for k in type(value).model_fields}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: expected(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, bytes):
        return base64.urlsafe_b64encode(value).decode()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): expected(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [expected(v) for v in value]
    raise AssertionError(f"no expectation for {value!r}")


_FOLDER = tempfile.TemporaryDirectory(prefix="fbp-payloads-")  # removed at exit
_WRITERS: dict[bool, TraceWriter] = {}


def stored(payloads: list[Any], *, python_split: bool = False) -> list[Any]:
    """Write the payloads as the records of a new run; the payloads read back."""
    path = Path(_FOLDER.name) / f"split-{'python' if python_split else 'c'}.trace"
    if python_split not in _WRITERS:
        _WRITERS[python_split] = TraceWriter(path, batch_size=7)
    w = _WRITERS[python_split]
    records = [(i + 1, KIND_DATA, 0, 1, i, (), p) for i, p in enumerate(payloads)]
    run_id = uuid.uuid4().hex
    split = _store.split
    if python_split:
        _store.split = _chunks.split_python
    try:
        w.start_run(run_info(run_id, ports=[PORT]))
        for k in range(0, len(records), 7):
            w.write(records[k : k + 7])
        w.finish_run("completed", None, {})
    finally:
        _store.split = split
    with open_trace(path) as trace:
        return [ip.payload for ip in trace.run(run_id).records()]


class Blob(BaseModel):
    name: str
    data: bytes


class Packet(BaseModel):
    id: int
    header: bytes
    body: Blob
    parts: list[bytes] = []
    extra: Any = None
    at: dt.datetime | None = None
    ratio: float = 0.5


@dataclasses.dataclass
class Frame:
    seq: int
    raw: bytes


def test_bytes_inside_models_are_base64_and_every_field_is_kept() -> None:
    binary = bytes(range(256))
    packet = Packet(
        id=7,
        header=b"\xff\x00\xfe",
        body=Blob(name="b", data=binary),
        parts=[b"\x80", b"ok"],
        extra=b"\xc3\x28",  # bytes in a field typed Any
        at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )
    utf8 = Packet(id=8, header=b"plain text", body=Blob(name="t", data=b"hello"))
    got = stored([packet, utf8, Frame(1, b"\x00\xff"), b"\xff", binary])
    assert got[0] == expected(packet)
    assert base64.urlsafe_b64decode(got[0]["body"]["data"]) == binary
    assert base64.urlsafe_b64decode(got[0]["extra"]) == b"\xc3\x28"
    # bytes that happen to be UTF-8 are base64 too: one rule for every value
    assert got[1]["header"] == base64.urlsafe_b64encode(b"plain text").decode()
    assert got[2] == {"seq": 1, "raw": base64.urlsafe_b64encode(b"\x00\xff").decode()}
    assert got[3] == base64.urlsafe_b64encode(b"\xff").decode()
    assert "$repr" not in str(got)


def test_a_batch_of_new_models_encoded_whole_keeps_bytes_as_base64() -> None:
    # Many new objects per batch make the encoder write whole batches with pydantic-core.
    packets = [
        Packet(id=i, header=bytes([i, 255]), body=Blob(name="x", data=b"\xfe")) for i in range(60)
    ]
    assert stored(packets) == [expected(p) for p in packets]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    st.binary(max_size=20),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.uuids(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=12,
)
models = st.builds(
    Packet,
    id=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    header=st.binary(max_size=16),
    body=st.builds(Blob, name=st.text(max_size=8), data=st.binary(max_size=16)),
    parts=st.lists(st.binary(max_size=4), max_size=3),
    extra=values,
    at=st.none() | st.datetimes(timezones=st.just(dt.UTC)),
    ratio=st.floats(allow_nan=False),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values | models | st.builds(Frame, st.integers(0, 9), st.binary()), max_size=15))
@pytest.mark.parametrize("python_split", [False, True], ids=["c-split", "python-split"])
def test_every_payload_pydantic_can_dump_round_trips(
    python_split: bool, payloads: list[Any]
) -> None:
    got = stored(payloads, python_split=python_split)
    want = [expected(p) for p in payloads]
    assert got == want


class Reading(BaseModel):
    """A plain model: the writer writes it from its fields."""

    seq: int
    sensor: str
    value: float = 0.5
    flags: dict[str, bool] = {}
    extra: Any = None


readings = st.builds(
    Reading,
    seq=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    sensor=st.text(max_size=8),
    value=st.floats(allow_nan=True, allow_infinity=True),
    flags=st.dictionaries(st.text(max_size=3), st.booleans(), max_size=2),
    extra=values,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pool=st.lists(values | models | readings | st.binary(max_size=8), min_size=1, max_size=6),
    picks=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=40),
    batch=st.integers(min_value=1, max_value=9),
    commit=st.sampled_from([1, 300, 1 << 22]),
)
@pytest.mark.parametrize("python_split", [False, True], ids=["c-split", "python-split"])
def test_payload_objects_sent_again_read_back_the_same_across_batches_and_commits(
    python_split: bool, pool: list[Any], picks: list[int], batch: int, commit: int
) -> None:
    # The same objects on many records, as a pipeline forwarding them sends them: the
    # writer stores each once per commit and refers to it from the others.
    payloads = [pool[i % len(pool)] for i in picks]
    records = [(i + 1, KIND_DATA, 0, 1, i, (i,) if i else (), p) for i, p in enumerate(payloads)]
    path = Path(_FOLDER.name) / f"again-{uuid.uuid4().hex}.trace"
    split = _store.split
    if python_split:
        _store.split = _chunks.split_python
    try:
        with TraceWriter(path, batch_size=batch, commit_bytes=commit) as w:
            w.start_run(run_info("again", ports=[PORT]))
            for k in range(0, len(records), batch):
                w.write(records[k : k + batch])
            w.finish_run("completed", None, {})
    finally:
        _store.split = split
    with open_trace(path) as trace:
        got = [ip.payload for ip in trace.run("again").records()]
    path.unlink()
    assert got == [expected(p) for p in payloads]
