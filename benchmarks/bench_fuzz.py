"""The long run of the fuzzer: many mutated graph files and protocol messages.

Run: ``python benchmarks/bench_fuzz.py`` (100,000 graph inputs and 1,000 protocol
sessions by default; ``--graphs N --sessions N --seed S`` to change; ``--quick`` for
2,000 and 20, what CI runs). See :mod:`benchmarks._fuzz` for the inputs and the oracle.

Prints what came of the inputs (refused with a GraphError, loaded valid or invalid; for
messages, handled), the slowest graph input, the time taken, and every finding: an
exception outside the documented error types, a protocol "internal error", or an input
slower than ``SLOW`` seconds. Findings are written to ``--out`` (one file per finding,
the input and the traceback) and make the exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the package from the project root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._fuzz import Report, fuzz


def _progress(report: Report) -> None:
    n = sum(report.inputs.values())
    print(f"  {n:,} inputs, {len(report.findings)} findings", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=100_000, help="graph inputs (100,000)")
    parser.add_argument("--sessions", type=int, default=1000, help="protocol sessions (1,000)")
    parser.add_argument("--seed", type=int, default=1, help="the random seed (1)")
    parser.add_argument("--quick", action="store_true", help="2,000 graph inputs, 20 sessions")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"), help="findings go here")
    args = parser.parse_args()
    graphs, sessions = (2000, 20) if args.quick else (args.graphs, args.sessions)
    report = fuzz(graphs, sessions, seed=args.seed, progress=_progress)
    total = sum(report.inputs.values())
    print(f"{total:,} inputs in {report.seconds:.0f} s (seed {args.seed})")
    for target, n in sorted(report.inputs.items()):
        print(f"  {target:18} {n:>9,}")
    print("outcomes:")
    for outcome, n in sorted(report.outcomes.items()):
        print(f"  {outcome:18} {n:>9,}")
    print(f"slowest graph input: {report.slowest:.3f} s")
    print(f"findings: {len(report.findings)}")
    if report.findings:
        args.out.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(report.findings):
            print(f"  {f.kind}: {f.what}")
            (args.out / f"{i:04d}.input").write_bytes(f.data)
            (args.out / f"{i:04d}.txt").write_text(f"{f.kind}: {f.what}\n\n{f.detail}")
        print(f"written to {args.out}/")
    return 1 if report.findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
