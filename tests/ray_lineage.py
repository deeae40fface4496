"""Comparing two traces of the same network, whatever ids their IPs were given."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from fbp.testing import MemorySink


def _text(payload: Any) -> str:
    if hasattr(payload, "model_dump"):
        payload = payload.model_dump(mode="json")
    return json.dumps(payload, sort_keys=True, default=repr)


def lineage(sink: MemorySink) -> Counter[str]:
    """Every record of a run as a digest of what it is, where it was sent and, by the
    same digest, its ancestors: equal counters mean equal traces up to IP ids."""
    ports = sink.ports
    records = {r[0]: r for r in sink.records if r[1] <= 3}
    memo: dict[int, str] = {}

    def digest(ip: int) -> str:
        stack = [ip]
        while stack:
            top = stack[-1]
            if top in memo:
                stack.pop()
                continue
            r = records[top]
            todo = [p for p in r[5] if p not in memo]
            if todo:
                stack.extend(todo)
                continue
            p = ports[r[2]]
            parents = sorted(memo[x] for x in r[5])
            text = f"{r[1]}|{p.process}.{p.port}[{p.index}]|{_text(r[6])}|{','.join(parents)}"
            memo[top] = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
            stack.pop()
        return memo[ip]

    out: Counter[str] = Counter()
    for r in sink.records:
        p = ports[r[2]]
        own = digest(r[0]) if r[0] in records else "?"
        out[f"{r[1]}|{p.process}.{p.port}[{p.index}]|{own}"] += 1
    return out


def traced_lineage(run: Any) -> Counter[str]:
    """:func:`lineage` for a run read back from a trace file (a ``TracedRun``)."""
    records = list(run.records())
    defining = {r.ip_id: r for r in records if r.kind in ("data", "open", "close", "iip")}
    memo: dict[int, str] = {}

    def digest(ip: int) -> str:
        stack = [ip]
        while stack:
            top = stack[-1]
            if top in memo:
                stack.pop()
                continue
            r = defining[top]
            todo = [p for p in r.parents if p not in memo]
            if todo:
                stack.extend(todo)
                continue
            parents = sorted(memo[x] for x in r.parents)
            text = f"{r.kind}|{r.port}|{_text(r.payload)}|{','.join(parents)}"
            memo[top] = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
            stack.pop()
        return memo[ip]

    out: Counter[str] = Counter()
    for r in records:
        own = digest(r.ip_id) if r.ip_id in defining else "?"
        out[f"{r.kind}|{r.port}|{own}"] += 1
    return out
