"""The examples of docs/causal.md run and print what the page shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "causal.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def _inside(value: float, low: float | None, high: float | None, what: str) -> None:
    if low is None or high is None:
        return
    assert low <= value <= high, f"{what}: {value} outside its interval [{low}, {high}]"


def test_the_first_example_runs_and_prints_the_documented_table() -> None:
    example = _blocks("python")[0]
    out = io.StringIO()
    names: dict[str, Any] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(DOC), "exec"), names)
    shown = _blocks("text")[0].rstrip("\n").splitlines()
    printed = out.getvalue().splitlines()
    assert printed[: len(shown)] == shown
    # Every interval the example prints contains the estimate it is printed with.
    for key in ("result", "why", "drivers"):
        ranking = names[key].ranking
        for v in ranking.variables:
            _inside(v.value, v.ci_low, v.ci_high, f"{key} {v.node}")
        for p in ranking.processes:
            _inside(p.value, p.ci_low, p.ci_high, f"{key} {p.process}")
    why = names["why"]
    assert why.row_ci_low is not None and why.row_ci_high is not None
    assert (why.row_ci_low <= why.row_values).all() and (why.row_values <= why.row_ci_high).all()
    what = names["what"]
    assert what.n_bootstrap == 5 and what.predicted.ci_low is not None
    for s, label in ((what.predicted, "intervened"), (what.observational, "observational")):
        _inside(s.mean, s.ci_low, s.ci_high, f"whatif {label} mean")
    _inside(what.effect, what.effect_ci_low, what.effect_ci_high, "whatif effect")
