"""Helpers for testing components and networks, for users as much as for fbp itself.

Run one component against lists of input IPs and get what each output port sent::

    from fbp.testing import run_component

    out = run_component(Scale, inputs={"in": [r1, r2]}, iips={"factor": 2.0})
    assert out["out"] == [...]

or a whole graph, with :func:`fbp.graph.run`, whose result's ``outputs`` hold what each
``ListSink`` collected, by process name::

    result = run(graph)
    assert result.outputs["Sink"] == [...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._core._arrays import ArrayOutPort
from ._core._component import Component
from ._core._network import DEFAULT_CAPACITY, Network
from ._core._ports import InPort, OutPort, port
from .lowlevel import PortInfo, RunInfo, RunStatus, TraceRecord, run_sync

__all__ = ("ListSink", "ListSource", "MemorySink", "run_component", "run_component_async")


class ListSource(Component):
    """Send each element of the ITEMS list (an IIP) as one IP."""

    items: InPort[list[Any]] = port(description="the payloads to send, in order")
    out: OutPort[Any] = port(description="one IP per element")

    async def run(self) -> None:
        for x in await self.items.receive():
            await self.out.send(x)


class ListSink(Component):
    """Collect every payload into ``self.items`` (read it after the run)."""

    in_: InPort[Any] = port(description="IPs to collect")
    items: list[Any]

    async def run(self) -> None:
        self.items = []
        async for x in self.in_:
            self.items.append(x)


class MemorySink:
    """A trace sink that keeps every record in memory, for tests of lineage.

    Pass it as ``trace=`` to a network; afterwards ``records`` holds every record (see
    :mod:`fbp._core._tracehook` for their fields) and :meth:`sent` those of one port.
    """

    batch_size = 1 << 20

    def __init__(self) -> None:
        self.records: list[TraceRecord] = []
        self.ports: tuple[PortInfo, ...] = ()
        self.status: RunStatus | None = None
        self.error: str | None = None

    def start_run(self, info: RunInfo) -> None:
        """Keep the run's port table."""
        self.ports = info.ports

    def write(self, records: list[TraceRecord]) -> None:
        """Keep a batch of records."""
        self.records.extend(records)

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        """Keep how the run ended."""
        self.status, self.error = status, error

    def sent(self, address: str) -> list[TraceRecord]:
        """The records of the IPs sent by the output port ``proc.PORT`` or ``proc.PORT[i]``.

        Raises:
            KeyError: the run has no such output port.
        """

        def name(p: PortInfo) -> str:
            return f"{p.process}.{p.port}" + ("" if p.index is None else f"[{p.index}]")

        ids = {i for i, p in enumerate(self.ports) if p.direction == "out" and name(p) == address}
        if not ids:
            raise KeyError(address)
        return [r for r in self.records if r[2] in ids]


async def run_component_async(
    component: type[Component],
    *,
    inputs: Mapping[str, Sequence[Any]] | None = None,
    iips: Mapping[str, Any] | None = None,
    capacity: int = DEFAULT_CAPACITY,
    validate: bool = True,
) -> dict[str, list[Any]]:
    """Run ``component`` alone: feed ``inputs`` (port name -> payloads, each list one
    stream), give ``iips`` (port name -> value), and return every output port's payloads.

    Array ports take ``"name[i]"`` keys. Raises what the run raises (ProcessError, ...).
    """
    inputs = dict(inputs or {})
    iips = dict(iips or {})
    spec = component.spec()
    sizes: dict[str, int] = {}
    for key in [*inputs, *iips]:
        name, _, rest = key.partition("[")
        if rest:
            sizes[name.lower()] = max(sizes.get(name.lower(), 0), int(rest.rstrip("]")) + 1)
    for p in spec.outports:
        if p.array:
            sizes.setdefault(p.name, 1)
    net = Network(f"test:{component.__qualname__}", capacity=capacity, validate=validate)
    net.add_process("uut", component, array_sizes=sizes)

    def split(key: str) -> tuple[str, int | None]:
        name, _, rest = key.partition("[")
        return name, (int(rest.rstrip("]")) if rest else None)

    for i, (key, values) in enumerate(inputs.items()):
        name, index = split(key)
        net.add_process(f"src{i}", ListSource)
        net.add_initial((f"src{i}", "items", None), list(values))
        net.connect((f"src{i}", "out", None), ("uut", name, index))
    for key, value in iips.items():
        name, index = split(key)
        net.add_initial(("uut", name, index), value)
    sinks: dict[str, str] = {}
    proc = net.processes["uut"]
    for op in proc.outports.values():
        elements = list(op) if isinstance(op, ArrayOutPort) else [op]
        for el in elements:
            label = op.spec.name if el.index is None else f"{op.spec.name}[{el.index}]"
            sink = f"sink:{label}"
            net.add_process(sink, ListSink)
            net.connect(("uut", op.spec.name, el.index), (sink, "in", None))
            sinks[label] = sink
    await net.run()
    return {
        label: net.processes[s].component.items  # type: ignore[attr-defined]
        for label, s in sinks.items()
    }


def run_component(component: type[Component], **options: Any) -> dict[str, list[Any]]:
    """Synchronous form of :func:`run_component_async`."""
    return run_sync(lambda: run_component_async(component, **options))
