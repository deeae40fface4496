"""The unit-by-unit comparison of two runs' outputs, and the lookups a replay reads
lineage with, against plain Python versions of the same rules."""

from __future__ import annotations

import random

import numpy as np
import orjson
import pytest

from fbp.causal._replay._source import _positions
from fbp.causal._replay._units import Outputs, differences, same


def _outputs(texts: list[bytes], units: list[int]) -> Outputs:
    """Outputs whose texts are laid out one after the other in one payload column,
    with a few bytes of other payloads between them."""
    raw = b""
    starts, ends = [], []
    for t in texts:
        raw += b"xx"
        starts.append(len(raw))
        raw += t
        ends.append(len(raw))
    return Outputs(
        raw,
        np.asarray(starts, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
        np.asarray(units, dtype=np.int64),
        None,
    )


def _reordered(value: dict[str, object]) -> bytes:
    return orjson.dumps(dict(reversed(list(value.items()))))


def test_texts_compare_as_values_where_only_the_order_of_fields_differs() -> None:
    big = {f"k{i}": i * 1.5 for i in range(400)}  # wider than the texts compared in bulk
    cases = [
        (b'{"a":1,"b":2}', b'{"a":1,"b":2}', False),  # the same bytes
        (b'{"a":1,"b":2}', b'{"b":2,"a":1}', False),  # fields in another order
        (b'{"a":1,"b":2}', b'{"a":2,"b":1}', True),  # same bytes, another value
        (b'{"a":1,"b":2}', b'{"a":1,"b":3}', True),  # same length, another value
        (b'{"a":1,"b":2}', b'{"a":1,"b":22}', True),  # another length
        (b"1.5", b"2.5", True),
        (b"", b"", False),  # payloads not recorded on either side
        (orjson.dumps(big), _reordered(big), False),
        (orjson.dumps(big), orjson.dumps({**big, "k7": 0.0}), True),
        (b'"last"', b'"LAST"', True),  # at the very end of the payload column
    ]
    a = _outputs([x for x, _, _ in cases], list(range(len(cases))))
    b = _outputs([y for _, y, _ in cases], list(range(len(cases))))
    units, count, pairs = differences(a, b)
    expected = [k for k, (_, _, changed) in enumerate(cases) if changed]
    assert units == len(cases)
    assert count == len(expected)
    assert sorted(p[0][0] for p in pairs if p[0]) == sorted(cases[k][0] for k in expected)
    # The same texts as Python compares them one by one.
    for x, y, changed in cases:
        assert same((x,), (y,)) is not changed


def test_units_present_on_one_side_only_are_changes() -> None:
    a = _outputs([b"1", b"2", b"3"], [10, 11, 12])
    b = _outputs([b"2", b"3", b"4"], [11, 12, 13])
    units, count, pairs = differences(a, b)
    assert (units, count) == (4, 2)
    assert ((b"1",), None) in pairs and (None, (b"4",)) in pairs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_comparison_matches_a_comparison_of_values(seed: int) -> None:
    rng = random.Random(seed)
    xs, ys = [], []
    for i in range(3000):
        value = {"id": i, "x": round(rng.uniform(0, 100), rng.choice([0, 1, 2])), "tag": "ab"}
        other = dict(value)
        roll = rng.random()
        if roll < 0.3:
            other["x"] = round(rng.uniform(0, 100), 1)
        elif roll < 0.5:
            other = dict(reversed(list(value.items())))
        elif roll < 0.6:
            other["tag"] = "ba"
        xs.append(orjson.dumps(value))
        ys.append(orjson.dumps(other))
    order = list(range(len(xs)))
    rng.shuffle(order)  # the other run sent the units in another order
    a = _outputs(xs, list(range(len(xs))))
    b = _outputs([ys[k] for k in order], order)
    _, count, pairs = differences(a, b)
    expected = sum(orjson.loads(x) != orjson.loads(y) for x, y in zip(xs, ys, strict=True))
    assert count == expected
    assert all(orjson.loads(p[0][0]) != orjson.loads(p[1][0]) for p in pairs if p[0] and p[1])


@pytest.mark.parametrize("dense", [True, False])
def test_positions_find_the_first_defining_record_of_each_id(dense: bool) -> None:
    rng = np.random.default_rng(0)
    n = 5000
    ids = np.arange(n, dtype=np.int64) if dense else rng.choice(10**9, n, replace=False)
    ids[100] = ids[50]  # an id recorded twice: the first record is its definition
    defining = rng.random(n) < 0.9
    defining[50] = defining[100] = True
    wanted = np.concatenate([ids[rng.integers(0, n, 2000)], np.array([-5, 10**12])])
    got = _positions(ids, defining, wanted)
    first: dict[int, int] = {}
    for row, (i, d) in enumerate(zip(ids.tolist(), defining.tolist(), strict=True)):
        if d:
            first.setdefault(i, row)
    assert got.tolist() == [first.get(w, -1) for w in wanted.tolist()]
    assert _positions(ids, defining, ids[[100]]).tolist() == [50]


@pytest.mark.parametrize("adjacent", [True, False])
def test_copied_slices_are_gathered_whole(adjacent: bool) -> None:
    """A copy gathers the held records' slices of a column, by runs of slices that
    follow one another or element by element, with the same result."""
    from fbp.tracing._chunks import _gather

    rng = np.random.default_rng(7)
    flat = rng.integers(0, 255, 30_000).astype(np.uint8)
    for _ in range(50):
        n = int(rng.integers(0, 80))
        lens = rng.integers(0, 300 if adjacent else 20, n)
        if adjacent:  # mostly contiguous, with a few jumps back (a shared payload)
            starts = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
            starts[rng.random(n) < 0.1] = 0
        else:
            starts = rng.integers(0, 19_000, n).astype(np.int64)
        ends = starts + lens
        got, got_ends = _gather(flat, starts, ends, np)
        parts = [flat[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        assert np.array_equal(got, np.concatenate(parts) if parts else flat[:0])
        assert np.array_equal(got_ends, np.cumsum(lens))
