"""Lineage over the ``links`` table: ancestors, descendants and root ancestors.

Walks are recursive CTEs. ``UNION`` (not ``UNION ALL``) keeps each IP once, so a DAG
with many diamonds is walked in time linear in its size rather than in its number of
paths. ``CROSS JOIN`` fixes the join order: the walk drives, the indexes answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

__all__ = ("roots_of", "walk_sql")

_STEPS = {
    "up": (
        "SELECT parent FROM links WHERE run = ?1 AND child = ?2",
        "SELECT l.parent FROM walk CROSS JOIN links AS l ON l.run = ?1 AND l.child = walk.id",
    ),
    "down": (
        "SELECT child FROM links WHERE run = ?1 AND parent = ?2",
        "SELECT l.child FROM walk CROSS JOIN links AS l ON l.run = ?1 AND l.parent = walk.id",
    ),
}

# Every IP reachable upwards from the seeds (seeds included), with its parents
# (NULL for a root), by child.
_CLOSURE = (
    "WITH RECURSIVE walk(id) AS ("
    " SELECT value FROM json_each(?2)"
    " UNION SELECT l.parent FROM walk CROSS JOIN links AS l ON l.run = ?1 AND l.child = walk.id)"
    " SELECT walk.id, l.parent FROM walk LEFT JOIN links AS l ON l.run = ?1 AND l.child = walk.id"
    " ORDER BY walk.id"
)
# Every link of a run, by child (the primary key's order).
_RUN_LINKS = "SELECT child, parent FROM links WHERE run = ? ORDER BY run, child, parent"
# Above this share of a run's records, reading all its links beats walking them.
_SCAN_RATIO = 8


def walk_sql(direction: str, select: str) -> str:
    """SQL for the ancestors (``up``) or descendants (``down``) of IP ``?2`` in run ``?1``.

    Args:
        direction: ``up`` or ``down``.
        select: a ``SELECT ...`` clause over ``ips AS i`` (without FROM).

    Returns:
        The query; its rows are the defining records of the IPs found, in send order.
    """
    first, step = _STEPS[direction]
    return (
        f"WITH RECURSIVE walk(id) AS ({first} UNION {step}) "
        f"{select} FROM walk CROSS JOIN ips AS i ON i.run = ?1 AND i.ip_id = walk.id"
        " AND i.kind IN (0, 1, 2, 3) ORDER BY i.seq"
    )


def roots_of(
    con: sqlite3.Connection, run: int, wanted: Sequence[int], *, records: int
) -> dict[int, tuple[int, ...]]:
    """For each IP in ``wanted``, the sorted ids of its ancestors that have no parents.

    The links needed are read with one query: the upward closure of ``wanted`` when
    it is small next to the run (``records`` records), else every link of the run
    (a plain index scan, cheaper than walking most of the run). The root sets are
    then computed in one pass in IP id order, each from its parents' sets, so IPs
    sharing ancestry share the work (along a chain, the very tuple).
    """
    if len(wanted) * _SCAN_RATIO >= records:
        rows = con.execute(_RUN_LINKS, (run,)).fetchall()
    else:
        rows = con.execute(_CLOSURE, (run, json.dumps(list(wanted)))).fetchall()
    memo = _roots_in_order(rows)
    if memo is None:
        memo = _roots_any_order(rows)
    return {w: memo.get(w, (w,)) for w in wanted}


def _merge(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(set(a).union(b)))


def _roots_in_order(rows: list[tuple[int, int | None]]) -> dict[int, tuple[int, ...]] | None:
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


def _roots_any_order(rows: list[tuple[int, int | None]]) -> dict[int, tuple[int, ...]]:
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
