"""The determinism check of a replay on a sample of the units (``check_units``): the
repeats replay the first units only, the first replay is untouched, and a difference
in the sampled units is still found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_replay import (
    CALLS,
    CASES,
    REGISTRY,
    Declared,
    Noisy_value,
    ScoreV2,
    TallyV2,
    _by_unit,
    _graph,
    _record,
)

from fbp import Component
from fbp.causal import ReplayError, replay
from fbp.causal._replay._plan import make_plan
from fbp.causal._replay._run import _fed_rows, sample_limits
from fbp.causal._replay._source import Recorded
from fbp.tracing import open_trace

# The last two cases re-execute a source, whose repeats stay whole.
SAMPLED = CASES[:-2]


@pytest.mark.parametrize(("network", "swap", "values", "held"), SAMPLED)
def test_a_sampled_check_leaves_the_replay_as_it_was(
    tmp_path: Path,
    network: str,
    swap: dict[str, type[Component]],
    values: dict[str, Any],
    held: set[str],
) -> None:
    graph = _graph(network)
    before = tmp_path / "before.trace"
    _record(graph, before)
    runs = {}
    for name, check in (("whole", None), ("sampled", 7)):
        out = tmp_path / f"{name}.trace"
        CALLS.clear()
        r = replay(
            graph,
            before,
            swap=swap,
            set_values=values,
            trace_out=out,
            registry=REGISTRY,
            check_units=check,
        )
        assert not set(CALLS) & held
        runs[name] = (r, _by_unit(out, r.after))
    whole, sampled = runs["whole"][0], runs["sampled"][0]
    assert whole.deterministic is sampled.deterministic is True
    assert whole.checked_units is None
    assert sampled.checked_units is not None and 0 < sampled.checked_units <= 7
    assert f"on the first {sampled.checked_units} units" in sampled.table()
    assert sampled.changes == whole.changes
    assert runs["sampled"][1] == runs["whole"][1]


def test_the_repeat_of_a_sampled_check_runs_the_sample_only(tmp_path: Path) -> None:
    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    _record(graph, before)
    CALLS.clear()
    r = replay(graph, before, swap={"Val": Noisy_value()}, registry=REGISTRY, check_units=5)
    assert r.repeats == 2 and r.checked_units == 5
    assert r.deterministic is False
    (spread,) = r.spreads
    assert spread.port == "Val.OUT" and spread.units_differing == 5 == spread.units
    assert "NOT deterministic: 2 repeats of the same inputs differed on the first 5" in str(r)
    # Val (a non-looper downstream of the swap) is called once per unit it is fed: 40
    # in the replay, 5 in the check.
    CALLS.clear()
    replay(graph, before, swap={"Score": ScoreV2}, registry=REGISTRY, check_units=5)
    assert CALLS["Val"] == 40 + 5


def test_a_sampled_cut_leaves_no_substream_open(tmp_path: Path) -> None:
    from fbp._core._record import CLOSE, OPEN

    graph = _graph("substreams")
    before = tmp_path / "before.trace"
    _record(graph, before)
    plan = make_plan(graph, swap={"Tally": TallyV2}, set_values={}, registry=REGISTRY)
    with open_trace(before) as t:
        rec = Recorded(t.run())
        for units in (1, 3, 10, 25):
            got = sample_limits(plan, rec, units)
            assert got is not None
            limits, bound, count = got
            assert 0 < count <= units
            (feed,) = plan.feeds
            rows = _fed_rows(rec, feed.senders)[: limits[feed.address]]
            kinds = rec.columns.kind[rows]
            assert int((kinds == OPEN).sum()) == int((kinds == CLOSE).sum())
            fed = rec.single_units(rows)
            assert bool((fed[fed >= 0] < bound).all())
        assert sample_limits(plan, rec, 50) is None  # every unit: a whole repeat
    r = replay(graph, before, swap={"Tally": TallyV2}, registry=REGISTRY, check_units=10)
    assert r.deterministic is True and r.checked_units is not None


def test_repeats_stay_whole_where_a_sample_would_not_be_sound(tmp_path: Path) -> None:
    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    _record(graph, before)
    # A re-executed source makes the units: nothing to cut.
    r = replay(graph, before, set_values={"Src.SCALE": 1.5}, registry=REGISTRY, check_units=5)
    assert r.deterministic is True and r.checked_units is None
    # More units asked for than the run has.
    r = replay(graph, before, swap={"Score": ScoreV2}, registry=REGISTRY, check_units=40)
    assert r.checked_units is None
    with pytest.raises(ReplayError, match="check_units must be 1 or more"):
        replay(graph, before, swap={"Score": ScoreV2}, registry=REGISTRY, check_units=0)


def test_a_declared_nondeterministic_process_repeats_every_unit(tmp_path: Path) -> None:
    from fbp.graph import loads_graph

    graph = loads_graph(
        "20 -> N Src(t/Source)\nSrc OUT -> IN Val(t/Value) OUT -> IN D(t/Declared)\n"
        "D OUT -> IN End(t/Sink)\n",
        "fbp",
    )
    before = tmp_path / "before.trace"
    _record(graph, before)
    r = replay(
        graph,
        before,
        swap={"D": Declared},
        registry=REGISTRY,
        target="D.OUT",
        check_units=3,
    )
    assert r.repeats == 3 and r.checked_units is None
    assert r.spreads[0].units == 20


def test_the_sampled_spread_of_the_target_is_over_the_sample(tmp_path: Path) -> None:
    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    _record(graph, before)
    r = replay(
        graph,
        before,
        swap={"Val": Noisy_value()},
        registry=REGISTRY,
        target="Val.OUT",
        check_units=10,
    )
    t = r.target
    assert t is not None and t.units == 40 and t.spread is not None
    assert r.values_after is not None and len(r.values_after) == 40
    assert float(np.mean(r.values_after)) == pytest.approx(t.mean_after)
    # The noise is below 1 per unit, so the means of 10 units differ by less than 1.
    assert 0 < t.spread < 1


def test_the_notebook_view_names_the_sample(tmp_path: Path) -> None:
    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    _record(graph, before)
    r = replay(graph, before, swap={"Val": Noisy_value()}, registry=REGISTRY, check_units=5)
    assert "2 repeats differed (first 5 units)" in r._repr_html_()
    assert r.to_dict()["checked_units"] == 5
