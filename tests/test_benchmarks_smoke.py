"""Smoke tests of the benchmark suite: it runs, checks its own results, and reports.

No test here looks at a timing: the figures depend on the machine. What is checked is
that every tool computes the right outputs on every shape, and that the reports have
the structure readers and the README rely on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ``benchmarks`` package, importable from the project root."""
    monkeypatch.syspath_prepend(str(ROOT))
    import benchmarks

    return benchmarks


@pytest.fixture
def tiny(bench: Any) -> Any:
    """Settings far smaller than quick mode: correctness, not speed."""
    return bench.Settings.make(quick=True).replace(
        repeats=1,
        hops=240,
        min_items=40,
        target_s=0.002,
        scale_processes=(10,),
        scale_hops=400,
        scale_s=0.002,
        memory_items=2_000,
        traced_memory_ips=2_000,
        profile_items=200,
    )


def test_quick_cli_writes_json_markdown_and_readme(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    readme = tmp_path / "readme.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--repeats",
            "1",
            "--only",
            "linear-k1-int",
            "--json",
            str(out),
            "--markdown",
            str(md),
            "--readme",
            str(readme),
            "-q",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["schema"] == "fbp-bench/1"
    assert report["meta"]["mode"] == "quick"
    assert report["meta"]["sections"] == ["matrix"]
    assert [c["name"] for c in report["cases"]] == ["linear-k1-int"]
    case = report["cases"][0]
    assert case["hops"] == 2
    tools = {r["tool"]: r for r in case["results"]}
    assert set(tools) == {t["name"] for t in report["tools"]}
    for name in ("fbp", "fbp-novalidate", "anyio-nowait", "asyncio-nowait", "asyncio-await"):
        r = tools[name]
        assert r["status"] == "ok", r
        assert r["us_per_hop"] > 0
        assert r["ips_per_s"] > 0
        assert len(r["samples_s"]) == 1
        assert r["ratio_to_bare"] > 0
    assert tools["anyio-nowait"]["ratio_to_bare"] == 1.0
    for r in tools.values():
        assert r["status"] in ("ok", "n/a"), r
    assert set(case["fbp_vs"]["fbp"]) == {n for n, r in tools.items() if r["status"] == "ok"} - {
        "fbp"
    }
    assert {"fbp", "fbp-novalidate"} <= set(report["summary"])
    targets = {r["configuration"]: r["checks"] for r in report["targets"]["rows"]}
    assert set(targets) == {"linear-k1-int"}
    checks = targets["linear-k1-int"]
    assert checks["untraced"]["tool"] == "fbp-novalidate"
    assert checks["untraced"]["ratio"] == tools["fbp-novalidate"]["ratio_to_bare"]
    assert checks["untraced"]["met"] == (checks["untraced"]["ratio"] <= 1.5)
    text = md.read_text()
    assert text.startswith("# fbp benchmarks")
    assert "### linear-k1-int: linear, K=1, int" in text
    section = readme.read_text()
    assert section.startswith("## Latest results")
    assert "| case | fbp µs/hop | fbp-novalidate µs/hop | anyio-nowait µs/hop |" in section
    assert (
        "| validation off ÷ bare (target ≤ 1.5x) | traced ÷ bare (target ≤ 3x) |"
        " traced, validation off ÷ bare (target ≤ 3x) |"
    ) in section
    assert "| linear-k1-int |" in proc.stdout


def test_cli_refuses_an_unknown_name() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "no-such-case"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "--only 'no-such-case' matches nothing" in proc.stderr
    assert "linear-k5-int" in proc.stderr


def test_only_selects_sections_cases_and_tools(bench: Any, tiny: Any) -> None:
    everything = bench.select(None, tiny)
    assert everything.sections == ("matrix", "scaling", "memory", "batching", "profile")
    assert everything.cases is None and everything.tools is None
    sel = bench.select(["linear-k*-int", "pypeln"], tiny)
    assert sel.sections == ("matrix",)
    assert sel.cases == {"linear-k1-int", "linear-k5-int", "linear-k20-int"}
    assert sel.tools == {"pypeln", "anyio-nowait"}  # the bare pipeline is always kept
    sel = bench.select(["memory", "chain-10"], tiny)
    assert sel.sections == ("scaling", "memory")
    assert sel.scaling == {"chain-10"}
    with pytest.raises(ValueError, match="matches nothing"):
        bench.select(["nothing*"], tiny)


def test_every_fbp_and_baseline_tool_computes_every_shape(bench: Any, tiny: Any) -> None:
    from benchmarks._matrix import run_matrix
    from benchmarks._settings import matrix_cases
    from benchmarks._tools import TOOLS

    tools = [t for t in TOOLS if t.family != "peer" and not t.name.startswith("fbp-traced")]
    lines: list[str] = []
    cases = run_matrix(matrix_cases(tiny), tools, tiny, lines.append)
    assert {c["shape"] for c in cases} == {"linear", "diamond", "merge"}
    for c in cases:
        # A tool whose sink saw a wrong count or last item is reported as failed.
        assert [r["status"] for r in c["results"]] == ["ok"] * len(tools), c["results"]


def test_traced_fbp_records_the_run(bench: Any) -> None:
    from benchmarks._cases import Case, Probe
    from benchmarks._fbp import build_case, run_network, tracing_sink

    case = Case("t", "linear", 2, "int", 50)
    with tracing_sink() as sink:
        probe = Probe()
        t = run_network(build_case(case, list(range(50)), probe, trace=sink), probe)
        stats = sink.statistics()  # type: ignore[attr-defined]
    assert (t.count, t.last) == (50, 51)
    assert stats.stored == 50 * case.hops


@pytest.mark.parametrize("validate", [True, False])
def test_batch_api_network_keeps_one_traced_ip_per_item(bench: Any, validate: bool) -> None:
    from benchmarks._cases import Case, Probe
    from benchmarks._fbp import build_batch_api, run_network, tracing_sink

    case = Case("t", "linear", 3, "int", 150, capacity=16)
    chunks = [list(range(i, min(i + 64, 150))) for i in range(0, 150, 64)]
    with tracing_sink() as sink:
        probe = Probe()
        net = build_batch_api(
            case,
            chunks,
            probe,
            lambda xs: [x + 1 for x in xs],
            max_items=10,
            validate=validate,
            trace=sink,
        )
        t = run_network(net, probe)
        stats = sink.statistics()  # type: ignore[attr-defined]
    assert (t.count, t.last) == (150, 152)
    assert stats.stored == 150 * case.hops  # one IP per item on every hop, not per batch


def test_batch_api_network_is_linear_only(bench: Any) -> None:
    from benchmarks._cases import Case, Probe
    from benchmarks._fbp import build_batch_api

    case = Case("d", "diamond", 0, "int", 8)
    with pytest.raises(ValueError, match="linear only; d is diamond"):
        build_batch_api(case, [[1]], Probe(), list, max_items=4)


def _entry(name: str, ratios: dict[str, float], vs: dict[str, dict[str, float]]) -> Any:
    rows = [{"tool": t, "status": "ok", "ratio_to_bare": r} for t, r in ratios.items()]
    return {"name": name, "results": rows, "fbp_vs": vs}


def test_targets_name_the_verdict_and_the_margin_per_configuration(bench: Any) -> None:
    from benchmarks._targets import evaluate, verdict

    peers = {"aiostream": 0.8, "bytewax": 0.3}
    report = {
        "tools": [
            {"name": "aiostream", "family": "peer"},
            {"name": "bytewax", "family": "peer"},
            {"name": "bytewax-src64", "family": "peer", "peer": "bytewax"},
            {"name": "asyncio-nowait", "family": "baseline"},
        ],
        "cases": [
            _entry(
                "fast",
                {"fbp-novalidate": 1.2, "fbp-traced": 3.0, "fbp-traced-novalidate": 2.5},
                {
                    # a baseline is not a peer
                    "fbp": {**peers, "asyncio-nowait": 2.0, "fbp-novalidate": 1.05},
                    # a peer's every configuration counts: its best is what fbp meets
                    "fbp-novalidate": {"aiostream": 1.1, "bytewax": 0.2, "bytewax-src64": 1.3},
                },
            ),
            _entry("slow", {"fbp-novalidate": 1.8, "fbp-traced": 12.0}, {}),
        ],
        "batching": None,
    }
    t = evaluate(report)
    fast, slow = (r["checks"] for r in t["rows"])
    assert fast["untraced"] == {
        "tool": "fbp-novalidate",
        "ratio": 1.2,
        "against": "anyio-nowait",
        "met": True,
        "margin": 0.2,
    }
    assert fast["traced"]["met"] is True  # the limit itself meets an "at most" target
    assert fast["traced-novalidate"]["ratio"] == 2.5
    assert (fast["peers"]["against"], fast["peers"]["met"]) == ("aiostream", True)
    assert fast["peers-novalidate"]["against"] == "bytewax-src64"
    assert (fast["peers-novalidate"]["ratio"], fast["peers-novalidate"]["met"]) == (1.3, False)
    assert (fast["validation"]["ratio"], fast["validation"]["met"]) == (1.05, True)
    assert slow["untraced"]["met"] is False and slow["untraced"]["margin"] == 0.2
    assert slow["peers"]["ratio"] is None and slow["peers"]["met"] is None  # no peer ran
    assert t["met"] == {
        "untraced": [1, 2],
        "traced": [1, 2],
        "traced-novalidate": [1, 1],
        "peers": [1, 1],
        "peers-novalidate": [0, 1],
        "validation": [1, 1],
    }
    assert verdict(fast["untraced"]) == "1.20x: met, 20% under"
    assert verdict(slow["untraced"]) == "1.80x: **missed**, 20% over"
    assert verdict(slow["traced"]) == "12.00x: **missed**, 4.0x the limit"
    assert verdict(fast["peers-novalidate"]) == "1.30x (bytewax-src64): **missed**, 30% over"
    assert verdict(slow["peers"]) == "n/a"


def test_peers_compute_the_same_results_when_installed(bench: Any) -> None:
    from benchmarks._cases import Case, Unsupported
    from benchmarks._peers import PEERS, peer_available
    from benchmarks._tools import tool_named

    for shape, stages in (("linear", 3), ("diamond", 0), ("merge", 0)):
        case = Case(shape, shape, stages, "int", 40)  # type: ignore[arg-type]
        items = list(range(40))
        for name in PEERS:
            why = peer_available(name)
            if why is not None:
                assert "pip install" in why
                continue
            try:
                t = tool_named(name).run(case, items)
            except Unsupported:
                assert shape == "diamond"
                continue
            assert t.count == 40, (name, shape)
            if shape == "linear":
                assert t.last == 39 + stages, name
            elif shape == "diamond":
                assert t.last == 2 * 40, name


def test_scaling_memory_batching_and_profile_sections(
    bench: Any, tiny: Any, tmp_path: Path
) -> None:
    from benchmarks._plot import plot
    from benchmarks._report import markdown

    sel = bench.select(["scaling", "memory", "batching", "profile"], tiny)
    report = bench.run_suite(tiny, sel, lambda line: None)
    assert report["cases"] == []
    assert [s["name"] for s in report["scaling"]] == ["chain-10", "fan-10"]
    for s in report["scaling"]:
        assert [r["tool"] for r in s["results"]] == ["fbp", "anyio-nowait"]
        assert s["items"] >= 100
    mem = report["memory"]
    assert mem["items"] == 2_000
    assert len(mem["rss_during_mb"]) == 20
    assert isinstance(mem["flat"], bool)
    traced = report["memory_traced"]  # the run checked that the trace holds every IP
    assert (traced["traced"], traced["items"], traced["ips"]) == (True, 1_000, 2_000)
    assert isinstance(traced["flat"], bool)
    batching = report["batching"]
    assert batching["capacity"] == batching["capacity_ints"] == 256
    rows = {r["tool"]: r for r in batching["results"]}
    fbp_names = [n for n, f in batching["families"].items() if f == "fbp"]
    assert "fbp-batchapi-traced" in fbp_names and "fbp-list64" in fbp_names
    for name in [*fbp_names, "anyio-nowait", "anyio-list64"]:
        assert rows[name]["status"] == "ok", rows[name]  # the sink checked count and last
        assert rows[name]["ratio_to_bare"] > 0
    for name in fbp_names:
        assert set(batching["fbp_vs"][name]) >= {"anyio-nowait", "anyio-list64"}
    assert rows["fbp-list64"]["capacity"] == "4 lists"
    assert rows["fbp-batchapi"]["capacity"] == "256 IPs"
    assert batching["gain_over_per_item"]["fbp-batchapi"] is not None
    assert batching["compared_with"]["fbp-batchapi-novalidate"] == "fbp-novalidate"
    assert [r["configuration"] for r in report["targets"]["rows"]] == ["batching-k5 batch API"]
    prof = report["profile"]
    groups = {g["group"] for g in prof["fbp"]["groups"]}
    assert "fbp ports and channels" in groups
    assert "fbp ports and channels" not in {g["group"] for g in prof["anyio-nowait"]["groups"]}
    assert prof["fbp"]["calls_per_hop"] > 0
    assert len(prof["mechanisms_ns"]) == 5
    text = markdown(report)
    for heading in ("## Scaling", "## Memory", "## Batching", "## Profile", "awaits one coroutine"):
        assert heading in text
    png = tmp_path / "plot.png"
    why = plot(report, png)
    assert why is not None and "skipped the plot" in why  # no matrix cases to draw
    assert not png.exists()


def test_plot_draws_the_matrix_or_explains_why_not(bench: Any, tmp_path: Path) -> None:
    from benchmarks._plot import plot

    def case(stages: int, payload: str, us: float) -> dict[str, Any]:
        result = {"tool": "fbp", "status": "ok", "us_per_hop": us}
        return {"shape": "linear", "stages": stages, "payload": payload, "results": [result]}

    report = {
        "meta": {"mode": "quick", "date": "today"},
        "tools": [{"name": "fbp", "family": "fbp"}],
        "cases": [case(1, "int", 1.0), case(5, "int", 1.2), case(5, "wide", 1.5)],
    }
    png = tmp_path / "plot.png"
    why = plot(report, png)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert why is not None and "matplotlib" in why
    else:
        assert why is None
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
