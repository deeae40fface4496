"""Reports: the Markdown tables, and the short "latest results" text for the README."""

from __future__ import annotations

from typing import Any

from ._tools import BARE

__all__ = ("markdown", "readme_section")

_PEER_ORDER = ("asyncio-nowait", "asyncio-await", "pypeln", "aiostream", "streamz", "bytewax")


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _rate(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = [_row(head), _row(["---"] * len(head))]
    out += [_row(r) for r in rows]
    return out


def _result(case: dict[str, Any], tool: str) -> dict[str, Any] | None:
    for r in case["results"]:
        if r["tool"] == tool:
            return dict(r)
    return None


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
        peers = [p for p in _PEER_ORDER if any(_result(c, p) for c in cases)]
        head = ["case", "fbp µs/hop", f"{BARE} µs/hop", "fbp ÷ bare"]
        head += [f"fbp ÷ {p}" for p in peers]
        rows = []
        for c in cases:
            me, bare = _result(c, "fbp"), _result(c, BARE)
            vs = c["fbp_vs"].get("fbp", {})
            rows.append(
                [
                    c["name"],
                    _num(me.get("us_per_hop")) if me and me["status"] == "ok" else "n/a",
                    _num(bare.get("us_per_hop")) if bare and bare["status"] == "ok" else "n/a",
                    _ratio(vs.get(BARE)),
                    *(_ratio(vs.get(p)) for p in peers),
                ]
            )
        lines += _table(head, rows)
        lines.append("")
        v = _variants_text(cases)
        if v:
            lines += [v, ""]
    mem = report.get("memory")
    if mem:
        lines.append(
            f"Memory: {mem['items']:,} IPs through source → stage → sink at"
            f" {_rate(mem['ips_per_s'])} IPs/s; RSS {mem['rss_before_mb']} MB before,"
            f" {mem['rss_after_mb']} MB after, {mem['rss_growth_during_run_mb']:+} MB during"
            f" the run ({'flat' if mem['flat'] else 'NOT flat'})."
        )
        lines.append("")
    scal = report.get("scaling") or []
    if scal:
        parts = [
            f"{s['name']}: {_rate(s['results'][0]['ips_per_s'])} IPs/s"
            f" ({_ratio(s['ratio_to_bare'])} bare)"
            for s in scal
        ]
        lines += ["Scaling: " + "; ".join(parts) + ".", ""]
    b = report.get("batching")
    if b:
        g = b["gain_over_per_item"]
        on = g.get(f"fbp-batch{b['batch']}")
        off = g.get(f"fbp-batch{b['batch']}-novalidate")
        bw = g.get(f"bytewax-batch{b['batch']}")
        text = (
            f"Batches of {b['batch']}: fbp's cost per int falls {_ratio(on)} with validation"
            f" on, {_ratio(off)} with it off"
        )
        if bw is not None:
            text += f" (bytewax flat_map_batch: {_ratio(bw)})"
        lines.append(text + ".")
        lines.append("")
    return "\n".join(lines)


def _variants_text(cases: list[dict[str, Any]]) -> str:
    parts = []
    for name, label in (("fbp-novalidate", "validation off"), ("fbp-traced", "tracing on")):
        vals = [c["fbp_vs"].get(name, {}).get("fbp") for c in cases]
        vals = [v for v in vals if v]
        if vals:
            parts.append(f"{label}: {min(vals):.2f} to {max(vals):.2f}x the default's time")
    return ("fbp variants, " + "; ".join(parts) + ".") if parts else ""


def _matrix(report: dict[str, Any]) -> list[str]:
    out = ["## Matrix", ""]
    out += ["Tools:", ""]
    for t in report["tools"]:
        ver = f" {t['version']}" if t.get("version") else ""
        na = f" — unavailable: {t['unavailable']}" if t.get("unavailable") else ""
        out.append(f"- `{t['name']}`{ver}: {t['description']}{na}")
    out.append("")
    for c in report["cases"]:
        out += [f"### {c['name']}: {c['description']}", ""]
        out.append(f"{c['items']} items, {c['hops']} hops per item, capacity {c['capacity']}.")
        out.append("")
        vs = c["fbp_vs"].get("fbp", {})
        rows = []
        for r in c["results"]:
            if r["status"] != "ok":
                rows.append([f"`{r['tool']}`", r["status"], "", "", "", "", r.get("reason") or ""])
                continue
            rows.append(
                [
                    f"`{r['tool']}`",
                    _rate(r["ips_per_s"]),
                    f"{r['us_per_hop']:.3f}",
                    _ratio(r.get("ratio_to_bare")),
                    "—" if r["tool"] == "fbp" else _ratio(vs.get(r["tool"])),
                    f"±{r['spread'] * 50:.0f}%",
                    str(r["items"]),
                ]
            )
        out += _table(["tool", "IPs/s", "µs/hop", "x bare", "fbp ÷ tool", "spread", "items"], rows)
        out.append("")
    return out


def _scaling(report: dict[str, Any]) -> list[str]:
    scal = report.get("scaling") or []
    if not scal:
        return []
    rows = []
    for s in scal:
        fbp, bare = s["results"]
        rows.append(
            [
                s["name"],
                str(s["processes"]),
                str(s["items"]),
                _rate(fbp["ips_per_s"]),
                f"{fbp['us_per_hop']:.3f}",
                f"{bare['us_per_hop']:.3f}",
                _ratio(s["ratio_to_bare"]),
                f"{fbp['startup_s'] * 1e3:.1f}",
                f"{bare['startup_s'] * 1e3:.1f}",
            ]
        )
    return [
        "## Scaling",
        "",
        "chain-N: source, N-2 stages, sink. fan-N: a source deals round-robin to N-2"
        " workers, all feeding one sink port. Start-up = whole run minus the steady part"
        " (starting and ending the tasks).",
        "",
        *_table(
            [
                "network",
                "processes",
                "items",
                "fbp IPs/s",
                "fbp µs/hop",
                "bare µs/hop",
                "fbp ÷ bare",
                "fbp start-up ms",
                "bare start-up ms",
            ],
            rows,
        ),
        "",
    ]


def _memory(report: dict[str, Any]) -> list[str]:
    m = report.get("memory")
    if not m:
        return []
    during = ", ".join(str(x) for x in m["rss_during_mb"])
    return [
        "## Memory",
        "",
        f"{m['items']:,} ints through source → stage → sink in {m['seconds']} s"
        f" ({_rate(m['ips_per_s'])} IPs/s, {m['us_per_hop']} µs/hop).",
        "",
        f"- RSS ({m['rss_method']}): {m['rss_before_mb']} MB before, {m['rss_after_mb']} MB after;"
        f" the process's peak RSS so far (getrusage) is {m.get('peak_rss_mb', 'n/a')} MB.",
        f"- Sampled every {m['items'] // 20:,} IPs: {during} MB.",
        f"- Growth from the first to the last sample: {m['rss_growth_during_run_mb']} MB"
        f" ({'flat' if m['flat'] else 'NOT flat'}).",
        "",
    ]


def _batching(report: dict[str, Any]) -> list[str]:
    b = report.get("batching")
    if not b:
        return []
    rows = []
    gains = b["gain_over_per_item"]
    for r in b["results"]:
        if r["status"] != "ok":
            rows.append([f"`{r['tool']}`", r["status"], "", "", r.get("reason") or ""])
            continue
        g = gains.get(r["tool"])
        rows.append(
            [
                f"`{r['tool']}`",
                _rate(r["ips_per_s"]),
                f"{r['us_per_hop'] * 1e3:.0f}",
                _ratio(r.get("ratio_to_bare")),
                "" if g is None else f"{g:.2f}x faster than `{b['compared_with'][r['tool']]}`",
            ]
        )
    return [
        "## Batching",
        "",
        f"K={b['stages']} pipeline of `x + 1` over {b['items']} ints; batched variants carry"
        f" lists of {b['batch']} and map a whole list per stage. Figures are per int.",
        "",
        *_table(["variant", "ints/s", "ns per int per hop", "x bare per-item", "gain"], rows),
        "",
    ]


def _profile(report: dict[str, Any]) -> list[str]:
    p = report.get("profile")
    if not p:
        return []
    out = [
        "## Profile: where fbp's per-hop time goes",
        "",
        f"cProfile of {p['case']['name']} ({p['case']['items']} items). cProfile adds a"
        " fixed cost to every Python call, so compare shares and calls per hop.",
        "",
    ]
    f, a = p["fbp"], p["anyio-nowait"]
    out.append(
        f"Python calls per hop: fbp {f['calls_per_hop']}, bare anyio {a['calls_per_hop']}."
        f" Profiled time per hop: fbp {f['ns_per_hop']} ns, bare anyio {a['ns_per_hop']} ns."
    )
    out.append("")
    groups = sorted({g["group"] for g in f["groups"]} | {g["group"] for g in a["groups"]})
    fg = {g["group"]: g for g in f["groups"]}
    ag = {g["group"]: g for g in a["groups"]}
    rows = []
    for g in sorted(groups, key=lambda g: -(fg.get(g, {}).get("ns_per_hop", 0))):
        x, y = fg.get(g), ag.get(g)
        rows.append(
            [
                g,
                f"{x['ns_per_hop']:.0f} ({x['share'] * 100:.0f}%)" if x else "—",
                f"{y['ns_per_hop']:.0f} ({y['share'] * 100:.0f}%)" if y else "—",
            ]
        )
    out += _table(["where", "fbp ns/hop (share)", "bare anyio ns/hop (share)"], rows)
    mech = p.get("mechanisms_ns")
    if mech:
        out += [
            "",
            "What the mechanisms of a hop cost on their own (best of 5, ns per operation):",
            "",
        ]
        out += _table(["mechanism", "ns"], [[k, f"{v:.0f}"] for k, v in mech.items()])
        out += ["", _explain(report, mech)]
    out += ["", "Top fbp functions by own time:", ""]
    out += _table(
        ["function", "calls", "own ns/hop"],
        [[f"`{t['function']}`", str(t["calls"]), f"{t['ns_per_hop']:.0f}"] for t in f["top"]],
    )
    out.append("")
    return out


def _explain(report: dict[str, Any], mech: dict[str, float]) -> str:
    vals = list(mech.values())
    plain_call, awaited, anext, plain_step, check = vals[:5]
    coro = (awaited - plain_call) + (anext - plain_step)
    text = (
        f"Per hop an fbp component awaits one coroutine to send (+{awaited - plain_call:.0f} ns"
        f" over a plain call) and steps one async iterator to receive"
        f" (+{anext - plain_step:.0f} ns over a plain loop step), and the sending port checks"
        f" the value's type ({check:.0f} ns): about {coro + check:.0f} ns in all, where the"
        " bare pipeline makes two plain non-blocking calls."
    )
    for c in report.get("cases") or []:
        if c["name"] != "linear-k5-int":
            continue
        me, bare = _result(c, "fbp"), _result(c, BARE)
        if me and bare and me["status"] == bare["status"] == "ok" and me.get("ratio_to_bare"):
            excess = (me["ratio_to_bare"] - 1) * bare["us_per_hop"] * 1e3
            text = (
                f"In linear-k5-int fbp takes about {excess:.0f} ns per hop more than the bare"
                f" pipeline ({me['ratio_to_bare']:.2f}x). " + text + " The rest is fbp's own"
                " bookkeeping inside `OutPort.send` and `InPort.__anext__` (the sent counter,"
                " the tracing, bracket and wake-up checks, the last-IP record for lineage)."
            )
    return text


def markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    meta = report["meta"]
    lines = [
        "# fbp benchmarks",
        "",
        f"{meta['mode']} mode, {meta['date']}, {meta['duration_s']} s; Python {meta['python']}"
        f" on {meta['platform']}, {meta['cpus']} CPUs; load average {meta['load_start']} at"
        f" start, {meta['load_end']} at end.",
        "",
        readme_section(report),
    ]
    if report.get("cases"):
        lines += _matrix(report)
    lines += _scaling(report) + _memory(report) + _batching(report) + _profile(report)
    notes = report.get("notes") or []
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)
