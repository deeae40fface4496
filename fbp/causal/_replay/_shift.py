"""The exact attribution of a code change: Shapley values over real replays.

A change made of several parts (``k`` swapped components, values given to ports) moves
a target. :func:`replay_shift` replays the recorded inputs under every combination of
the parts (``2^k - 1`` replays; the recorded run is the empty combination) and gives
each part its Shapley value: the average, over the orders in which the parts could be
applied, of the change the part makes when it is added. The values come from real
runs of the code, not from a model, so there is no regression error: on the target's
mean they add up to the observed change (the replay of every part against the
recorded run), and the same holds unit by unit.

Replays share their prefixes: a combination is replayed from the replay of the same
combination without its most downstream part, re-executing only what that part
reaches. Deterministic code gives the same result as replaying every combination from
the recorded run; the full combination is replayed that way too, as a check (``check``).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..._core._address import PortAddress
from ..._core._component import Component
from ..._core._network import DEFAULT_CAPACITY
from ...graph import Graph, Registry, load_graph
from ._api import (
    NetworkLike,
    SwapLike,
    open_run,
    replay_settings,
    resolve_swaps,
    run_replay,
    swap_labels,
)
from ._plan import downstream, make_plan
from ._run import ReplayError
from ._source import Recorded
from ._units import parse_target, target_values, unit_ids

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ("Coalition", "Contribution", "ReplayShiftResult", "replay_shift")

#: The most parts a change may have (2^k - 1 replays).
MAX_PARTS = 10


@dataclass(frozen=True, slots=True)
class Contribution:
    """One part of the change and what it did to the target.

    Attributes:
        part: ``P`` for a swapped process, ``P.PORT`` for a value given to a port.
        kind: ``"swap"`` or ``"set"``.
        process: the process it changes.
        change: the class swapped in, or the value set.
        value: its Shapley value on the target's mean.
        share: ``value`` as a fraction of the whole change (None when nothing changed).
        units_moved: units whose own Shapley value for this part is not zero.
        unit_low: the 5th percentile of the per-unit values.
        unit_high: the 95th percentile.
    """

    part: str
    kind: Literal["swap", "set"]
    process: str
    change: str
    value: float
    share: float | None
    units_moved: int
    unit_low: float
    unit_high: float


@dataclass(frozen=True, slots=True)
class Coalition:
    """One combination of parts and the target's mean under it.

    Attributes:
        parts: the parts applied (none: the recorded run).
        mean: the target's mean over the run's units.
        run_id: the replay's run (the recorded run for no parts).
        base: the run it was replayed from.
        executed: the processes it re-executed.
    """

    parts: tuple[str, ...]
    mean: float
    run_id: str
    base: str | None
    executed: tuple[str, ...]


@dataclass(frozen=True)
class ReplayShiftResult:
    """The exact attribution of a change of the target to its parts (see
    :func:`replay_shift`). Print it, ``to_dict()`` it, or :meth:`plot` it."""

    network: str
    target: str
    unit_port: str
    units: int
    before: str
    trace_out: str | None
    mean_before: float
    mean_after: float
    contributions: tuple[Contribution, ...]
    coalitions: tuple[Coalition, ...]
    #: True when the full change replayed from the recorded run gave the same values
    #: unit by unit as the shared-prefix replays; None when not checked.
    deterministic: bool | None
    #: The largest difference of the target's mean between those two replays.
    spread: float | None
    notes: tuple[str, ...] = ()
    unit_ids: tuple[int, ...] = field(default=(), repr=False)
    #: Per-unit Shapley values, ``(units, parts)`` in the order of ``parts``; NaN for a
    #: unit missing from some replay.
    unit_values: np.ndarray | None = field(default=None, repr=False)
    parts: tuple[str, ...] = ()

    @property
    def change(self) -> float:
        """The observed change of the target's mean: every part against the record."""
        return self.mean_after - self.mean_before

    @property
    def residual(self) -> float:
        """The sum of the contributions minus the change (zero up to rounding)."""
        return math.fsum(c.value for c in self.contributions) - self.change

    def contribution(self, part: str) -> Contribution:
        """The contribution of ``part``."""
        for c in self.contributions:
            if c.part == part:
                return c
        msg = f"{part!r} is not a part of this change; its parts: {', '.join(self.parts)}"
        raise KeyError(msg)

    def __str__(self) -> str:
        return self.table()

    def table(self) -> str:
        """A text report."""
        from .._shift._ranking import _align, fmt

        lines = [
            f"exact attribution of the change of {self.target} over {self.units:,} units"
            f" ({self.unit_port}), {len(self.coalitions) - 1} replays of run {self.before[:12]}",
            f"  mean before  {fmt(self.mean_before, signed=False)}  (recorded)",
            f"  mean after   {fmt(self.mean_after, signed=False)}  (every part replayed)",
            f"  change       {fmt(self.change)}",
            "",
        ]
        rows = [
            [
                str(i),
                f"{c.part}={c.change}",
                c.process,
                fmt(c.value),
                "-" if c.share is None else f"{100 * c.share:.1f}%",
                f"{c.units_moved:,}",
                f"[{fmt(c.unit_low)}, {fmt(c.unit_high)}]",
            ]
            for i, c in enumerate(self.contributions, 1)
        ]
        lines += _align(
            ["rank", "part", "process", "on the mean", "share", "units moved", "per unit 5-95%"],
            rows,
        )
        lines.append(
            f"sum {fmt(math.fsum(c.value for c in self.contributions))} = change"
            f" {fmt(self.change)} (residual {self.residual:.1e}: no model, no regression error)"
        )
        lines += ["", "replays (each from the one without its most downstream part)"]
        lines += _align(
            ["parts", "mean", "run", "re-executed"],
            [
                [
                    " + ".join(c.parts) or "(recorded)",
                    fmt(c.mean, signed=False),
                    c.run_id[:12],
                    ", ".join(c.executed) or "-",
                ]
                for c in self.coalitions
            ],
        )
        lines.append("")
        if self.deterministic is None:
            lines.append("not checked for determinism (check=False)")
        elif self.deterministic:
            lines.append(
                "deterministic: the full change replayed from the record gave the same"
                " values unit by unit"
            )
        else:
            lines.append(
                "NOT deterministic: the full change replayed twice gave different values;"
                f" the target's mean differed by {fmt(self.spread, signed=False)}, so each"
                " contribution is uncertain by about as much"
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(line.rstrip() for line in lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        from .._shift._ranking import jsonable

        keys = (
            "network",
            "target",
            "unit_port",
            "units",
            "before",
            "trace_out",
            "mean_before",
            "mean_after",
            "contributions",
            "coalitions",
            "deterministic",
            "spread",
            "notes",
        )
        out: dict[str, Any] = {k: jsonable(getattr(self, k)) for k in keys}
        out["change"] = self.change
        out["residual"] = self.residual
        return out

    def units_frame(self) -> pd.DataFrame:
        """Per-unit Shapley values: one row per unit (its root IP id), one column per
        part (needs pandas)."""
        import numpy as np
        import pandas as pd

        values = (
            self.unit_values
            if self.unit_values is not None
            else np.zeros((len(self.unit_ids), len(self.parts)))
        )
        return pd.DataFrame(values, index=pd.Index(self.unit_ids, name="unit"), columns=self.parts)

    def _repr_html_(self) -> str:
        from ..._core._html import html_table
        from .._shift._ranking import fmt

        head = (
            f"{self.target}: {fmt(self.mean_before, signed=False)} ->"
            f" {fmt(self.mean_after, signed=False)} (change {fmt(self.change)}),"
            f" {self.units:,} units"
        )
        rows = [
            (
                f"{c.part}={c.change}",
                c.process,
                fmt(c.value),
                "-" if c.share is None else f"{100 * c.share:.1f}%",
                c.units_moved,
            )
            for c in self.contributions
        ]
        return html_table(
            head, ("part", "process", "on the mean", "share", "units moved"), rows, numeric=3
        )

    def plot(self, path: str | Path | None = None) -> Any:
        """Draw the contributions (bars adding up to the change) and their spread over
        the units. Needs matplotlib.

        Returns:
            The matplotlib figure; with ``path``, also saved there.
        """
        from ._plot import plot_shift

        return plot_shift(self, path)


@dataclass(frozen=True)
class _Part:
    name: str
    kind: Literal["swap", "set"]
    process: str
    change: str


def _parts(labels: Mapping[str, str], values: Mapping[str, Any]) -> list[_Part]:
    out = [_Part(p, "swap", p, label) for p, label in labels.items()]
    for addr, v in values.items():
        proc = PortAddress.parse(addr).process
        out.append(_Part(addr, "set", proc, repr(v)))
    return out


def _shapley(k: int, values: Mapping[int, Any]) -> list[Any]:
    """Each player's Shapley value, from the value of every coalition (bit masks)."""
    out = []
    fact = math.factorial
    for i in range(k):
        bit = 1 << i
        terms = []
        for mask in range(1 << k):
            if mask & bit:
                continue
            size = bin(mask).count("1")
            w = fact(size) * fact(k - size - 1) / fact(k)
            terms.append(w * (values[mask | bit] - values[mask]))
        out.append(terms)
    return out


def replay_shift(
    network: NetworkLike,
    trace: str | Path,
    *,
    target: str,
    swap: SwapLike | None = None,
    set_values: Mapping[str, Any] | None = None,
    run: str | None = None,
    unit: str | None = None,
    trace_out: str | Path | None = None,
    check: bool = True,
    registry: Registry | None = None,
    capacity: int = DEFAULT_CAPACITY,
    validate: bool = True,
) -> ReplayShiftResult:
    """Attribute the change of ``target`` to each part of a change, exactly (see the
    module docstring).

    Args:
        network: the network that made the trace (graph or graph file).
        trace: the recorded run's trace file (``run`` picks a run; the latest by default).
        target: ``P.PORT[.field]``, a numeric output.
        swap: the swapped processes (one part each): process -> class or class name.
        set_values: values given to ports (one part each): ``P.PORT`` -> value.
        unit: the port whose root IPs are the units (the busiest source by default).
        trace_out: a trace file to keep the replays in (each one run).
        check: replay the full change once more from the record and compare, which
            tells whether the code is deterministic.

    Raises:
        ReplayError: fewer than one or more than ten parts, or a replay that cannot
            be made (the message says why).
        NetworkError: a re-executed process failed.
    """
    import numpy as np

    graph = network if isinstance(network, Graph) else load_graph(network)
    swaps = resolve_swaps(swap, graph, registry)
    values = dict(set_values or {})
    parts = _parts(swap_labels(swap), values)
    k = len(parts)
    if not 1 <= k <= MAX_PARTS:
        msg = (
            f"a change of {k} parts: give between 1 and {MAX_PARTS} swaps and set values"
            f" ({2**MAX_PARTS - 1} replays at most)"
        )
        raise ReplayError(msg)
    full = make_plan(graph, swap=swaps, set_values=values, registry=registry)
    reach = {p.name: downstream(full.flat, p.process) for p in parts}
    order = list(full.flat.processes)
    opened: list[Any] = []
    notes: list[str] = []
    try:
        first, before = open_run(trace, run)
        opened.append(first)
        t = parse_target(target, before)
        unit_port, uids = unit_ids(before, unit)
        tmp = tempfile.TemporaryDirectory(prefix="fbp-replay-shift-")
        out = Path(trace_out) if trace_out is not None else Path(tmp.name) / "replays.trace"
        runs: dict[int, Recorded] = {0: before}
        coalitions = [Coalition((), 0.0, before.run_id, None, ())]
        per_unit: dict[int, np.ndarray] = {0: target_values(before, t, uids)}
        means: dict[int, float] = {0: _mean_over_own_units(before, t, unit_port)}
        masks = sorted(range(1, 1 << k), key=lambda m: (bin(m).count("1"), m))
        for mask in masks:
            members = [i for i in range(k) if mask >> i & 1]
            # The part whose reach is smallest (the most downstream) is replayed last.
            last = min(
                members,
                key=lambda i: (len(reach[parts[i].name]), -order.index(parts[i].process)),
            )
            base_mask = mask & ~(1 << last)
            ex, plan = _replay_one(
                graph,
                parts,
                members,
                swaps,
                values,
                runs[base_mask],
                trace if base_mask == 0 else out,
                out,
                starts=[parts[last].process],
                registry=registry,
                capacity=capacity,
                validate=validate,
            )
            o, replayed = open_run(out, ex.run_id)
            opened.append(o)
            runs[mask] = replayed
            per_unit[mask] = target_values(replayed, parse_target(target, replayed), uids)
            means[mask] = _mean_over_own_units(replayed, parse_target(target, replayed), unit_port)
            coalitions.append(
                Coalition(
                    tuple(parts[i].name for i in members),
                    0.0,
                    ex.run_id,
                    runs[base_mask].run_id,
                    plan.rerun,
                )
            )
        coalitions = [
            Coalition(c.parts, means[_mask_of(c.parts, parts)], c.run_id, c.base, c.executed)
            for c in coalitions
        ]
        whole = (1 << k) - 1
        deterministic: bool | None = None
        spread: float | None = None
        if check:
            ex, _plan = _replay_one(
                graph,
                parts,
                list(range(k)),
                swaps,
                values,
                before,
                trace,
                out,
                starts=None,
                registry=registry,
                capacity=capacity,
                validate=validate,
            )
            o, again = open_run(out, ex.run_id)
            opened.append(o)
            direct = target_values(again, parse_target(target, again), uids)
            spread = abs(
                _mean_over_own_units(again, parse_target(target, again), unit_port) - means[whole]
            )
            deterministic = bool(np.array_equal(direct, per_unit[whole]))
            if not deterministic:
                notes.append(
                    f"the full change replayed from the record differs from the shared-prefix"
                    f" replays for {int((direct != per_unit[whole]).sum())} units"
                )
        declared = sorted(p for p in full.rerun if not full.flat.processes[p].cls.deterministic)
        if declared:
            notes.append(
                f"{', '.join(declared)} declare(s) not deterministic: contributions carry"
                " their noise"
            )
        change = means[whole] - means[0]
        mean_terms = _shapley(k, means)
        unit_terms = _shapley(k, per_unit)
        unit_matrix = np.column_stack([np.sum(terms, axis=0) for terms in unit_terms])
        contribs = []
        for i, p in enumerate(parts):
            value = math.fsum(mean_terms[i])
            col = unit_matrix[:, i]
            contribs.append(
                Contribution(
                    part=p.name,
                    kind=p.kind,
                    process=p.process,
                    change=p.change,
                    value=value,
                    share=value / change if change != 0 else None,
                    units_moved=int(np.count_nonzero(col)),
                    unit_low=float(np.percentile(col, 5)) if len(col) else 0.0,
                    unit_high=float(np.percentile(col, 95)) if len(col) else 0.0,
                )
            )
        contribs.sort(key=lambda c: (-abs(c.value), c.part))
        result = ReplayShiftResult(
            network=graph.source or graph.name,
            target=target,
            unit_port=unit_port,
            units=len(uids),
            before=before.run_id,
            trace_out=None if trace_out is None else str(trace_out),
            mean_before=means[0],
            mean_after=means[whole],
            contributions=tuple(contribs),
            coalitions=tuple(coalitions),
            deterministic=deterministic,
            spread=spread,
            notes=tuple(notes),
            unit_ids=tuple(uids),
            unit_values=unit_matrix,
            parts=tuple(p.name for p in parts),
        )
    finally:
        for o in opened:
            o.close()
    tmp.cleanup()
    return result


def _mask_of(names: Sequence[str], parts: Sequence[_Part]) -> int:
    return sum(1 << i for i, p in enumerate(parts) if p.name in names)


def _mean_over_own_units(rec: Recorded, target: Any, unit: str) -> float:
    """The target's mean over the units the run itself has (0 where it sent nothing)."""
    _, uids = unit_ids(rec, unit)
    values = target_values(rec, target, uids)
    return math.fsum(values.tolist()) / len(values) if len(values) else 0.0


def _replay_one(
    graph: Graph,
    parts: Sequence[_Part],
    members: Sequence[int],
    swaps: Mapping[str, type[Component]],
    values: Mapping[str, Any],
    base: Recorded,
    trace: str | Path,
    out: Path,
    *,
    starts: Sequence[str] | None,
    registry: Registry | None,
    capacity: int,
    validate: bool,
) -> tuple[Any, Any]:
    chosen = {parts[i].name for i in members}
    sw = {p: c for p, c in swaps.items() if p in chosen}
    sv = {a: v for a, v in values.items() if a in chosen}
    plan = make_plan(graph, swap=sw, set_values=sv, starts=starts, registry=registry)
    settings = replay_settings(base, trace, plan, sw, sv)
    ex = run_replay(plan, base, out, settings, capacity=capacity, validate=validate)
    return ex, plan
