"""Two faults that cancel on the target's mean are both found, on a traced network.

Source -> Price (adds a markup) -> Discount (takes a rebate off) -> a sink. The faulty
run raises the markup and the rebate by the same amount (knobs the causal layer does
not see), so the target's mean does not move and its own shift test stays silent; both
mechanism tests reject, and ``shift`` reports both components, with opposite
attributions, and a warning that findings and the target's test disagree.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fbp import Component, InPort, OutPort, port
from fbp.causal import shift_between
from fbp.graph import Graph, run
from fbp.tracing import TraceWriter


class Orders(Component):
    """N order amounts, reproducible with SEED."""

    n: InPort[int] = port(causal=False)
    seed: InPort[int] = port(default=0, causal=False)
    out: OutPort[float]

    async def run(self) -> None:
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        for _ in range(n):
            await self.out.send(rng.gauss(100.0, 10.0))


class Price(Component):
    """Amount plus a markup proportional to it, with noise."""

    in_: InPort[float]
    extra: InPort[float] = port(default=0.0, causal=False)
    out: OutPort[float]

    def __init__(self) -> None:
        super().__init__()
        self._rng = random.Random(1)

    async def process(self, in_: float, extra: float) -> None:
        await self.out.send(1.2 * in_ + extra + self._rng.gauss(0.0, 2.0))


class Discount(Component):
    """Price minus a rebate, with noise."""

    in_: InPort[float]
    extra: InPort[float] = port(default=0.0, causal=False)
    out: OutPort[float]

    def __init__(self) -> None:
        super().__init__()
        self._rng = random.Random(2)

    async def process(self, in_: float, extra: float) -> None:
        await self.out.send(0.9 * in_ - 5.0 - extra + self._rng.gauss(0.0, 2.0))


def shop() -> Graph:
    g = Graph("shop").add_process("Orders", Orders).add_initial(2000, "Orders.N")
    g.add_process("Price", Price).add_process("Discount", Discount)
    g.add_process("Done", "core/Drop")
    g.connect("Orders.OUT", "Price.IN").connect("Price.OUT", "Discount.IN")
    return g.connect("Discount.OUT", "Done.IN")


def traced(tmp: Path, name: str, values: dict[str, object]) -> Path:
    path = tmp / f"{name}.trace"
    with TraceWriter(path) as sink:
        run(shop(), set_values=values, trace=sink)
    return path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_faults_that_cancel_on_the_mean_are_both_found(tmp_path: Path, seed: int) -> None:
    before = traced(tmp_path, "before", {"Orders.SEED": 2 * seed})
    # +4 on Price's output and, downstream, 0.9 * 4 = 3.6 more taken off by Discount:
    # the target's mean is unchanged.
    after = traced(
        tmp_path, "after", {"Orders.SEED": 2 * seed + 1, "Price.EXTRA": 4.0, "Discount.EXTRA": 3.6}
    )
    result = shift_between(shop(), before, after, "Discount.OUT", n_bootstrap=10, seed=seed)
    assert result.observed_change is not None
    assert abs(result.observed_change) < 1.0  # cancelled on the mean
    assert set(result.ranking.process_names[:2]) == {"Price", "Discount"}
    assert set(result.significant) == {"Price.OUT", "Discount.OUT"}
    price = result.ranking.variable("Price.OUT").value
    discount = result.ranking.variable("Discount.OUT").value
    assert price == pytest.approx(3.6, abs=0.6)
    assert discount == pytest.approx(-3.6, abs=0.6)
    if not result.shifted:
        assert any("target" in w for w in result.warnings)
