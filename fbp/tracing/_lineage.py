"""Lineage over a run's parent links: reachable IPs and root ancestors.

Walks are breadth-first over the links as arrays (:meth:`RunColumns.links`, sorted
once per direction): each step finds every parent (or child) of the whole frontier
with two binary searches, so a walk costs a few numpy calls per generation, however
wide. A DAG with many diamonds is walked in time linear in its size: each IP joins the
frontier once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ._columns import RunColumns

__all__ = ("reachable", "roots_of")


def _ranges(lo: npt.NDArray[np.intp], hi: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
    """The concatenation of ``arange(lo[i], hi[i])`` for every i."""
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    out: npt.NDArray[np.int64] = starts + np.arange(total, dtype=np.int64)
    return out


def reachable(cols: RunColumns, seeds: Sequence[int], *, up: bool) -> set[int]:
    """Every IP reachable from ``seeds`` by parent links (``up``) or child links,
    the seeds included."""
    keys, values = cols.adjacency(up=up)
    seen: set[int] = set(seeds)
    frontier = np.array(sorted(seen), dtype=np.int64)
    while len(frontier):
        lo = np.searchsorted(keys, frontier, "left")
        hi = np.searchsorted(keys, frontier, "right")
        nxt = np.unique(values[_ranges(lo, hi)])
        new = [x for x in nxt.tolist() if x not in seen]
        seen.update(new)
        frontier = np.array(new, dtype=np.int64)
    return seen


def roots_of(cols: RunColumns, wanted: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """For each IP in ``wanted``, the sorted ids of its ancestors that have no parents.

    The links of the upward closure of ``wanted`` are read from the arrays; the root
    sets are then computed in one pass in IP id order, each from its parents' sets, so
    IPs sharing ancestry share the work (along a chain, the very tuple).
    """
    child, parent, _ = cols.links()
    if len(wanted) * 8 < len(cols):
        closure = np.fromiter(reachable(cols, wanted, up=True), dtype=np.int64)
        keep = np.isin(child, closure)
        child, parent = child[keep], parent[keep]
    order = np.argsort(child, kind="stable")
    rows = list(zip(child[order].tolist(), parent[order].tolist(), strict=True))
    memo = _roots_in_order(rows)
    if memo is None:
        memo = _roots_any_order(rows)
    return {w: memo.get(w, (w,)) for w in wanted}


def _merge(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(set(a).union(b)))


def _roots_in_order(rows: list[tuple[int, int]]) -> dict[int, tuple[int, ...]] | None:
    """Root sets from ``(child, parent)`` rows sorted by child, if every parent precedes
    its child in id order (as the runtime numbers IPs); None otherwise.

    A parent met without a root set of its own never was a child: it is a root.
    """
    memo: dict[int, tuple[int, ...]] = {}
    get = memo.get
    current: int | None = None
    acc: tuple[int, ...] = ()
    for child, parent in rows:
        if child != current:
            if current is not None:
                memo[current] = acc
            current, acc = child, ()
        if parent is None:
            acc = (child,)
            continue
        if parent >= child:
            return None
        r = get(parent) or (parent,)
        acc = r if not acc or acc is r else _merge(acc, r)
    if current is not None:
        memo[current] = acc
    return memo


def _roots_any_order(rows: list[tuple[int, int]]) -> dict[int, tuple[int, ...]]:
    """Root sets for links in any id order (depth-first, without recursion)."""
    parents: dict[int, list[int]] = {}
    for child, parent in rows:
        ps = parents.setdefault(child, [])
        if parent is not None:
            ps.append(parent)
    memo: dict[int, tuple[int, ...]] = {}
    for node in parents:
        if node not in memo:
            _resolve(node, parents, memo)
    return memo


def _resolve(node: int, parents: dict[int, list[int]], memo: dict[int, tuple[int, ...]]) -> None:
    """Fill ``memo`` for ``node`` and whatever it needs, without recursion."""
    stack = [node]
    visiting = {node}
    while stack:
        n = stack[-1]
        ps = parents.get(n, [])
        todo = [p for p in ps if p not in memo and p not in visiting]
        if todo:
            stack.extend(todo)
            visiting.update(todo)
            continue
        stack.pop()
        visiting.discard(n)
        done = [memo[p] for p in ps if p in memo]  # a cycle (corrupt data) is cut here
        if not done:
            memo[n] = (n,)
        elif len(done) == 1:
            memo[n] = done[0]
        else:
            merged: set[int] = set()
            for r in done:
                merged.update(r)
            memo[n] = tuple(sorted(merged))
