"""Causal tables of real traced runs: every legal pair of runs gets an answer or a clear
message naming the element, every stream is a variable, aggregates are units.

The network is ``tests/causal_nets.py``'s loan network (dict rows from a source, a
routing looper, a merging looper and an averaging looper, none naming parents), run
once as deployed and once per fault knob; each case asks ``shift_between`` what
explains the change of a target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from causal_nets import loans

from fbp._core._exceptions import CausalModelError
from fbp.causal import causal_graph, shift_between, tables
from fbp.causal._tables._wiring import render_causal_graph
from fbp.graph import run
from fbp.tracing import TraceWriter

RUNS: dict[str, dict[str, Any]] = {
    "base": {"Apps.SEED": 0},
    "again": {"Apps.SEED": 1},
    "bug": {"Apps.SEED": 1, "Route.BUG": True},  # a branch never taken
    "shift": {"Apps.SEED": 1, "Apps.SCALE": 1.5},  # an input data shift
    "tiers": {"Apps.SEED": 1, "Apps.TIERS": 4},  # categories the base run never saw
    "bonus": {"Apps.SEED": 1, "Apps.BONUS": True},  # a field absent from the base run
    "flat": {"Apps.SEED": 1, "Score.FLAT": True},  # a constant column
    "flat0": {"Apps.SEED": 0, "Score.FLAT": True},
    "short": {"Apps.SEED": 1, "Apps.N": 40},  # one run much shorter
    "tiny": {"Apps.SEED": 1, "Apps.N": 5},
    "lists0": {"Apps.SEED": 0, "Apps.AS_LIST": True},  # a stream with no field
    "lists1": {"Apps.SEED": 1, "Apps.AS_LIST": True, "Apps.SCALE": 1.5},
}


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("loans")
    out = {}
    for name, values in RUNS.items():
        path = tmp / f"{name}.trace"
        with TraceWriter(path) as sink:
            run(loans(), set_values=values, trace=sink)
        out[name] = path
    return out


def ask(traces: dict[str, Path], before: str, after: str, target: str) -> Any:
    return shift_between(
        loans(), traces[before], traces[after], target, n_bootstrap=5, seed=0
    )


@pytest.mark.parametrize("target", ["Total.OUT", "Window.OUT"])
def test_a_branch_never_taken_in_one_run_is_the_answer_not_a_crash(
    traces: dict[str, Path], target: str
) -> None:
    # The bug sends every application to REVIEW: APPROVE sends nothing in that run.
    t = tables(loans(), [traces["base"], traces["bug"]], target=target)
    assert "Route.APPROVE.fired" in t.graph
    assert float(t.frames[1]["Route.APPROVE.fired"].max()) == 0.0  # never taken there
    result = ask(traces, "base", "bug", target)
    assert result.top_processes(1) == ("Route",)
    assert "Route.APPROVE.fired" in result.significant


def test_categories_seen_in_one_run_only_share_one_category_set(
    traces: dict[str, Path],
) -> None:
    t = tables(loans(), [traces["base"], traces["tiers"]], target="Total.OUT")
    before, after = (f["Apps.OUT.tier"] for f in t.frames)
    assert list(before.cat.categories) == list(after.cat.categories) == ["a", "b", "c", "d"]
    assert set(before.unique()) == {"a", "b"}
    result = ask(traces, "base", "tiers", "Total.OUT")
    assert result.top_processes(1) == ("Apps",)
    assert result.significant == ("Apps.OUT.tier",)


def test_a_field_absent_from_one_run_is_filled_and_said(traces: dict[str, Path]) -> None:
    t = tables(loans(), [traces["base"], traces["bonus"]])
    before, after = t.datasets[0].frame, t.datasets[1].frame
    assert (before["Apps.OUT.bonus"] == 0).all() and after["Apps.OUT.bonus"].gt(0).any()
    assert any(n.startswith("Apps.OUT.bonus: 600 IPs had no value") for n in t.notes)
    result = ask(traces, "base", "bonus", "Total.OUT")
    assert result.significant == ()  # nothing that matters to the target changed


def test_a_column_constant_in_one_run_is_kept_and_found(traces: dict[str, Path]) -> None:
    t = tables(loans(), [traces["base"], traces["flat"]], target="Total.OUT")
    assert t.frames[1]["Score.OUT.score"].nunique() == 1
    result = ask(traces, "base", "flat", "Total.OUT")
    assert result.top_processes(1) == ("Score",)
    assert "Score.OUT.score" in result.significant


def test_a_target_constant_in_both_runs_is_refused_with_the_reason(
    traces: dict[str, Path],
) -> None:
    with pytest.raises(CausalModelError, match=r"Score\.OUT\.score is a variable .* constant"):
        ask(traces, "flat0", "flat", "Score.OUT.score")


def test_a_much_shorter_run_is_answered(traces: dict[str, Path]) -> None:
    t = tables(loans(), [traces["base"], traces["short"]], target="Total.OUT")
    assert [len(f) for f in t.frames] == [600, 40]
    result = ask(traces, "base", "short", "Total.OUT")
    assert result.significant == ()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("Total.OUT", r"after has 5 row\(s\); .* at least 20 units"),
        ("Window.OUT", r"Window\.OUT, the unit port, sent no IPs in tiny\.trace"),
    ],
)
def test_a_run_too_short_to_compare_gets_a_message_naming_it(
    traces: dict[str, Path], target: str, message: str
) -> None:
    with pytest.raises(CausalModelError, match=message):
        ask(traces, "base", "tiny", target)


def test_an_aggregate_is_a_unit_of_its_own(traces: dict[str, Path]) -> None:
    t = tables(loans(), [traces["base"], traces["shift"]], target="Window.OUT")
    assert [d.unit_port for d in t.datasets] == ["Window.OUT", "Window.OUT"]
    assert [len(f) for f in t.frames] == [60, 60]  # 600 payments, 10 per aggregate
    frame = t.frames[0]
    # Upstream variables are summaries of each aggregate's inputs: per source IP, so
    # that the two branches add up to the merged stream, and routing is a share.
    share = frame["Route.APPROVE.fired"] + frame["Route.REVIEW.fired"]
    assert share.round(9).eq(1.0).all()
    assert (frame["Pay.OUT"] + frame["Check.OUT"] - frame["Total.OUT"]).abs().max() < 1e-9
    assert (frame["Total.OUT"] - frame["Window.OUT"]).abs().max() < 1e-9
    assert any(c.startswith("Apps.OUT.tier=") for c in frame.columns)  # shares, by category


@pytest.mark.parametrize(("after", "culprit"), [("shift", "Apps"), ("bug", "Route")])
def test_an_aggregated_target_works_end_to_end(
    traces: dict[str, Path], after: str, culprit: str
) -> None:
    result = ask(traces, "base", after, "Window.OUT")
    assert result.target == "Window.OUT"
    assert result.top_processes(1) == (culprit,)
    assert any(v.startswith(f"{culprit}.") for v in result.significant)


def test_dict_rows_are_projected_on_the_fields_seen(traces: dict[str, Path]) -> None:
    t = tables(loans(), [traces["base"], traces["shift"]])
    apps = sorted(str(n) for n in t.graph if str(n).startswith("Apps.OUT"))
    # Numbers, bools and few-valued strings; not the id, nor the name (one per row).
    assert apps == ["Apps.OUT.income", "Apps.OUT.tier", "Apps.OUT.urgent"]
    assert ("Apps.OUT.income", "Score.OUT.score") in t.graph.edges
    result = ask(traces, "base", "shift", "Total.OUT")
    assert result.top_processes(1) == ("Apps",)  # not the parser after it
    assert result.significant == ("Apps.OUT.income",)
    assert not result.warnings or all("looks like a root" not in w for w in result.warnings)


def test_a_stream_with_no_field_warns_that_its_reader_looks_like_a_root(
    traces: dict[str, Path],
) -> None:
    result = ask(traces, "lists0", "lists1", "Total.OUT")
    (warning,) = [w for w in result.warnings if "looks like a root" in w]
    assert warning.startswith("Score reads Apps.OUT, which is not a causal variable")
    assert "--field Apps.OUT=FIELD" in warning
    assert "typed payload" in warning
    assert warning in result.table()


def test_the_variables_the_graph_lists_are_the_ones_a_query_resolves(
    traces: dict[str, Path],
) -> None:
    t = tables(loans(), [traces["base"], traces["again"]])
    assert t.network is not None
    listed = causal_graph(loans(), traces=[traces["base"], traces["again"]])
    assert set(listed.variables) == set(t.network.variables)
    assert "Apps.OUT.income" in render_causal_graph(listed)
    for name, v in t.network.variables.items():
        if v.role == "stream" and name not in t.graph:
            assert t.why_not(name), name  # every variable left out says why
    with pytest.raises(CausalModelError, match=r"Route\.APPROVE\.income is a variable .* copy"):
        ask(traces, "base", "again", "Route.APPROVE.income")


@pytest.mark.parametrize(
    ("runs", "target"),
    [(("base", "bug"), "Window.OUT"), (("base", "tiers", "bonus"), None)],
)
def test_runs_read_one_at_a_time_and_in_parts_give_the_same_tables(
    traces: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    runs: tuple[str, ...],
    target: str | None,
) -> None:
    """A run too large to keep between the two passes is read again, and payloads are
    decoded a few ports at a time: neither changes a table."""
    from fbp.causal._tables import _api as _network_api
    from fbp.causal._tables import _dataset as _dataset

    paths = [traces[r] for r in runs]
    whole = tables(loans(), paths, target=target)
    monkeypatch.setattr(_network_api, "_KEEP_RECORDS", 0)
    monkeypatch.setattr(_dataset, "_READ_IPS", 50)
    parts = tables(loans(), paths, target=target)
    assert [list(f.columns) for f in parts.frames] == [list(f.columns) for f in whole.frames]
    for a, b in zip(parts.frames, whole.frames, strict=True):
        assert a.equals(b)
    assert parts.notes == whole.notes
