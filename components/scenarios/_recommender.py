"""A recommender: relevance per viewed item, baskets aggregated per session, revenue.

Sessions emit the items a user viewed (dwell time, position on the page, price); each
view gets a relevance (a saturating function of dwell, discounted by position); the
views of a session are aggregated into a basket (WINDOW views: the mean relevance and
the relevance-weighted spend); the ranker turns a basket into revenue, the business
metric, one value per basket.

Knobs (``causal=False``): ``Sessions.DWELL_SCALE`` (an input shift: users stay longer),
``Relevance.BUG`` (the position discount is lost), ``Basket.MODE`` (``"mean"`` or
``"max"``: how a basket summarises relevance), ``Rank.BOOST`` (a changed uplift in the
ranker's code).
"""

from __future__ import annotations

import math
import random

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, port


class View(BaseModel):
    """A user viewing an item."""

    session_id: int
    dwell: float
    position: int
    price: float


class ScoredView(BaseModel):
    """A view with its relevance."""

    price: float
    relevance: float


class BasketStats(BaseModel):
    """The summary of one session's views."""

    relevance: float
    spend: float


class Sessions(Component):
    """Emit N sessions of WINDOW views each (reproducible with SEED)."""

    n: InPort[int] = port(description="how many sessions", causal=False)
    window: InPort[int] = port(description="views per session", default=8, causal=False)
    seed: InPort[int] = port(description="random seed", default=0, causal=False)
    dwell_scale: InPort[float] = port(
        description="fault knob: multiply every dwell time", default=1.0, causal=False
    )
    out: OutPort[View]

    async def run(self) -> None:
        n = await self.n.receive()
        window = await self.window.receive()
        rng = random.Random(await self.seed.receive())
        scale = await self.dwell_scale.receive()
        for s in range(n):
            taste = rng.gauss(0.0, 0.5)
            for _ in range(window):
                await self.out.send(
                    View(
                        session_id=s,
                        dwell=round(rng.expovariate(1 / 20.0) * math.exp(taste) * scale, 2),
                        position=rng.randrange(1, 11),
                        price=round(rng.lognormvariate(3.0, 0.5), 2),
                    )
                )


class Relevance(Component):
    """Relevance of a view: saturating in dwell time, discounted by position."""

    in_: InPort[View]
    bug: InPort[bool] = port(
        description="fault knob: the position discount is lost", default=False, causal=False
    )
    out: OutPort[ScoredView]

    async def process(self, in_: View, bug: bool) -> None:
        discount = 1.0 if bug else math.exp(-0.15 * (in_.position - 1))
        relevance = math.tanh(in_.dwell / 30.0) * discount
        await self.out.send(ScoredView(price=in_.price, relevance=relevance))


class Basket(Component):
    """Aggregate every WINDOW views into one basket: relevance and weighted spend."""

    in_: InPort[ScoredView]
    window: InPort[int] = port(description="views per basket", default=8, causal=False)
    mode: InPort[str] = port(
        description="fault knob: 'mean' or 'max' relevance", default="mean", causal=False
    )
    out: OutPort[BasketStats]

    async def run(self) -> None:
        window = await self.window.receive()
        mode = await self.mode.receive()
        views: list[ScoredView] = []
        async for v in self.in_:
            views.append(v)
            if len(views) == window:
                rel = [x.relevance for x in views]
                summary = max(rel) if mode == "max" else sum(rel) / len(rel)
                spend = sum(x.price * x.relevance for x in views)
                await self.out.send(BasketStats(relevance=summary, spend=spend))
                views = []


class Rank(Component):
    """Revenue of a basket: the spend, lifted by how relevant the basket was."""

    in_: InPort[BasketStats]
    boost: InPort[float] = port(
        description="fault knob: the uplift per unit of relevance", default=1.0, causal=False
    )
    out: OutPort[float]

    async def process(self, in_: BasketStats, boost: float) -> None:
        await self.out.send(in_.spend * (0.5 + boost * in_.relevance))
