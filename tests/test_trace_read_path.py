"""How a run's columns are read: on first use, a column at a time, grouped by port once,
and the payload texts gathered for decoding (in C, or in Python with the same result)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from test_trace_support import dag_records, run_info, write_dag

from fbp._core._tracehook import KIND_DATA
from fbp.graph import build_network, load_graph
from fbp.tracing import TraceFileError, TraceWriter, _columns, open_trace

pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parent.parent

_NAMES = (
    "ip_id",
    "kind",
    "port_id",
    "activation",
    "t_ns",
    "parent_ends",
    "parents",
    "payload_starts",
    "payload_ends",
)


def _texts(rng: random.Random, n: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """Payload texts as a run stores them: some empty, some shared, some with long
    integers (19 digits or more) or long fractions."""
    pool = [
        b"1",
        b"-0.5",
        b'{"a":1,"b":"x"}',
        b"12345678901234567890",
        b"0.1234567890123456789012",
        b'"id 1234567890123456789"',
        b"[1,2,3]",
        b"null",
        b"true",
    ]
    data = bytearray()
    starts, ends = [], []
    for _ in range(n):
        choice = rng.random()
        if choice < 0.15:  # not recorded
            starts.append(len(data))
            ends.append(len(data))
        elif choice < 0.3 and ends and ends[-1] > starts[-1]:  # shares the last text
            starts.append(starts[-1])
            ends.append(ends[-1])
        else:
            text = rng.choice(pool)
            starts.append(len(data))
            data += text
            ends.append(len(data))
    return bytes(data), np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


@pytest.mark.compiled
def test_the_c_gather_of_payload_texts_matches_the_python_one() -> None:
    from fbp.tracing import _scan  # type: ignore[attr-defined]

    rng = random.Random(7)
    for n in (0, 1, 2, 50, 3000):
        data, starts, ends = _texts(rng, n)
        for rows in (np.arange(n), np.array(sorted(rng.sample(range(n), n // 3)), dtype=int)):
            s, e = starts[rows], ends[rows]
            assert _scan.join(data, s, e) == _columns._python_join(data, s, e)
    # The long-number flag: 19 digits not after a decimal point.
    for text, flag in [
        (b"1234567890123456789", True),
        (b"123456789012345678", False),
        (b"0.1234567890123456789", False),
        (b'{"n":-1234567890123456789}', True),
    ]:
        got = _scan.join(text, np.array([0]), np.array([len(text)]))
        assert got == (b"[" + text + b"]", flag)
    with pytest.raises(ValueError, match="outside the data"):
        _scan.join(b"12", np.array([0]), np.array([3]))
    with pytest.raises(ValueError, match="int64"):
        _scan.join(b"12", np.array([0], dtype=np.int32), np.array([1], dtype=np.int32))


@pytest.mark.compiled
def test_the_c_conversion_of_numbers_matches_float() -> None:
    """Numbers read without Python objects are the floats json and float() give,
    including the hard cases of rounding; anything else refuses the whole block."""
    import json
    import struct

    from fbp.tracing import _scan  # type: ignore[attr-defined]

    rng = random.Random(11)
    values: list[float | int] = []
    for _ in range(20_000):
        values.append(rng.gauss(0, 1))
        bits = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        values.append(bits if bits == bits and abs(bits) != float("inf") else 0.5)
        values.append(rng.randrange(-(10**19), 10**19))
        values.append(rng.randrange(1, 10**17) / 10 ** rng.randrange(0, 25))
    texts = [json.dumps(v).encode() for v in values]
    texts += [
        b"0", b"-0", b"-0.0", b"1e22", b"1e23", b"9007199254740993", b"5e-324",
        b"2.2250738585072014e-308", b"1.7976931348623157e308", b"1e400", b"1E5", b"1e+5",
        b"123456789012345678901234567890", b"0.000000000000000000000000000001234",
        b"1" * 80 + b".5", b"null",
    ]  # fmt: skip
    data = b"".join(texts)
    ends = np.cumsum([len(t) for t in texts])
    starts = ends - [len(t) for t in texts]
    starts = np.append(starts, 0)  # and one not recorded
    ends = np.append(ends, 0)
    out = np.empty(len(starts))
    assert _scan.numbers(data, starts, ends, out) is True
    want = [float(json.loads(t)) if t != b"null" else float("nan") for t in texts]
    want.append(float("nan"))
    got = out.tolist()
    for t, a, b in zip([*texts, b""], got, want, strict=True):
        assert a == b or (a != a and b != b), t
        assert np.signbit(a) == np.signbit(b), t
    for text in [b"true", b'"1"', b"1.", b".5", b"01", b"-", b"1e", b"NaN", b"[1]", b"{}"]:
        one = np.empty(2)
        assert (
            _scan.numbers(b"1" + text, np.array([0, 1]), np.array([1, len(text) + 1]), one) is False
        )


@pytest.mark.compiled
async def test_the_c_passes_over_links_and_ports_match_the_numpy_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = load_graph(ROOT / "networks" / "substreams.fbp")
    path = tmp_path / "run.trace"
    with TraceWriter(path) as writer:
        await build_network(graph, trace=writer).run()
    with open_trace(path) as trace:
        cols = trace.run().columns()
        rng = np.random.default_rng(5)
        size = int(cols.ip_id.max()) + 1
        masks = [np.ones(size + 3, dtype=bool), rng.random(size) < 0.6, np.ones(size // 2, bool)]
        kinds = sorted({int(k) for k in cols.kind})
        assert _columns._scan is not None
        c_links = [cols.data_links(m) for m in masks]
        c_ports = [cols.by_port(k) for k in kinds]
        cols._by_port.clear()
        monkeypatch.setattr(_columns, "_scan", None)
        for m, (child, parent) in zip(masks, c_links, strict=True):
            want_c, want_p = cols.data_links(m)
            assert child.tolist() == want_c.tolist() and parent.tolist() == want_p.tolist()
            assert len(child) > 0
        for k, (rows, slices) in zip(kinds, c_ports, strict=True):
            want_rows, want_slices = cols.by_port(k)
            assert rows.tolist() == want_rows.tolist() and slices == want_slices, k


def test_payload_values_decode_long_integers_exactly() -> None:
    data, starts, ends = _texts(random.Random(3), 400)
    length = len(starts)
    cols = _columns.RunColumns(
        ip_id=np.arange(length, dtype=np.int64),
        kind=np.zeros(length, dtype=np.int8),
        port_id=np.zeros(length, dtype=np.int32),
        activation=np.zeros(length, dtype=np.int64),
        t_ns=np.zeros(length, dtype=np.int64),
        parent_ends=np.zeros(length, dtype=np.int64),
        parents=np.zeros(0, dtype=np.int64),
        payload_starts=starts,
        payload_ends=ends,
        payload_data=data,
    )
    import json

    want = [json.loads(data[a:b]) if b > a else None for a, b in zip(starts, ends, strict=True)]
    assert cols.payload_values(np.arange(length)) == want
    assert 12345678901234567890 in want  # an integer beyond 64 bits, kept as one


def test_columns_are_read_when_used_and_again_after_release(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "dag.trace", batch_size=3)  # four chunks
    records = dag_records()
    with open_trace(path) as trace:
        cols = trace.run().columns()
        assert len(cols) == len(records)
        assert cols.ip_id.tolist() == [r[0] for r in records]
        before = {name: getattr(cols, name).copy() for name in _NAMES}
        text = cols.payload_data
        cols.release(*_NAMES, "payload_data")
        for name in _NAMES:
            assert np.array_equal(getattr(cols, name), before[name]), name
        assert cols.payload_data == text
        assert cols.parent_ends.tolist() == np.cumsum([len(r[5]) for r in records]).tolist()
        cols.release("t_ns", "payload_data")
    # A column first used after the trace was closed is read from the file anew.
    assert cols.t_ns.tolist() == [r[4] for r in records]
    assert cols.payload_data == text
    path.unlink()
    cols.release("kind")
    with pytest.raises(TraceFileError, match="does not exist"):
        _ = cols.kind
    assert cols.ip_id.tolist() == [r[0] for r in records]  # what was read stays


def test_a_damaged_chunk_is_named_when_its_column_is_read(tmp_path: Path) -> None:
    path = write_dag(tmp_path / "dag.trace", batch_size=3)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE chunks SET t_ns = x'0102' WHERE seq = (SELECT max(seq) FROM chunks)")
    con.close()
    with open_trace(path) as trace:
        cols = trace.run().columns()
        assert cols.ip_id.tolist() == [r[0] for r in dag_records()]
        with pytest.raises(TraceFileError, match="looks damaged: chunk 3 of column t_ns"):
            _ = cols.t_ns


async def test_rows_by_port_match_a_scan_of_every_record(tmp_path: Path) -> None:
    graph = load_graph(ROOT / "networks" / "substreams.fbp")
    path = tmp_path / "run.trace"
    with TraceWriter(path) as writer:
        await build_network(graph, trace=writer).run()
    with open_trace(path) as trace:
        cols = trace.run().columns()
        ports = sorted({int(p) for p in cols.port_id})
        rng = random.Random(1)
        for kinds in [(0,), (0, 3), (1, 2), (0, 1, 2, 3, 4, 5), (5,)]:
            for chosen in [[p] for p in ports] + [rng.sample(ports, 3), [999]]:
                want = np.flatnonzero(np.isin(cols.port_id, chosen) & np.isin(cols.kind, kinds))
                got = cols.rows_of(chosen, kinds)
                assert got.dtype == np.intp
                assert got.tolist() == want.tolist(), (kinds, chosen)


def test_an_ip_recorded_twice_links_its_first_records_parents(tmp_path: Path) -> None:
    """A dead letter's marker and its data record share an IP id: the links (all, in
    blocks, and the data links) keep the first record's parents, once."""
    records = [
        *dag_records()[:-1],
        (12, 5, 12, 7, 2_000_000_000, (9,), "dead"),
        (12, KIND_DATA, 12, 7, 2_000_000_001, (10,), 12),
        (13, KIND_DATA, 12, 8, 2_000_000_002, (12, 1), 13),
    ]
    path = tmp_path / "twice.trace"
    with TraceWriter(path) as w:
        w.start_run(run_info())
        w.write(records)
        w.finish_run("completed", None, {})
    with open_trace(path) as trace:
        frames = trace.run().frames()
        cols = frames._columns
        child, parent, _ = cols.links()
        links = list(zip(child.tolist(), parent.tolist(), strict=True))
        assert (12, 9) in links and (12, 10) not in links
        for block in (1, 2, 5, 100):
            blocks = list(cols.link_blocks(block))
            got = [
                (c, p) for cs, ps in blocks for c, p in zip(cs.tolist(), ps.tolist(), strict=True)
            ]
            assert got == links, block
        data = {r[0] for r in records if r[1] == KIND_DATA}
        dchild, dparent = frames.data_links()
        assert list(zip(dchild.tolist(), dparent.tolist(), strict=True)) == [
            (c, p) for c, p in links if c in data and p in data
        ]
        by_port = {p: ids.tolist() for p, ids in frames.data_ips().items()}
        assert by_port == {1: [4, 5], 3: [7], 4: [8], 6: [9], 9: [10], 12: [11, 12, 13]}


def test_an_empty_run_and_a_one_record_run_read_as_empty_and_one_row(tmp_path: Path) -> None:
    path = tmp_path / "small.trace"
    one = dag_records()[3]  # a data IP of Gen.OUT, payload 10
    with TraceWriter(path) as w:
        w.start_run(run_info("empty"))
        w.finish_run("completed", None, {})
        w.start_run(run_info("one"))
        w.write([one])
        w.finish_run("completed", None, {})
    with open_trace(path) as trace:
        empty = trace.run("empty").frames()
        assert len(empty.records) == 0 and len(empty.links) == 0
        assert empty.data_ips() == {}
        assert [len(x) for x in empty.data_links()] == [0, 0]
        df = empty.payloads([1], [""])
        assert list(df.columns) == ["ip_id", ""] and df.empty
        single = trace.run("one").frames()
        assert {p: x.tolist() for p, x in single.data_ips().items()} == {1: [4]}
        assert [len(x) for x in single.data_links()] == [0, 0]
        assert single.payloads([1], [""]).values.tolist() == [[4, 10.0]]
        assert single.payloads([1]).to_dict("records") == [{"ip_id": 4, "payload": 10}]


def test_a_run_being_written_reads_the_chunks_committed_when_first_read(tmp_path: Path) -> None:
    path = tmp_path / "live.trace"
    records = dag_records()
    w = TraceWriter(path, batch_size=1)
    try:
        w.start_run(run_info())
        w.write(records[:6])
        w.flush()
        with open_trace(path) as trace:
            run = trace.run()
            assert run.summary.status == "running"
            cols = run.columns()
            w.write(records[6:])
            w.flush()
            # Every column of the reading stops at the chunks there were at first.
            assert cols.ip_id.tolist() == [r[0] for r in records[:6]]
            assert len(cols.t_ns) == len(cols.payload_ends) == 6
            assert cols.payload_values(np.arange(6))[3] == 10
    finally:
        w.close()


@pytest.mark.compiled
def test_scalar_columns_read_in_c_equal_the_decoded_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pd = pytest.importorskip("pandas")
    rng = random.Random(4)
    by_port: dict[int, list[object]] = {
        1: [rng.choice([rng.gauss(0, 1), rng.randrange(-5, 5), None, -0.0]) for _ in range(300)],
        3: [rng.random() < 0.5 for _ in range(50)],
        4: [rng.choice(["a", "b"]) for _ in range(50)],
        6: [1.5, "x", 2, None],
        9: [None] * 1000 + [2.5, 3],
        12: [12345678901234567890, 1],
    }
    records = []
    ip = 1
    for port, payloads in by_port.items():
        for payload in payloads:
            records.append((ip, KIND_DATA, port, ip, 1_000_000_000 + ip, (), payload))
            ip += 1
    path = tmp_path / "scalars.trace"
    with TraceWriter(path, batch_size=97) as w:
        w.start_run(run_info())
        w.write(records)
        w.finish_run("completed", None, {})
    with open_trace(path) as trace:
        frames = trace.run().frames()
        fast = {p: frames.payloads([p], [""]) for p in by_port}
        both = frames.payloads([1, 12], [""])
        monkeypatch.setattr(_columns, "_scan", None)
        for port, frame in fast.items():
            pd.testing.assert_frame_equal(frame, frames.payloads([port], [""]), check_exact=True)
        pd.testing.assert_frame_equal(both, frames.payloads([1, 12], [""]), check_exact=True)
    assert str(fast[1][""].dtype) == "float64"
    assert fast[12][""].tolist() == [12345678901234567890.0, 1.0]


def test_small_pages_turns_numpys_huge_pages_off_and_restores_them() -> None:
    setter = _columns._hugepage_setter()
    if setter is None:
        pytest.skip("this numpy has no switch of transparent huge pages")
    before = setter(True)
    try:
        with _columns.small_pages():
            assert setter(False) is False  # off inside
            with _columns.small_pages():
                pass
            assert setter(False) is False  # still off after a nested use
        assert setter(True) is True  # back on after
    finally:
        setter(before)
