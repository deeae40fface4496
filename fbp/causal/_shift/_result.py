"""The answer of a shift query: attributions, tests, the gate, and warnings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._changes import MechanismTests
from ._problem import Problem
from ._ranking import Answer, Ranking, fmt, fmt_p, html, rank, table

__all__ = ("ShiftResult", "build_result")


@dataclass(frozen=True)
class ShiftResult(Answer):
    """Why the target changed between two runs.

    Attributes:
        target: the variable explained.
        measure: how the change is measured (``"mean"``: ``mean(after) -
            mean(before)`` in the target's units; ``"kl"``; or a callable's name).
        method: ``"fast"`` or ``"dowhy"``.
        ranking: variables and processes, largest attribution first. A variable's
            ``p_value`` is its mechanism-change test, ``p_adjusted`` after the
            ``correction``, ``changed`` whether that rejects at ``alpha``, and
            ``significant`` whether it is a finding: its mechanism changed, and
            either the target's own shift test rejects or its attribution interval
            excludes zero (a change can be demonstrated before its effect on the
            target is). A process is a finding if one of its variables is, or if
            one changed and the process's summed interval excludes zero.
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
        inseparable: groups of variables whose changes the data cannot tell apart
            (parameters changed in the same run pair, and the components that read
            them); their attributions are one joint effect.
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
    warnings: tuple[str, ...] = ()
    inseparable: tuple[tuple[str, ...], ...] = ()

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
        return table(self._header(), self.ranking, top=top, unit="attribution", tested=True)

    def _repr_html_(self) -> str:
        return html(self._header(), self.ranking, top=10, unit="attribution", tested=True)

    def plot(self, path: str | Path | None = None, *, top: int = 10) -> Any:
        """Draw the ranking (needs the ``plot`` extra): the ``top`` variables'
        attributions with their intervals, findings in red, and the same per process.

        Returns the matplotlib ``Figure``; given ``path``, also saves it there.
        """
        from .._plot import plot_ranking

        title = f"shift of {self.target} ({self.measure}): observed {fmt(self.observed_change)}"
        return plot_ranking(title, self.ranking, unit="attribution", top=top, path=path)

    def _header(self) -> str:
        head = (
            f"shift of {self.target!r} ({self.measure}, method={self.method}): "
            f"observed {fmt(self.observed_change)}, explained {fmt(self.explained_change)}\n"
            f"target shifted: {'yes' if self.shifted else 'no'} "
            f"(p={fmt_p(self.gate_p_value)}, alpha={self.alpha}); mechanism tests corrected "
            f"by {self.correction}; {self.intervals_note()}"
        )
        for w in self.warnings:
            head += f"\nwarning: {w}"
        return head



_SEED_NAMES = re.compile(r"seed|random[_-]?state|\brng\b", re.IGNORECASE)


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
    flagged: np.ndarray | None = None,
    tests: MechanismTests | None = None,
) -> ShiftResult:
    """Assemble a :class:`ShiftResult` from the engine's numbers.

    ``reps`` holds each replicate's attributions (0 where the variable was not a
    player in that replicate, because that replicate's tests did not flag it);
    ``flagged`` whether each replicate flagged each variable. A variable that neither
    the data nor any replicate flags has no interval: there was never a change to
    attribute, and its flagged share (0 %) is the statement of uncertainty, where an
    interval of ``[0, 0]`` would read as certainty.
    """
    shifted = gate < alpha
    intervals = reps
    if reps is not None and flagged is not None:
        never = ~flagged.any(axis=0) & ~np.asarray(changed, dtype=bool)
        intervals = np.where(never[None, :], np.nan, reps)
    ranking = rank(pb.cg, pb.nodes, values, intervals, confidence)
    by_node = {v.node: v for v in ranking.variables}
    extra: dict[str, dict[str, Any]] = {}
    findings = []
    for i, node in enumerate(pb.nodes):
        # A changed mechanism is a finding when the target demonstrably moved (the
        # tests say it changed, the gate that there is a change to explain), even if
        # the linear attribution cannot pin its share down (a gated or thresholded
        # path); when the target's own test is weak, its attribution must be
        # demonstrably non-zero (a small effect, or changes that cancel).
        excl = by_node[node].ci_excludes_zero
        sig = bool(changed[i] and (shifted or excl))
        findings.append(sig)
        extra[node] = {
            "p_value": p_raw[i],
            "p_adjusted": p_adj[i],
            "changed": bool(changed[i]),
            "significant": sig,
        }
    ranking = rank(pb.cg, pb.nodes, values, intervals, confidence, extra, flagged)
    explained = float(values.sum())
    warnings: list[str] = []
    inseparable: list[tuple[str, ...]] = []
    if tests is not None:
        inseparable, notes = _inseparable(pb, tests)
        warnings.extend(notes)
    if not shifted and any(findings):
        warnings.append(
            f"the target's own shift test does not reject (p={fmt_p(gate)}), but the mechanism "
            "tests show a change: the findings are changed components whose effect on the "
            "target is small, or cancels out, in this sample"
        )
    if shifted and not any(changed):
        warnings.append(
            "the target changed but no mechanism test rejects: the change may be smaller than "
            "the tests can resolve with these rows, or come from a variable left out of the graph"
        )
    if name == "mean" and observed and shifted and any(changed):
        if explained * observed < 0:
            warnings.append(
                f"the model explains {explained:+.4g} where the target moved {observed:+.4g}: "
                "the sign is wrong, so the magnitudes are not to be trusted (a non-linear "
                "mechanism the linear attribution model misses: see fit(...).quality(), and "
                "cross-check with method='dowhy'); the ranking is still the mechanisms that "
                "changed"
            )
        elif not 0.5 <= explained / observed <= 2.0:
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
        inseparable=tuple(inseparable),
    )


def _inseparable(pb: Problem, tests: MechanismTests) -> tuple[list[tuple[str, ...]], list[str]]:
    """Return groups of changes the data cannot tell apart, and notes about them."""
    notes: list[str] = []
    constant = [pb.nodes[i] for i in tests.constant]
    void = [pb.nodes[i] for i in tests.void]
    for node in constant:
        if _SEED_NAMES.search(pb.cg.info[node].port) or _SEED_NAMES.search(node):
            notes.append(
                f"{node} looks like a random seed and differs between the runs: a new seed "
                "draws other units, it does not change how the program works, so its "
                "attribution is the difference between two samples; declare the port with "
                "port(..., causal=False) to leave it out of the causal graph"
            )
    groups: list[tuple[str, ...]] = []
    if len(constant) >= 2 or (constant and void):
        group = tuple(constant + void)
        groups.append(group)
        readers = sorted({pb.cg.info[v].process for v in void})
        text = (
            f"{', '.join(constant)} changed together between these runs"
            if len(constant) >= 2
            else f"{constant[0]} changed between these runs"
        )
        if readers:
            text += (
                f"; a change in the code of {', '.join(readers)}, which read"
                f"{'s' if len(readers) == 1 and len(constant) == 1 else ''} "
                f"{'it' if len(constant) == 1 else 'them'}, cannot be told apart from "
                f"{'it' if len(constant) == 1 else 'them'}"
            )
        notes.append(
            text + ": each is constant within a run, so the data has one contrast for all of "
            "them and their attributions are one joint effect split by the model, not by "
            "evidence; compare runs that change one setting at a time"
        )
    return groups, notes
