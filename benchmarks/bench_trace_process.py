"""What a user of ``fbp run --trace`` waits for, timed as whole processes.

Run: ``python benchmarks/bench_trace_process.py`` (``--quick`` for a short run;
``--baseline DIR`` to time another checkout of fbp in the same run, e.g. the code
before the current trace store: ``git archive <commit> fbp | tar -x -C DIR``, with its
C extension built in place).

Measured, each as the median of interleaved repeats (the machine is shared: the
order of the runs is rotated so that load drifts hit every variant alike). Each
process's CPU time (user + system, every thread) is reported beside its wall time:
on a loaded machine it says what the run costs when the wall clock cannot.
Before each timed process the disk writes of the previous ones are flushed
(``os.sync()``, untimed), so that the kernel's write-back of earlier traces does not
land on the process being timed.

1. ``fbp run NET`` and ``fbp run NET --trace FILE``, from the command to the end of
   the process, for a source and five forwarding stages moving ``--ips`` ints (six
   senders, so 1.2M IPs for 200k), and the same with a 20-field pydantic model made
   by the source for every IP. The traced/untraced ratio is what tracing costs a user.
2. Ctrl-C: a traced run of a long source (3M ints through the five stages) at full
   speed gets SIGINT after 3 s; timed from the signal to the end of the process, with
   its exit code, then the first ``trace summary`` of the trace (its status and record
   count), what a user waits for before a first answer.
3. Reading the int trace of (1), as whole processes beside their floors (``python -c
   pass``, ``import fbp``, ``import pandas``): ``fbp trace summary FILE`` (also with
   the stored counts deleted, as for a crashed run), ``fbp trace ips FILE EDGE`` (100
   IPs, and all), one edge's IPs as a DataFrame; and in one process, opening the file
   and getting one edge's IPs as a DataFrame (``run.ips("S3.OUT -> S4.IN")``) and the
   run's ``frames()``. ``--reading-only`` writes one int trace per code and times
   only this.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COMPONENTS = '''
from pydantic import BaseModel

from fbp import Component, InPort, OutPort


class Wide(BaseModel):
    """A 20-field payload: ids, measurements and labels."""

    f1: int
    f2: int = 2
    f3: int = 3
    f4: int = 4
    f5: int = 5
    f6: float = 6.5
    f7: float = 7.5
    f8: float = 8.5
    f9: float = 9.5
    f10: float = 10.5
    f11: str = "alpha"
    f12: str = "beta"
    f13: str = "gamma"
    f14: str = "delta"
    f15: str = "epsilon"
    f16: bool = True
    f17: bool = False
    f18: int = 18
    f19: float = 19.5
    f20: str = "omega"


class Ints(Component):
    """Send 0, 1, ... COUNT-1 (without end when COUNT is negative)."""

    count: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        n = await self.count.receive()
        i = 0
        while n < 0 or i < n:
            await self.out.send(i)
            i += 1


class Models(Component):
    """Send COUNT new 20-field models."""

    count: InPort[int]
    out: OutPort[Wide]

    async def run(self) -> None:
        n = await self.count.receive()
        for i in range(n):
            await self.out.send(Wide(f1=i))
'''


def network(source: str, count: int) -> str:
    """Src -> S1 ... S5 (core/Repeat) -> Sink (core/Drop), as FBP JSON."""
    names = ["Src", *(f"S{k}" for k in range(1, 6)), "Sink"]
    comps = [f"bench_trace_components:{source}", *["core/Repeat"] * 5, "core/Drop"]
    graph = {
        "properties": {"name": "Traced"},
        "processes": {n: {"component": c} for n, c in zip(names, comps, strict=True)},
        "connections": [
            {"data": count, "tgt": {"process": "Src", "port": "COUNT"}},
            *(
                {"src": {"process": a, "port": "OUT"}, "tgt": {"process": b, "port": "IN"}}
                for a, b in itertools.pairwise(names)
            ),
        ],
    }
    return json.dumps(graph)


def env(code: Path | None, extra: Path) -> dict[str, str]:
    e = dict(os.environ)
    paths = [str(extra)] + ([str(code)] if code is not None else [])
    if e.get("PYTHONPATH"):
        paths.append(e["PYTHONPATH"])
    e["PYTHONPATH"] = os.pathsep.join(paths)
    e["WORK"] = str(extra)  # the processes run there, so that -m fbp finds no other fbp
    return e


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], environ: dict[str, str], cpu: list[float] | None = None) -> float:
    """Wall seconds of a process run to its end; its CPU seconds appended to ``cpu``.

    Each process starts once the previous ones' writes have reached the disk
    (``os.sync()``, not timed): otherwise the kernel writing back the traces of the
    runs before (80 MB each for 1.2M int records) takes CPU from the one being timed,
    which a user running one network does not see (measured: back to back, traced
    runs went from 0.85 s to 1.2-1.4 s as their traces piled up).
    """
    os.sync()
    c0 = _children_cpu()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=environ, capture_output=True, text=True, cwd=environ["WORK"])
    took = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(_children_cpu() - c0)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return took


def _drop_older(work: Path, written: Path, keep: set[Path]) -> None:
    """Delete the traces of earlier runs but the ones kept for reading.

    A trace read by nobody stays in the page cache until it is deleted; gigabytes of
    them (the repeats write 80-125 MB each) made this VM's kernel spend about twice the
    system time writing the next trace (measured: 0.6 s of system CPU instead of 0.25 s,
    until the caches were dropped), which a user's single run does not meet.
    """
    for old in work.glob("*.trace*"):
        if old.name.split(".trace")[0] + ".trace" not in {p.name for p in keep | {written}}:
            old.unlink(missing_ok=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def bench_runs(
    codes: dict[str, Path | None], work: Path, ips: int, repeats: int
) -> tuple[dict[str, Any], dict[str, Path]]:
    """(1): run and traced run, per code and payload; returns the timings and the
    int traces written by each code's last run."""
    nets = {}
    for source in ("Ints", "Models"):
        net = work / f"{source}.json"
        net.write_text(network(source, ips))
        nets[source] = net
    times: dict[tuple[str, str, str], list[float]] = {}
    cpus: dict[tuple[str, str, str], list[float]] = {}
    traces: dict[str, Path] = {}
    variants = [(c, s, mode) for c in codes for s in nets for mode in ("run", "traced")]
    for r in range(repeats):
        shift = r % len(variants)
        for code, source, mode in variants[shift:] + variants[:shift]:
            cmd = [sys.executable, "-m", "fbp", "run", str(nets[source])]
            if mode == "traced":
                trace = work / f"{code}-{source}-{r}.trace"
                cmd += ["--trace", str(trace)]
                if source == "Ints":
                    traces[code] = trace
            cpu = cpus.setdefault((code, source, mode), [])
            took = timed(cmd, env(codes[code], work), cpu)
            if mode == "traced":
                _drop_older(work, trace, keep=set(traces.values()))
            times.setdefault((code, source, mode), []).append(took)
            print(
                f"  {code:8} {source:6} {mode:6} {took:7.2f} s (CPU {cpu[-1]:.2f} s)",
                file=sys.stderr,
            )
    out: dict[str, Any] = {}
    for code in codes:
        for source in nets:
            run = median(times[(code, source, "run")])
            traced = median(times[(code, source, "traced")])
            run_cpu = median(cpus[(code, source, "run")])
            traced_cpu = median(cpus[(code, source, "traced")])
            out[f"{code}/{source}"] = {
                "run_s": run,
                "traced_s": traced,
                "ratio": traced / run,
                "run_cpu_s": run_cpu,
                "traced_cpu_s": traced_cpu,
                "cpu_ratio": traced_cpu / run_cpu,
            }
    return out, traces


def bench_interrupt(codes: dict[str, Path | None], work: Path, repeats: int) -> dict[str, Any]:
    """(2): SIGINT after 3 s of a full-speed traced run."""
    # Long enough not to end within 3 s, bounded so that no run can go on for long.
    net = work / "endless.json"
    net.write_text(network("Ints", 3_000_000))
    out: dict[str, Any] = {}
    for code, where in codes.items():
        waits, codes_seen, statuses, records, first_query = [], [], [], [], []
        for r in range(repeats if code == "current" else 1):
            trace = work / f"{code}-endless-{r}.trace"
            cmd = [sys.executable, "-m", "fbp", "run", str(net), "--trace", str(trace)]
            proc = subprocess.Popen(
                cmd,
                env=env(where, work),
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(3.0)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            waits.append(time.perf_counter() - t0)
            codes_seen.append(proc.returncode)
            t0 = time.perf_counter()
            try:
                read = subprocess.run(
                    [sys.executable, "-m", "fbp", "trace", "summary", str(trace), "--json"],
                    env=env(where, work),
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=180,
                )
            except subprocess.TimeoutExpired:
                first_query.append(float("inf"))
                statuses.append("summary not done in 180 s")
                records.append(0)
                continue
            first_query.append(time.perf_counter() - t0)
            run = json.loads(read.stdout)["runs"][-1] if read.returncode == 0 else {}
            statuses.append(run.get("status", f"unreadable: {read.stderr.strip()[:200]}"))
            records.append(run.get("records", 0))
            print(f"  {code:8} SIGINT: {waits[-1]:.2f} s, exit {proc.returncode}", file=sys.stderr)
        out[code] = {
            "exit_after_signal_s": median(waits),
            "worst_s": max(waits),
            "exit_codes": codes_seen,
            "statuses": statuses,
            "records": records,
            "first_summary_s": median(first_query),
        }
    return out


READ_ONE_EDGE = """
import json, sys, time
t0 = time.perf_counter()
from fbp.tracing import open_trace
run = open_trace(sys.argv[1]).run()
df = run.ips("S3.OUT -> S4.IN")
t1 = time.perf_counter()
frames = getattr(run, "frames", None)
t2 = time.perf_counter()
if frames is not None:
    f = frames()
    n_frames = len(f.records)
t3 = time.perf_counter()
print(json.dumps({"edge_s": t1 - t0, "rows": len(df), "frames_s": (t3 - t2) if frames else None}))
"""

EDGE = "S3.OUT -> S4.IN"

#: What a user waits for when reading a trace, as whole processes: the floors (Python,
#: ``import fbp``, ``import pandas``) and the commands, by name; TRACE is the trace file.
READ_PROCESSES: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "import fbp": ["-c", "import fbp"],
    "import pandas": ["-c", "import pandas"],
    "trace summary": ["-m", "fbp", "trace", "summary", "TRACE"],
    # As for a crashed run: the counts from the kind, port and activation columns.
    "trace summary, counted": ["-m", "fbp", "trace", "summary", "COUNTED"],
    "trace ips (100)": ["-m", "fbp", "trace", "ips", "TRACE", EDGE],
    "trace ips --limit 0": ["-m", "fbp", "trace", "ips", "TRACE", EDGE, "--limit", "0"],
    "edge DataFrame": [
        "-c",
        f"import sys, fbp.tracing as t; t.open_trace(sys.argv[1]).run().ips({EDGE!r})",
        "TRACE",
    ],
}


def bench_reading(
    codes: dict[str, Path | None], work: Path, traces: dict[str, Path], repeats: int
) -> dict[str, Any]:
    """(3): reading the int traces of (1), as whole processes (wall and CPU), and one
    edge's DataFrame and the run's frames() in a process."""
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    edge: dict[str, list[float]] = {c: [] for c in codes}
    frames: dict[str, list[float]] = {c: [] for c in codes}
    script = work / "read_one_edge.py"
    script.write_text(READ_ONE_EDGE)
    counted = {}
    for code, trace in traces.items():
        counted[code] = trace.with_name(trace.stem + "-counted.trace")
        shutil.copy(trace, counted[code])
        con = sqlite3.connect(counted[code])
        with con:
            if con.execute("SELECT 1 FROM sqlite_schema WHERE name = 'summaries'").fetchone():
                con.execute("DELETE FROM summaries")
        con.close()
    variants = [(c, name) for name in READ_PROCESSES for c in codes]
    for r in range(repeats):
        shift = r % len(variants)
        for code, name in variants[shift:] + variants[:shift]:
            e = env(codes[code], work)
            files = {"TRACE": str(traces[code]), "COUNTED": str(counted[code])}
            argv = [files.get(a, a) for a in READ_PROCESSES[name]]
            took = timed([sys.executable, *argv], e, cpu.setdefault((code, name), []))
            wall.setdefault((code, name), []).append(took)
            print(
                f"  {code:8} {name:20} {took:6.2f} s (CPU {cpu[(code, name)][-1]:.2f} s)",
                file=sys.stderr,
            )
        for code, where in codes.items():
            res = subprocess.run(
                [sys.executable, str(script), str(traces[code])],
                env=env(where, work),
                cwd=work,
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                raise SystemExit(res.stderr[-2000:])
            got = json.loads(res.stdout)
            edge[code].append(got["edge_s"])
            if got["frames_s"] is not None:
                frames[code].append(got["frames_s"])
    out: dict[str, Any] = {}
    for code in codes:
        out[code] = {
            "processes": {
                name: {"wall_s": median(wall[(code, name)]), "cpu_s": median(cpu[(code, name)])}
                for name in READ_PROCESSES
            },
            "summary_process_s": median(wall[(code, "trace summary")]),
            "edge_process_s": median(wall[(code, "edge DataFrame")]),
            "edge_dataframe_s": median(edge[code]),
            "frames_s": median(frames[code]) if frames[code] else None,
        }
    return out


def write_int_traces(codes: dict[str, Path | None], work: Path, ips: int) -> dict[str, Path]:
    """One traced run of the int network per code, for (3) alone."""
    net = work / "Ints.json"
    net.write_text(network("Ints", ips))
    traces = {}
    for code, where in codes.items():
        trace = work / f"{code}-Ints.trace"
        timed(
            [sys.executable, "-m", "fbp", "run", str(net), "--trace", str(trace)], env(where, work)
        )
        traces[code] = trace
    return traces


def print_reading(codes: dict[str, Path | None], reading: dict[str, Any], repeats: int) -> None:
    print(f"\nreading, whole processes, medians of {repeats}: wall (CPU) seconds")
    print("| process | " + " | ".join(codes) + " |")
    print("|---|" + "---|" * len(codes))
    for name in READ_PROCESSES:
        cells = [
            f"{reading[c]['processes'][name]['wall_s']:.2f} s"
            f" ({reading[c]['processes'][name]['cpu_s']:.2f} s)"
            for c in codes
        ]
        print(f"| `{name}` | " + " | ".join(cells) + " |")
    for key, label in (
        ("edge_dataframe_s", "edge DataFrame in a process"),
        ("frames_s", "frames()"),
    ):
        cells = ["-" if reading[c][key] is None else f"{reading[c][key]:.2f} s" for c in codes]
        print(f"| {label} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="20k IPs, 1 repeat: a smoke run")
    p.add_argument("--ips", type=int, help="IPs per sender (default 200,000: 1.2M IPs)")
    p.add_argument("--repeats", type=int, help="repeats (default 5, quick 1)")
    p.add_argument("--baseline", type=Path, help="another fbp checkout to time alike")
    p.add_argument("--json", type=Path, help="write the results as JSON")
    p.add_argument(
        "--reading-only",
        action="store_true",
        help="only (3): write one int trace per code, then time reading it",
    )
    args = p.parse_args()
    ips = args.ips or (20_000 if args.quick else 200_000)
    repeats = args.repeats or (1 if args.quick else 5)
    codes: dict[str, Path | None] = {"current": None}
    if args.baseline is not None:
        codes = {"baseline": args.baseline.resolve(), **codes}
    runs: dict[str, Any] = {}
    interrupt: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="fbp-bench-trace-") as tmp:
        work = Path(tmp)
        (work / "bench_trace_components.py").write_text(COMPONENTS)
        if args.reading_only:
            print(f"one int trace per code, {ips:,} IPs per sender", file=sys.stderr)
            traces = write_int_traces(codes, work, ips)
        else:
            print(f"(1) fbp run and fbp run --trace, {ips:,} IPs per sender", file=sys.stderr)
            runs, traces = bench_runs(codes, work, ips, repeats)
        print("(3) reading the int trace", file=sys.stderr)
        reading = bench_reading(codes, work, traces, repeats)
        if not args.reading_only:
            print("(2) Ctrl-C after 3 s", file=sys.stderr)
            interrupt = bench_interrupt(codes, work, max(1, min(repeats, 3)))
    report = {
        "ips_per_sender": ips,
        "records": 6 * ips + 1,
        "repeats": repeats,
        "runs": runs,
        "reading": reading,
        "interrupt": interrupt,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print_reading(codes, reading, repeats)
    if args.reading_only:
        return
    print(f"\nwhole process, {6 * ips + 1:,} records, medians of {repeats}")
    print("| code | payload | fbp run | fbp run --trace | ratio | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for key, r in runs.items():
        code, source = key.split("/")
        payload = "int" if source == "Ints" else "20-field model"
        print(
            f"| {code} | {payload} | {r['run_s']:.2f} s | {r['traced_s']:.2f} s"
            f" | {r['ratio']:.2f}x | {r['cpu_ratio']:.2f}x |"
        )
    print("\n| code | Ctrl-C: exit after | exit codes | status | then trace summary |")
    print("|---|---|---|---|---|")
    for code in codes:
        it = interrupt[code]
        print(
            f"| {code} | {it['exit_after_signal_s']:.2f} s (worst {it['worst_s']:.2f})"
            f" | {it['exit_codes']} | {', '.join(sorted(set(it['statuses'])))}"
            f" | {it['first_summary_s']:.2f} s |"
        )


if __name__ == "__main__":
    main()
