"""A run on Ray writes one trace file, read as if the run had been in one process.

Every partition's records reach the driver's one writer; the file is read back with
``open_trace`` and must hold the same IPs, ports, payloads and ancestors as the trace
of the same network run in-process (ids aside), with ids unique across partitions and
every parent present. The partitions here run unfused (the driver's choice is theirs),
the other Ray tests fused (the default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ray_lineage import traced_lineage

import fbp.graph
from fbp.tracing import TraceWriter, open_trace

ROOT = Path(__file__).resolve().parent.parent
LAST = {"substreams": "Summary", "merge": "Both"}
SOURCES = {"substreams": {"Events"}, "merge": {"Low", "High"}}


@pytest.fixture(autouse=True)
def _at_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the networks name their data files from here


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("network", ["substreams", "merge"])
async def test_one_trace_file_with_the_in_process_lineage(
    network: str,
    fused: bool,
    tmp_path: Path,
    ray_backend: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = ROOT / "networks" / f"{network}.fbp"
    with TraceWriter(tmp_path / "local.trace") as sink:
        await fbp.graph.run_async(path, trace=sink)
    if not fused:
        monkeypatch.setenv("FBP_NO_FUSE", "1")
    with TraceWriter(tmp_path / "ray.trace") as sink:
        await ray_backend.run(path, trace=sink, placement="each")
    capsys.readouterr()
    with open_trace(tmp_path / "local.trace") as t:
        local = traced_lineage(t.run())
    with open_trace(tmp_path / "ray.trace") as t:
        run = t.run()
        assert run.summary.status == "completed"
        assert run.settings["backend"] == "ray"
        assert traced_lineage(run) == local
        frames = run.frames()
        defining = frames.records[frames.records["kind"] <= 3]
        assert defining["ip_id"].is_unique
        assert set(frames.links["parent"]) <= set(defining["ip_id"])
        # The last output's ancestors reach back through every partition to a source.
        last = [r for r in run.records() if r.process == LAST[network] and r.kind == "data"][-1]
        assert SOURCES[network] & {a.process for a in run.ancestors(last.ip_id)}
