"""Causal watch: follow a long-running network's trace window by window, and when the
target shifts, name the components that explain it.

Each window (a count of units of work, or a span of time) is compared with a reference
window (the first ones, by default) by the causal layer's shift query
(:func:`fbp.causal.shift`): every ancestor of the target is tested for a change of its
mechanism, and the change of the target is split between the changed ones, with
bootstrap intervals. A window raises an **alarm** when the target's change is
significant and at least one mechanism change is a finding; the alarm names the
culprits, ranked by their share of the change.

Units still in flight (sent by a source but not yet through the network) would look
like missing values; the newest ``settle`` units are left for the next look, and a
window is judged once it is complete and settled. Each look reads the run's table again
(:func:`fbp.causal.tables`): its cost grows with the run, which retention of the trace
bounds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ("CausalWatch", "Culprit", "WatchEvent")


@dataclass(frozen=True, slots=True)
class Culprit:
    """A process whose mechanism change explains part of the target's shift."""

    process: str
    #: Its share of the change of the target, in the target's units.
    attribution: float
    ci_low: float | None
    ci_high: float | None
    #: Its variables that are findings.
    variables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """The verdict on one window."""

    window: int
    #: Units of work in the window, and the ids of its first and last unit.
    units: int
    first_unit: int
    last_unit: int
    target: str
    #: mean(window) - mean(reference) of the target.
    change: float | None
    p_value: float
    alarm: bool
    #: The culprits, largest share first (empty without an alarm).
    culprits: tuple[Culprit, ...] = ()
    #: Seconds the verdict cost (reading the trace and the shift query).
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (the structured log event)."""
        out = {k: getattr(self, k) for k in self.__slots__ if k != "culprits"}
        out["culprits"] = [{k: getattr(c, k) for k in c.__slots__} for c in self.culprits]
        out["warnings"] = list(self.warnings)
        return out

    def line(self) -> str:
        """One line for a terminal."""
        head = (
            f"window {self.window} (units {self.first_unit}..{self.last_unit}, {self.units}):"
            f" {self.target} {_fmt(self.change)} (p={self.p_value:.2g})"
        )
        if not self.alarm:
            return head + " ok"
        named = ", ".join(
            f"{c.process} {_fmt(c.attribution)} [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]"
            for c in self.culprits
        )
        return f"{head} ALARM: {named}"


def _fmt(x: float | None) -> str:
    return "?" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.4g}"


class CausalWatch:
    """Judge the windows of a traced run against a reference window.

    Args:
        network: the network (a graph or a graph file).
        target: the variable watched (``Payout.OUT`` or ``P.PORT.field``).
        window: units of work per window (an int), or seconds (a float with
            ``by_time=True``).
        by_time: windows are spans of time (by the send time of each unit's root IP).
        reference: how many windows, from the first, make the reference.
        alpha: significance level of the target's change and of the mechanism tests
            (per window; small, since every window is a new test).
        n_bootstrap: bootstrap replicates behind the intervals.
        settle: the newest units left for the next look (still in flight).
        unit, projections: as for :func:`fbp.causal.tables`.
        seed: makes each verdict reproducible.
    """

    def __init__(
        self,
        network: Any,
        target: str,
        *,
        window: float = 500,
        by_time: bool = False,
        reference: int = 1,
        alpha: float = 0.001,
        n_bootstrap: int = 20,
        settle: int = 100,
        unit: str | None = None,
        projections: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        if window <= 0 or reference < 1:
            msg = f"window must be > 0 and reference >= 1, not {window} and {reference}"
            raise ValueError(msg)
        if not by_time and window != int(window):
            msg = f"a window of units must be a whole number, not {window}"
            raise ValueError(msg)
        self.network = network
        self.target = target
        self.window = window
        self.by_time = by_time
        self.reference = reference
        self.alpha = alpha
        self.n_bootstrap = n_bootstrap
        self.settle = settle
        self.unit = unit
        self.projections = projections
        self.seed = seed
        #: Windows judged so far (the reference windows are not judged).
        self.judged = 0
        self._nv: Any = None
        #: The reference windows' rows, kept once formed: a rotated trace may delete
        #: their segments while the watch goes on.
        self._reference_rows: Any = None
        #: The last unit of the reference or of the last window judged.
        self._last_unit: int | None = None

    def _variables(self) -> Any:
        if self._nv is None:
            from ..causal import causal_graph

            self._nv = causal_graph(self.network, projections=self.projections)
        return self._nv

    def _windows(self, frame: Any, run: Any, unit_port: str, final: bool) -> list[Any]:
        """Row positions of each complete, settled window after the last unit seen."""
        import numpy as np

        n = len(frame)
        usable = n if final else max(n - self.settle, 0)
        start = 0
        if self._last_unit is not None:  # units are in id order
            start = int(np.searchsorted(frame.index.to_numpy(), self._last_unit, side="right"))
        if not self.by_time:
            w = int(self.window)
            return [np.arange(s, s + w) for s in range(start, usable - w + 1, w)]
        if usable <= start:
            return []
        times = run.ips(unit_port)[["ip_id", "t"]].set_index("ip_id")["t"]
        t = times.reindex(frame.index).to_numpy(dtype=float)
        keys = np.floor(t / float(self.window)).astype(np.int64)
        last_key = keys[usable - 1]
        out = []
        for k in np.unique(keys[start:usable]):
            if k == last_key and not final:
                continue  # the current window is not over yet
            out.append(start + np.flatnonzero(keys[start:] == k))
        return out

    def poll(self, trace: str | Path, run_id: str | None = None) -> list[WatchEvent]:
        """Judge every window completed since the last call; return their verdicts.

        The reference is formed by the first windows seen and kept: a rotated trace
        may delete their segments meanwhile. Windows are cut from the first unit after
        the last one judged.

        Raises:
            CausalModelError: the target is not a variable of the network, or the run
                has no data yet on its ports.
        """
        from ..causal import shift, tables
        from ..causal._tables._api import resolve_target
        from ..tracing import open_trace

        started = time.perf_counter()
        with open_trace(trace) as tr:
            run = tr.run(run_id)
            final = run.summary.status != "running"
            ref = (str(trace), run.run_id)
            t = tables(self._variables(), [ref], unit=self.unit)
            frame = t.frames[0]
            unit_port = t.datasets[0].unit_port or ""
            windows = self._windows(frame, run, unit_port, final)
        if self._reference_rows is None:
            if len(windows) <= self.reference:
                return []
            import numpy as np

            self._reference_rows = frame.iloc[np.concatenate(windows[: self.reference])]
            self._last_unit = int(self._reference_rows.index[-1])
            windows = windows[self.reference :]
        target = resolve_target(self.target, t.graph)
        before = self._reference_rows
        events: list[WatchEvent] = []
        read_cost = time.perf_counter() - started
        for rows in windows:
            t0 = time.perf_counter()
            k = self.reference + self.judged
            after = frame.iloc[rows]
            res = shift(
                t.graph,
                before,
                after,
                target,
                seed=self.seed + k,
                alpha=self.alpha,
                n_bootstrap=self.n_bootstrap,
            )
            events.append(self._event(k, after, res, read_cost + time.perf_counter() - t0))
            read_cost = 0.0
            self.judged += 1
            self._last_unit = int(after.index[-1])
        return events

    def _event(self, k: int, rows: Any, res: Any, seconds: float) -> WatchEvent:
        findings = set(res.significant)
        alarm = bool(res.shifted and findings)
        culprits: list[Culprit] = []
        if alarm:
            for p in res.ranking.processes:
                mine = tuple(v for v in p.variables if v in findings)
                if mine:
                    culprits.append(Culprit(p.process, p.value, p.ci_low, p.ci_high, mine))
        return WatchEvent(
            window=k,
            units=len(rows),
            first_unit=int(rows.index[0]),
            last_unit=int(rows.index[-1]),
            target=res.target,
            change=res.observed_change,
            p_value=float(res.gate_p_value),
            alarm=alarm,
            culprits=tuple(culprits),
            seconds=seconds,
            warnings=tuple(res.warnings),
        )

    def follow(
        self, trace: str | Path, run_id: str | None = None, *, interval: float = 2.0
    ) -> Iterator[WatchEvent]:
        """Judge windows as the run writes them, until it ends (blocking; for a CLI)."""
        while True:
            from ..tracing import open_trace

            events = self.poll(trace, run_id)
            yield from events
            with open_trace(trace) as tr:
                if tr.run(run_id).summary.status != "running" and not events:
                    return
            time.sleep(interval)
