"""The command line: ``python -m benchmarks [--quick] [--json OUT] ...``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ._plot import plot
from ._report import markdown, readme_section
from ._settings import Settings
from ._suite import run_suite, select

__all__ = ("main",)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Throughput of fbp against bare asyncio/anyio pipelines and other Python"
            " stream tools: a matrix of pipeline shapes and payloads, scaling to 1,000"
            " processes, a memory run, batching, and a profile of fbp's per-hop cost."
        ),
    )
    p.add_argument("--quick", action="store_true", help="CI smoke mode: small runs, seconds")
    p.add_argument(
        "--big", action="store_true", help="the 10-million-IP memory run even in quick mode"
    )
    p.add_argument("--repeats", type=int, help="runs per tool and case (default 5, quick 3)")
    p.add_argument("--json", metavar="OUT", type=Path, help="write the full report as JSON")
    p.add_argument("--markdown", metavar="OUT", type=Path, help="write the report as Markdown")
    p.add_argument(
        "--plot", metavar="OUT.png", type=Path, help="plot µs/hop against K and payload size"
    )
    p.add_argument(
        "--readme", metavar="OUT", type=Path, help="write the short 'latest results' section"
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="run only these sections, cases, scaling runs or tools (shell globs), e.g."
        " --only linear-k5-int fbp pypeln",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _failures(report: dict[str, Any]) -> list[str]:
    out = []
    for c in [*report["cases"], *([report["batching"]] if report["batching"] else [])]:
        for r in c["results"]:
            if r["status"] == "failed":
                out.append(f"{r['tool']} on {c['name']}: {r['reason']}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the suite; return the exit status (1 if a run failed or gave a wrong result)."""
    args = _parser().parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        print("--repeats must be at least 1", file=sys.stderr)
        return 2
    settings = Settings.make(quick=args.quick, big=args.big, repeats=args.repeats)
    try:
        selection = select(args.only, settings)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    report = run_suite(settings, selection, progress)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=repr) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown(report))
    if args.readme:
        args.readme.write_text(readme_section(report))
    if args.plot:
        why = plot(report, args.plot)
        if why:
            print(why, file=sys.stderr)
    print(readme_section(report))
    failures = _failures(report)
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0
