"""The ``trace`` command: summary, ips, lineage, export, and its errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from test_trace_support import write_dag

from fbp.tracing._cli import add_parser


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="fbp")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["trace", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = cli(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


@pytest.fixture
def trace(tmp_path: Path) -> str:
    path = tmp_path / "t.trace"
    write_dag(path, "first-run")
    write_dag(path, "second-run")
    return str(path)


def test_summary_lists_runs_and_details_the_latest(
    capsys: pytest.CaptureFixture[str], trace: str
) -> None:
    code, out, err = cli(capsys, "summary", trace)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"{trace}: 2 runs"
    assert lines[1].split() == ["RUN", "GRAPH", "STATUS", "STARTED", "(UTC)", "DURATION", "RECORDS"]
    assert lines[2].split()[:3] == ["first-run", "Dag", "completed"]
    assert lines[3].split()[:4] == ["*", "second-run", "Dag", "completed"]
    assert "run second-run of graph 'Dag': completed, 12 records" in out
    assert ["Join", "t/Join", "1", "1"] in [line.split() for line in lines]
    assert ["Join.OUT", "->", "Log.IN", "1", "0", "1"] in [line.split() for line in lines]
    assert ["(IIP)", "->", "Right.BIAS", "1", "0", "0"] in [line.split() for line in lines]


def test_summary_json(capsys: pytest.CaptureFixture[str], trace: str) -> None:
    data = cli_json(capsys, "summary", trace, "--run", "first")
    assert [r["run_id"] for r in data["runs"]] == ["first-run", "second-run"]
    run = data["run"]
    assert (run["run_id"], run["status"], run["records"]) == ("first-run", "completed", 12)
    assert run["edges"][0] == {
        "src": "Gen.OUT",
        "tgt": "Split.IN",
        "ips": 2,
        "brackets": 2,
        "dropped": 0,
    }
    assert run["processes"][0]["name"] == "Gen"
    assert run["ports"][3]["address"] == "Split.OUT[0]"


def test_ips_prints_a_table(capsys: pytest.CaptureFixture[str], trace: str) -> None:
    code, out, _ = cli(capsys, "ips", trace, "Right.OUT -> Join.IN[1]")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Right.OUT -> Join.IN[1] in run second-run: 1 data record(s)"
    assert lines[1].split() == ["IP", "KIND", "T", "(S)", "ACTIVATION", "PARENTS", "PAYLOAD"]
    assert lines[2].split() == [
        "#10",
        "data",
        "0.000010",
        "5",
        "#8,#2",
        '{"x":',
        "20.5,",
        '"side":',
        '"R"}',
    ]


def test_ips_limit_and_kind(capsys: pytest.CaptureFixture[str], trace: str) -> None:
    code, out, _ = cli(capsys, "ips", trace, "Gen.OUT", "--kind", "all", "--limit", "2")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[2:4]] == ["#3", "#4"]
    assert out.splitlines()[-1] == "(first 2; --limit N shows more, --limit 0 all)"
    data = cli_json(capsys, "ips", trace, "Gen.OUT", "--kind", "brackets")
    assert [(r["ip_id"], r["kind"], r["payload"]) for r in data["ips"]] == [
        (3, "open", "batch"),
        (6, "close", "batch"),
    ]


def test_lineage(capsys: pytest.CaptureFixture[str], trace: str) -> None:
    code, out, _ = cli(capsys, "lineage", trace, "#10")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "ancestors of #10 (4):"
    assert [line.split()[0] for line in lines[2:6]] == ["#1", "#2", "#5", "#8"]
    assert lines[6] == "IP #10:"
    assert lines[8].split()[:5] == ["#10", "data", "Right.OUT", "0.000010", "#8,#2"]
    assert lines[9] == "descendants of #10 (1):"
    assert lines[11].split()[:3] == ["#11", "data", "Join.OUT"]
    data = cli_json(capsys, "lineage", trace, "11", "--run", "first-run")
    assert data["run_id"] == "first-run"
    assert [a["ip_id"] for a in data["ancestors"]] == [1, 2, 4, 5, 7, 8, 9, 10]
    assert data["ip"]["payload"]["sum"] == 31.5


def test_export_to_a_file_and_to_stdout(
    capsys: pytest.CaptureFixture[str], trace: str, tmp_path: Path
) -> None:
    out_file = tmp_path / "out.json"
    code, out, _ = cli(capsys, "export", trace, "-o", str(out_file))
    assert (code, out) == (0, f"wrote 12 Flowtrace events of run second-run to {out_file}\n")
    assert len(json.loads(out_file.read_text())["events"]) == 12
    code, out, _ = cli(capsys, "export", trace, "--format", "flowtrace", "--run", "first")
    assert code == 0
    assert json.loads(out)["header"]["metadata"]["run_id"] == "first-run"
    report = cli_json(capsys, "export", trace, "-o", str(out_file))
    assert report == {
        "run_id": "second-run",
        "format": "flowtrace",
        "output": str(out_file),
        "events": 12,
    }


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["summary", "{missing}"], 2, "trace file '{missing}' does not exist"),
        (["summary", "{junk}"], 2, "'{junk}' is not an fbp trace file"),
        (["summary", "{trace}", "--run", "third"], 2, "no run 'third' in trace"),
        (["ips", "{trace}", "Join.OUTT"], 2, "no port or edge 'Join.OUTT' in run 'second-run'"),
        (["ips", "{trace}", "Join.OUTT"], 2, "did you mean 'Join.OUT'?"),
        (["ips", "{trace}", "Gen.OUT -> Join.IN"], 2, "no edge 'Gen.OUT -> Join.IN'"),
        (["lineage", "{trace}", "99"], 2, "no IP #99 in run 'second-run'"),
        (["export", "{trace}", "--json"], 2, "--json reports on the written file; add -o OUT"),
        (["export", "{trace}", "-o", "{tmp}/no/such/dir/x.json"], 1, "cannot write"),
    ],
)
def test_errors_name_the_problem_and_set_the_exit_code(
    capsys: pytest.CaptureFixture[str],
    trace: str,
    tmp_path: Path,
    argv: list[str],
    code: int,
    message: str,
) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("not a database " * 100)
    names = {"trace": trace, "missing": str(tmp_path / "nope.trace"), "junk": str(junk)}
    names["tmp"] = str(tmp_path)
    got, out, err = cli(capsys, *(a.format(**names) for a in argv))
    assert got == code
    assert out == ""
    assert err.startswith("error: ")
    assert message.format(**names) in err


def test_a_malformed_ip_id_is_a_usage_error(capsys: pytest.CaptureFixture[str], trace: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli(capsys, "lineage", trace, "ten")
    assert info.value.code == 2
    assert "IP id must be a number like 42 or #42, not 'ten'" in capsys.readouterr().err
