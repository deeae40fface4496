"""The suite's targets, and whether a report meets them, per configuration.

Every target is a ratio of per-hop times, taken per repeat against a run made close in
time (the median of those is compared with the limit):

- ``untraced``: fbp with validation off takes at most 1.5x the bare pipeline's time.
- ``traced``: fbp with every IP traced takes at most 3x the bare pipeline's time, with
  validation on (``traced``) and off (``traced-novalidate``, the runtime's own cost,
  as ``untraced`` measures it).
- ``peers``: fbp is faster than every peer that runs the configuration (below 1x of
  the fastest, each peer in all the configurations measured, so in its best), with
  validation on (the default) and off.
- ``validation``: fbp with validation on takes at most 1.1x its time with it off.

A configuration is a matrix case, or the batching section's K=5 pipeline written with
the batch API (whose "bare" is the per-item bare pipeline, and whose peers are
bytewax's per-item and batched modes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._tools import BARE

__all__ = ("TARGETS", "Target", "evaluate", "verdict")


@dataclass(frozen=True, slots=True)
class Target:
    """One target: a ratio that must stay at or below ``limit`` (below, if ``strict``)."""

    key: str
    label: str
    limit: float
    strict: bool = False

    def met(self, ratio: float) -> bool:
        """Whether a ratio meets the target."""
        return ratio < self.limit if self.strict else ratio <= self.limit


TARGETS = (
    Target("untraced", "validation off ÷ bare (target ≤ 1.5x)", 1.5),
    Target("traced", "traced ÷ bare (target ≤ 3x)", 3.0),
    Target("traced-novalidate", "traced, validation off ÷ bare (target ≤ 3x)", 3.0),
    Target("peers", "fbp ÷ fastest peer (target < 1x)", 1.0, strict=True),
    Target("peers-novalidate", "validation off ÷ fastest peer (target < 1x)", 1.0, strict=True),
    Target("validation", "validation on ÷ off (target ≤ 1.1x)", 1.1),
)
_BY_KEY = {t.key: t for t in TARGETS}

#: Per configuration kind: the tool each target reads.
_MATRIX_TOOLS = {
    "untraced": "fbp-novalidate",
    "traced": "fbp-traced",
    "traced-novalidate": "fbp-traced-novalidate",
    "peers": "fbp",
    "peers-novalidate": "fbp-novalidate",
    "validation": "fbp",
}
_BATCH_TOOLS = {
    "untraced": "fbp-batchapi-novalidate",
    "traced": "fbp-batchapi-traced",
    "traced-novalidate": "fbp-batchapi-traced-novalidate",
    "peers": "fbp-batchapi",
    "peers-novalidate": "fbp-batchapi-novalidate",
    "validation": "fbp-batchapi",
}
#: What the validation target compares each tool with.
_VALIDATION_OFF = {"fbp": "fbp-novalidate", "fbp-batchapi": "fbp-batchapi-novalidate"}


def _check(target: Target, tool: str, ratio: float | None, against: str | None) -> dict[str, Any]:
    if ratio is None:
        return {"tool": tool, "ratio": None, "against": against, "met": None, "margin": None}
    met = target.met(ratio)
    margin = (target.limit - ratio) / target.limit if met else (ratio - target.limit) / target.limit
    return {
        "tool": tool,
        "ratio": ratio,
        "against": against,
        "met": met,
        "margin": round(margin, 3),
    }


def _row(
    entry: dict[str, Any], label: str, tools: dict[str, str], peers: set[str]
) -> dict[str, Any]:
    results = {r["tool"]: r for r in entry["results"]}
    checks: dict[str, Any] = {}
    for key, tool in tools.items():
        target = _BY_KEY[key]
        mine = results.get(tool)
        if key in ("untraced", "traced", "traced-novalidate"):
            ratio = mine.get("ratio_to_bare") if mine and mine["status"] == "ok" else None
            checks[key] = _check(target, tool, ratio, BARE)
            continue
        vs = entry.get("fbp_vs", {}).get(tool, {})
        if key == "validation":
            off = _VALIDATION_OFF[tool]
            checks[key] = _check(target, tool, vs.get(off), off)
            continue
        ran = {p: vs[p] for p in peers if vs.get(p) is not None}
        if not ran:
            checks[key] = _check(target, tool, None, None)
            continue
        fastest = max(ran, key=lambda p: ran[p])  # the largest fbp ÷ peer
        checks[key] = _check(target, tool, ran[fastest], fastest)
    return {"configuration": label, "checks": checks}


def evaluate(report: dict[str, Any]) -> dict[str, Any]:
    """Check every target on every configuration of a report.

    Returns:
        ``definitions`` (the targets), ``rows`` (per configuration, per target: the
        tool, its ratio, what it was compared with, whether it is met and by how much,
        as a fraction of the limit) and ``met`` (per target: configurations meeting it,
        and configurations measured).
    """
    peers = {t["name"] for t in report.get("tools", []) if t["family"] == "peer"}
    rows = [_row(c, c["name"], _MATRIX_TOOLS, peers) for c in report.get("cases") or []]
    b = report.get("batching")
    if b:
        fam = b.get("families", {})
        rows.append(
            _row(
                b,
                f"{b['name']} batch API",
                _BATCH_TOOLS,
                {name for name, f in fam.items() if f == "peer"},
            )
        )
    met: dict[str, list[int]] = {}
    for t in TARGETS:
        done = [r["checks"][t.key]["met"] for r in rows if r["checks"][t.key]["met"] is not None]
        met[t.key] = [sum(done), len(done)]
    return {
        "definitions": [
            {"key": t.key, "label": t.label, "limit": t.limit, "strict": t.strict} for t in TARGETS
        ],
        "rows": rows,
        "met": met,
    }


def verdict(check: dict[str, Any]) -> str:
    """One table cell: the ratio, and whether the target is met and by how much."""
    if check["ratio"] is None:
        return "n/a"
    pct = f"{check['margin'] * 100:.0f}%"
    against = f" ({check['against']})" if check["against"] not in (None, BARE) else ""
    if check["met"]:
        word = f"met, {pct} under"
    elif check["margin"] >= 1:
        word = f"**missed**, {check['margin'] + 1:.1f}x the limit"
    else:
        word = f"**missed**, {pct} over"
    return f"{check['ratio']:.2f}x{against}: {word}"
