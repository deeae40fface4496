"""The command line, run as users run it: ``python -m fbp ...`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fbp(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.run(
        [sys.executable, "-m", "fbp", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def test_run_prints_the_output_and_a_summary() -> None:
    r = fbp("run", "networks/hello.fbp")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello, world\n"
    assert "completed: Hello: 2 processes, 1 IPs" in r.stderr


def test_run_json_summary_and_set_override(tmp_path: Path) -> None:
    net = tmp_path / "count.fbp"
    net.write_text("3 -> COUNT R(core/Range) OUT -> IN S(core/Output)\n")
    r = fbp("run", str(net), "--json", "--set", "R.COUNT=2", "--set", "R.START=10")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["10", "11"]
    summary = json.loads(lines[-1])
    assert summary["status"] == "completed"
    assert {p["name"]: p["sent"] for p in summary["processes"]} == {"R": 2, "S": 0}


def test_set_on_a_connected_port_cuts_its_edges(tmp_path: Path) -> None:
    net = tmp_path / "cut.fbp"
    net.write_text("'a' -> IN R(core/Repeat) OUT -> IN S(core/Output)\n")
    r = fbp("run", str(net), "--set", 'S.IN="b"')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "b\n"


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    net = tmp_path / "bad.fbp"
    net.write_text("'x' -> IN A(core/Repaet) OUT -> IN B(core/Output)\nB OUTT -> IN C(core/Drop)\n")
    r = fbp("validate", str(net))
    assert r.returncode == 2
    assert "2 problems" in r.stderr
    assert "did you mean 'core/Repeat'?" in r.stderr
    assert "bad.fbp:2" in r.stderr and "did you mean 'OUT'?" in r.stderr
    ok = fbp("validate", "networks/hello.fbp", "--json")
    assert json.loads(ok.stdout)["valid"] is True


def test_a_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    net = tmp_path / "syntax.fbp"
    net.write_text("A(core/Repeat) OUT -> -> IN B(core/Output)\n")
    r = fbp("run", str(net))
    assert r.returncode == 2
    assert "syntax.fbp:1:" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_missing_file_is_a_usage_error() -> None:
    r = fbp("run", "no/such.fbp")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"error: no/such.fbp: no such file; check the path (a relative path starts from {ROOT})"
    )


def test_show_and_convert() -> None:
    dot = fbp("show", "networks/hello.fbp", "--format", "dot")
    assert dot.returncode == 0 and '"Greet" -> "Show"' in dot.stdout
    text = fbp("show", "networks/hello.fbp")
    assert "Greet  core/Repeat" in text.stdout
    js = fbp("convert", "networks/hello.fbp", "--to", "json")
    assert json.loads(js.stdout)["processes"]["Show"] == {"component": "core/Output"}


def test_components_lists_ports_and_types() -> None:
    r = fbp("components", "--json")
    rows = {d["name"]: d for d in json.loads(r.stdout)}
    rng = rows["core/Range"]
    assert [(p["name"], p["type"], p["required"]) for p in rng["inports"]] == [
        ("count", "int", True),
        ("start", "int", False),
        ("step", "int", False),
    ]


def test_a_failing_run_exits_1_with_the_process_named(tmp_path: Path) -> None:
    net = tmp_path / "boom.yaml"
    net.write_text(
        "processes: {N: core/Range, X: 'support:ExplodeLooper', S: core/Drop}\n"
        "connections: [{data: 5, tgt: N.COUNT}, N.OUT -> X.IN, X.OUT -> S.IN]\n"
    )
    r = fbp("run", str(net))
    assert r.returncode == 1
    assert "process 'X' (support:ExplodeLooper) raised RuntimeError" in r.stderr
    assert "while handling" in r.stderr and "X.IN" in r.stderr
