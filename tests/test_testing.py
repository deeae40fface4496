"""fbp.testing: running one component against lists."""

from __future__ import annotations

import pytest
import support as s

from fbp import ProcessError
from fbp.testing import run_component


def test_run_component_feeds_inputs_and_collects_outputs() -> None:
    out = run_component(s.Scale, inputs={"in": [1, 2]}, iips={"factor": 3})
    assert out == {"out": [3.0, 6.0]}


def test_run_component_with_array_ports() -> None:
    out = run_component(s.MergeAll, inputs={"in[0]": [1, 2], "in[1]": [10]})
    assert sorted(out["out"]) == [1, 2, 10]


def test_run_component_raises_the_process_error() -> None:
    with pytest.raises(ProcessError, match="three is not allowed"):
        run_component(s.ExplodeLooper, inputs={"in": [1, 2, 3]})
