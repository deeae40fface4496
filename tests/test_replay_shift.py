"""The exact attribution of a change by Shapley over real replays, checked against
real runs of every combination of the change's parts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_replay import REGISTRY, PrepV2, ScoreV2, _graph, _record

from fbp.causal import ReplayError, replay_shift
from fbp.causal._replay._source import Recorded
from fbp.causal._replay._units import parse_target, target_values, unit_ids
from fbp.graph._run import with_set_values
from fbp.tracing import open_trace


def _mean(path: Path, run_id: str, target: str) -> float:
    with open_trace(path) as t:
        rec = Recorded(t.run(run_id))
        _, units = unit_ids(rec)
        values = target_values(rec, parse_target(target, rec), units)
        return math.fsum(values.tolist()) / len(values)


def _shapley(k: int, v: dict[int, float]) -> list[float]:
    out = []
    for i in range(k):
        total = 0.0
        for mask in range(1 << k):
            if mask >> i & 1:
                continue
            size = bin(mask).count("1")
            w = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            total += w * (v[mask | 1 << i] - v[mask])
        out.append(total)
    return out


def test_two_swaps_match_the_real_runs(tmp_path: Path) -> None:
    graph = _graph("router")
    before = tmp_path / "before.trace"
    _record(graph, before)
    swaps = {"Prep": PrepV2, "Score": ScoreV2}
    result = replay_shift(
        graph,
        before,
        target="Val.OUT",
        swap=swaps,
        registry=REGISTRY,
        trace_out=tmp_path / "replays.trace",
    )
    # Every combination really run: Shapley values from the real runs' means.
    real: dict[int, float] = {}
    for mask in range(4):
        chosen = {p: c for i, (p, c) in enumerate(swaps.items()) if mask >> i & 1}
        path = tmp_path / f"real{mask}.trace"
        real[mask] = _mean(path, _record(graph, path, swap=chosen), "Val.OUT")
    expected = dict(zip(swaps, _shapley(2, real), strict=True))
    for part, value in expected.items():
        assert result.contribution(part).value == pytest.approx(value, rel=1e-12, abs=1e-12)
    assert result.mean_before == pytest.approx(real[0], rel=1e-12)
    assert result.mean_after == pytest.approx(real[3], rel=1e-12)
    # The parts add up to the observed change, exactly but for rounding.
    assert abs(result.residual) <= 1e-12 * max(1.0, abs(result.change))
    assert result.change != 0
    # Unit by unit too: the mean of the per-unit values is the value on the mean.
    frame = result.units_frame()
    assert list(frame.columns) == ["Prep", "Score"]
    for part in swaps:
        assert frame[part].mean() == pytest.approx(result.contribution(part).value, rel=1e-9)
    # Three replays, sharing prefixes: Prep+Score re-executes only from Score.
    assert len(result.coalitions) == 4
    both = next(c for c in result.coalitions if set(c.parts) == {"Prep", "Score"})
    assert both.executed == ("Score", "Val", "End")
    assert result.deterministic is True
    text = str(result)
    assert "Prep=" in text and "residual" in text
    assert result.to_dict()["change"] == pytest.approx(result.change)


def test_swaps_and_values_as_parts(tmp_path: Path) -> None:
    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    _record(graph, before)
    result = replay_shift(
        graph,
        before,
        target="Score.OUT.y",
        swap={"Score": ScoreV2},
        set_values={"Prep.OFFSET": 4.0, "Src.SCALE": 2.0},
        registry=REGISTRY,
    )
    assert len(result.coalitions) == 8
    assert {c.part for c in result.contributions} == {"Score", "Prep.OFFSET", "Src.SCALE"}
    assert abs(result.residual) <= 1e-12 * max(1.0, abs(result.change))
    path = tmp_path / "real.trace"
    real_id = _record(
        with_set_values(graph, {"Prep.OFFSET": 4.0, "Src.SCALE": 2.0}),
        path,
        swap={"Score": ScoreV2},
    )
    assert result.mean_after == pytest.approx(_mean(path, real_id, "Score.OUT.y"), rel=1e-12)


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    graph = _graph("pipeline")
    before = tmp_path / "before.trace"
    _record(graph, before)
    with pytest.raises(ReplayError, match="a change of 0 parts"):
        replay_shift(graph, before, target="Val.OUT", registry=REGISTRY)
    with pytest.raises(ReplayError, match="carries objects, not numbers; name one"):
        replay_shift(graph, before, target="Score.OUT", swap={"Score": ScoreV2}, registry=REGISTRY)
