"""Text helpers shared by the reports: numbers, ratios, Markdown tables."""

from __future__ import annotations

from typing import Any

__all__ = ("num", "rate", "ratio", "result", "table")


def num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def rate(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = [_row(head), _row(["---"] * len(head))]
    out += [_row(r) for r in rows]
    return out


def result(case: dict[str, Any], tool: str) -> dict[str, Any] | None:
    for r in case["results"]:
        if r["tool"] == tool:
            return dict(r)
    return None
