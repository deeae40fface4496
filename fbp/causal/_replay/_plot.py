"""Pictures of replay answers (matplotlib, imported only here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._plot import _figure, _finish

if TYPE_CHECKING:
    from ._api import ReplayResult
    from ._shift import ReplayShiftResult

__all__ = ("plot_replay", "plot_shift")


def plot_replay(result: ReplayResult, path: str | Path | None = None) -> Any:
    """The target unit by unit, replayed against recorded, and the distribution of the
    changes; without a target, the units changed per port."""
    t = result.target
    if t is None or result.values_before is None or result.values_after is None:
        fig = _figure(figsize=(7, 0.5 + 0.45 * max(len(result.changes), 1)))
        ax = fig.subplots()
        names = [c.port for c in result.changes]
        ax.barh(names, [c.units_changed for c in result.changes], color="#4c72b0")
        ax.barh(
            names,
            [c.units - c.units_changed for c in result.changes],
            left=[c.units_changed for c in result.changes],
            color="#dddddd",
        )
        ax.invert_yaxis()
        ax.set_xlabel("units of work (changed in blue)")
        ax.set_title(f"replay of run {result.before[:12]}")
        return _finish(fig, path)
    before, after = result.values_before, result.values_after
    fig = _figure(figsize=(10, 4.2))
    left, right = fig.subplots(1, 2)
    left.scatter(before, after, s=8, alpha=0.6, color="#4c72b0")
    lo = float(min(before.min(), after.min())) if len(before) else 0.0
    hi = float(max(before.max(), after.max())) if len(before) else 1.0
    left.plot([lo, hi], [lo, hi], color="#999999", linewidth=1)
    left.set_xlabel(f"{t.target}, recorded")
    left.set_ylabel(f"{t.target}, replayed")
    left.set_title(f"{t.units:,} units, {t.units_changed:,} changed")
    right.hist(after - before, bins=40, color="#dd8452")
    right.axvline(t.change, color="black", linewidth=1)
    right.set_xlabel("replayed - recorded, per unit (line: the mean change)")
    right.set_ylabel("units")
    return _finish(fig, path)


def plot_shift(result: ReplayShiftResult, path: str | Path | None = None) -> Any:
    """The parts' contributions as bars that add up to the change, and each part's
    per-unit values."""
    import numpy as np

    parts = [c.part for c in result.contributions]
    fig = _figure(figsize=(11, 1.6 + 0.5 * len(parts)))
    left, right = fig.subplots(1, 2)
    start = 0.0
    for i, c in enumerate(result.contributions):
        left.barh(i, c.value, left=start, color="#4c72b0" if c.value >= 0 else "#c44e52")
        start += c.value
    left.barh(len(parts), result.change, color="#555555")
    left.set_yticks(range(len(parts) + 1), [*parts, "change"])
    left.invert_yaxis()
    left.axvline(0, color="#999999", linewidth=1)
    left.set_xlabel(f"contribution to the mean of {result.target}")
    left.set_title("contributions (add up to the change)")
    if result.unit_values is not None and len(result.unit_values):
        cols = [result.parts.index(p) for p in parts]
        data = [result.unit_values[:, k][~np.isnan(result.unit_values[:, k])] for k in cols]
        try:
            right.boxplot(data, orientation="horizontal", showfliers=False)
        except TypeError:  # matplotlib before 3.10
            right.boxplot(data, vert=False, showfliers=False)
        right.set_yticks(range(1, len(parts) + 1), parts)
        right.invert_yaxis()
        right.axvline(0, color="#999999", linewidth=1)
    right.set_xlabel("contribution per unit")
    right.set_title(f"{result.units:,} units")
    return _finish(fig, path)
