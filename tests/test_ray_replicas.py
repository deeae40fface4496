"""Replicas: a stateless stage as N actors, fed round-robin or by key, outputs merged."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import anyio
import pytest

from fbp import GraphValidationError
from fbp.graph import Graph
from fbp.ray._plan import MAIN, ProcessInfo, plan
from fbp.testing import MemorySink


def _jobs(replicas: int, **where: Any) -> Graph:
    g = Graph("jobs")
    g.add_process("Jobs", "ray_components:Jobs")
    g.add_process("Where", "ray_components:Where", replicas=replicas, **where)
    g.add_process("Show", "core/Drop")
    g.add_initial(60, "Jobs.COUNT")
    g.add_initial(5, "Jobs.USERS")
    g.connect("Jobs.OUT", "Where.IN", capacity=4)
    g.connect("Where.OUT", "Show.IN")
    return g


async def _run(ray_backend: Any, g: Graph) -> MemorySink:
    sink = MemorySink()
    with anyio.fail_after(60):
        result = await ray_backend.run(g, trace=sink)
    assert result.status == "completed"
    assert {p.name: p.sent for p in result.processes}["Where"] == 60
    return sink


async def test_replicas_share_the_work_round_robin(ray_backend: Any) -> None:
    sink = await _run(ray_backend, _jobs(2))
    out = sink.sent("Where.OUT")
    pids = {r[6][2] for r in out}
    assert len(pids) == 2  # two actors did the work
    assert sorted(r[6][1] for r in out) == list(range(60))
    # Lineage is exact across the boundary: each output's parent is its job.
    jobs = {r[0]: r[6].n for r in sink.sent("Jobs.OUT")}
    assert all(r[5] and jobs[r[5][0]] == r[6][1] for r in out)
    # Each replica keeps the order it was given.
    by_pid: dict[int, list[int]] = defaultdict(list)
    for r in out:
        by_pid[r[6][2]].append(r[6][1])
    assert all(ns == sorted(ns) for ns in by_pid.values())


async def test_replicas_by_key_send_each_key_to_one_replica_in_order(ray_backend: Any) -> None:
    sink = await _run(ray_backend, _jobs(2, key="user"))
    out = [r[6] for r in sink.sent("Where.OUT")]
    handled_by: dict[str, set[int]] = defaultdict(set)
    for user, _, pid in out:
        handled_by[user].add(pid)
    assert all(len(pids) == 1 for pids in handled_by.values())
    assert len({pid for pids in handled_by.values() for pid in pids}) == 2
    for user in handled_by:
        ns = [n for u, n, _ in out if u == user]
        assert ns == sorted(ns)


def _info(**meta: Any) -> ProcessInfo:
    return ProcessInfo(meta, None, ("in",))


def test_placement_defaults_to_the_driver_and_groups_partitions() -> None:
    p = plan({"a": _info(), "b": _info(partition="x"), "c": _info(partition="x"), "d": _info()})
    assert p.home == {"a": MAIN, "b": "x", "c": "x", "d": MAIN}
    assert [(i.index, i.partition) for i in p.instances] == [(0, MAIN), (1, "x")]
    each = plan({"a": _info(), "b": _info(partition="x"), "c": _info()}, "each")
    assert each.home == {"a": "a", "b": "x", "c": "c"}
    assert not any(part.on_driver for part in each.partitions.values())


def test_replicas_make_instances() -> None:
    p = plan({"a": _info(), "w": _info(replicas="3", key="user")})
    assert [i.label for i in p.instances] == [MAIN, "w", "w#1", "w#2"]
    assert p.partitions["w"].key == "user"


def test_bad_placement_metadata_is_reported_all_at_once() -> None:
    with pytest.raises(GraphValidationError) as err:
        plan(
            {
                "a": _info(replicas=0),
                "b": _info(key="user"),
                "c": ProcessInfo({"replicas": 2}, None, ("a", "b")),
                "d": _info(replicas=2, partition="x"),
                "e": _info(num_cpus="lots"),
            }
        )
    text = str(err.value)
    assert "5 problems" in text
    assert "'a': replicas must be an integer >= 1, got 0" in text
    assert "'b': key 'user' routes IPs among replicas, but the process has no replicas" in text
    assert "'c': replicas need one input port fed by edges; this one has 2 (A, B)" in text
    assert "'d': a replicated process runs alone" in text
    assert "'e': num_cpus must be a number >= 0, got 'lots'" in text
