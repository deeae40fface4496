"""Ranked attributions with uncertainty, per variable and per process.

Every query returns a ranking of variables (ports) and, next to it, the same ranking
summed per process, because a change is made to a component (which may write several
ports) and that is what a user fixes. Intervals of process sums come from the same
bootstrap replicates as the variables', so they account for the correlation between
the ports of one process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from html import escape
from typing import Any, Literal

import numpy as np

from .._model._stats import percentile_interval
from .._tables._graph import CausalGraph

__all__ = (
    "ProcessScore",
    "Ranking",
    "VariableScore",
    "fmt",
    "fmt_p",
    "fmt_share",
    "html",
    "jsonable",
    "rank",
    "table",
)


@dataclass(frozen=True, slots=True)
class VariableScore:
    """The score of one variable (an output port), with its interval.

    Attributes:
        node: the variable name (``"Classify.SIMPLE"``).
        process: the process that writes it.
        port: the port it is read from.
        role: ``"stream"``, ``"parameter"`` or ``"indicator"``.
        value: the point estimate.
        ci_low: lower end of the bootstrap interval (``None`` without bootstrap).
        ci_high: upper end of the bootstrap interval.
        p_value: the raw p-value of the variable's own test, if the query has one.
        p_adjusted: that p-value after the multiple-testing correction.
        changed: whether the test rejected (after correction).
        significant: whether the query counts the variable as a finding.
        flagged: the share of bootstrap replicates in which the test rejected
            (``None`` without bootstrap or test).
    """

    node: str
    process: str
    port: str
    role: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    changed: bool | None = None
    significant: bool | None = None
    flagged: float | None = None

    @property
    def ci_excludes_zero(self) -> bool:
        """Return whether the interval lies strictly on one side of zero."""
        if self.ci_low is None or self.ci_high is None:
            return self.value != 0.0
        return self.ci_low > 0.0 or self.ci_high < 0.0


@dataclass(frozen=True, slots=True)
class ProcessScore:
    """The sum of the scores of the variables one process writes.

    Attributes:
        process: the process.
        value: the summed point estimate.
        ci_low: lower end of the bootstrap interval of the sum.
        ci_high: upper end of that interval.
        variables: the variables summed.
        significant: whether any of them is a finding, or one of them changed and
            the interval of the sum excludes zero (``None`` if not tested).
        flagged: the share of bootstrap replicates in which any of them was flagged.
    """

    process: str
    value: float
    ci_low: float | None
    ci_high: float | None
    variables: tuple[str, ...]
    significant: bool | None = None
    flagged: float | None = None


def _order(values: Sequence[float], names: Sequence[str]) -> list[int]:
    return sorted(range(len(values)), key=lambda i: (-abs(values[i]), names[i]))


@dataclass(frozen=True, slots=True)
class Ranking:
    """Variables and processes ranked by the size of their score (largest first)."""

    variables: tuple[VariableScore, ...]
    processes: tuple[ProcessScore, ...]

    @property
    def nodes(self) -> tuple[str, ...]:
        """Return the variable names, best first."""
        return tuple(v.node for v in self.variables)

    @property
    def process_names(self) -> tuple[str, ...]:
        """Return the process names, best first."""
        return tuple(p.process for p in self.processes)

    def variable(self, node: str) -> VariableScore:
        """Return the score of ``node``."""
        for v in self.variables:
            if v.node == node:
                return v
        msg = f"{node!r} is not in this ranking; it has {list(self.nodes)[:5]}..."
        raise KeyError(msg)


def normal_interval(
    estimates: np.ndarray, replicates: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the normal bootstrap interval of each estimate: ``estimate +- t * sd``.

    ``sd`` is the standard deviation of the column's replicates and ``t`` the Student
    quantile with ``B - 1`` degrees of freedom (``B`` replicates), which accounts for
    estimating ``sd`` from few of them. Unlike a percentile interval, it is centred on
    the estimate it reports: with 5 or 20 replicates a 95 % percentile interval is
    about their extremes, and an estimate that is exchangeable with them falls
    outside with probability ``2 / (B + 1)`` (a third at 5 replicates).
    """
    from scipy import stats

    reps = np.asarray(replicates, dtype=float)
    est = np.asarray(estimates, dtype=float).reshape(reps.shape[1:])
    if len(reps) < 2:
        nan = np.full(est.shape, np.nan)
        return nan, nan
    half = float(stats.t.ppf(0.5 + confidence / 2.0, len(reps) - 1)) * reps.std(axis=0, ddof=1)
    return est - half, est + half


def rank(
    cg: CausalGraph,
    nodes: Sequence[str],
    values: np.ndarray,
    replicates: np.ndarray | None,
    confidence: float,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    flagged: np.ndarray | None = None,
    *,
    interval: Literal["percentile", "normal"] = "percentile",
) -> Ranking:
    """Build a :class:`Ranking` from point estimates and bootstrap replicates.

    Args:
        cg: the causal graph (for process, port and role).
        nodes: the variables scored, one per entry of ``values``.
        values: point estimates.
        replicates: ``(bootstrap, len(nodes))`` replicates, or ``None``.
        confidence: the interval's coverage, e.g. ``0.95``.
        extra: per-variable extra fields (``p_value``, ``changed``, ``significant``).
        flagged: ``(bootstrap, len(nodes))`` booleans, whether each replicate flagged
            each variable; gives the ``flagged`` shares of variables and processes.

    A replicate column of NaN means "no interval" for that variable. ``interval``:
    percentiles of the replicates, or :func:`normal_interval` around the estimates.
    """
    extra = extra or {}

    def bounds(est: np.ndarray, reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if interval == "normal":
            return normal_interval(est, reps, confidence)
        return percentile_interval(reps, confidence)

    lo = hi = None
    if replicates is not None and len(replicates) > 0:
        lo, hi = bounds(np.asarray(values, dtype=float), replicates)
    has_flags = flagged is not None and len(flagged) > 0
    scores = []
    for i, node in enumerate(nodes):
        info = cg.info[node]
        scores.append(
            VariableScore(
                node=node,
                process=info.process,
                port=info.port,
                role=info.role,
                value=float(values[i]),
                ci_low=_finite(lo, i),
                ci_high=_finite(hi, i),
                flagged=float(np.mean(flagged[:, i])) if has_flags else None,  # type: ignore[index]
                **extra.get(node, {}),
            )
        )
    order = _order([s.value for s in scores], list(nodes))
    variables = tuple(scores[i] for i in order)

    groups: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        groups.setdefault(cg.info[node].process, []).append(i)
    procs = []
    for proc, idx in groups.items():
        total = float(np.sum(values[idx]))
        plo = phi = None
        if replicates is not None and len(replicates) > 0:
            # A variable without an interval (never flagged) adds nothing to its
            # process; a process none of whose variables has one has none either.
            sub = replicates[:, idx]
            summed = np.where(np.isnan(sub).all(axis=1), np.nan, np.nansum(sub, axis=1))[:, None]
            a, b = bounds(np.array([total]), summed)
            plo, phi = _finite(a, 0), _finite(b, 0)
        flags = [scores[i].significant for i in idx]
        sig = None if all(f is None for f in flags) else any(bool(f) for f in flags)
        if sig is False and any(scores[i].changed for i in idx):
            # Ports of one process can share a change that none of them carries
            # alone (a router's two indicators): the process's own interval decides.
            sig = (plo is not None and plo > 0.0) or (phi is not None and phi < 0.0)
        share = (
            float(np.mean(flagged[:, idx].any(axis=1)))  # type: ignore[index]
            if has_flags
            else None
        )
        procs.append(ProcessScore(proc, total, plo, phi, tuple(nodes[i] for i in idx), sig, share))
    porder = _order([p.value for p in procs], [p.process for p in procs])
    return Ranking(variables, tuple(procs[i] for i in porder))


def _finite(a: np.ndarray | None, i: int) -> float | None:
    if a is None or not np.isfinite(a[i]):
        return None
    return float(a[i])


def fmt(x: float | None, signed: bool = True) -> str:
    """Format a number for a table: 4 significant digits, ``-`` for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def fmt_share(x: float | None) -> str:
    """Format a share of replicates as a percentage."""
    return "-" if x is None else f"{x:.0%}"


def fmt_p(p: float | None) -> str:
    """Format a p-value."""
    if p is None:
        return "-"
    return "<1e-16" if p < 1e-16 else f"{p:.2g}"


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What every answer to a causal question records besides its own findings: how
    its intervals were made and the seed that reproduces it. The result classes of
    ``shift``, ``anomaly``, ``influence`` and ``whatif`` build on it.

    Attributes:
        confidence: coverage of the intervals.
        n_bootstrap: bootstrap replicates behind the intervals (0: none).
        seed: the seed that reproduces this result.
        timings: seconds spent per phase.
    """

    confidence: float = 0.95
    n_bootstrap: int = 0
    seed: int = 0
    timings: Mapping[str, float] = field(default_factory=dict)

    def intervals_note(self) -> str:
        """How the intervals were made, as the answers' headers say it."""
        return (
            f"{self.confidence:.0%} intervals from {self.n_bootstrap} bootstrap replicates;"
            f" seed {self.seed}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-able data."""
        out: dict[str, Any] = jsonable(self)
        return out


def jsonable(obj: Any) -> Any:
    """Convert dataclasses, tuples, numpy scalars and NaN into JSON-able values."""
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _rows(
    ranking: Ranking, *, top: int, unit: str, tested: bool
) -> tuple[list[str], list[list[str]], list[str], list[list[str]], int]:
    """A ranking's variable table and process table, as header and text rows, and how
    many variables are left out by ``top``."""
    cols = ["rank", "variable", "process", unit, "interval"]
    flags = tested and any(v.flagged is not None for v in ranking.variables)
    if tested:
        cols += ["p (adj.)", "changed"] + (["flagged"] if flags else []) + ["signif."]
    rows = []
    for i, v in enumerate(ranking.variables[:top], 1):
        interval = f"[{fmt(v.ci_low)}, {fmt(v.ci_high)}]" if v.ci_low is not None else "-"
        row = [str(i), v.node, v.process, fmt(v.value), interval]
        if tested:
            row += [
                fmt_p(v.p_adjusted),
                "-" if v.changed is None else ("yes" if v.changed else "no"),
            ]
            if flags:
                row.append(fmt_share(v.flagged))
            row.append("*" if v.significant else "")
        rows.append(row)
    prow = []
    for i, p in enumerate(ranking.processes[:top], 1):
        interval = f"[{fmt(p.ci_low)}, {fmt(p.ci_high)}]" if p.ci_low is not None else "-"
        prow.append(
            [str(i), p.process, fmt(p.value), interval]
            + ([fmt_share(p.flagged)] if flags else [])
            + ["*" if p.significant else ""]
        )
    pcols = ["rank", "process", unit, "interval"] + (["flagged"] if flags else []) + [""]
    return cols, rows, pcols, prow, max(len(ranking.variables) - top, 0)


def table(
    header: str,
    ranking: Ranking,
    *,
    top: int,
    unit: str,
    tested: bool,
) -> str:
    """Render a ranking as aligned text: variables, then processes."""
    cols, rows, pcols, prow, hidden = _rows(ranking, top=top, unit=unit, tested=tested)
    lines = [header, ""]
    lines += _align(cols, rows)
    if hidden > 0:
        lines.append(f"... {hidden} more variable(s)")
    lines += ["", "by process"]
    lines += _align(pcols, prow)
    return "\n".join(line.rstrip() for line in lines)


def html(
    header: str,
    ranking: Ranking,
    *,
    top: int,
    unit: str,
    tested: bool,
) -> str:
    """Render a ranking as HTML for notebooks: the same tables as :func:`table`."""
    from ..._core._html import html_table

    cols, rows, pcols, prow, hidden = _rows(ranking, top=top, unit=unit, tested=tested)
    head, *notes = header.split("\n")
    parts = [f"<p>{escape(line)}</p>" for line in notes]
    caption = head + (f" ({hidden} more variable(s) not shown)" if hidden else "")
    parts.append(html_table(caption, cols, rows))
    parts.append(html_table("by process", pcols, prow))
    return "<div>" + "".join(parts) + "</div>"


def _align(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    body = [list(r) for r in rows]
    widths = [max([len(h)] + [len(r[j]) for r in body]) for j, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return out
