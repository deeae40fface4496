"""A whole suite run: choose what to run from ``--only``, run it, assemble the report."""

from __future__ import annotations

import datetime
import fnmatch
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._batching import run_batching
from ._fbp import tracing_available
from ._matrix import run_matrix, summarize
from ._profile import run_profile
from ._scaling import run_memory, run_scaling
from ._settings import SECTIONS, Settings, matrix_cases
from ._targets import evaluate
from ._tools import BARE, TOOLS

__all__ = ("SCHEMA", "Selection", "run_suite", "select")

#: Identifies the JSON report's layout.
SCHEMA = "fbp-bench/1"

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Selection:
    """What ``--only`` keeps: sections, matrix cases, scaling runs and tools.

    ``None`` keeps everything of that kind.
    """

    sections: tuple[str, ...]
    cases: frozenset[str] | None = None
    scaling: frozenset[str] | None = None
    tools: frozenset[str] | None = None


def _scaling_names(s: Settings) -> list[str]:
    return [f"{shape}-{p}" for shape in ("chain", "fan") for p in s.scale_processes]


def select(patterns: list[str] | None, settings: Settings) -> Selection:
    """Read ``--only`` patterns (shell globs) against every name the suite knows.

    A pattern may name a section (``matrix``, ``scaling``, ``memory``, ``batching``,
    ``profile``), a matrix case (``linear-k5-int``), a scaling run (``chain-1000``) or a
    tool (``fbp``, ``pypeln``). Sections run when named or when one of their cases is;
    naming only tools runs the matrix with those tools (and the bare pipeline, which
    every ratio needs).

    Raises:
        ValueError: a pattern matches nothing; the message lists the names.
    """
    if not patterns:
        return Selection(SECTIONS)
    case_names = [c.name for c in matrix_cases(settings)]
    scale_names = _scaling_names(settings)
    tool_names = [t.name for t in TOOLS]
    sections: set[str] = set()
    cases: set[str] = set()
    scaling: set[str] = set()
    tools: set[str] = set()
    for pat in patterns:
        hits = 0
        for names, into in (
            (list(SECTIONS), sections),
            (case_names, cases),
            (scale_names, scaling),
            (tool_names, tools),
        ):
            found = fnmatch.filter(names, pat)
            into.update(found)
            hits += len(found)
        if not hits:
            known = ", ".join([*SECTIONS, *case_names, *scale_names, *tool_names])
            msg = f"--only {pat!r} matches nothing; the names are: {known}"
            raise ValueError(msg)
    named = set(sections)
    if cases:
        sections.add("matrix")
    if scaling:
        sections.add("scaling")
    if not sections:
        sections.add("matrix")
    return Selection(
        sections=tuple(s for s in SECTIONS if s in sections),
        cases=frozenset(cases) if cases and "matrix" not in named else None,
        scaling=frozenset(scaling) if scaling and "scaling" not in named else None,
        tools=frozenset(tools | {BARE}) if tools else None,
    )


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _version(dist: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_suite(settings: Settings, selection: Selection, progress: Progress) -> dict[str, Any]:
    """Run the selected sections; return the report (JSON-able)."""
    started = time.perf_counter()
    tools = [t for t in TOOLS if selection.tools is None or t.name in selection.tools]
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "meta": {
            "mode": "quick" if settings.quick else "full",
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(),
            "implementation": sys.implementation.name,
            "platform": platform.platform(terse=True),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_start": _load(),
            "repeats": settings.repeats,
            "sections": list(selection.sections),
            "versions": {d: _version(d) for d in ("fbp-causal", "anyio", "pydantic")},
        },
        "tools": [t.to_dict() for t in tools],
        "cases": [],
        "summary": {},
        "scaling": [],
        "memory": None,
        "memory_traced": None,
        "batching": None,
        "profile": None,
        "notes": [
            "Times are the steady part: from the first item a source sends to the end of"
            " the run (imports, building the graph and the items are excluded).",
            "Ratios are medians of per-repeat ratios between runs made close in time;"
            " above 1 means the first tool takes longer.",
            "Tools slower than the time budget per run get fewer items (see the items"
            " column); per-hop figures are comparable, absolute run times are not.",
            "Capacity is 32 for every edge, stream and queue in the matrix; aiostream,"
            " streamz and bytewax have no per-edge buffer to size. The batching section"
            " buffers 256 ints per edge: 256 IPs or items on per-item edges, 4 lists of"
            " 64 on list edges.",
        ],
        "targets": None,
    }
    timings: dict[str, float] = {}
    mark = time.perf_counter()

    def done(section: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[section] = round(now - mark, 1)
        mark = now

    if "matrix" in selection.sections:
        progress("matrix")
        cases = [
            c
            for c in matrix_cases(settings)
            if selection.cases is None or c.name in selection.cases
        ]
        report["cases"] = run_matrix(cases, tools, settings, progress)
        report["summary"] = summarize(report["cases"])
        done("matrix")
    if "scaling" in selection.sections:
        progress("scaling")
        only = set(selection.scaling) if selection.scaling is not None else None
        report["scaling"] = run_scaling(settings, only, progress)
        done("scaling")
    if "memory" in selection.sections:
        progress("memory")
        report["memory"] = run_memory(settings, progress)
        if tracing_available() is None:
            report["memory_traced"] = run_memory(settings, progress, traced=True)
        done("memory")
    if "batching" in selection.sections:
        progress("batching")
        report["batching"] = run_batching(settings, progress)
        done("batching")
    if "profile" in selection.sections:
        progress("profile")
        report["profile"] = run_profile(settings.profile_items, progress)
        done("profile")
    report["targets"] = evaluate(report)
    report["meta"]["load_end"] = _load()
    report["meta"]["duration_s"] = round(time.perf_counter() - started, 1)
    report["meta"]["section_s"] = timings
    return report
