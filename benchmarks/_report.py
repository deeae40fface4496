"""Reports: the whole suite's results as Markdown tables."""

from __future__ import annotations

from typing import Any

from ._readme import readme_section
from ._text import rate, ratio, result, table
from ._tools import BARE

__all__ = ("markdown", "readme_section")


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
                    rate(r["ips_per_s"]),
                    f"{r['us_per_hop']:.3f}",
                    ratio(r.get("ratio_to_bare")),
                    "—" if r["tool"] == "fbp" else ratio(vs.get(r["tool"])),
                    f"±{r['spread'] * 50:.0f}%",
                    str(r["items"]),
                ]
            )
        out += table(["tool", "IPs/s", "µs/hop", "x bare", "fbp ÷ tool", "spread", "items"], rows)
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
                rate(fbp["ips_per_s"]),
                f"{fbp['us_per_hop']:.3f}",
                f"{bare['us_per_hop']:.3f}",
                ratio(s["ratio_to_bare"]),
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
        *table(
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
    lines: list[str] = []
    for key, what in (("memory", "untraced"), ("memory_traced", "every IP traced")):
        m = report.get(key)
        if not m:
            continue
        during = ", ".join(str(x) for x in m["rss_during_mb"])
        lines += [
            f"## Memory, {what}",
            "",
            f"{m['items']:,} ints through source → stage → sink ({m.get('ips', m['items']):,}"
            f" IPs) in {m['seconds']} s ({rate(m['ips_per_s'])} items/s, {m['us_per_hop']}"
            " µs/hop).",
            "",
            f"- RSS ({m['rss_method']}): {m['rss_before_mb']} MB before,"
            f" {m['rss_after_mb']} MB after; the process's peak RSS so far (getrusage) is"
            f" {m.get('peak_rss_mb', 'n/a')} MB.",
            f"- Sampled every {m['items'] // 20:,} items: {during} MB.",
            f"- Growth from the first to the last sample: {m['rss_growth_during_run_mb']} MB"
            f" ({'flat' if m['flat'] else 'NOT flat'}).",
            "",
        ]
    return lines


def _gain(g: float | None, single: str) -> str:
    if g is None or g <= 0:
        return ""
    if g >= 1:
        return f"{g:.2f}x faster than `{single}`"
    return f"{1 / g:.2f}x slower than `{single}`"


def _batching(report: dict[str, Any]) -> list[str]:
    b = report.get("batching")
    if not b:
        return []
    rows = []
    gains = b["gain_over_per_item"]
    bw = f"bytewax-batch{b['batch']}"
    for r in b["results"]:
        if r["status"] != "ok":
            rows.append([f"`{r['tool']}`", r["status"], "", "", "", "", r.get("reason") or ""])
            continue
        g = gains.get(r["tool"])
        rows.append(
            [
                f"`{r['tool']}`",
                r.get("capacity", ""),
                rate(r["ips_per_s"]),
                f"{r['us_per_hop'] * 1e3:.0f}",
                ratio(r.get("ratio_to_bare")),
                ratio(r.get("ratio_to_bytewax_batched")),
                _gain(g, b["compared_with"].get(r["tool"], "")),
            ]
        )
    return [
        "## Batching",
        "",
        f"K={b['stages']} pipeline of `x + 1` over {b['items']} ints, in batches of"
        f" {b['batch']}. `fbp-batchapi*`: ports of `int`, one IP per int, moved with"
        f" `send_batch` and `batches({b['batch']})`. `*-list{b['batch']}*`: ports carrying"
        f" `list[int]`, one IP per list, each stage mapping a whole list. Every edge buffers"
        f" at most {b['capacity_ints']} ints (bytewax has no per-edge buffer). Figures are per"
        " int; ratios are per-repeat medians against the bare per-item pipeline and"
        " bytewax's batched mode.",
        "",
        *table(
            [
                "variant",
                "capacity",
                "ints/s",
                "ns per int per hop",
                f"÷ {BARE} per item",
                f"÷ {bw}",
                "against per item",
            ],
            rows,
        ),
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
    out += table(["where", "fbp ns/hop (share)", "bare anyio ns/hop (share)"], rows)
    mech = p.get("mechanisms_ns")
    if mech:
        out += [
            "",
            "What the mechanisms of a hop cost on their own (best of 5, ns per operation):",
            "",
        ]
        out += table(["mechanism", "ns"], [[k, f"{v:.0f}"] for k, v in mech.items()])
        out += ["", _explain(report, mech)]
    out += ["", "Top fbp functions by own time:", ""]
    out += table(
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
        me, bare = result(c, "fbp"), result(c, BARE)
        if me and bare and me["status"] == bare["status"] == "ok" and me.get("ratio_to_bare"):
            excess = (me["ratio_to_bare"] - 1) * bare["us_per_hop"] * 1e3
            text = (
                f"In linear-k5-int fbp takes about {excess:.0f} ns per hop more than the bare"
                f" pipeline ({me['ratio_to_bare']:.2f}x). " + text + " The rest is fbp's own"
                " bookkeeping inside `OutPort.send` and `InPort.__anext__` (the sent counter,"
                " bracket and wake-up checks, the last item kept for lineage)."
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
