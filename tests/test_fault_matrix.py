"""The fault matrix: every way a run can go wrong, run as users and attackers run it.

Each case runs the command line (in-process; as ``python -m fbp ...`` in a subprocess
where signals, pipes or the protocol runtime are involved) and asserts the exit code,
the message (the element, the place and the fix), that no traceback reaches the user,
and that it ends within a bounded time (a generous timeout guards against hangs; speed
is measured in benchmarks/, not here).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from _pytest.mark import ParameterSet
from anyio.abc import Process

ROOT = Path(__file__).resolve().parent.parent

#: Seconds within which every case must end (a guard against hangs, not a speed test).
BOUND = 30


@pytest.fixture(autouse=True)
def _fbp_logger_kept() -> Iterator[None]:
    """The CLI run in-process configures the ``fbp`` logger: put it back afterwards."""
    logger = logging.getLogger("fbp")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FBP_EXPR", "FBP_PROTO"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
    env.update(extra)
    return env


# -- the matrix: a case is files, a command line, an exit code and what stderr says ----------


@dataclass(frozen=True)
class Case:
    """One fault: the files it needs, the command, the exit code, what must be said."""

    id: str
    argv: tuple[str, ...]
    code: int
    says: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)

    def param(self) -> ParameterSet:
        return pytest.param(self, id=self.id)


def yaml_graph(processes: dict[str, str], connections: list[str]) -> str:
    procs = ", ".join(f"{k}: {json.dumps(v)}" for k, v in processes.items())
    return f"processes: {{{procs}}}\nconnections: [{', '.join(connections)}]\n"


def chain(component: str, count: int = 5, extra: str = "") -> str:
    """``N(core/Range) -> X(component) -> S(core/Drop)``, COUNT ``count``."""
    conns = [f"{{data: {count}, tgt: N.COUNT}}", "N.OUT -> X.IN", "X.OUT -> S.IN"]
    if extra:
        conns.append(extra)
    return yaml_graph({"N": "core/Range", "X": component, "S": "core/Drop"}, conns)


def mapping(expr: str) -> str:
    return chain("flow/Map", 3, f"{{data: {json.dumps(expr)}, tgt: X.EXPR}}")


FAILING = [
    Case(
        "looper-raises",
        ("run", "g.yaml"),
        1,
        (
            "process 'X' (faults:Boom) raised RuntimeError: two is too many",
            "while handling <IP int 2> received on X.IN",
            "declared at g.yaml:1:",
            "X: failed",
        ),
        {"g.yaml": chain("faults:Boom")},
    ),
    Case(
        "non-looper-raises",
        ("run", "g.yaml"),
        1,
        ("process 'X' (faults:Halve) raised ValueError: cannot halve 1", "received on X.IN"),
        {"g.yaml": chain("faults:Halve")},
    ),
    Case(
        "wrong-type-sent",
        ("run", "g.yaml"),
        1,
        ("process 'L' (faults:Liar) raised PacketTypeError: L.OUT expects int but got str",),
        {"g.yaml": yaml_graph({"L": "faults:Liar", "S": "core/Drop"}, ["L.OUT -> S.IN"])},
    ),
    Case(
        "forgotten-await",
        ("run", "g.yaml"),
        1,
        ("X.OUT.send() was called without await", "write 'await self.out.send(...)'"),
        {"g.yaml": chain("faults:Forgetful")},
    ),
    Case(
        "expression-past-its-limits",
        ("run", "g.yaml"),
        1,
        ("raised ExpressionLimitError", "more than the limit of 64 MiB per evaluation"),
        {"g.yaml": mapping("len(str([[0]*9999999]*9999999))")},
    ),
    Case(
        "expression-fails-on-an-ip",
        ("run", "g.yaml"),
        1,
        ("expression \"x['v']\": failed on int 0: TypeError",),
        {"g.yaml": mapping("x['v']")},
    ),
    Case(
        "missing-data-file",
        ("run", "g.fbp"),
        1,
        ("R.FILENAME: cannot read 'nope.txt': No such file or directory; check the path",),
        {"g.fbp": "'nope.txt' -> FILENAME R(io/ReadLines) OUT -> IN S(core/Drop)\n"},
    ),
]

DEADLOCKS = [
    Case(
        "crossed-fan-out-fan-in",
        ("run", "g.fbp"),
        3,
        ("wait-for cycle:", "Fork waits to send on Join.IN[1] (full 1/1)", "raise the capacity"),
        {"g.fbp": (ROOT / "networks" / "deadlock.fbp").read_text()},
    ),
    Case(
        "two-receivers-in-a-cycle",
        ("run", "g.yaml"),
        3,
        ("a waits to receive on a.IN (empty; open senders: b)",),
        {
            "g.yaml": yaml_graph(
                {"a": "faults:Echo", "b": "faults:Echo"}, ["a.OUT -> b.IN", "b.OUT -> a.IN"]
            )
        },
    ),
    Case(
        "a-process-fed-by-itself",
        ("run", "g.yaml"),
        3,
        ("a waits to receive on a.IN (empty; open senders: a)",),
        {"g.yaml": yaml_graph({"a": "faults:Echo"}, ["a.OUT -> a.IN"])},
    ),
    Case(
        "two-senders-filling-each-other",
        ("run", "g.yaml", "--capacity", "1"),
        3,
        ("waits to send on f.IN (full 1/1)", "waits to send on g.IN (full 1/1)"),
        {
            "g.yaml": yaml_graph(
                {"f": "faults:Flood", "g": "faults:Flood"},
                ["f.OUT -> g.IN", "g.OUT -> f.IN", "{data: 5, tgt: f.N}", "{data: 5, tgt: g.N}"],
            )
        },
    ),
    Case(
        "a-join-waiting-on-its-own-output",
        ("run", "g.yaml", "--capacity", "1"),
        3,
        ("A waits to receive on A.B", "E waits to receive on E.IN"),
        {
            "g.yaml": yaml_graph(
                {"N": "core/Range", "A": "math/Add", "E": "faults:Echo"},
                ["{data: 5, tgt: N.COUNT}", "N.OUT -> A.A", "A.SUM -> E.IN", "E.OUT -> A.B"],
            )
        },
    ),
]

LIVE = [
    Case(
        f"heartbeat-{how}",
        ("run", "g.yaml"),
        0,
        ("completed: g: 2 processes",),
        {
            "g.yaml": yaml_graph(
                {"h": "faults:Heartbeat", "e": "faults:Echo"},
                [
                    "h.OUT -> e.IN",
                    "e.OUT -> h.IN",
                    f"{{data: {how}, tgt: h.HOW}}",
                    "{data: 2, tgt: h.BEATS}",
                ],
            )
        },
    )
    for how in ("move_on_after", "fail_after", "asyncio.timeout", "wait_for")
] + [
    Case(
        "a-slow-pipeline",
        ("run", "g.yaml"),
        0,
        ("completed: g: 3 processes, 6 IPs",),
        {"g.yaml": chain("faults:Dawdle", 3)},
    ),
    Case(
        "unread-ips-are-a-warning",
        ("run", "g.yaml"),
        0,
        ("warning: H (faults:Hoarder) ended with ", " unread on H.IN, which were discarded"),
        {
            "g.yaml": yaml_graph(
                {"N": "core/Range", "H": "faults:Hoarder"},
                ["{data: 50, tgt: N.COUNT}", "N.OUT -> H.IN"],
            )
        },
    ),
]

DEEP = "[" * 100_000 + "]" * 100_000
BAD_FILES = [
    ("not-utf8", {"g.fbp": b"# caf\xe9\n"}, "g.fbp", ("g.fbp:1:6: byte 0xe9 is not UTF-8",)),
    ("binary", {"g.json": b"\x00\x01\x02"}, "g.json", ("binary data or UTF-16 text",)),
    ("utf16", {"g.yaml": "a: 1".encode("utf-16")}, "g.yaml", ("binary data or UTF-16",)),
    ("txt-suffix", {"g.txt": "A(core/Drop)"}, "g.txt", ("unknown graph format '.txt'",)),
    ("no-suffix", {"graph": "A(core/Drop)"}, "graph", ("no suffix to tell its format",)),
    ("missing", {}, "nope.fbp", ("nope.fbp: no such file; check the path",)),
    ("a-folder", {"d.fbp/x.yaml": "processes: {}"}, "d.fbp", ("is a folder, not a graph",)),
    ("empty-fbp", {"g.fbp": ""}, "g.fbp", ("g.fbp:1:1: the graph is empty; write one",)),
    ("empty-json", {"g.json": "\n"}, "g.json", ("g.json:1:1: the graph is empty",)),
    ("empty-yaml", {"g.yaml": "  \n"}, "g.yaml", ("g.yaml:1:1: the graph is empty",)),
    ("only-comments", {"g.fbp": "# nothing\n"}, "g.fbp", ("has no processes",)),
    ("deep-json", {"g.json": '{"x": ' + DEEP + "}"}, "g.json", ("g.json:1:", "levels deep")),
    ("deep-yaml", {"g.yaml": "x: " + DEEP}, "g.yaml", ("g.yaml:1:", "levels deep")),
    ("deep-fbp-iip", {"g.fbp": DEEP + " -> IN A(core/Drop)"}, "g.fbp", ("g.fbp:1:",)),
    ("fbp-syntax", {"g.fbp": "A(core/Drop) -> -> IN B(core/Drop)\n"}, "g.fbp", ("g.fbp:1:",)),
    ("json-syntax", {"g.json": '{"processes": {,}}'}, "g.json", ("g.json:1:16:",)),
    ("yaml-syntax", {"g.yaml": "processes:\n  A: [\n"}, "g.yaml", ("g.yaml:3:",)),
    (
        "json-duplicate-key",
        {"g.json": '{"processes": {"A": {"component": "core/Drop"}, "A": {"component": "x"}}}'},
        "g.json",
        ("the key 'A' is given twice in one object",),
    ),
    (
        "yaml-duplicate-key",
        {"g.yaml": "processes:\n  A: core/Drop\n  A: core/Output\n"},
        "g.yaml",
        ("g.yaml:3:3: the key 'A' is given twice",),
    ),
    (
        "fbp-redeclared-process",
        {"g.fbp": "1 -> IN A(core/Repeat) OUT -> IN B(core/Drop)\nA(core/Output)\n"},
        "g.fbp",
        ("g.fbp:2:1: process 'A' is declared as core/Output here, but as core/Repeat at line 1",),
    ),
    (
        "unknown-component",
        {"g.fbp": "1 -> IN A(core/Repaet)\n"},
        "g.fbp",
        ("unknown component 'core/Repaet'", "did you mean 'core/Repeat'?"),
    ),
    (
        "unknown-port",
        {"g.fbp": "1 -> IN A(core/Repeat) OUTT -> IN B(core/Drop)\n"},
        "g.fbp",
        ("A.OUTT: core/Repeat has no output port 'OUTT'", "did you mean 'OUT'?"),
    ),
    (
        "type-mismatch",
        {"g.fbp": "3 -> COUNT N(core/Range) OUT -> IN S(examples/Scale)\n2 -> FACTOR S\n"},
        "g.fbp",
        ("edge N.OUT -> S.IN: S.IN accepts Reading but N.OUT sends int",),
    ),
    (
        "iip-of-a-wrong-type",
        {"g.fbp": "'many' -> COUNT N(core/Range) OUT -> IN S(core/Drop)\n"},
        "g.fbp",
        ("g.fbp:1:", "N.COUNT expects int but got str 'many'"),
    ),
    (
        "required-port-unfed",
        {"g.fbp": "N(core/Range) OUT -> IN S(core/Drop)\n"},
        "g.fbp",
        ("N.COUNT is a required input port but nothing feeds it",),
    ),
    (
        "bad-expression",
        {"g.fbp": "'x.__class__' -> EXPR M(flow/Map)\n1 -> IN M OUT -> IN S(core/Drop)\n"},
        "g.fbp",
        ("the attribute '__class__' is private or internal",),
    ),
    (
        "schema-violation",
        {"g.json": '{"processes": [], "connections": []}'},
        "g.json",
        ("g.json at processes: must be a JSON object",),
    ),
    (
        "yaml-alias-bomb",
        {
            "g.yaml": "\n".join(
                ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
                + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
            )
        },
        "g.yaml",
        ("expands to more than 1,000,000 values",),
    ),
    (
        "number-too-long",
        {"g.json": '{"processes": {}, "groups": [' + "9" * 5000 + "]}"},
        "g.json",
        ("g.json:1:30: a number of 5,000 digits is too long to read",),
    ),
    (
        "bad-capacity",
        {"g.fbp": "1 -> IN A(core/Repeat:capacity=lots) OUT -> IN B(core/Drop)\n"},
        "g.fbp",
        ("capacity must be an integer >= 0, got 'lots'",),
    ),
]

SETS = [
    ("json-looking-but-broken", ["--set", "N.COUNT={bad"], ("--set N.COUNT: '{bad' is not valid",)),
    ("not-an-address", ["--set", "COUNT=3"], ("is not a port address",)),
    ("unknown-process", ["--set", "Nope.COUNT=3"], ("Nope",)),
    ("unknown-port", ["--set", "N.CONT=3"], ("has no input port 'CONT'", "did you mean 'COUNT'")),
    ("wrong-type", ["--set", "N.COUNT=many"], ("N.COUNT expects int but got str 'many'",)),
    ("too-deep", ["--set", "N.COUNT=" + DEEP], ("--set N.COUNT: the value",)),
    ("missing-equals", ["--set", "N.COUNT"], ("write --set PROC.PORT=VALUE",)),
]

GOOD = "3 -> COUNT N(core/Range) OUT -> IN S(core/Drop)\n"

USAGE = [
    Case("unknown-command", ("frobnicate",), 2, ("invalid choice",)),
    Case(
        "unknown-option",
        ("run", "g.fbp", "--fast"),
        2,
        ("unrecognized arguments: --fast",),
        {"g.fbp": GOOD},
    ),
    Case(
        "bad-option-value",
        ("run", "g.fbp", "--capacity", "big"),
        2,
        ("invalid int value",),
        {"g.fbp": GOOD},
    ),
    Case(
        "negative-quiet-period",
        ("run", "g.fbp", "--quiet-period", "-1"),
        2,
        ("--quiet-period -1.0: give a number of seconds >= 0",),
        {"g.fbp": GOOD},
    ),
    Case(
        "show-a-bad-file", ("show", "g.fbp"), 2, ("g.fbp:1:1: the graph is empty",), {"g.fbp": ""}
    ),
    Case(
        "convert-a-bad-file",
        ("convert", "g.json", "--to", "fbp"),
        2,
        ("g.json:1:", "levels deep"),
        {"g.json": DEEP},
    ),
    Case("trace-of-a-missing-file", ("trace", "summary", "none.trace"), 2, ("none.trace",)),
    Case("trace-of-a-graph-file", ("trace", "summary", "g.fbp"), 2, ("g.fbp",), {"g.fbp": GOOD}),
    Case(
        "causal-graph-of-a-bad-file",
        ("causal", "graph", "g.fbp"),
        2,
        ("g.fbp:1:1: the graph is empty",),
        {"g.fbp": ""},
    ),
    Case(
        "validate-a-good-file", ("validate", "g.fbp"), 0, ("valid (2 processes",), {"g.fbp": GOOD}
    ),
    Case(
        "run-a-good-file",
        ("run", "g.fbp"),
        0,
        ("completed: g: 2 processes, 3 IPs",),
        {"g.fbp": GOOD},
    ),
]


def _matrix() -> list[ParameterSet]:
    cases = [*FAILING, *DEADLOCKS, *LIVE, *USAGE]
    for name, files, path, says in BAD_FILES:
        for command in ("validate", "run"):
            cases.append(Case(f"{command}-{name}", (command, path), 2, says, files))
    for name, args, says in SETS:
        cases.append(Case(f"set-{name}", ("run", "g.fbp", *args), 2, says, {"g.fbp": GOOD}))
    return [c.param() for c in cases]


@pytest.mark.timeout(BOUND)
@pytest.mark.parametrize("case", _matrix())
def test_the_fault_matrix(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fbp.cli import main

    for name, data in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    monkeypatch.chdir(tmp_path)
    for k in [k for k in os.environ if k.startswith("FBP_EXPR")]:
        monkeypatch.delenv(k)
    try:
        code = main([*case.argv, *(["--log-level", "error"] if case.argv[0] == "run" else [])])
    except SystemExit as e:  # argparse's own usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    assert code == case.code, err
    for fragment in case.says:
        assert fragment in err + out, err
    assert "Traceback" not in err
    assert "#0" not in err  # untraced runs give IPs no identity, and show none


# -- expressions through the protocol runtime ------------------------------------------------


@asynccontextmanager
async def runtime(**env: str) -> AsyncIterator[tuple[Process, str]]:
    """``python -m fbp runtime`` on a free port: (process, url)."""
    cmd = [sys.executable, "-m", "fbp", "runtime", "--port", "0"]
    proc = await anyio.open_process(cmd, env=_env(**env), cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = b""
        with anyio.fail_after(BOUND):
            while not line.endswith(b"\n"):
                line += await proc.stdout.receive(1)
        m = re.search(r"ws://\S+/", line.decode())
        assert m is not None, line
        yield proc, m.group(0)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.aclose()


@pytest.mark.parametrize(
    "expr",
    ["len(str([[0]*9999999]*9999999))", "len(sum([[0]*9999999]*100, []))", "str([[x]*3000]*3000)"],
)
async def test_a_costly_expression_is_refused_and_the_runtime_stays_responsive(expr: str) -> None:
    pytest.importorskip("websockets", reason="the protocol runtime needs the runtime extra")
    from protocol.fbpclient import Peer, build
    from websockets.asyncio.client import connect

    async with runtime() as (proc, url):
        async with (
            connect(url, subprotocols=["noflo"]) as wa,
            connect(  # type: ignore[list-item]
                url,
                subprotocols=["noflo"],  # type: ignore[list-item]
            ) as wb,
        ):
            editor, other = Peer(wa, None), Peer(wb, None)
            spec = {
                "nodes": {"Gen": "core/Range", "M": "flow/Map", "D": "core/Drop"},
                "edges": [("Gen.out", "M.in"), ("M.out", "D.in")],
                "iips": [(1000, "Gen.count"), (expr, "M.expr")],
            }
            await build(editor, "g", spec)
            await editor.send("network", "start", {"graph": "g"})
            # Another client is answered while the network runs and fails.
            for _ in range(5):
                info = await other.request("runtime", "getruntime")
                assert info["payload"]["type"] == "fbp-causal"
            err = await editor.expect("network", "processerror")
            text = err["payload"]["error"]
            assert err["payload"]["id"] == "M"
            assert "ExpressionLimitError" in text and "more than the limit" in text
            assert "raise the limit (FBP_EXPR_TIME in seconds, FBP_EXPR_MEMORY in MiB)" in text
            await editor.expect("network", "stopped")
            info = await other.request("runtime", "getruntime")
            assert info["payload"]["type"] == "fbp-causal"
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(BOUND):
            assert await proc.wait() == 0


# -- signals, traces and a closed standard output: as a process ------------------------------

STUCK = yaml_graph({"St": "faults:Stuck", "Show": "core/Output"}, ["St.OUT -> Show.IN"])


def fbp(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fbp", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=cwd,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_run_exits_128_plus_the_signal_and_says_what_each_process_awaited(
    tmp_path: Path, sig: int
) -> None:
    (tmp_path / "g.yaml").write_text(STUCK)
    proc = fbp("run", "g.yaml", "--trace", "run.trace", cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "1\n"  # running: the stuck process has sent its IP
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 128 + sig
    assert "St: stopped while it awaited Event.wait() (" in err and "in Stuck.run)" in err
    assert "Show: stopped while it waited to receive on Show.IN" in err
    assert "Traceback" not in err
    _assert_trace_holds_every_ip_sent(tmp_path / "run.trace", "interrupted")


def test_a_failed_traced_run_keeps_every_ip_sent_before_the_failure(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text(chain("faults:Boom", 200))
    proc = fbp("run", "g.yaml", "--trace", "run.trace", "--log-level", "error", cwd=tmp_path)
    _, err = proc.communicate(timeout=BOUND)
    assert proc.returncode == 1, err
    assert "the trace of the run up to the failure is in run.trace" in err
    _assert_trace_holds_every_ip_sent(tmp_path / "run.trace", "failed")


def _assert_trace_holds_every_ip_sent(path: Path, status: str) -> None:
    pytest.importorskip("pandas", reason="reading traces needs the trace extra")
    from fbp.tracing import open_trace

    with open_trace(path) as trace:
        (summary,) = trace.runs()
        run = trace.run()
        recorded = sum(p.ips_sent for p in run.processes())
    assert summary.status == status
    assert recorded == summary.stats["ips"] > 0


@pytest.mark.parametrize(
    ("files", "argv"),
    [
        ({"g.fbp": "N(examples/Naturals) OUT -> IN Show(core/Output)\n"}, ("run", "g.fbp")),
        (
            {"g.fbp": "N(examples/Naturals) OUT -> IN W(io/WriteJSONLines)\n'-' -> FILENAME W\n"},
            ("run", "g.fbp"),
        ),
        (
            {"g.json": json.dumps({"processes": {"A": {"component": "x" * 300_000}}})},
            ("convert", "g.json", "--to", "yaml"),
        ),
    ],
    ids=["output", "writer", "convert"],
)
def test_a_closed_standard_output_is_a_quiet_normal_end(
    tmp_path: Path, files: dict[str, str], argv: tuple[str, ...]
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    cmd = " ".join([sys.executable, "-m", "fbp", *argv])
    # What `fbp run g.fbp | head -1` does: the reader goes after the first line.
    shell = subprocess.run(
        ["bash", "-c", f'{cmd} | head -c 2 > /dev/null; echo "exit ${{PIPESTATUS[0]}}" >&2'],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=BOUND,
        check=False,
    )
    err = shell.stderr
    assert err.rstrip().endswith("exit 0"), err
    for noise in ("Traceback", "Exception ignored", "BrokenPipeError", "error"):
        assert noise not in err, err
