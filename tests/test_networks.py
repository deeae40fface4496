"""The example networks in networks/: each runs and gives the output it documents.

Each runs in-process through :func:`fbp.graph.run` at several edge capacities, and a
few also through ``python -m fbp run`` in a subprocess, as a user would run them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import fbp.graph
from fbp import DeadlockError
from fbp.graph import check_graph, load_graph

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ROOT / "networks"
EXAMPLES = (
    "hello",
    "scaling",
    "wordcount",
    "merge",
    "substreams",
    "csv_filter",
    "subnet",
    "deadlock",
)
GRAPHS = [NETWORKS / f"{name}.fbp" for name in EXAMPLES]


@pytest.fixture(autouse=True)
def _at_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # The networks name their data files relative to the repository root.
    monkeypatch.chdir(ROOT)


def run(name: str, capacity: int, capsys: pytest.CaptureFixture[str], **options: object) -> str:
    """Run networks/NAME.fbp and return what it printed."""
    capsys.readouterr()
    result = fbp.graph.run(NETWORKS / f"{name}.fbp", capacity=capacity, **options)
    assert result.status == "completed"
    return capsys.readouterr().out


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fbp", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.name)
def test_every_network_is_a_valid_graph(path: Path) -> None:
    flat = check_graph(load_graph(path))
    assert flat.issues == []
    assert load_graph(path).name != "graph", f"{path.name}: give it a '# @name' annotation"


def test_the_double_subnet_exports_in_and_out() -> None:
    g = load_graph(ROOT / "components" / "examples" / "Double.fbp")
    assert g.name == "Double"
    assert sorted(g.inports) == ["IN"]
    assert sorted(g.outports) == ["OUT"]


def test_scaling_scales_the_reading(capacity: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("scaling", capacity, capsys) == '{"sensor":"t1","value":5.0}\n'


def expected_word_counts() -> list[dict[str, object]]:
    text = (NETWORKS / "data" / "words.txt").read_text().lower()
    counts = Counter(re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text))
    return [{"word": w, "count": n} for w, n in sorted(counts.items())]


def test_wordcount_counts_each_word(capacity: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = run("wordcount", capacity, capsys)
    got = [json.loads(line) for line in out.splitlines()]
    assert got == expected_word_counts()
    assert {"word": "the", "count": 5} in got
    assert {"word": "don't", "count": 1} in got


def test_merge_interleaves_both_sources(capacity: int, capsys: pytest.CaptureFixture[str]) -> None:
    got = [int(line) for line in run("merge", capacity, capsys).splitlines()]
    assert Counter(got) == Counter([*range(5), *range(100, 105)])
    assert [v for v in got if v < 100] == list(range(5))
    assert [v for v in got if v >= 100] == list(range(100, 105))


def test_substreams_summarise_each_run_of_a_user(
    capacity: int, capsys: pytest.CaptureFixture[str]
) -> None:
    got = [json.loads(line) for line in run("substreams", capacity, capsys).splitlines()]
    assert got == [
        {"user": "ada", "events": 3, "first": "login", "last": "buy"},
        {"user": "bob", "events": 2, "first": "login", "last": "buy"},
        {"user": "cyd", "events": 1, "first": "login", "last": "login"},
        {"user": "ada", "events": 1, "first": "logout", "last": "logout"},
    ]


BIG_READINGS = [
    {"sensor": "t2", "value": 4.0, "site": "north"},
    {"sensor": "t4", "value": 7.25, "site": "south"},
    {"sensor": "t6", "value": 3.5, "site": "east"},
]


def test_csv_filter_writes_the_big_readings_to_standard_output(
    capacity: int, capsys: pytest.CaptureFixture[str]
) -> None:
    got = [json.loads(line) for line in run("csv_filter", capacity, capsys).splitlines()]
    assert got == BIG_READINGS


def test_csv_filter_writes_where_set_tells_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "big.txt"
    printed = run("csv_filter", 1, capsys, set_values={"Write.FILENAME": str(out)})
    assert printed == ""
    assert [json.loads(line) for line in out.read_text().splitlines()] == BIG_READINGS


def test_subnet_doubles_through_the_double_graph(
    capacity: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("subnet", capacity, capsys).split() == ["2", "4", "6", "8"]


def test_the_deadlock_demonstration_deadlocks_and_names_the_cycle() -> None:
    with pytest.raises(DeadlockError) as info:
        fbp.graph.run(NETWORKS / "deadlock.fbp")
    assert sorted(info.value.cycle) == [
        "Fork waits to send on Join.IN[1] (full 1/1)",
        "Join waits to receive on Join.IN[0] (empty; open senders: Fork)",
    ]


def test_the_deadlock_demonstration_completes_with_room_for_every_ip(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The fix its comment gives: enough capacity on the edges into Join.
    g = load_graph(NETWORKS / "deadlock.fbp")
    g.processes["Join"].metadata["capacity"] = 10
    capsys.readouterr()
    assert fbp.graph.run(g).status == "completed"
    assert capsys.readouterr().out.split() == [str(i) for i in [*range(10), *range(10)]]


# -- through the command line ---------------------------------------------------------------


def test_cli_runs_wordcount() -> None:
    done = cli("run", "networks/wordcount.fbp")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == expected_word_counts()
    assert "completed: WordCount" in done.stderr


def test_cli_runs_csv_filter_with_set(tmp_path: Path) -> None:
    out = tmp_path / "big.txt"
    done = cli("run", "networks/csv_filter.fbp", "--set", f"Write.FILENAME={out}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert [json.loads(line) for line in out.read_text().splitlines()] == BIG_READINGS


def test_cli_reports_the_deadlock_with_exit_code_3() -> None:
    done = cli("run", "networks/deadlock.fbp", "--log-level", "error")
    assert done.returncode == 3
    assert "error: deadlock: every live process is blocked on a channel" in done.stderr
    assert "Fork waits to send on Join.IN[1] (full 1/1)" in done.stderr


def test_wordcount_lineage_leads_each_count_back_to_its_words(tmp_path: Path) -> None:
    from fbp.tracing import TraceWriter, open_trace

    path = tmp_path / "wordcount.trace"
    with TraceWriter(path) as sink:
        fbp.graph.run(NETWORKS / "wordcount.fbp", trace=sink)
    with open_trace(path) as trace:
        run = trace.run()
        counts = [ip for ip in run.records() if ip.port == "Counts.OUT" and ip.kind == "data"]
        assert [ip.payload for ip in counts] == expected_word_counts()
        for ip in counts:
            words = [a for a in run.ancestors(ip.ip_id) if a.port == "Words.OUT"]
            assert [w.payload for w in words] == [ip.payload["word"]] * ip.payload["count"]
            lines = [a for a in run.ancestors(ip.ip_id) if a.port == "Read.OUT"]
            assert all(ip.payload["word"] in line.payload.lower() for line in lines)
