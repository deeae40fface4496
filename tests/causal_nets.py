"""A loan network written as users write them, with fault knobs, for the table tests.

Applicants (dict rows, as a CSV reader sends them) -> Score -> Route (a looper routing
to APPROVE or REVIEW) -> Pay / Check -> Total (a merging looper, no ``parents=``) ->
Window (a looper averaging every 10 totals) -> a sink. Knobs (``causal=False``): the
applicants' income SCALE (a data shift), TIERS (how many categories the ``tier``
field has), BONUS (a field present or not), AS_LIST (lists instead of dicts: a stream
with no field to project), Route.BUG (every application to review), Score.FLAT (a
constant score).
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, merge, port
from fbp.graph import Graph


class Applicants(Component):
    """N applications as dicts, reproducible with SEED."""

    n: InPort[int] = port(causal=False)
    seed: InPort[int] = port(default=0, causal=False)
    scale: InPort[float] = port(default=1.0, causal=False)
    tiers: InPort[int] = port(default=2, causal=False)
    bonus: InPort[bool] = port(default=False, causal=False)
    as_list: InPort[bool] = port(default=False, causal=False)
    out: OutPort[Any]

    async def run(self) -> None:
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        scale = await self.scale.receive()
        tiers = await self.tiers.receive()
        bonus = await self.bonus.receive()
        as_list = await self.as_list.receive()
        for i in range(n):
            row: dict[str, Any] = {
                "id": i,
                "income": round(rng.lognormvariate(0.0, 0.4) * 50.0 * scale, 2),
                "tier": "abcd"[rng.randrange(tiers)],
                "urgent": rng.random() < 0.3,
                "name": f"applicant-{i}",
            }
            if bonus:
                row["bonus"] = round(rng.uniform(0, 5), 2)
            await self.out.send([row["income"], row["tier"]] if as_list else row)


class Scored(BaseModel):
    income: float
    score: float
    tier: str


_TIER = {"a": 0.0, "b": 0.5, "c": 1.0, "d": 1.5}


class Score(Component):
    """Score an application: income and tier, with noise."""

    in_: InPort[Any]
    flat: InPort[bool] = port(default=False, causal=False)
    out: OutPort[Scored]

    def __init__(self) -> None:
        super().__init__()
        self._rng = random.Random(7)

    async def process(self, in_: Any, flat: bool) -> None:
        income, tier = (in_["income"], in_["tier"]) if isinstance(in_, dict) else in_
        score = 1.0 if flat else income / 50 + _TIER[tier] + self._rng.gauss(0, 0.2)
        await self.out.send(Scored(income=income, score=score, tier=tier))


class Route(Component):
    """Approve a score above 1.2, else review (BUG: review everything)."""

    in_: InPort[Scored]
    bug: InPort[bool] = port(default=False, causal=False)
    approve: OutPort[Scored]
    review: OutPort[Scored]

    async def run(self) -> None:
        bug = await self.bug.receive()
        async for s in self.in_:
            await (self.review if bug or s.score <= 1.2 else self.approve).send(s)


class Pay(Component):
    """Pay an approved application."""

    in_: InPort[Scored]
    out: OutPort[float]

    async def process(self, in_: Scored) -> None:
        await self.out.send(0.3 * in_.income)


class Check(Component):
    """Pay a reviewed application, less."""

    in_: InPort[Scored]
    out: OutPort[float]

    async def process(self, in_: Scored) -> None:
        await self.out.send(0.1 * in_.income + 1.0)


class Total(Component):
    """Every payment, whichever branch made it."""

    a: InPort[float]
    b: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        async for _port, x in merge(self.a, self.b):
            await self.out.send(x)


class Window(Component):
    """The mean of every 10 payments."""

    in_: InPort[float]
    out: OutPort[float]

    async def run(self) -> None:
        batch: list[float] = []
        async for x in self.in_:
            batch.append(x)
            if len(batch) == 10:
                await self.out.send(sum(batch) / 10)
                batch = []


def loans() -> Graph:
    """The loan network."""
    g = Graph("loans").add_process("Apps", Applicants).add_initial(600, "Apps.N")
    g.add_process("Score", Score).add_process("Route", Route)
    g.add_process("Pay", Pay).add_process("Check", Check).add_process("Total", Total)
    g.add_process("Window", Window).add_process("Done", "core/Drop")
    g.connect("Apps.OUT", "Score.IN").connect("Score.OUT", "Route.IN")
    g.connect("Route.APPROVE", "Pay.IN").connect("Route.REVIEW", "Check.IN")
    g.connect("Pay.OUT", "Total.A").connect("Check.OUT", "Total.B")
    return g.connect("Total.OUT", "Window.IN").connect("Window.OUT", "Done.IN")
