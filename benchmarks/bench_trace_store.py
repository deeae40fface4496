"""Cost of the trace store: records/s and CPU per record of the TraceWriter.

Run: ``python benchmarks/bench_trace_store.py`` (``--quick`` for a short run).

Three measurements, printed as tables:

1. The writer alone: batches of records handed to ``write()`` as fast as possible,
   with int payloads and with 20-field pydantic payloads (a new object per record,
   and one object sent on every record, which the writer encodes once). Reports
   records/s until ``finish_run()`` returns, the caller's CPU per record in
   ``write()`` and the part of it spent encoding JSON, the writer thread's CPU per
   record and the wall time of its splitting and SQLite calls (mostly without the GIL),
   then the first read of the run (``open_trace`` and every record as columns) and the
   file size.
2. The cost to a busy event loop: a producer that spends a fixed amount of Python
   work per record, run without tracing and with tracing; the difference is what
   tracing costs the runtime's thread per IP (GIL contention included).
3. Memory over a long run (5 million records by default): RSS and tracemalloc's
   traced memory, sampled as the run goes, then after closing; flat means bounded.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fbp._core._tracehook import PortInfo, RunInfo, TraceRecord
from fbp.tracing import TraceWriter, open_trace

BATCH = 256  # the runtime's default batch


class Reading(BaseModel):
    """A 20-field payload: ids, measurements and labels."""

    f1: int = 1
    f2: int = 2
    f3: int = 3
    f4: int = 4
    f5: int = 5
    f6: int = 6
    f7: int = 7
    f8: int = 8
    f9: int = 9
    f10: int = 10
    f11: float = 1.5
    f12: float = 2.5
    f13: float = 3.5
    f14: float = 4.5
    f15: float = 5.5
    f16: float = 6.5
    f17: float = 7.5
    f18: str = "sensor-18"
    f19: str = "sensor-19"
    f20: str = "sensor-20"


PORTS = (
    PortInfo("Source", "bench/Source", "OUT", None, "out", "int", None, ("Work.IN",)),
    PortInfo("Work", "bench/Work", "IN", None, "in", "int"),
    PortInfo("Work", "bench/Work", "OUT", None, "out", "int", None, ("Sink.IN",)),
    PortInfo("Sink", "bench/Sink", "IN", None, "in", "int"),
)


def run_info(run_id: str) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        graph_name="Bench",
        graph={"processes": {}, "connections": []},
        ports=PORTS,
        t0_wall_ns=time.time_ns(),
        t0_perf_ns=time.perf_counter_ns(),
    )


def batches(n: int, payload: Callable[[int], Any]) -> Iterator[list[TraceRecord]]:
    """Records shaped like a two-stage pipeline: each IP's parent is the previous one."""
    perf = time.perf_counter_ns
    buf: list[TraceRecord] = []
    for i in range(1, n + 1):
        buf.append((i, 0, (i & 1) * 2, i >> 1, perf(), (i - 1,) if i > 1 else (), payload(i)))
        if len(buf) == BATCH:
            yield buf
            buf = []
    if buf:
        yield buf


def thread_cpu(writer: TraceWriter) -> float:
    ident = writer._thread.ident
    assert ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(ident))


def fresh(folder: Path, name: str) -> Path:
    path = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def bench_writer(folder: Path, n: int, label: str, payload: Callable[[int], Any]) -> list[str]:
    pre = list(batches(n, payload))  # build records first: measure the writer alone
    path = fresh(folder, f"writer-{label}.trace")
    w = TraceWriter(path)
    w.start_run(run_info(label))
    cpu0 = thread_cpu(w)
    caller0 = time.thread_time()
    t0 = time.perf_counter()
    for b in pre:
        w.write(b)
    caller = time.thread_time() - caller0
    w.finish_run("completed", None, {})
    wall = time.perf_counter() - t0
    cpu = thread_cpu(w) - cpu0
    st = w.statistics()
    w.close()  # stops the thread: nothing is left to do
    t1 = time.perf_counter()
    with open_trace(path) as trace:
        trace.run().columns()  # every record, as arrays
    read_wall = time.perf_counter() - t1
    size = path.stat().st_size / n
    return [
        label,
        f"{n / wall:,.0f}",
        f"{1e6 * caller / n:.2f}",
        f"{1e6 * st.encode_seconds / n:.2f}",
        f"{1e6 * cpu / n:.2f}",
        f"{1e6 * st.store_seconds / n:.2f}",
        f"{n / read_wall:,.0f}",
        f"{1e6 * read_wall / n:.3f}",
        f"{size:.0f}",
    ]


def busy(k: int) -> int:
    x = 0
    for j in range(k):
        x += j
    return x


def produce(n: int, work: int, payload: Callable[[int], Any], writer: TraceWriter | None) -> float:
    """A stand-in for the runtime: Python work per IP, records buffered in batches."""
    perf = time.perf_counter_ns
    buf: list[TraceRecord] = []
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        busy(work)
        buf.append((i, 0, 0, i, perf(), (i - 1,) if i > 1 else (), payload(i)))
        if len(buf) == BATCH:
            if writer is not None:
                writer.write(buf)
            buf = []
    if writer is not None:
        if buf:
            writer.write(buf)
        writer.finish_run("completed", None, {})
    return time.perf_counter() - t0


def bench_overhead(
    folder: Path, n: int, work: int, label: str, payload: Callable[[int], Any], repeat: int
) -> list[str]:
    """Best of ``repeat`` alternating untraced and traced runs (the machine is shared)."""
    base, traced, waited = [], [], 0.0
    for k in range(repeat):
        base.append(produce(n, work, payload, None))
        path = fresh(folder, f"overhead-{label}-{k}.trace")
        with TraceWriter(path) as w:
            w.start_run(run_info(label))
            traced.append(produce(n, work, payload, w))
            waited += w.statistics().wait_seconds
    b, t = min(base), min(traced)
    return [
        label,
        f"{1e6 * b / n:.2f}",
        f"{1e6 * t / n:.2f}",
        f"{1e6 * (t - b) / n:.2f}",
        f"{1e6 * waited / repeat / n:.2f}",
    ]


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(folder: Path, n: int) -> list[list[str]]:
    path = fresh(folder, "memory.trace")
    rows: list[list[str]] = []
    step = max(n // 10, BATCH)

    def sample(label: str, t0: float) -> None:
        traced, _ = tracemalloc.get_traced_memory()
        rows.append(
            [
                label,
                f"{rss_mib():.1f}",
                f"{traced / 2**20:.1f}",
                f"{time.perf_counter() - t0:.1f}",
            ]
        )

    tracemalloc.start()
    w = TraceWriter(path)
    w.start_run(run_info("memory"))
    done = 0
    t0 = time.perf_counter()
    for b in batches(n, lambda i: {"i": i, "x": i * 0.5}):
        w.write(b)
        done += len(b)
        if done % step < BATCH:
            sample(f"{done:,}", t0)
    w.finish_run("completed", None, {})
    sample("finished", t0)
    w.close()
    sample("closed", t0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append(
        [
            "peak",
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}",
            f"{peak / 2**20:.1f}",
            "",
        ]
    )
    return rows


def table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    print(f"\n{title}")
    for r in [headers, *rows]:
        print(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=500_000, help="records per writer run")
    ap.add_argument(
        "--memory-records", type=int, default=5_000_000, help="records of the memory run"
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args()
    n, n_mem = (50_000, 200_000) if args.quick else (args.records, args.memory_records)
    model = Reading()
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp:
        folder = Path(tmp)
        table(
            f"1. writer alone ({n:,} records, batches of {BATCH}), then the first read",
            [
                "payload",
                "records/s",
                "write() us/rec",
                "of which encoding",
                "thread CPU us/rec",
                "storing (wall) us/rec",
                "first read records/s",
                "first read us/rec",
                "bytes/rec",
            ],
            [
                bench_writer(folder, n, "int", lambda i: i),
                bench_writer(folder, n, "none (payload not kept)", lambda i: None),
                bench_writer(folder, n // 4, "pydantic 20 fields", lambda i: Reading(f1=i)),
                bench_writer(folder, n // 4, "one pydantic object", lambda i: model),
            ],
        )
        m = n // 5
        repeat = 1 if args.quick else 3
        table(
            f"2. cost to a busy producer thread ({m:,} records, best of {repeat})",
            [
                "payload, work per IP",
                "untraced us/IP",
                "traced us/IP",
                "overhead us/IP",
                "waiting for the thread us/IP",
            ],
            [
                bench_overhead(folder, m, 300, "int, ~7 us work", lambda i: i, repeat),
                bench_overhead(
                    folder, m, 300, "pydantic, ~7 us work", lambda i: Reading(f1=i), repeat
                ),
                bench_overhead(folder, m, 60, "int, ~1.5 us work", lambda i: i, repeat),
            ],
        )
        table(
            f"3. memory over {n_mem:,} records (dict payloads)",
            ["records", "RSS MiB", "tracemalloc MiB", "seconds"],
            bench_memory(folder, n_mem),
        )


if __name__ == "__main__":
    main()
