"""Compiled receive loops (fbp._core._loops): which loops are compiled, and that a
compiled loop does exactly what the loop as written does.

Each component below runs twice, compiled and as written (``FBP_NO_LOOPS=1``), and
the two runs must agree on everything a user can see: what downstream received, on
which port, in which order; the values the component left in its variables; its
port statistics; the error and the line it names; the lineage of a traced run.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from support import Numbers

from fbp import ArrayInPort, Component, InPort, OutPort, ProcessError
from fbp._core import _loops
from fbp.graph import Graph, build_network
from fbp.testing import MemorySink

if TYPE_CHECKING:
    from collections.abc import Sequence  # only for annotations (postponed, see the top)

pytestmark = pytest.mark.compiled  # compiling needs the C port paths

N = 50


class Collect(Component):
    """Keeps what it receives, in order (not compiled: it awaits a sleep)."""

    in_: InPort[Any]
    got: list[Any]

    async def run(self) -> None:
        self.got = []
        async for x in self.in_:
            self.got.append(x)
            await asyncio.sleep(0)


# -- the shapes that compile -----------------------------------------------------------


class Map(Component):
    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x * 2)


def triple(x: int) -> int:
    return 3 * x


class Direct(Component):
    """A function fixed before the loop, called on the item: no step between."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        f = triple
        async for x in self.in_:
            await self.out.send(f(x))


class Forward(Component):
    """Sends what it receives: the loop sends the item, with no step."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x)


class Filter(Component):
    in_: InPort[int]
    out: OutPort[int]
    skipped: int

    async def run(self) -> None:
        self.skipped = 0
        async for x in self.in_:
            if x % 3 == 0:
                self.skipped += 1
                continue
            await self.out.send(x)


class Route(Component):
    """Sends to one port or the other, or to neither, with parents on one of them."""

    in_: InPort[int]
    even: OutPort[int]
    odd: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            if x % 5 == 0:
                pass
            elif x % 2 == 0:
                await self.even.send(x)
            else:
                await (self.odd if x > 10 else self.even).send(-x, parents=None)


class Tally(Component):
    """A sink: variables the loop leaves behind are read after it, the loop variable too."""

    in_: InPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        n = total = 0
        async for x in self.in_:
            n += 1
            total += x
        await self.out.send((n, total, x))


class TakeThree(Component):
    """break, then code after the loop."""

    in_: InPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        seen: list[int] = []
        async for x in self.in_:
            seen.append(x)
            if len(seen) == 3:
                break
        await self.out.send(seen)
        async for _ in self.in_:  # the rest, read in a second compiled loop
            pass


class Pairs(Component):
    """A tuple target, over an array port."""

    in_: ArrayInPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        async for i, x in self.in_:
            await self.out.send((i, x))


class Merge(Component):
    """Sends the value of each (index, value): the loop takes it without the pair."""

    in_: ArrayInPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        async for _i, x in self.in_:
            await self.out.send(x)


class Indexes(Component):
    """Sends the index of each (index, value)."""

    in_: ArrayInPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        async for i, _x in self.in_:
            await self.out.send(i)


def _shapes(n: int) -> Any:
    """Tuples of two, and other things a two-name target unpacks, then one it cannot."""
    for i in range(n):
        yield (i, -i) if i % 3 else [i, -i] if i % 2 else f"{i:02d}"[-2:]
    yield (1, 2, 3)


class Unpacks(Component):
    """A for loop over items of several shapes, one the target cannot unpack."""

    n: InPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        n = await self.n.receive()
        for _a, b in _shapes(n):
            await self.out.send(b)


class InTry(Component):
    """A loop inside try: what the body raises is caught outside it."""

    in_: InPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        try:
            async for x in self.in_:
                if x == 7:
                    raise LookupError(x)
                await self.out.send(x)
        except LookupError as e:
            await self.out.send(f"caught {e.args[0]}")


class Fails(Component):
    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(10 // (x - 4))


class RaisesStopAsyncIteration(Component):
    """StopAsyncIteration from the body is an error, not the end of the stream."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            if x == 2:
                raise StopAsyncIteration
            await self.out.send(x)


class Ticks:
    """An async iterator that really waits between items (not a port)."""

    def __init__(self, n: int) -> None:
        self.i, self.n = 0, n

    def __aiter__(self) -> Ticks:
        return self

    async def __anext__(self) -> int:
        if self.i >= self.n:
            raise StopAsyncIteration
        await asyncio.sleep(0.001)
        self.i += 1
        return self.i


class FromTicks(Component):
    """Iterates something that is not a port: the loop awaits its own awaitables."""

    n: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        self.ticks = Ticks(await self.n.receive())
        async for t in self.ticks:
            await self.out.send(t)


class Closures(Component):
    """Functions made in the body see the loop variable late, as Python's closures do."""

    in_: InPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        fns = []
        async for x in self.in_:
            fns.append(lambda: x)  # noqa: B023  (late binding is what is tested)
        await self.out.send([f() for f in fns][-3:])


class PostponedAnnotations(Component):
    """Annotations naming what exists only for type checkers stay unevaluated."""

    in_: InPort[int]
    out: OutPort[Any]

    async def run(self) -> Sequence[int] | None:  # evaluated, it would raise NameError
        last: Sequence[int] = ()
        async for x in self.in_:
            last = (x,)
            await self.out.send(last)


class CountsItsSends(Component):
    """Reads its port's count while the loop runs (the loop counts its sends itself)."""

    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for _ in self.in_:
            await self.out.send(self.out.statistics().items_sent)


class Count(Component):
    """A source: a for loop whose body sends (the iterable is not a port)."""

    n: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        n = await self.n.receive()
        for i in range(n):
            if i % 7 == 3:
                continue
            await self.out.send(i)


def _until(k: int) -> Any:
    yield from range(k)
    raise LookupError(f"ran out at {k}")


class IteratorFails(Component):
    """What the iterator raises is raised, as a for loop raises it."""

    n: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        n = await self.n.receive()
        for i in _until(n // 2):
            await self.out.send(i)


class Switches(Component):
    """Rebinds the port it sends on: the port is then read at each send, as written."""

    in_: InPort[int]
    out: OutPort[int]
    other: OutPort[int]

    async def run(self) -> None:
        first = self.out
        async for x in self.in_:
            if x == 10:
                self.out = self.other
            await self.out.send(x)
        self.out = first


COMPILED = [Map, Direct, Filter, Route, Tally, TakeThree, Pairs, InTry, Fails, Switches]
COMPILED += [Count, IteratorFails, Forward]
COMPILED += [Closures, PostponedAnnotations, CountsItsSends]
COMPILED += [RaisesStopAsyncIteration, FromTicks, Merge, Indexes, Unpacks]


@pytest.mark.parametrize("cls", COMPILED, ids=lambda c: c.__name__)
def test_these_loops_compile(cls: type[Component]) -> None:
    assert _loops.compiled_run(cls.run) is not None


@pytest.mark.parametrize(
    ("cls", "call"),
    [
        (Direct, "__fbp_drive(self.in_, f, self.out"),
        (Forward, "__fbp_drive(self.in_, None, self.out"),
        (Merge, "self.out, __fbp_skip, __fbp_stop, False, False, 1, 2)"),
        (Indexes, "self.out, __fbp_skip, __fbp_stop, False, False, 0, 2)"),
        (Unpacks, "self.out, __fbp_skip, __fbp_stop, False, True, 1, 2)"),
    ],
)
def test_no_step_where_the_body_is_a_fixed_call_or_the_item(cls: Any, call: str) -> None:
    import ast
    import inspect

    node = ast.parse(textwrap.dedent(inspect.getsource(cls.run))).body[0]
    assert isinstance(node, ast.AsyncFunctionDef)
    made = _loops._rewrite(node)
    assert made is not None
    assert call in ast.unparse(made)


# -- the shapes that do not ------------------------------------------------------------


class AwaitsElse(Component):
    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await asyncio.sleep(0)
            await self.out.send(x)


class SendsMidBody(Component):
    in_: InPort[int]
    out: OutPort[int]
    n: int = 0

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x)
            self.n += 1


class Returns(Component):
    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            if x > 3:
                return
            await self.out.send(x)


class ReadsLocals(Component):
    in_: InPort[int]
    out: OutPort[Any]

    async def run(self) -> None:
        async for _x in self.in_:
            await self.out.send(sorted(locals()))


class UsesSuper(Component):
    in_: InPort[int]
    out: OutPort[int]

    async def run(self) -> None:
        super().__init_subclass__()
        async for x in self.in_:
            await self.out.send(x)


class RebindsPort(Component):
    in_: InPort[int]
    out: OutPort[int]
    other: OutPort[int]

    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x)
            self.out = self.other


def _decorated(fn: Any) -> Any:
    return fn


class Decorated(Component):
    in_: InPort[int]
    out: OutPort[int]

    @_decorated
    async def run(self) -> None:
        async for x in self.in_:
            await self.out.send(x)


NOT_COMPILED = [AwaitsElse, SendsMidBody, Returns, ReadsLocals, UsesSuper, RebindsPort, Decorated]


@pytest.mark.parametrize("cls", NOT_COMPILED, ids=lambda c: c.__name__)
def test_these_loops_run_as_written(cls: type[Component]) -> None:
    assert _loops.compiled_run(cls.run) is None


def test_a_function_without_source_runs_as_written() -> None:
    ns: dict[str, Any] = {}
    exec(
        "async def run(self):\n    async for x in self.in_:\n        await self.out.send(x)\n",
        ns,
    )
    assert _loops.compiled_run(ns["run"]) is None


def test_a_file_changed_since_import_runs_as_written(tmp_path: Path) -> None:
    """The source read again must be the code that runs, or nothing is compiled."""
    mod = tmp_path / "loops_changed_mod.py"
    body = """
        async def run(self):
            async for x in self.in_:
                await self.out.send(x {op} 1)
        """
    mod.write_text(textwrap.dedent(body.format(op="+")))
    sys.path.insert(0, str(tmp_path))
    try:
        m = importlib.import_module("loops_changed_mod")
        mod.write_text(textwrap.dedent(body.format(op="-")))
        import linecache

        linecache.checkcache(str(mod))
        assert _loops.compiled_run(m.run) is None
        fresh = importlib.reload(m)  # the file as it is now: compiled
        assert _loops.compiled_run(fresh.run) is not None
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("loops_changed_mod", None)


def test_FBP_NO_LOOPS_turns_compiling_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FBP_NO_LOOPS", "1")
    assert _loops.compiled_run(Map.run) is None


# -- compiled and as written agree -----------------------------------------------------


def _graph(cls: type[Component], capacity: int) -> Graph:
    g = Graph("loops").add_process("src", Numbers).add_process("comp", cls)
    g.add_initial(N, "src.N")
    if cls in (Pairs, Merge, Indexes):
        g.connect("src.OUT", "comp.IN[0]")
        g.add_process("src2", Numbers).add_initial(5, "src2.N").connect("src2.OUT", "comp.IN[1]")
    elif cls is FromTicks:
        g = Graph("loops").add_process("comp", cls).add_initial(5, "comp.N")
    elif "in_" not in cls.__annotations__:
        g = Graph("loops").add_process("comp", cls).add_initial(N, "comp.N")
    else:
        g.connect("src.OUT", "comp.IN")
    outs = [p for p in ("out", "even", "odd", "other") if p in cls.__annotations__]
    for p in outs:
        g.add_process(f"got_{p}", Collect).connect(f"comp.{p.upper()}", f"got_{p}.IN")
    return g


async def _observe(
    cls: type[Component],
    capacity: int,
    compiled: bool,
    monkeypatch: pytest.MonkeyPatch,
    traced: bool = True,
) -> dict[str, Any]:
    if compiled:
        monkeypatch.delenv("FBP_NO_LOOPS", raising=False)
    else:
        monkeypatch.setenv("FBP_NO_LOOPS", "1")
    trace = MemorySink() if traced else None
    net = build_network(_graph(cls, capacity), capacity=capacity, trace=trace)
    seen: dict[str, Any] = {}
    with anyio.fail_after(20):
        try:
            await net.run()
        except ProcessError as e:
            tb = traceback.extract_tb(e.__cause__.__traceback__ if e.__cause__ else None)
            seen["error"] = (str(e), type(e.__cause__).__name__, tb[-1].lineno, tb[-1].line)
    comp = net.processes["comp"].component
    for name, proc in net.processes.items():
        if name.startswith("got_"):
            seen[name] = proc.component.got
    seen["vars"] = {k: v for k, v in vars(comp).items() if k in ("skipped",)}
    seen["stats"] = {
        p: getattr(comp, p).statistics()
        for p in ("out", "even", "odd", "other")
        if hasattr(comp, p)
    }
    if trace is not None:
        seen["lineage"] = [(r[1], r[5], r[6]) for r in trace.records if r[1] == 0]
    return seen


@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
@pytest.mark.parametrize("capacity", [1, 32])
@pytest.mark.parametrize("cls", COMPILED, ids=lambda c: c.__name__)
async def test_compiled_and_as_written_agree(
    cls: type[Component], capacity: int, traced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Untraced, the loop takes the ports' common cases itself; traced, it calls the
    traced ports' methods: both give what the loop as written gives."""
    written = await _observe(cls, capacity, False, monkeypatch, traced)
    compiled = await _observe(cls, capacity, True, monkeypatch, traced)
    assert compiled == written
    assert any(k.startswith("got_") and v for k, v in written.items()) or "error" in written


async def test_what_the_loops_give(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled runs' results, checked against what the code says."""
    tally = await _observe(Tally, 3, True, monkeypatch)
    assert tally["got_out"] == [(N, sum(range(N)), N - 1)]
    take = await _observe(TakeThree, 3, True, monkeypatch)
    assert take["got_out"] == [[0, 1, 2]]
    route = await _observe(Route, 3, True, monkeypatch)
    assert route["got_odd"] == [-x for x in range(N) if x % 5 and x % 2 and x > 10]
    assert route["got_even"] == [
        x if x % 2 == 0 else -x for x in range(N) if x % 5 and (x % 2 == 0 or x <= 10)
    ]
    in_try = await _observe(InTry, 3, True, monkeypatch)
    assert in_try["got_out"] == [0, 1, 2, 3, 4, 5, 6, "caught 7"]
    fails = await _observe(Fails, 3, True, monkeypatch)
    msg, kind, _, line = fails["error"]
    assert kind == "ZeroDivisionError" and "comp" in msg
    assert line == "await self.out.send(10 // (x - 4))"  # the user's line, as written
    stop = await _observe(RaisesStopAsyncIteration, 3, True, monkeypatch)
    assert stop["error"][1] == "StopAsyncIteration"
    counts = await _observe(CountsItsSends, 3, True, monkeypatch, traced=False)
    assert counts["got_out"] == list(range(N))
    switches = await _observe(Switches, 3, True, monkeypatch)
    assert switches["got_out"] == list(range(10))
    assert switches["got_other"] == list(range(10, N))
    closures = await _observe(Closures, 3, True, monkeypatch)
    assert closures["got_out"] == [[N - 1] * 3]
    count = await _observe(Count, 3, True, monkeypatch)
    assert count["got_out"] == [i for i in range(N) if i % 7 != 3]
    iterator_fails = await _observe(IteratorFails, 3, True, monkeypatch)
    got = iterator_fails["got_out"]  # a failure stops the run: what was delivered by then
    assert got == list(range(len(got))) and len(got) <= N // 2
    assert iterator_fails["error"][1] == "LookupError"
    ticks = await _observe(FromTicks, 3, True, monkeypatch)
    assert ticks["got_out"] == [1, 2, 3, 4, 5]
    merge = await _observe(Merge, 3, True, monkeypatch)
    assert sorted(merge["got_out"]) == sorted([*range(N), *range(5)])
    indexes = await _observe(Indexes, 3, True, monkeypatch)
    assert sorted(indexes["got_out"]) == [0] * N + [1] * 5
    unpacks = await _observe(Unpacks, 3, True, monkeypatch)
    got = unpacks["got_out"]
    assert got == [x[1] for x in list(_shapes(N))[:-1]][: len(got)]
    assert {type(x) for x in got} == {int, str}  # tuples, lists and strings unpacked
    assert unpacks["error"][1] == "ValueError"  # too many values to unpack, as written


async def test_a_stopped_compiled_loop_says_where_it_waited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelled while it waits for input, a compiled loop reports that wait."""
    monkeypatch.delenv("FBP_NO_LOOPS", raising=False)

    class Forever(Component):
        out: OutPort[int]

        async def run(self) -> None:
            await self.out.send(1)
            await anyio.sleep_forever()

    g = Graph("stopped").add_process("src", Forever).add_process("comp", Map)
    g.add_process("got", Collect).connect("src.OUT", "comp.IN").connect("comp.OUT", "got.IN")
    net = build_network(g, deadlock_interval=0.05)
    with anyio.move_on_after(0.3):
        await net.run()
    states = {p.name: p.state for p in net.result().processes}
    assert states["comp"] == "stopped while it waited to receive on comp.IN"
    assert net.processes["got"].component.got == [2]
