"""The answer of a shift query: attributions, tests, the gate, and warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._problem import Problem
from ._results import Ranking, fmt, fmt_p, jsonable, rank, table

__all__ = ("ShiftResult", "build_result")


@dataclass(frozen=True)
class ShiftResult:
    """Why the target changed between two runs.

    Attributes:
        target: the variable explained.
        measure: how the change is measured (``"mean"``: ``mean(after) -
            mean(before)`` in the target's units; ``"kl"``; or a callable's name).
        method: ``"fast"`` or ``"dowhy"``.
        ranking: variables and processes, largest attribution first. A variable's
            ``p_value`` is its mechanism-change test, ``p_adjusted`` after the
            ``correction``, ``changed`` whether that rejects at ``alpha``, and
            ``significant`` whether it is a finding: its mechanism changed and its
            attribution interval excludes zero (whether or not the target's own
            shift test rejects: a change can be demonstrated before its effect on
            the target is).
        observed_change: the measure between the observed target samples.
        explained_change: the sum of the attributions (the model's change).
        gate_p_value: p-value of the test "the target did not change" (the shift
            gate; reported, not used to hide findings).
        shifted: whether that test rejects at ``alpha``.
        alpha: the significance level.
        correction: the multiple-testing correction of the mechanism tests.
        confidence: coverage of the bootstrap intervals.
        n_bootstrap: bootstrap replicates behind the intervals.
        seed: the seed that reproduces this result.
        timings: seconds spent per phase.
        warnings: what to be careful about when reading this result.
    """

    target: str
    measure: str
    method: str
    ranking: Ranking
    observed_change: float | None
    explained_change: float
    gate_p_value: float
    shifted: bool
    alpha: float
    correction: str
    confidence: float
    n_bootstrap: int
    seed: int
    timings: Mapping[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def significant(self) -> tuple[str, ...]:
        """Return the variables that are findings, best first."""
        return tuple(v.node for v in self.ranking.variables if v.significant)

    @property
    def changed(self) -> tuple[str, ...]:
        """Return the variables whose mechanism test rejected, best first."""
        return tuple(v.node for v in self.ranking.variables if v.changed)

    def top(self, n: int = 3) -> tuple[str, ...]:
        """Return the ``n`` variables with the largest attributions."""
        return self.ranking.nodes[:n]

    def top_processes(self, n: int = 3) -> tuple[str, ...]:
        """Return the ``n`` processes with the largest summed attributions."""
        return self.ranking.process_names[:n]

    def table(self, top: int = 10) -> str:
        """Return the ranking as human-readable text."""
        head = (
            f"shift of {self.target!r} ({self.measure}, method={self.method}): "
            f"observed {fmt(self.observed_change)}, explained {fmt(self.explained_change)}\n"
            f"target shifted: {'yes' if self.shifted else 'no'} "
            f"(p={fmt_p(self.gate_p_value)}, alpha={self.alpha}); mechanism tests corrected "
            f"by {self.correction}; {self.confidence:.0%} intervals from "
            f"{self.n_bootstrap} bootstrap replicates; seed {self.seed}"
        )
        for w in self.warnings:
            head += f"\nwarning: {w}"
        return table(head, self.ranking, top=top, unit="attribution", tested=True)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-able data."""
        out: dict[str, Any] = jsonable(self)
        return out


def build_result(
    pb: Problem,
    name: str,
    method: str,
    values: np.ndarray,
    reps: np.ndarray | None,
    p_raw: Sequence[float | None],
    p_adj: Sequence[float | None],
    changed: Sequence[bool],
    *,
    gate: float,
    observed: float | None,
    alpha: float,
    correction: str,
    confidence: float,
    n_bootstrap: int,
    seed: int,
    timings: Mapping[str, float],
) -> ShiftResult:
    shifted = gate < alpha
    ranking = rank(pb.cg, pb.nodes, values, reps, confidence)
    by_node = {v.node: v for v in ranking.variables}
    extra: dict[str, dict[str, Any]] = {}
    for i, node in enumerate(pb.nodes):
        excl = by_node[node].ci_excludes_zero
        extra[node] = {
            "p_value": p_raw[i],
            "p_adjusted": p_adj[i],
            "changed": bool(changed[i]),
            "significant": bool(changed[i] and excl),
        }
    ranking = rank(pb.cg, pb.nodes, values, reps, confidence, extra)
    explained = float(values.sum())
    warnings = []
    found = any(changed[i] and by_node[n].ci_excludes_zero for i, n in enumerate(pb.nodes))
    if not shifted and found:
        warnings.append(
            f"the target's own shift test does not reject (p={fmt_p(gate)}), but the mechanism "
            "tests show a change: the findings are changed components whose effect on the "
            "target is small, or cancels out, in this sample"
        )
    elif not shifted:
        warnings.append(
            "the target did not change significantly and no mechanism change was found: the "
            "attributions are noise"
        )
    if name == "mean" and observed and shifted:
        ratio = explained / observed
        if not 0.5 <= ratio <= 2.0:
            warnings.append(
                f"the model explains {explained:+.4g} of the observed change {observed:+.4g}: "
                "some mechanisms are probably non-linear (branches, thresholds), so trust the "
                "ranking more than the magnitudes, and cross-check with method='dowhy'"
            )
    return ShiftResult(
        target=pb.target,
        measure=name,
        method=method,
        ranking=ranking,
        observed_change=observed,
        explained_change=explained,
        gate_p_value=gate,
        shifted=shifted,
        alpha=alpha,
        correction=correction,
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
        timings=dict(timings),
        warnings=tuple(warnings),
    )
