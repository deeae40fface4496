"""Pictures of causal answers (matplotlib, imported only here).

``ShiftResult.plot()``, ``InfluenceResult.plot()``, ``AnomalyResult.plot()`` and
``WhatIfResult.plot()`` draw with these; ``python -m fbp causal ... --plot FILE`` saves
the picture. Every function returns the matplotlib ``Figure`` and, given a path, saves
it there (the format follows the file's suffix: ``.png``, ``.svg``, ``.pdf``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._shift._ranking import Ranking
    from ._whatif import WhatIfComparison, WhatIfResult

__all__ = ("plot_ranking", "plot_whatif")

_FINDING = "#c44e52"
_OTHER = "#4c72b0"
_QUIET = "#bbbbbb"


def _figure(**kwargs: Any) -> Any:
    """A figure of its own, outside pyplot's state (no window, nothing to close), that
    a notebook shows as a picture."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        msg = "plotting needs matplotlib; install it with: pip install 'fbp-causal[plot]'"
        raise ImportError(msg) from exc

    class _Picture(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=90)
            return buffer.getvalue()

    return _Picture(**kwargs)


def _finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_ranking(
    title: str,
    ranking: Ranking,
    *,
    unit: str,
    top: int = 10,
    path: str | Path | None = None,
) -> Any:
    """Bars of the ``top`` variables' scores with their intervals (findings in red,
    variables whose test did not reject in grey), and the same summed per process."""
    variables = list(ranking.variables[:top])
    processes = list(ranking.processes[:top])
    height = 1.2 + 0.32 * (len(variables) + len(processes))
    fig = _figure(figsize=(8, max(height, 3.5)))
    top_ax, bottom_ax = fig.subplots(
        2,
        1,
        gridspec_kw={"height_ratios": [max(len(variables), 1), max(len(processes), 1)]},
    )

    def bars(ax: Any, names: list[str], scores: list[Any], colors: list[str]) -> None:
        values = [s.value for s in scores]
        lows = [s.value - s.ci_low if s.ci_low is not None else 0.0 for s in scores]
        highs = [s.ci_high - s.value if s.ci_high is not None else 0.0 for s in scores]
        ax.barh(names, values, color=colors, xerr=[lows, highs], ecolor="#333333", capsize=3)
        ax.axvline(0.0, color="#666666", linewidth=0.8)
        ax.invert_yaxis()
        ax.set_xlabel(unit)

    def color(significant: bool | None, changed: bool | None) -> str:
        if significant:
            return _FINDING
        if changed is False or significant is False:
            return _QUIET
        return _OTHER

    bars(
        top_ax,
        [v.node for v in variables],
        variables,
        [color(v.significant, v.changed) for v in variables],
    )
    top_ax.set_title(title, fontsize=10, loc="left")
    from matplotlib.patches import Patch

    legend = [(_FINDING, "finding"), (_OTHER, "not tested"), (_QUIET, "test did not reject")]
    used = {color(v.significant, v.changed) for v in variables}
    handles = [Patch(color=c, label=label) for c, label in legend if c in used]
    if handles:
        top_ax.legend(handles=handles, loc="best", fontsize=8, frameon=False)
    bars(
        bottom_ax,
        [p.process for p in processes],
        processes,
        [color(p.significant, None) for p in processes],
    )
    bottom_ax.set_title("by process", fontsize=10, loc="left")
    return _finish(fig, path)


def plot_whatif(
    result: WhatIfResult,
    comparison: WhatIfComparison | None = None,
    *,
    path: str | Path | None = None,
) -> Any:
    """The target's predicted distribution under the intervention against the
    observational one, with the predicted mean's interval; with a ``comparison`` (a
    real re-run), the observed mean as well."""
    fig = _figure(figsize=(8, 4.2))
    ax = fig.subplots()
    what = ", ".join(f"{k} := {v}" for k, v in result.interventions.items())
    for name, summary, shade in (
        ("observational", result.observational, _QUIET),
        ("intervened", result.predicted, _OTHER),
    ):
        q = summary.quantiles
        ax.barh(name, q[-1] - q[0], left=q[0], color=shade, alpha=0.45, height=0.5)
        ax.barh(name, q[3] - q[1], left=q[1], color=shade, height=0.5)
        ax.plot([summary.mean], [name], "o", color="black")
        if summary.ci_low is not None and summary.ci_high is not None:
            ax.plot([summary.ci_low, summary.ci_high], [name, name], color="black", linewidth=2)
    if comparison is not None:
        ax.axvline(comparison.observed_mean, color=_FINDING, linewidth=1.5)
        inside = {None: "", True: " (inside the interval)", False: " (outside the interval)"}
        ax.text(
            comparison.observed_mean,
            1.35,
            f" re-run mean {comparison.observed_mean:.4g}{inside[comparison.within_interval]}",
            color=_FINDING,
            va="center",
            fontsize=9,
        )
    ax.set_xlabel(f"{result.target} (bars: 5-95% and 25-75% of units; dot: mean)")
    ax.set_title(
        f"what if {what}: effect on the mean {result.effect:+.4g}", fontsize=10, loc="left"
    )
    ax.set_ylim(-0.6, 1.8)
    return _finish(fig, path)
