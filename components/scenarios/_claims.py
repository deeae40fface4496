"""The insurance-claims application.

Claims flow through: value calculation (value = 1.05 x amount), value classification
(high when value >= 60,000), complexity classification (a low-value claim is simple when
its amount is at most 5,000 and it is not old-car or unwitnessed-and-unreported; high-value
claims are always complex), then simple (x 0.8) or complex (x 0.6) payout, and the
payout stream, the business metric.

Knobs: ``ClaimSource.AMOUNT_SCALE`` multiplies every amount (an input data shift);
``ClassifyClaimComplexity.BUG`` makes every low-value claim "not complex" (a deployed bug).
"""

from __future__ import annotations

import random

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, merge, port


class Claim(BaseModel):
    """An insurance claim."""

    claim_id: int
    total_claim_amount: float
    car_year: int
    witnesses: int
    police_report: bool


class ValuedClaim(BaseModel):
    """A claim with its calculated value."""

    claim_id: int
    total_claim_amount: float
    car_year: int
    witnesses: int
    police_report: bool
    value: float


class ClaimSource(Component):
    """Generate N random claims (reproducible with SEED)."""

    n: InPort[int] = port(description="how many claims", causal=False)
    seed: InPort[int] = port(description="random seed", default=0, causal=False)
    amount_scale: InPort[float] = port(
        description="fault knob: multiply every amount (input data shift)",
        default=1.0,
        causal=False,
    )
    out: OutPort[Claim] = port(description="new claims")

    async def run(self) -> None:
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        scale = await self.amount_scale.receive()
        for i in range(n):
            amount = rng.lognormvariate(9.0, 1.0) * scale
            await self.out.send(
                Claim(
                    claim_id=i,
                    total_claim_amount=round(amount, 2),
                    car_year=rng.randint(1990, 2022),
                    witnesses=rng.choice([0, 0, 1, 2]),
                    police_report=rng.random() < 0.5,
                )
            )


class CalculateClaimValue(Component):
    """Value a claim at 1.05 times its amount."""

    in_: InPort[Claim]
    out: OutPort[ValuedClaim] = port(description="claims with their value")

    async def process(self, in_: Claim) -> None:
        await self.out.send(ValuedClaim(**in_.model_dump(), value=1.05 * in_.total_claim_amount))


class ClassifyClaimValue(Component):
    """Route claims with value >= THRESHOLD to HIGH, the others to LOW."""

    in_: InPort[ValuedClaim]
    threshold: InPort[float] = port(
        description="the high-value threshold", default=60_000.0, causal=False
    )
    high: OutPort[ValuedClaim]
    low: OutPort[ValuedClaim]

    async def process(self, in_: ValuedClaim, threshold: float) -> None:
        await (self.high if in_.value >= threshold else self.low).send(in_)


class ClassifyClaimComplexity(Component):
    """Route claims to SIMPLE or COMPLEX; high-value claims (HIGH) are always complex."""

    low: InPort[ValuedClaim] = port(description="low-value claims to classify")
    high: InPort[ValuedClaim] = port(description="high-value claims (always complex)")
    bug: InPort[bool] = port(
        description="fault knob: every low-value claim is simple", default=False, causal=False
    )
    simple: OutPort[ValuedClaim]
    complex: OutPort[ValuedClaim]

    async def run(self) -> None:
        bug = await self.bug.receive()
        async for source, c in merge(self.low, self.high):
            parents = [source.last_ip] if source.last_ip is not None else None
            if source is self.high:
                await self.complex.send(c, parents=parents)
                continue
            is_complex = not bug and (
                c.total_claim_amount > 5_000
                or c.car_year < 2000
                or (c.witnesses == 0 and not c.police_report)
            )
            await (self.complex if is_complex else self.simple).send(c, parents=parents)


class SimplePayout(Component):
    """Pay a simple claim at 0.8 of its amount."""

    in_: InPort[ValuedClaim]
    out: OutPort[float]

    async def process(self, in_: ValuedClaim) -> None:
        await self.out.send(0.8 * in_.total_claim_amount)


class ComplexPayout(Component):
    """Pay a complex claim at 0.6 of its amount."""

    in_: InPort[ValuedClaim]
    out: OutPort[float]

    async def process(self, in_: ValuedClaim) -> None:
        await self.out.send(0.6 * in_.total_claim_amount)


class ClaimPayout(Component):
    """The payout stream: every payout, whichever branch made it (the target metric)."""

    in_: InPort[float]
    out: OutPort[float]

    async def process(self, in_: float) -> None:
        await self.out.send(in_)
