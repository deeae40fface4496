"""Cost of metered expressions: time per evaluation, and time to refuse costly ones.

Run: ``python benchmarks/bench_expr.py`` (``--quick`` for a short run).

1. The common expressions of ``flow/Filter`` and ``flow/Map``, each evaluated by
   :class:`fbp_components.flow.Expression` (whitelisted, metered) and, as the
   baseline measured in the same run, by the same text compiled into a plain Python
   lambda (no checks at all: the fastest an expression can be evaluated). Repeats are
   interleaved; medians are reported, with the ratio.
2. Expressions that would pass the limits (time and memory per evaluation): how long
   each takes to be refused, and the peak RSS of the process afterwards.

The machine is shared and noisy: compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from fbp_components.flow import Expression, ExpressionError

COMMON: list[tuple[str, Any]] = [
    ("x * 2", 21),
    ("x['v'] > 3", {"v": 5}),
    ("x.value > 3 and x.kind in ('a', 'b')", {"value": 5, "kind": "a"}),
    ("{'id': x['id'], 'v': x['v'] + 1}", {"id": 1, "v": 2}),
    ("{**x, 'v': 0}", {"id": 1, "v": 2}),
    ("'big' if abs(x) > 100 else 'small'", 5),
    ("str(x) + '!'", 5),
    ("sum(sorted(x)[:2])", [5, 1, 3]),
    ("len(x) > 2 and max(x) < 10", [5, 1, 3, 7]),
]

COSTLY: list[str] = [
    "len(str([[0]*9999999]*9999999))",
    "len(sum([[0]*9999999]*100, []))",
    "len(str([[0]*1000000]*1000000))",
    "sorted([[0]*100000]*100000)",
    "{(('a',)*1000000,)*1000000}",
    "'a' * 50000000 + 'b' * 50000000",
    "len(str([x, x, x, x, x, x, x, x, x, x] * 100000))",
]


def _per_call_ns(fn: Callable[[Any], Any], arg: Any, n: int) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fn(arg)
    return (time.perf_counter_ns() - t0) / n


def common(n: int, repeats: int) -> None:
    print(f"{'expression':40} {'metered ns':>11} {'lambda ns':>10} {'ratio':>6}")
    for source, arg in COMMON:
        metered = Expression(source)
        plain = eval(f"lambda x: {_python(source)}")  # the baseline: no checks
        if metered(arg) != plain(arg):
            sys.exit(f"{source}: {metered(arg)!r} != {plain(arg)!r}")
        samples: dict[str, list[float]] = {"metered": [], "plain": []}
        for _ in range(repeats):
            samples["metered"].append(_per_call_ns(metered, arg, n))
            samples["plain"].append(_per_call_ns(plain, arg, n))
        m, p = (statistics.median(samples[k]) for k in ("metered", "plain"))
        print(f"{source:40} {m:11.0f} {p:10.0f} {m / p:6.2f}")


def _python(source: str) -> str:
    # Attribute reads of a mapping read its keys in expressions; in Python, subscripts.
    return source.replace("x.value", "x['value']").replace("x.kind", "x['kind']")


def costly() -> None:
    payload = list(range(10_000))
    print(f"\n{'refused expression':52} {'seconds':>8}  reason")
    for source in COSTLY:
        expr = Expression(source)
        t0 = time.perf_counter()
        try:
            expr(payload)
        except ExpressionError as e:
            reason = str(e).split(": ", 2)[-1][:70]
        else:
            sys.exit(f"{source}: was not refused")
        print(f"{source:52} {time.perf_counter() - t0:8.4f}  {reason}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process: {rss:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    common(n=20_000 if args.quick else 200_000, repeats=3 if args.quick else 7)
    costly()


if __name__ == "__main__":
    main()
