"""The short "latest results" section: the summary table, the batching line, the targets."""

from __future__ import annotations

from typing import Any

from ._targets import TARGETS, evaluate, verdict
from ._text import num, rate, ratio, result, table
from ._tools import BARE

__all__ = ("best_of", "peer_groups", "readme_section")

_BASELINES = ("asyncio-nowait", "asyncio-await")
_PEER_ORDER = ("pypeln", "aiostream", "streamz", "bytewax")


def peer_groups(report: dict[str, Any]) -> dict[str, list[str]]:
    """Each peer, with the names of the configurations of it that were measured."""
    groups: dict[str, list[str]] = {}
    for t in report.get("tools", []):
        if t["family"] == "peer":
            groups.setdefault(t.get("peer") or t["name"], []).append(t["name"])
    order = {p: i for i, p in enumerate(_PEER_ORDER)}
    return dict(sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order))))


def best_of(vs: dict[str, Any], configs: list[str]) -> tuple[str | None, float | None]:
    """A peer's best configuration against an fbp variant: the one fbp is slowest
    against (the largest fbp ÷ peer ratio), and that ratio."""
    ran = [(vs[c], c) for c in configs if vs.get(c) is not None]
    if not ran:
        return None, None
    r, c = max(ran)
    return c, r


def readme_section(report: dict[str, Any]) -> str:
    """A short "latest results" section: fbp against the bare pipeline and the peers."""
    meta = report["meta"]
    lines = [
        "## Latest results",
        "",
        f"`python -m benchmarks` ({meta['mode']} mode, {meta['date']}, Python"
        f" {meta['python']}, {meta['cpus']} CPUs, load average {meta['load_start']}"
        " at start). Median of"
        f" {meta['repeats']} interleaved runs; µs per hop = time / (items x channel hops);"
        " a ratio above 1 means fbp takes longer.",
        "",
    ]
    cases = report.get("cases") or []
    if cases:
        peers = [p for p in _BASELINES if any(result(c, p) for c in cases)]
        groups = peer_groups(report)
        head = [
            "case",
            "fbp µs/hop",
            "fbp-novalidate µs/hop",
            f"{BARE} µs/hop",
            "fbp ÷ bare",
            "fbp-novalidate ÷ bare",
            "fbp-traced ÷ bare",
            "fbp-traced-novalidate ÷ bare",
        ]
        head += [f"fbp ÷ {p}" for p in peers]
        head += [f"fbp-novalidate ÷ {g} (best)" for g in groups]
        rows = []
        for c in cases:
            vs = c["fbp_vs"].get("fbp", {})
            rows.append(
                [
                    c["name"],
                    _us(result(c, "fbp")),
                    _us(result(c, "fbp-novalidate")),
                    _us(result(c, BARE)),
                    ratio(vs.get(BARE)),
                    _to_bare(result(c, "fbp-novalidate")),
                    _to_bare(result(c, "fbp-traced")),
                    _to_bare(result(c, "fbp-traced-novalidate")),
                    *(ratio(vs.get(p)) for p in peers),
                    *(_best(c, configs) for configs in groups.values()),
                ]
            )
        lines += table(head, rows)
        lines.append("")
        v = _variants_text(cases)
        if v:
            lines += [v, ""]
    b = report.get("batching")
    if b:
        lines += [_batching_text(b), ""]
    lines += _targets(report)
    mem = report.get("memory")
    if mem:
        lines.append(
            f"Memory: {mem['items']:,} IPs through source → stage → sink at"
            f" {rate(mem['ips_per_s'])} IPs/s; RSS {mem['rss_before_mb']} MB before,"
            f" {mem['rss_after_mb']} MB after, {mem['rss_growth_during_run_mb']:+} MB during"
            f" the run ({'flat' if mem['flat'] else 'NOT flat'})."
        )
        lines.append("")
    memt = report.get("memory_traced")
    if memt:
        lines.append(
            f"Memory, traced: {memt['ips']:,} IPs recorded ({memt['items']:,} items through"
            f" source → stage → sink) at {rate(memt['ips_per_s'])} items/s; RSS"
            f" {memt['rss_before_mb']} MB before, {memt['rss_growth_during_run_mb']:+} MB"
            f" during the run ({'flat' if memt['flat'] else 'NOT flat'}); every IP is in the"
            " trace."
        )
        lines.append("")
    scal = report.get("scaling") or []
    if scal:
        parts = [
            f"{s['name']}: {rate(s['results'][0]['ips_per_s'])} IPs/s"
            f" ({ratio(s['ratio_to_bare'])} bare)"
            for s in scal
        ]
        lines += ["Scaling: " + "; ".join(parts) + ".", ""]
    return "\n".join(lines)


def _best(case: dict[str, Any], configs: list[str]) -> str:
    vs = case["fbp_vs"].get("fbp-novalidate", {})
    name, r = best_of(vs, configs)
    if name is None:
        return "n/a"
    return ratio(r) if len(configs) == 1 else f"{ratio(r)} ({name})"


def _us(r: dict[str, Any] | None) -> str:
    return num(r.get("us_per_hop")) if r and r["status"] == "ok" else "n/a"


def _to_bare(r: dict[str, Any] | None) -> str:
    return ratio(r.get("ratio_to_bare")) if r and r["status"] == "ok" else "n/a"


def _targets(report: dict[str, Any]) -> list[str]:
    """The targets, per configuration: met or missed, and by how much."""
    t = report.get("targets") or evaluate(report)
    if not t["rows"]:
        return []
    head = ["configuration", *(d.label for d in TARGETS)]
    rows = [
        [r["configuration"], *(verdict(r["checks"][d.key]) for d in TARGETS)] for r in t["rows"]
    ]
    met = "; ".join(
        f"{d.label.split(' (')[0]}: {t['met'][d.key][0]} of {t['met'][d.key][1]}" for d in TARGETS
    )
    return [
        'Targets, per configuration (ratios of per-hop time; "under" and "over" are'
        " fractions of the limit):",
        "",
        *table(head, rows),
        "",
        f"Configurations meeting each target: {met}.",
        "",
    ]


def _batching_text(b: dict[str, Any]) -> str:
    """One paragraph on the batching section: the batch API against the others."""
    rows = {r["tool"]: r for r in b["results"]}

    def ns(tool: str) -> str:
        r = rows.get(tool)
        return f"{r['us_per_hop'] * 1e3:.0f}" if r and r["status"] == "ok" else "n/a"

    def vs(tool: str, key: str) -> str:
        r = rows.get(tool)
        return ratio(r.get(key)) if r and r["status"] == "ok" else "n/a"

    n = b["batch"]
    return (
        f"Batching (K={b['stages']}, batches of {n}, {b['capacity_ints']} ints buffered per"
        " edge), ns per int per hop: the batch API (one IP per int)"
        f" {ns('fbp-batchapi-novalidate')} with validation off, {ns('fbp-batchapi')} on,"
        f" {ns('fbp-batchapi-traced')} traced; `list[int]` ports {ns(f'fbp-list{n}-novalidate')}"
        f" off, {ns(f'fbp-list{n}')} on; bare pipeline {ns(BARE)} per item,"
        f" {ns(f'anyio-list{n}')} in lists; bytewax {ns(f'bytewax-batch{n}')}"
        " (flat_map_batch). Batch API ÷ bare per-item:"
        f" {vs('fbp-batchapi-novalidate', 'ratio_to_bare')}"
        f" off, {vs('fbp-batchapi', 'ratio_to_bare')} on,"
        f" {vs('fbp-batchapi-traced', 'ratio_to_bare')} traced; ÷ bytewax flat_map_batch:"
        f" {vs('fbp-batchapi-novalidate', 'ratio_to_bytewax_batched')} off,"
        f" {vs('fbp-batchapi', 'ratio_to_bytewax_batched')} on,"
        f" {vs('fbp-batchapi-traced', 'ratio_to_bytewax_batched')} traced."
    )


def _variants_text(cases: list[dict[str, Any]]) -> str:
    parts = []
    for name, label in (("fbp-novalidate", "validation off"), ("fbp-traced", "tracing on")):
        vals = [c["fbp_vs"].get(name, {}).get("fbp") for c in cases]
        vals = [v for v in vals if v]
        if vals:
            parts.append(f"{label}: {min(vals):.2f} to {max(vals):.2f}x the default's time")
    return ("fbp variants, " + "; ".join(parts) + ".") if parts else ""
