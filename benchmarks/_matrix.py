"""The comparison matrix: every case, every tool, interleaved repeats, medians, ratios.

Within a repeat every tool runs once, in an order rotated from one repeat to the next,
so that noise on the (shared) machine hits all tools alike. Ratios are taken per repeat
between runs that were close in time, and the median of those is reported.
"""

from __future__ import annotations

import gc
import statistics
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._cases import Case, Timing, Unsupported, frozen_heap
from ._payloads import expected_last, make_items
from ._settings import Settings
from ._tools import BARE, FBP_TOOLS, Tool

__all__ = ("ToolResult", "case_dict", "paired_ratio", "run_case", "run_matrix", "summarize")

Progress = Callable[[str], None]


@dataclass(slots=True)
class ToolResult:
    """What one tool did on one case."""

    tool: str
    status: str  # "ok", "n/a" or "failed"
    reason: str | None = None
    items: int = 0
    samples: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)

    def us_per_hop(self, case: Case, seconds: float) -> float:
        """Microseconds per item per hop for a run of this tool."""
        return seconds / (self.items * case.hops) * 1e6

    def to_dict(self, case: Case) -> dict[str, Any]:
        """A JSON-able form with the derived figures."""
        d: dict[str, Any] = {"tool": self.tool, "status": self.status, "reason": self.reason}
        if self.status != "ok":
            return d
        med = statistics.median(self.samples)
        d.update(
            items=self.items,
            samples_s=[round(x, 6) for x in self.samples],
            median_s=round(med, 6),
            total_median_s=round(statistics.median(self.totals), 6),
            ips_per_s=round(self.items / med, 1),
            us_per_hop=round(self.us_per_hop(case, med), 4),
            spread=round((max(self.samples) - min(self.samples)) / med, 3),
        )
        return d


def _check(case: Case, items: list[Any], t: Timing, tool: str) -> None:
    if t.count != len(items):
        msg = f"{tool} on {case.name}: the sink got {t.count} items, expected {len(items)}"
        raise AssertionError(msg)
    if case.shape == "merge":
        return
    want = expected_last(case.payload, items, case.work_stages)
    if case.shape == "diamond":
        want = 2 * (items[-1] + 1)
    if t.last != want:
        msg = f"{tool} on {case.name}: the last item is {t.last!r}, expected {want!r}"
        raise AssertionError(msg)


def _sized(case: Case, items: list[Any], n: int) -> list[Any]:
    n -= n % 4
    return items if n >= len(items) else items[:n]


def run_case(
    case: Case, tools: list[Tool], settings: Settings, progress: Progress
) -> list[ToolResult]:
    """Run one case on every tool: a warm-up (which also sizes slow tools), then the
    interleaved repeats."""
    items = make_items(case.payload, case.items)
    with frozen_heap():
        return _run_case(case, items, tools, settings, progress)


def _run_case(
    case: Case, items: list[Any], tools: list[Tool], settings: Settings, progress: Progress
) -> list[ToolResult]:
    results: dict[str, ToolResult] = {}
    feeds: dict[str, list[Any]] = {}
    live: list[Tool] = []
    for tool in tools:
        res = results[tool.name] = ToolResult(tool.name, "ok")
        why = tool.unavailable()
        if why is not None:
            res.status, res.reason = "n/a", why
            continue
        warm = _sized(case, items, max(settings.min_items, len(items) // 10))
        try:
            gc.collect()
            t = tool.run(case, warm)
            _check(case, warm, t, tool.name)
        except Unsupported as e:
            res.status, res.reason = "n/a", str(e)
            continue
        except Exception as e:
            res.status, res.reason = "failed", f"{type(e).__name__}: {e}"
            progress(traceback.format_exc())
            continue
        # A slow tool runs fewer items: about target_s per run. Tools within three times
        # the budget keep every item, so that the warm-up's noise does not size them.
        per_item = t.seconds / len(warm)
        n = len(items)
        if per_item * len(items) > 3 * settings.target_s:
            n = int(settings.target_s / per_item)
        feeds[tool.name] = _sized(case, items, max(settings.min_items, min(len(items), n)))
        res.items = len(feeds[tool.name])
        live.append(tool)
    for r in range(settings.repeats):
        k = r % len(live) if live else 0
        for tool in live[k:] + live[:k]:
            res = results[tool.name]
            if res.status != "ok":
                continue
            feed = feeds[tool.name]
            try:
                gc.collect()
                t = tool.run(case, feed)
                _check(case, feed, t, tool.name)
            except Exception as e:
                res.status, res.reason = "failed", f"{type(e).__name__}: {e}"
                progress(traceback.format_exc())
                continue
            res.samples.append(t.seconds)
            res.totals.append(t.total)
    for tool in tools:
        res = results[tool.name]
        if res.status == "ok":
            us = res.us_per_hop(case, statistics.median(res.samples))
            progress(f"  {case.name:<18} {tool.name:<15} {us:8.3f} us/hop  ({res.items} items)")
        else:
            progress(f"  {case.name:<18} {tool.name:<15} {res.status}: {res.reason}")
    return [results[t.name] for t in tools]


def paired_ratio(case: Case, a: ToolResult, b: ToolResult) -> float | None:
    """Median over repeats of a's per-hop time over b's, in the same repeat."""
    if a.status != "ok" or b.status != "ok":
        return None
    ratios = [
        a.us_per_hop(case, x) / b.us_per_hop(case, y)
        for x, y in zip(a.samples, b.samples, strict=False)
    ]
    return round(statistics.median(ratios), 3) if ratios else None


def case_dict(case: Case, results: list[ToolResult]) -> dict[str, Any]:
    """The report entry of one case: its tools' figures, ratios to the bare pipeline,
    and every fbp variant's ratio to every other tool (above 1: fbp is slower)."""
    by_name = {r.tool: r for r in results}
    bare = by_name.get(BARE)
    rows = []
    for r in results:
        d = r.to_dict(case)
        if r.status == "ok" and bare is not None:
            d["ratio_to_bare"] = paired_ratio(case, r, bare)
        rows.append(d)
    fbp_vs: dict[str, dict[str, float | None]] = {}
    for name in FBP_TOOLS:
        me = by_name.get(name)
        if me is None or me.status != "ok":
            continue
        fbp_vs[name] = {
            other.tool: paired_ratio(case, me, other)
            for other in results
            if other.tool != name and other.status == "ok"
        }
    return {**case.to_dict(), "results": rows, "fbp_vs": fbp_vs}


def run_matrix(
    cases: list[Case], tools: list[Tool], settings: Settings, progress: Progress
) -> list[dict[str, Any]]:
    """Run every case on every tool; return the cases' report entries."""
    out = []
    for case in cases:
        progress(f"case {case.name}: {case.describe()}, {case.items} items, {case.hops} hops/item")
        out.append(case_dict(case, run_case(case, tools, settings, progress)))
    return out


def summarize(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Headline ratios: for each fbp variant and case, its ratio to the bare pipeline
    and to each peer, plus the geometric mean over the cases."""
    out: dict[str, Any] = {}
    for name in FBP_TOOLS:
        per_case: dict[str, dict[str, float | None]] = {}
        for c in cases:
            vs = c["fbp_vs"].get(name)
            if vs:
                per_case[c["name"]] = vs
        if not per_case:
            continue
        others = sorted({o for vs in per_case.values() for o in vs})
        geo: dict[str, float] = {}
        for o in others:
            vals = [vs[o] for vs in per_case.values() if vs.get(o)]
            if vals:
                geo[o] = round(statistics.geometric_mean([v for v in vals if v]), 3)
        out[name] = {"per_case": per_case, "geomean": geo}
    return out
