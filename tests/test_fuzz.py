"""The fuzzer's CI mode: a few thousand mutated graph files and protocol messages, and
not one exception outside the documented error types (see benchmarks/_fuzz.py; the long
run is benchmarks/bench_fuzz.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_mutated_graphs_and_messages_raise_only_documented_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("websockets", reason="the protocol runtime needs the runtime extra")
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks._fuzz import fuzz

    seed = int(os.environ.get("FBP_FUZZ_SEED", "0"))  # another seed explores other inputs
    report = fuzz(n_graphs=2000, n_sessions=20, seed=seed)
    shown = [f"{f.kind}: {f.what}\n{f.detail[-1500:]}" for f in report.findings[:3]]
    assert not report.findings, "\n\n".join(shown)
    assert sum(report.inputs.values()) > 2000
    # The mutations reach every outcome: refused, loaded and invalid, loaded and valid.
    assert {"refused", "invalid", "valid", "handled"} <= set(report.outcomes)
