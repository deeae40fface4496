"""Placement: which processes share a partition, and how many instances each has.

A partition is a group of processes that run together as one ordinary in-process
network; an instance is one copy of a partition (a replicated process has several).
Edges between partitions become bridges (:mod:`fbp.ray._link`).

Process metadata places a process:

- ``partition: NAME``: processes with the same name share one actor;
- ``replicas: N``: the process runs in its own partition, as N instances;
- ``key: FIELD``: with replicas, IPs with the same value of FIELD go to the same
  instance (round-robin otherwise);
- ``num_cpus: X``: the CPUs Ray reserves for the partition's actor.

Everything else stays together in the partition ``main``, which runs in the driver
(the process that called ``fbp run``): with no placement metadata at all, a network
runs as it would in-process. ``placement="each"`` puts every process in an actor of
its own instead, so that every edge crosses an actor boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._core._exceptions import GraphIssue, GraphValidationError, SourceLocation

__all__ = ("MAIN", "Instance", "Partition", "Placement", "Plan", "plan")

#: The partition of processes placed nowhere else; it runs in the driver.
MAIN = "main"

Placement = Literal["metadata", "each"]


@dataclass(frozen=True, slots=True)
class Partition:
    """A group of processes that run together, in ``replicas`` instances."""

    name: str
    processes: tuple[str, ...]
    replicas: int = 1
    key: str | None = None
    num_cpus: float | None = None

    @property
    def on_driver(self) -> bool:
        """Whether the partition runs in the driver process."""
        return self.name == MAIN


@dataclass(frozen=True, slots=True)
class Instance:
    """One running copy of a partition; ``index`` is unique within the run."""

    index: int
    partition: str
    replica: int

    @property
    def label(self) -> str:
        """``name`` or ``name#replica`` for messages."""
        return self.partition if self.replica == 0 else f"{self.partition}#{self.replica}"


@dataclass(frozen=True, slots=True)
class Plan:
    """Where every process of a network runs."""

    partitions: dict[str, Partition]
    #: Every process's partition.
    home: dict[str, str]
    instances: tuple[Instance, ...] = field(default=())

    def instances_of(self, partition: str) -> list[Instance]:
        """The instances of a partition, in replica order."""
        return [i for i in self.instances if i.partition == partition]

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary, stored with the trace's settings."""
        return {
            p.name: {
                "processes": list(p.processes),
                "replicas": p.replicas,
                **({"key": p.key} if p.key else {}),
                "where": "driver" if p.on_driver else "actor",
            }
            for p in self.partitions.values()
        }


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What placement needs to know of a process."""

    metadata: Mapping[str, Any]
    location: SourceLocation | None
    #: Input ports fed by at least one edge (not IIPs only).
    streamed_inputs: tuple[str, ...]


def _number(
    raw: Any, kind: type, what: str, where: SourceLocation | None, issues: list[GraphIssue]
) -> Any:
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = kind(raw)
        if kind is int and isinstance(raw, float) and raw != value:
            raise ValueError
        if value < (1 if kind is int else 0):
            raise ValueError
    except (TypeError, ValueError):
        least = "an integer >= 1" if kind is int else "a number >= 0"
        issues.append(GraphIssue(f"{what} must be {least}, got {raw!r}", where or SourceLocation()))
        return None
    return value


def plan(
    processes: Mapping[str, ProcessInfo], placement: Placement = "metadata", graph_name: str = ""
) -> Plan:
    """Place every process; raise :class:`GraphValidationError` naming every bad setting."""
    if placement not in ("metadata", "each"):
        msg = f"placement must be 'metadata' or 'each', got {placement!r}"
        raise ValueError(msg)
    issues: list[GraphIssue] = []
    groups: dict[str, list[str]] = {}
    settings: dict[str, tuple[int, str | None, float | None]] = {}
    for name, info in processes.items():
        meta, where = info.metadata, info.location
        replicas = 1
        if "replicas" in meta:
            got = _number(meta["replicas"], int, f"process {name!r}: replicas", where, issues)
            replicas = got or 1
        key = meta.get("key")
        if key is not None and not isinstance(key, str):
            issues.append(
                GraphIssue(
                    f"process {name!r}: key must be a field name, got {key!r}",
                    where or SourceLocation(),
                )
            )
            key = None
        num_cpus = None
        if "num_cpus" in meta:
            num_cpus = _number(
                meta["num_cpus"], float, f"process {name!r}: num_cpus", where, issues
            )
        part = meta.get("partition")
        if part is not None and (not isinstance(part, str) or not part):
            issues.append(
                GraphIssue(
                    f"process {name!r}: partition must be a name, got {part!r}",
                    where or SourceLocation(),
                )
            )
            part = None
        if key is not None and "replicas" not in meta:
            issues.append(
                GraphIssue(
                    f"process {name!r}: key {key!r} routes IPs among replicas, but the process"
                    " has no replicas",
                    where or SourceLocation(),
                    'add e.g. "replicas": 2, or remove the key',
                )
            )
        if "replicas" in meta:
            if part is not None:
                issues.append(
                    GraphIssue(
                        f"process {name!r}: a replicated process runs alone; it cannot also"
                        f" be in partition {part!r}",
                        where or SourceLocation(),
                        "remove 'partition' or 'replicas'",
                    )
                )
            if len(info.streamed_inputs) > 1:
                issues.append(
                    GraphIssue(
                        f"process {name!r}: replicas need one input port fed by edges; this"
                        f" one has {len(info.streamed_inputs)}"
                        f" ({', '.join(p.upper() for p in info.streamed_inputs)}), whose IPs"
                        " would be paired up across replicas",
                        where or SourceLocation(),
                        "replicate only a stage with one streamed input (IIPs are fine)",
                    )
                )
            part = name
            if part in groups:  # a partition of this name was declared by others
                part = f"{name}*"
        elif part is None:
            part = name if placement == "each" else MAIN
        groups.setdefault(part, []).append(name)
        if "replicas" in meta or num_cpus is not None or part not in settings:
            prev = settings.get(part, (1, None, None))
            settings[part] = (
                replicas if "replicas" in meta else prev[0],
                key if "replicas" in meta else prev[1],
                num_cpus if num_cpus is not None else prev[2],
            )
    if issues:
        raise GraphValidationError(issues, graph_name=graph_name or None)
    partitions: dict[str, Partition] = {}
    # The driver's partition first: it is instance 0 when it has processes.
    for pname in sorted(groups, key=lambda n: (n != MAIN, list(groups).index(n))):
        replicas, key, num_cpus = settings.get(pname, (1, None, None))
        partitions[pname] = Partition(pname, tuple(groups[pname]), replicas, key, num_cpus)
    instances: list[Instance] = []
    for p in partitions.values():
        for r in range(p.replicas):
            instances.append(Instance(len(instances), p.name, r))
    home = {proc: pname for pname, procs in groups.items() for proc in procs}
    return Plan(partitions, home, tuple(instances))
