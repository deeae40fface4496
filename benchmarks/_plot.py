"""The PNG plot: µs per hop against K, and against payload size (matplotlib, optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ("plot",)

_PAYLOAD_LABELS = {"int": "int", "small": "3-field model", "wide": "20-field model"}


def _series(cases: list[dict[str, Any]], key: str) -> dict[str, list[tuple[Any, float]]]:
    out: dict[str, list[tuple[Any, float]]] = {}
    for c in cases:
        for r in c["results"]:
            if r["status"] == "ok":
                out.setdefault(r["tool"], []).append((c[key], r["us_per_hop"]))
    return out


def plot(report: dict[str, Any], path: str | Path) -> str | None:
    """Write the plot; return None, or why it was skipped (matplotlib missing, no data)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib); skipped the plot"
    cases = report.get("cases") or []
    by_k = [c for c in cases if c["shape"] == "linear" and c["payload"] == "int"]
    by_payload = [c for c in cases if c["shape"] == "linear" and c["stages"] == 5]
    if not by_k and not by_payload:
        return "no linear cases in this run; skipped the plot"
    families = {t["name"]: t["family"] for t in report.get("tools", [])}

    def style(tool: str) -> dict[str, Any]:
        fam = families.get(tool, "peer")
        return {
            "marker": "o",
            "label": tool,
            "linewidth": 2.6 if tool == "fbp" else 1.3,
            "linestyle": {"fbp": "-", "baseline": "--"}.get(fam, ":"),
        }

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    for tool, pts in sorted(_series(sorted(by_k, key=lambda c: c["stages"]), "stages").items()):
        xs, ys = zip(*pts, strict=True)
        ax1.plot(xs, ys, **style(tool))
    ax1.set_xticks(sorted({c["stages"] for c in by_k}))
    ax1.set_xlabel("stages K (linear pipeline, int payload)")
    ax1.set_ylabel("µs per hop (log)")
    ax1.set_yscale("log")
    ax1.set_title("cost per hop against pipeline length")
    ax1.grid(True, which="both", alpha=0.3)
    order = {"int": 0, "small": 1, "wide": 2}
    by_payload.sort(key=lambda c: order.get(c["payload"], 9))
    for tool, pts in sorted(_series(by_payload, "payload").items()):
        labels = [_PAYLOAD_LABELS.get(p, p) for p, _ in pts]
        ax2.plot(labels, [y for _, y in pts], **style(tool))
    ax2.set_xlabel("payload (K = 5)")
    ax2.set_ylabel("µs per hop (log)")
    ax2.set_yscale("log")
    ax2.set_title("cost per hop against payload size")
    ax2.grid(True, which="both", alpha=0.3)
    ax = ax2 if by_payload else ax1
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    meta = report["meta"]
    fig.suptitle(f"fbp benchmarks ({meta['mode']} mode, {meta['date']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
