"""Replay: a recorded run's inputs through new code, unit by unit.

::

    from fbp.causal import replay

    result = replay("networks/ml_pipeline.fbp", "before.trace",
                    swap={"Model": "scenarios/ScoreV2"}, target="Revenue.OUT",
                    trace_out="after.trace")
    print(result)

:func:`replay` re-executes only the swapped processes (and those given a ``set_values``
value) and everything downstream of them; every other process is held: its records
are copied from the recorded run, and the streams it fed into re-executed processes
are delivered from the trace in their recorded order, brackets and IIPs included. The
new trace keeps the recorded run's identities (units of work, IIPs, upstream IPs), so
the two runs compare unit by unit. A replay runs twice by default, to tell whether the
re-executed code is deterministic; a component that declares ``deterministic = False``
is run three times at least, and the spread is reported.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._core._address import PortAddress
from ..._core._component import Component
from ..._core._network import DEFAULT_CAPACITY
from ...graph import Graph, Registry, load_graph
from ._plan import Plan, make_plan
from ._run import Execution, ReplayError, execute, sample_limits
from ._source import Recorded
from ._units import (
    differences,
    numeric_gap,
    outputs,
    parse_target,
    target_values,
    unit_ids,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = (
    "CHECK_UNITS",
    "PortChange",
    "ReplayError",
    "ReplayResult",
    "Spread",
    "TargetChange",
    "replay",
)

NetworkLike = Graph | str | Path
#: Units of work the determinism check replays again by default (``check_units``).
CHECK_UNITS = 10_000
SwapLike = Mapping[str, "str | type[Component]"]


@dataclass(frozen=True, slots=True)
class PortChange:
    """What one output port of a re-executed process sent, before and in the replay.

    Attributes:
        port: the port's address.
        ips_before: data IPs it sent in the recorded run.
        ips_after: data IPs it sent in the replay.
        units: units of work it sent something for, in either run.
        units_changed: units for which it sent something else (or nothing).
        mean_before: the mean of its payloads in the recorded run, when they are numbers.
        mean_after: the same in the replay.
    """

    port: str
    ips_before: int
    ips_after: int
    units: int
    units_changed: int
    mean_before: float | None = None
    mean_after: float | None = None


@dataclass(frozen=True, slots=True)
class Spread:
    """Outputs of a port that differed between repeated replays of the same inputs.

    Attributes:
        port: the port's address.
        units: units of work it sent something for.
        units_differing: units whose outputs were not the same in every repeat.
        median_gap: over the differing units, the median of the largest absolute
            difference between repeats of a number in the output (None when the
            outputs are not numbers alike).
        max_gap: the largest such difference.
        declared: whether the process declares itself not deterministic.
    """

    port: str
    units: int
    units_differing: int
    median_gap: float | None
    max_gap: float | None
    declared: bool


_SPREAD_COLUMNS = ("port", "units differing", "median gap", "max gap", "")


def _spread_row(s: Spread, sep: str = "") -> tuple[str, ...]:
    """A port's row of the table of spreads (columns :data:`_SPREAD_COLUMNS`); ``sep``
    ``","`` groups the counts' thousands (the text table does, the HTML one does not)."""
    from .._shift._ranking import fmt

    return (
        s.port,
        f"{s.units_differing:{sep}}/{s.units:{sep}}",
        fmt(s.median_gap, signed=False),
        fmt(s.max_gap, signed=False),
        "declared" if s.declared else "detected",
    )


@dataclass(frozen=True, slots=True)
class TargetChange:
    """The target's values unit by unit, before and in the replay.

    Attributes:
        target: ``P.PORT[.field]``.
        unit_port: the port whose IPs are the units.
        units: how many units.
        mean_before: the mean over the units (0 for a unit the target sent nothing for).
        mean_after: the same in the replay.
        units_changed: units whose value changed.
        spread: the largest difference of the mean between repeated replays.
    """

    target: str
    unit_port: str
    units: int
    mean_before: float
    mean_after: float
    units_changed: int
    spread: float | None = None

    @property
    def change(self) -> float:
        """``mean_after - mean_before``."""
        return self.mean_after - self.mean_before


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did and what changed (see :func:`replay`).

    Print it (or call :meth:`table`) for a report, ``to_dict()`` for JSON; in a notebook
    it renders as tables, and :meth:`plot` draws the target unit by unit.
    """

    network: str
    #: The recorded run and the replay's run (the first, when it was repeated).
    before: str
    after: str
    #: Where the replay's trace is (None when it was not kept).
    trace_out: str | None
    swaps: Mapping[str, str]
    set_values: Mapping[str, Any]
    #: Processes that ran, held processes that fed them from the trace, and every
    #: held process (whose records were copied).
    executed: tuple[str, ...]
    fed_from: tuple[str, ...]
    held: tuple[str, ...]
    records_copied: int
    records_fed: int
    records_new: int
    changes: tuple[PortChange, ...]
    repeats: int
    #: True when every repeat gave the same outputs, False when not, None when the
    #: replay ran once.
    deterministic: bool | None
    spreads: tuple[Spread, ...] = ()
    target: TargetChange | None = None
    notes: tuple[str, ...] = ()
    #: Units of work the repeats replayed and compared, when the check was sampled
    #: (``check_units``); None when the repeats replayed every unit.
    checked_units: int | None = None
    #: The target's value per unit (ids in ``unit_ids``), before and after.
    unit_ids: tuple[int, ...] = field(default=(), repr=False)
    values_before: np.ndarray | None = field(default=None, repr=False)
    values_after: np.ndarray | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.table()

    def table(self) -> str:
        """A text report."""
        from .._shift._ranking import _align, fmt

        swaps = ", ".join(f"{k}={v}" for k, v in self.swaps.items())
        sets = ", ".join(f"{k}={v!r}" for k, v in self.set_values.items())
        lines = [
            f"replay of run {self.before[:12]} of {self.network}"
            + (f" with {swaps}" if swaps else "")
            + (f" and {sets}" if sets and swaps else f" with {sets}" if sets else ""),
            f"  executed: {', '.join(self.executed)}",
            f"  held:     {', '.join(self.held) or '-'} ({self.records_copied:,} records"
            f" copied, {self.records_fed:,} fed to the executed processes)",
            f"  new:      {self.records_new:,} records, run {self.after[:12]}"
            + (f" in {self.trace_out}" if self.trace_out else ""),
            "",
        ]
        rows = [
            [
                c.port,
                f"{c.ips_before:,}",
                f"{c.ips_after:,}",
                f"{c.units_changed:,}/{c.units:,}",
                fmt(c.mean_before, signed=False),
                fmt(c.mean_after, signed=False),
            ]
            for c in self.changes
        ]
        lines += _align(
            ["port", "IPs before", "IPs after", "units changed", "mean before", "mean after"],
            rows,
        )
        t = self.target
        if t is not None:
            lines += [
                "",
                f"target {t.target}, {t.units:,} units ({t.unit_port}):"
                f" mean {fmt(t.mean_before, signed=False)} -> {fmt(t.mean_after, signed=False)}"
                f" (change {fmt(t.change)}), {t.units_changed:,} units changed",
            ]
        lines.append("")
        on = "" if self.checked_units is None else f" on the first {self.checked_units:,} units"
        if self.deterministic is None:
            lines.append("ran once: determinism not checked (repeat >= 2 checks it)")
        elif self.deterministic:
            lines.append(f"deterministic: {self.repeats} repeats gave the same outputs{on}")
        else:
            lines.append(
                f"NOT deterministic: {self.repeats} repeats of the same inputs differed{on}"
            )
            lines += _align(_SPREAD_COLUMNS, [_spread_row(s, ",") for s in self.spreads])
            if t is not None and t.spread is not None:
                lines.append(f"the target's mean varied by {fmt(t.spread, signed=False)}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(line.rstrip() for line in lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        from .._shift._ranking import jsonable

        out: dict[str, Any] = {
            k: jsonable(getattr(self, k))
            for k in (
                "network",
                "before",
                "after",
                "trace_out",
                "swaps",
                "set_values",
                "executed",
                "fed_from",
                "held",
                "records_copied",
                "records_fed",
                "records_new",
                "changes",
                "repeats",
                "deterministic",
                "checked_units",
                "spreads",
                "target",
                "notes",
            )
        }
        if self.target is not None:
            out["target"]["change"] = jsonable(self.target.change)
        return out

    def _repr_html_(self) -> str:
        from ..._core._html import html_table
        from .._shift._ranking import fmt

        head = f"replay of run {self.before[:12]}: {len(self.executed)} processes executed,"
        head += f" {len(self.held)} held; {self.records_new:,} new records"
        parts = [
            html_table(
                head,
                ("port", "IPs before", "IPs after", "units changed", "mean before", "mean after"),
                (
                    (
                        c.port,
                        c.ips_before,
                        c.ips_after,
                        f"{c.units_changed}/{c.units}",
                        fmt(c.mean_before, signed=False),
                        fmt(c.mean_after, signed=False),
                    )
                    for c in self.changes
                ),
                numeric=5,
            )
        ]
        t = self.target
        if t is not None:
            parts.append(
                html_table(
                    f"target {t.target}",
                    ("units", "mean before", "mean after", "change", "units changed"),
                    [
                        (
                            t.units,
                            fmt(t.mean_before),
                            fmt(t.mean_after),
                            fmt(t.change),
                            t.units_changed,
                        )
                    ],
                    numeric=5,
                )
            )
        if self.deterministic is False:
            parts.append(
                html_table(
                    f"not deterministic: {self.repeats} repeats differed"
                    + (
                        ""
                        if self.checked_units is None
                        else f" (first {self.checked_units:,} units)"
                    ),
                    _SPREAD_COLUMNS,
                    (_spread_row(s) for s in self.spreads),
                    numeric=3,
                )
            )
        return "".join(parts)

    def plot(self, path: str | Path | None = None) -> Any:
        """Draw the target unit by unit (replay against recorded, and the changes), or
        the changed units per port without a target. Needs matplotlib.

        Returns:
            The matplotlib figure; with ``path``, also saved there.
        """
        from ._plot import plot_replay

        return plot_replay(self, path)


def resolve_swaps(
    swap: SwapLike | None, graph: Graph, registry: Registry | None = None
) -> dict[str, type[Component]]:
    """Component classes for ``swap`` values given as names (``module:Class``,
    ``collection/Name``) or classes.

    Raises:
        ReplayError: a name resolves to nothing, or to a subnet.
    """
    from ..._core._exceptions import ComponentNotFoundError

    reg = registry or Registry()
    base = Path(graph.source).parent if graph.source else None
    out: dict[str, type[Component]] = {}
    for proc, what in (swap or {}).items():
        if isinstance(what, type) and issubclass(what, Component):
            out[proc] = what
            continue
        try:
            found = reg.resolve(str(what), base_dir=base)
        except ComponentNotFoundError as e:
            msg = f"swap {proc}={what}: {e}"
            raise ReplayError(msg) from None
        if not isinstance(found, type):
            msg = f"swap {proc}={what}: that is a graph; swap a process for a component class"
            raise ReplayError(msg)
        out[proc] = found
    return out


def swap_labels(swap: SwapLike | None) -> dict[str, str]:
    """How each swap is shown: the name it was given, or the class's import path."""
    return {
        p: what if isinstance(what, str) else what.spec().qualname
        for p, what in (swap or {}).items()
    }


def open_run(trace: str | Path, run: str | None) -> tuple[Any, Recorded]:
    """Open a recorded run; return the open trace (to close) and the run's records."""
    from ...tracing import open_trace

    t = open_trace(trace)
    try:
        return t, Recorded(t.run(run))
    except BaseException:
        t.close()
        raise


def replay_settings(
    recorded: Recorded,
    trace: str | Path,
    plan: Plan,
    swaps: Mapping[str, type[Component]],
    set_values: Mapping[str, Any],
) -> dict[str, Any]:
    """What a replay's trace records of how it was made (the run's ``settings``)."""
    out: dict[str, Any] = {
        "replay": {
            "of": recorded.run_id,
            "trace": str(trace),
            "swap": {k: v.spec().qualname for k, v in swaps.items()},
            "set": dict(set_values),
            "starts": list(plan.starts),
            "executed": list(plan.rerun),
        }
    }
    if set_values:
        out["set"] = dict(set_values)
    return out


def run_replay(
    plan: Plan,
    recorded: Recorded,
    path: Path,
    settings: Mapping[str, Any],
    *,
    capacity: int = DEFAULT_CAPACITY,
    validate: bool = True,
    limits: Mapping[str, int] | None = None,
) -> Execution:
    """Run one replay into the trace file ``path`` (``limits``: see :func:`execute`).

    Raises:
        NetworkError: a re-executed process failed (the run is recorded as failed).
    """
    from ..._core._sync import run_sync
    from ...tracing import TraceWriter

    with TraceWriter(path) as writer:
        ex = run_sync(
            lambda: execute(
                plan,
                recorded,
                writer,
                settings=settings,
                capacity=capacity,
                validate=validate,
                limits=limits,
            )
        )
    if ex.error is not None:
        raise ex.error
    return ex


def replay(
    network: NetworkLike,
    trace: str | Path,
    *,
    swap: SwapLike | None = None,
    set_values: Mapping[str, Any] | None = None,
    trace_out: str | Path | None = None,
    run: str | None = None,
    target: str | None = None,
    unit: str | None = None,
    repeat: int = 2,
    check_units: int | None = CHECK_UNITS,
    registry: Registry | None = None,
    capacity: int = DEFAULT_CAPACITY,
    validate: bool = True,
) -> ReplayResult:
    """Replay a recorded run with some processes swapped for other classes, or given
    other values (see the module docstring).

    Args:
        network: the network that made the trace (graph or graph file).
        trace: the trace file; ``run`` picks a run in it (the latest by default).
        swap: process name -> the component class to run instead (a class, or a name
            as a graph would write it: ``module:Class``, ``collection/Name``).
        set_values: ``P.PORT`` -> value: what-if on the recorded inputs.
        trace_out: a trace file to add the replay's run to (kept), else a temporary one.
        target: ``P.PORT[.field]``: compare its value unit by unit.
        unit: the port whose root IPs are the units (the busiest source by default).
        repeat: how many times to replay, to check that the outputs are the same each
            time (1 skips the check; a component declaring ``deterministic = False``
            makes it at least 3).
        check_units: the repeats after the first replay only the first this many units
            of work (by id, the order the source sent them) and compare those; None
            replays every unit each time. A run of fewer units, a re-executed process
            that makes the units (a swapped source) or one that declares itself not
            deterministic makes every repeat whole. A sampled check cannot see a
            difference in a unit it did not replay, nor in an output of several units
            (an aggregate, a join); a process whose output for a unit depends on
            later units (a window that looks ahead, a total sent at the end) can look
            not deterministic in a sampled check: confirm with ``check_units=None``.

    Raises:
        ReplayError: the replay cannot be made (the message says why).
        GraphValidationError: the network, a swap or a value does not check.
        NetworkError: a re-executed process failed.
        TraceError: the trace cannot be read.
    """
    if repeat < 1:
        msg = f"repeat must be 1 or more, got {repeat}"
        raise ReplayError(msg)
    if check_units is not None and check_units < 1:
        msg = f"check_units must be 1 or more (or None for every unit), got {check_units}"
        raise ReplayError(msg)
    graph = network if isinstance(network, Graph) else load_graph(network)
    swaps = resolve_swaps(swap, graph, registry)
    values = dict(set_values or {})
    if not swaps and not values:
        msg = "nothing to replay: give a swap (PROC=module:Class) or a set value (P.PORT=VALUE)"
        raise ReplayError(msg)
    plan = make_plan(graph, swap=swaps, set_values=values, registry=registry)
    declared = {p for p in plan.rerun if not plan.flat.processes[p].cls.deterministic}
    runs = max(repeat, 3) if declared else repeat
    opened, recorded = open_run(trace, run)
    outputs: list[Any] = []
    try:
        settings = replay_settings(recorded, trace, plan, swaps, values)
        sample = None
        if runs > 1 and not declared and check_units is not None:
            sample = sample_limits(plan, recorded, check_units)
        with tempfile.TemporaryDirectory(prefix="fbp-replay-") as tmp:
            paths = [
                Path(trace_out) if (k == 0 and trace_out is not None) else Path(tmp) / f"r{k}.trace"
                for k in range(runs)
            ]
            executions = [
                run_replay(
                    plan,
                    recorded,
                    p,
                    settings,
                    capacity=capacity,
                    validate=validate,
                    limits=None if (k == 0 or sample is None) else sample[0],
                )
                for k, p in enumerate(paths)
            ]
            replays = []
            try:
                for p, ex in zip(paths, executions, strict=True):
                    o, r = open_run(p, ex.run_id)
                    outputs.append(o)
                    replays.append(r)
                return _compare(
                    graph,
                    plan,
                    recorded,
                    replays,
                    executions,
                    swaps,
                    values,
                    declared,
                    labels=swap_labels(swap),
                    trace_out=None if trace_out is None else str(trace_out),
                    target=target,
                    unit=unit,
                    sample=None if sample is None else sample[1:],
                )
            finally:
                for o in outputs:
                    o.close()
    finally:
        opened.close()


def _compare(
    graph: Graph,
    plan: Plan,
    recorded: Recorded,
    replays: list[Recorded],
    executions: list[Execution],
    swaps: Mapping[str, type[Component]],
    values: Mapping[str, Any],
    declared: set[str],
    *,
    labels: Mapping[str, str],
    trace_out: str | None,
    target: str | None,
    unit: str | None,
    sample: tuple[int, int] | None = None,
) -> ReplayResult:
    import numpy as np

    # A sampled check compares the units below the bound, one unit per output.
    bound = None if sample is None else sample[0]

    first = replays[0]
    ex = executions[0]
    rerun = set(plan.rerun)
    ports = [p.address for p in first.ports if p.process in rerun and p.direction == "out"]
    before = {a: outputs(recorded, a) for a in ports}
    after = [{a: outputs(r, a) for a in ports} for r in replays]
    checked = after if bound is None else [{a: o.below(bound) for a, o in x.items()} for x in after]
    changes = []
    for addr in ports:
        b, a = before[addr], after[0][addr]
        if not b.ips and not a.ips and addr not in recorded.by_address:
            continue
        units, changed, _ = differences(b, a, pairs=False)
        changes.append(
            PortChange(
                port=addr,
                ips_before=b.ips,
                ips_after=a.ips,
                units=units,
                units_changed=changed,
                mean_before=b.mean(),
                mean_after=a.mean(),
            )
        )
    spreads: list[Spread] = []
    for addr in ports:
        differing = 0
        gaps: list[float | None] = []
        for other in checked[1:]:
            _units, count, diffs = differences(checked[0][addr], other[addr])
            differing = max(differing, count)
            gaps.extend(numeric_gap(x, y) for x, y in diffs)
        proc = PortAddress.parse(addr).process
        if differing:
            known = sorted(g for g in gaps if g is not None)
            whole = len(known) == len(gaps)
            spreads.append(
                Spread(
                    port=addr,
                    units=checked[0][addr].unit_count(),
                    units_differing=differing,
                    median_gap=float(np.median(known)) if whole and known else None,
                    max_gap=max(known) if whole and known else None,
                    declared=proc in declared,
                )
            )
    notes: list[str] = []
    for e in executions[:1]:
        for addr, n in e.undelivered.items():
            notes.append(
                f"{addr} ended with {n} of its recorded IPs not taken; in a real run its"
                " senders would have been stopped early, which a replay cannot show"
            )
    change = None
    uids: list[int] = []
    vb = va = None
    if target is not None:
        t = parse_target(target, recorded)
        unit_port, uids = unit_ids(recorded, unit)
        vb = target_values(recorded, t, uids)
        runs = [target_values(r, parse_target(target, r), uids) for r in replays]
        va = runs[0]
        if bound is not None:  # the spread over the units every repeat replayed
            part = np.asarray(uids, dtype=np.int64) < bound
            runs = [v[part] for v in runs]
        means = [float(v.mean()) if len(v) else 0.0 for v in runs]
        change = TargetChange(
            target=target,
            unit_port=unit_port,
            units=len(uids),
            mean_before=float(vb.mean()) if len(vb) else 0.0,
            mean_after=float(va.mean()) if len(va) else 0.0,
            units_changed=int((vb != va).sum()),
            spread=(max(means) - min(means)) if len(means) > 1 else None,
        )
    return ReplayResult(
        network=graph.source or graph.name,
        before=recorded.run_id,
        after=ex.run_id,
        trace_out=trace_out,
        swaps=labels,
        set_values=dict(values),
        executed=plan.rerun,
        fed_from=plan.fed_from,
        held=plan.held,
        records_copied=ex.copied,
        records_fed=sum(ex.fed.values()),
        records_new=ex.new,
        changes=tuple(changes),
        repeats=len(replays),
        deterministic=None if len(replays) < 2 else not spreads,
        spreads=tuple(spreads),
        target=change,
        notes=tuple(notes),
        checked_units=None if sample is None else sample[1],
        unit_ids=tuple(uids),
        values_before=vb,
        values_after=va,
    )
