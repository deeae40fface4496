"""Where the per-hop time goes: cProfile of the K=5 int pipeline, fbp and bare anyio.

cProfile charges a fixed cost to every Python call, so it inflates call-heavy code;
read the shares and the calls per hop, not the absolute times. Functions are grouped
by where they live (fbp's core, validation, component code, the asyncio loop, ...).

cProfile charges a coroutine call like any other call, so it hides what separates
fbp's per-hop path from the bare one: fbp components ``await self.out.send(x)`` and
``async for x in self.in_`` (a coroutine each, even when nothing waits), where the bare
pipeline calls ``send_nowait``/``receive_nowait``. :func:`mechanism_costs` times those
mechanisms on their own.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ._baselines import run_anyio
from ._cases import Case, Probe
from ._fbp import build_case, run_fbp, run_network
from ._payloads import make_items

__all__ = ("mechanism_costs", "run_profile")

Progress = Callable[[str], None]

_GROUPS = (
    ("fbp/_core/_types.py", "fbp validation"),
    ("fbp/_core/", "fbp ports and channels"),
    ("fbp/tracing/", "fbp tracing"),
    ("benchmarks/_payloads.py", "stage work (x + 1)"),
    ("benchmarks/", "component / task code"),
    ("anyio/", "anyio"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
)


def _group(filename: str) -> str:
    path = filename.replace("\\", "/")
    for needle, name in _GROUPS:
        if needle in path:
            return name
    if path == "~" or path.startswith("<"):
        return "builtins (deque, len, futures, ...)"
    return "other"


def _profile(run: Callable[[], Any], hops: int) -> dict[str, Any]:
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    calls = sum(v[1] for v in stats.values())
    groups: dict[str, float] = {}
    for (fname, _line, _func), (_cc, _nc, tt, _ct, _callers) in stats.items():
        g = _group(fname)
        groups[g] = groups.get(g, 0.0) + tt
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    return {
        "profiled_seconds": round(total, 4),
        "calls_per_hop": round(calls / hops, 2),
        "ns_per_hop": round(total / hops * 1e9, 1),
        "groups": [
            {"group": g, "share": round(t / total, 3), "ns_per_hop": round(t / hops * 1e9, 1)}
            for g, t in sorted(groups.items(), key=lambda kv: kv[1], reverse=True)
        ],
        "top": [
            {
                "function": f"{_short(fname)}:{line}({func})",
                "calls": nc,
                "tottime_s": round(tt, 4),
                "cumtime_s": round(ct, 4),
                "ns_per_hop": round(tt / hops * 1e9, 1),
            }
            for (fname, line, func), (_cc, nc, tt, ct, _c) in top
        ],
    }


def _short(fname: str) -> str:
    path = fname.replace("\\", "/")
    for root in ("/fbp/", "/benchmarks/", "/asyncio/", "/anyio/"):
        i = path.rfind(root)
        if i >= 0:
            return path[i + 1 :]
    return path.rsplit("/", 1)[-1]


class _Box:
    """A stand-in channel: the same work done by a plain and by an async method."""

    __slots__ = ("buf", "n")

    def __init__(self, n: int = 0) -> None:
        self.buf: deque[Any] = deque()
        self.n = n

    def put(self, x: Any) -> None:
        self.buf.append(x)
        if len(self.buf) > 32:
            self.buf.clear()

    async def aput(self, x: Any) -> None:
        self.buf.append(x)
        if len(self.buf) > 32:
            self.buf.clear()

    def take(self) -> int:
        self.n -= 1
        if self.n < 0:
            raise LookupError
        return self.n

    def __aiter__(self) -> _Box:
        return self

    async def __anext__(self) -> int:
        self.n -= 1
        if self.n < 0:
            raise StopAsyncIteration
        return self.n


async def _mechanisms(n: int) -> dict[str, float]:
    from fbp._core._types import Validator

    box = _Box()
    check = Validator(int, "p.IN").check
    t0 = time.perf_counter()
    for i in range(n):
        box.put(i)
    t1 = time.perf_counter()
    for i in range(n):
        await box.aput(i)
    t2 = time.perf_counter()
    async for _ in _Box(n):
        pass
    t3 = time.perf_counter()
    it = _Box(n)
    while True:
        try:
            it.take()
        except LookupError:
            break
    t4 = time.perf_counter()
    for i in range(n):
        check(i)
    t5 = time.perf_counter()
    for _ in range(n):
        pass
    t6 = time.perf_counter()
    return {
        "plain call (send_nowait style)": (t1 - t0) / n * 1e9,
        "await of an async method that does not wait (send)": (t2 - t1) / n * 1e9,
        "async for step, async __anext__ (receive)": (t3 - t2) / n * 1e9,
        "loop step, plain call (receive_nowait style)": (t4 - t3) / n * 1e9,
        "port validator check of an int": (t5 - t4) / n * 1e9,
        "empty loop": (t6 - t5) / n * 1e9,
    }


def mechanism_costs(n: int, repeats: int = 5) -> dict[str, float]:
    """Nanoseconds per operation of the mechanisms a hop is made of (best of repeats).

    Each figure includes its loop's own step except the validator's, from which the
    empty loop is taken off (it is an extra call, not a different way of making one).
    """
    best: dict[str, float] = {}
    for _ in range(repeats):
        for k, v in asyncio.run(_mechanisms(n)).items():
            best[k] = min(best.get(k, v), v)
    loop = best.pop("empty loop")
    best["port validator check of an int"] -= loop
    return {k: round(v, 1) for k, v in best.items()}


def run_profile(items: int, progress: Progress) -> dict[str, Any]:
    """Profile the K=5 int pipeline as fbp (validation on) and as bare anyio."""
    case = Case("linear-k5-int", "linear", 5, "int", items)
    feed = make_items("int", items)
    hops = items * case.hops
    run_fbp(case, feed[: len(feed) // 10 or 1])  # warm caches outside the profile
    probe = Probe()
    net = build_case(case, feed, probe)  # building is not profiled
    out = {
        "case": case.to_dict(),
        "fbp": _profile(lambda: run_network(net, probe), hops),
        "anyio-nowait": _profile(lambda: run_anyio(case, feed), hops),
        "mechanisms_ns": mechanism_costs(max(100_000, items * 5)),
    }
    progress(
        f"  profile: fbp {out['fbp']['calls_per_hop']} calls/hop,"
        f" anyio {out['anyio-nowait']['calls_per_hop']} calls/hop"
    )
    return out
