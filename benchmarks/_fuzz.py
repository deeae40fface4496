"""A mutation fuzzer over the three graph formats and the protocol's messages.

Inputs are made from a corpus of real inputs (the example networks in each format, the
``.fbp`` test corpus, the messages an editor sends) by stacking one to four random
mutations: bytes flipped, tokens that parsers care about inserted (brackets, quotes,
NUL, invalid UTF-8, a byte-order mark, YAML anchors and aliases, ``->``, very long
numbers), spans deleted, duplicated, or spliced from another input, deep nesting,
another encoding. JSON messages are also mutated as values (a field given another type,
dropped, nested, made huge).

The oracle: every graph input goes through what ``fbp validate`` and ``fbp convert`` do
(decode, parse, check, write in every format, read back); every message goes through
the protocol runtime's handler. The only exceptions allowed are the documented ones
(:class:`fbp.GraphError` and its subclasses for graphs; an ``error`` reply for
messages, never an "internal error"). Anything else, or an input that takes longer than
``SLOW`` seconds, is a finding, kept with the input that caused it.

Used by ``tests/test_fuzz.py`` (a few thousand inputs, in seconds) and
``benchmarks/bench_fuzz.py`` (the long run).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Seconds one input may take before it counts as a finding (generous: the machine is
#: shared, and a real hang takes far longer).
SLOW = 5.0

_TOKENS: tuple[bytes, ...] = (
    b"[", b"]", b"{", b"}", b'"', b"'", b":", b",", b"->", b"\x00", b"\xff", b"\xc3",
    b"\xef\xbb\xbf", b"\t", b"\n", b"\r", b"\\", b"#", b"&a ", b"*a", b"<<: ", b"- ",
    b"?", b"!!python/object:os.system", b"null", b"true", b"-1", b"1e999", b"NaN",
    b"9" * 5000, b"[" * 300, b"{\"a\":" * 150, b"(", b")", b"=", b"INPORT=", b"OUTPORT=",
    b"@name ", b"__class__", b"x" * 10_000, "\u2028".encode(), b"\xf0\x9f\x92\xa9",
    b"Off", b"yes", b"~", b"7",
)  # fmt: skip

#: Where the seeds of each format come from.
_NETWORKS = ROOT / "networks"
_DSL_CORPUS = ROOT / "tests" / "dsl_corpus"


@dataclass
class Finding:
    """An input that raised something undocumented, or took too long."""

    kind: str
    what: str
    data: bytes
    detail: str


@dataclass
class Report:
    """What a fuzz run did: inputs by target, findings, seconds."""

    inputs: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    #: The longest any one graph input took, in seconds.
    slowest: float = 0.0

    def count(self, target: str, outcome: str) -> None:
        self.inputs[target] = self.inputs.get(target, 0) + 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


# -- seeds -----------------------------------------------------------------------------------


def graph_seeds() -> dict[str, list[bytes]]:
    """Real graphs in each format: the example networks, converted, and the DSL corpus."""
    from fbp.graph import dump_graph, load_graph

    seeds: dict[str, list[bytes]] = {"fbp": [], "json": [], "yaml": []}
    for path in sorted(_NETWORKS.glob("*.fbp")):
        graph = load_graph(path)
        seeds["fbp"].append(path.read_bytes())
        seeds["json"].append(dump_graph(graph, "json").encode())
        seeds["yaml"].append(dump_graph(graph, "yaml").encode())
    for kind in ("valid", "invalid"):
        for path in sorted((_DSL_CORPUS / kind).glob("*.fbp")):
            seeds["fbp"].append(path.read_bytes())
    return seeds


def message_seeds() -> list[list[dict[str, Any]]]:
    """Sessions an editor could have: build a graph, start it, look at it, stop it."""
    g = "g"
    build = [
        {"protocol": "runtime", "command": "getruntime", "payload": {}},
        {"protocol": "graph", "command": "clear", "payload": {"id": g, "main": True}},
        {
            "protocol": "graph",
            "command": "addnode",
            "payload": {"id": "N", "component": "core/Range", "graph": g},
        },
        {
            "protocol": "graph",
            "command": "addnode",
            "payload": {"id": "M", "component": "flow/Map", "graph": g},
        },
        {
            "protocol": "graph",
            "command": "addnode",
            "payload": {"id": "S", "component": "core/Drop", "graph": g},
        },
        {
            "protocol": "graph",
            "command": "addedge",
            "payload": {
                "src": {"node": "N", "port": "out"},
                "tgt": {"node": "M", "port": "in"},
                "graph": g,
            },
        },
        {
            "protocol": "graph",
            "command": "addedge",
            "payload": {
                "src": {"node": "M", "port": "out"},
                "tgt": {"node": "S", "port": "in"},
                "graph": g,
            },
        },
        {
            "protocol": "graph",
            "command": "addinitial",
            "payload": {"src": {"data": 5}, "tgt": {"node": "N", "port": "count"}, "graph": g},
        },
        {
            "protocol": "graph",
            "command": "addinitial",
            "payload": {"src": {"data": "x * 2"}, "tgt": {"node": "M", "port": "expr"}, "graph": g},
        },
    ]
    run = [
        {"protocol": "network", "command": "start", "payload": {"graph": g}},
        {"protocol": "network", "command": "getstatus", "payload": {"graph": g}},
        {
            "protocol": "network",
            "command": "edges",
            "payload": {
                "graph": g,
                "edges": [
                    {"src": {"node": "N", "port": "out"}, "tgt": {"node": "M", "port": "in"}}
                ],
            },
        },
        {"protocol": "network", "command": "debug", "payload": {"graph": g, "enable": True}},
        {"protocol": "network", "command": "stop", "payload": {"graph": g}},
    ]
    edit = [
        {"protocol": "graph", "command": "renamenode",
         "payload": {"from": "M", "to": "Map", "graph": g}},
        {"protocol": "graph", "command": "changenode",
         "payload": {"id": "N", "metadata": {"x": 1, "y": 2}, "graph": g}},
        {"protocol": "graph", "command": "removeedge",
         "payload": {"src": {"node": "N", "port": "out"}, "tgt": {"node": "Map", "port": "in"},
                     "graph": g}},
        {"protocol": "graph", "command": "addinport",
         "payload": {"public": "in", "node": "S", "port": "in", "graph": g}},
        {"protocol": "graph", "command": "removenode", "payload": {"id": "S", "graph": g}},
        {"protocol": "component", "command": "list", "payload": {}},
        {"protocol": "component", "command": "getsource", "payload": {"name": "core/Range"}},
        {"protocol": "trace", "command": "start", "payload": {"graph": g}},
        {"protocol": "trace", "command": "dump", "payload": {"graph": g}},
        {"protocol": "trace", "command": "clear", "payload": {"graph": g}},
    ]  # fmt: skip
    return [build + run, build + edit, build + run + edit + run]


# -- mutations -------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One to four stacked mutations of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out)) if out else 0
        op = rng.randrange(10)
        if op == 0 and out:  # flip a byte
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif op in (1, 2):  # a token parsers care about
            out[at:at] = rng.choice(_TOKENS)
        elif op == 3 and out:  # delete a span
            out[at : at + rng.randint(1, 64)] = b""
        elif op == 4 and out:  # duplicate a span
            end = min(len(out), at + rng.randint(1, 256))
            out[at:at] = out[at:end]
        elif op == 5 and others:  # splice another input in
            other = rng.choice(others)
            start = rng.randint(0, len(other))
            out[at:at] = other[start : start + rng.randint(1, 512)]
        elif op == 6:  # truncate
            del out[at:]
        elif op == 7:  # nest deeply around a point
            depth = rng.choice((50, 99, 101, 200, 1000, 100_000))
            opener, closer = rng.choice(((b"[", b"]"), (b'{"k": ', b"}"), (b"- ", b"")))
            out[at:at] = opener * depth + b"1" + closer * depth
        elif op == 8:  # another encoding
            try:
                out = bytearray(out.decode("utf-8").encode(rng.choice(("utf-16", "latin-1"))))
            except (UnicodeError, ValueError):
                out[at:at] = b"\xff\xfe"
        else:  # replace a number with a long one
            out[at:at] = rng.choice((b"1" + b"0" * 400, b"-1180591620717411303424", b"9" * 4301))
    return bytes(out)


def mutate_value(value: Any, rng: random.Random) -> Any:
    """A JSON value with one part replaced, dropped, nested or blown up."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        copy = dict(value)
        choice = rng.randrange(4)
        if choice == 0:
            del copy[key]
        elif choice == 1:
            copy[key] = _odd_value(rng)
        else:
            copy[key] = mutate_value(copy[key], rng)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.7:
        copy = list(value)
        i = rng.randrange(len(copy))
        copy[i] = mutate_value(copy[i], rng)
        return copy
    return _odd_value(rng)


def _odd_value(rng: random.Random) -> Any:
    return rng.choice(
        (
            None, True, 0, -1, 2**70, 1e308, "", "x" * 100_000, "\x00", "../../etc/passwd",
            "core/Nope", "os:system", "x.__class__", "len(str([[0]*9999999]*9999999))",
            [], {}, [[[[[]]]]], {"node": "N"}, {"node": "N", "port": "out", "index": -1},
            {"data": {"deep": [[[[1]]]]}}, "N", "out", "in", "g", ["a", 1, None],
        )
    )  # fmt: skip


# -- oracles ---------------------------------------------------------------------------------


def check_graph_input(data: bytes, fmt: str) -> str:
    """Load, check, write and re-read one graph input; return what happened.

    Raises:
        Exception: anything but a documented GraphError (a finding).
    """
    from fbp import GraphError
    from fbp.graph import Registry, check_graph, dump_graph, loads_graph
    from fbp.graph._load import _decode

    registry = _registry(Registry)
    try:
        text = _decode(data, f"fuzz.{fmt}")
        graph = loads_graph(text, fmt, source=f"fuzz.{fmt}")  # type: ignore[arg-type]
    except GraphError:
        return "refused"
    try:
        flat = check_graph(graph, registry)
        outcome = "invalid" if flat.issues else "valid"
    except GraphError:
        outcome = "invalid"
    for other in ("json", "yaml", "fbp"):
        try:
            written = dump_graph(graph, other)  # type: ignore[arg-type]
        except GraphError:  # the .fbp language cannot express everything
            continue
        # Read back: a name the format cannot carry, say, is refused cleanly.
        with contextlib.suppress(GraphError):
            loads_graph(written, other, source=f"again.{other}")  # type: ignore[arg-type]
    return outcome


@functools.cache
def _registry(cls: Any) -> Any:
    return cls(allow_imports=False)  # fuzzed import paths import nothing


async def check_session(messages: list[bytes]) -> list[str]:
    """Send ``messages`` to a protocol runtime in this process; return its error replies
    that are internal errors (findings), after closing it."""
    from fbp.graph import Registry
    from fbp.protocol import RuntimeOptions, RuntimeServer
    from fbp.protocol._client import Client

    options = RuntimeOptions(port=0, registry=Registry(allow_imports=False), deadlock_interval=0.05)
    server = RuntimeServer(options)
    client = Client("fuzz", capacity=1_000_000)
    server.clients[client] = None  # type: ignore[assignment]
    internal: list[str] = []
    try:
        with server.forward_stdout():
            for raw in messages:
                text: str | bytes
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw  # sent as a binary frame
                await server._handle(client, text)
                await asyncio.sleep(0)  # let started networks run a step
                while client._queue:
                    reply = client._queue.popleft()
                    if "internal error while handling" in reply:
                        internal.append(reply[:2000])
    finally:
        await server.close()
    return internal


# -- runs ------------------------------------------------------------------------------------


def fuzz(
    n_graphs: int,
    n_sessions: int,
    seed: int = 0,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Run ``n_graphs`` graph inputs and ``n_sessions`` protocol sessions."""
    import logging

    logging.getLogger("fbp").setLevel(logging.CRITICAL)  # the runtime's logs are noise here
    rng = random.Random(seed)
    report = Report()
    t0 = time.perf_counter()
    seeds = graph_seeds()
    every = [d for ds in seeds.values() for d in ds]
    for i, (fmt, data) in enumerate(_graph_inputs(seeds, every, rng, n_graphs)):
        started = time.perf_counter()
        try:
            outcome = check_graph_input(data, fmt)
        except Exception as e:
            outcome = "finding"
            report.findings.append(
                Finding(
                    "exception",
                    f"{fmt}: {type(e).__name__}: {e}"[:300],
                    data,
                    traceback.format_exc(),
                )
            )
        took = time.perf_counter() - started
        report.slowest = max(report.slowest, took)
        if took > SLOW:
            report.findings.append(Finding("slow", f"{fmt}: {took:.1f} s", data, ""))
        report.count(f"graph-{fmt}", outcome)
        if progress is not None and i % 1000 == 999:
            progress(report)
    sessions = message_seeds()
    for _ in range(n_sessions):
        base = rng.choice(sessions)
        messages = [_mutated_message(m, rng) for m in base]
        started = time.perf_counter()
        try:
            internal = asyncio.run(check_session(messages))
        except Exception as e:
            internal = [f"{type(e).__name__}: {e}"]
            report.findings.append(
                Finding(
                    "exception", internal[0][:300], b"\n".join(messages), traceback.format_exc()
                )
            )
        for reply in internal:
            kept = b"\n".join(messages)
            report.findings.append(Finding("internal-error", reply[:300], kept, reply))
        took = time.perf_counter() - started
        if took > SLOW * len(messages):
            report.findings.append(Finding("slow", f"session: {took:.1f} s", b"", ""))
        for _m in messages:
            report.count("protocol-message", "internal-error" if internal else "handled")
    report.seconds = time.perf_counter() - t0
    return report


def _graph_inputs(
    seeds: dict[str, list[bytes]], every: list[bytes], rng: random.Random, n: int
) -> Iterator[tuple[str, bytes]]:
    formats = list(seeds)
    for i in range(n):
        fmt = formats[i % len(formats)]
        base = rng.choice(seeds[fmt])
        yield fmt, mutate_bytes(base, rng, every) if i >= len(every) else base


def _mutated_message(message: dict[str, Any], rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.5:
        return json.dumps(message).encode()
    if roll < 0.8:
        return json.dumps(mutate_value(message, rng)).encode()
    return mutate_bytes(json.dumps(message).encode(), rng, [])
