"""A fraud-scoring pipeline: features, a model score, a triage router and a ledger join.

Transactions are turned into features, scored by a logistic model, and triaged by a
cut on the score: below it a transaction is approved automatically (its expected loss
is the amount times the fraud probability), above it a person reviews it (a fixed cost
plus a share of the amount). The ledger joins both branches; its output, the cost of
each transaction, is the business metric.

Knobs (``causal=False``): ``Transactions.AMOUNT_SCALE`` and ``Transactions.FOREIGN``
(input data shifts), ``TxnFeatures.BUG`` (night transactions no longer recognised),
``FraudScore.DRIFT`` (a stale model: its logit moves), ``Ledger.BUG`` (review costs
booked twice). ``Triage.CUT`` is a parameter the causal layer sees.
"""

from __future__ import annotations

import math
import random

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, merge, port

_MERCHANTS = ("grocery", "travel", "electronics", "online")
_MERCHANT_RISK = {"grocery": 0.0, "travel": 0.6, "electronics": 0.9, "online": 1.2}


class Transaction(BaseModel):
    """A card transaction."""

    txn_id: int
    amount: float
    hour: int
    foreign: bool
    merchant: str


class FeatureVector(BaseModel):
    """What the model reads of a transaction."""

    txn_id: int
    amount: float
    log_amount: float
    night: bool
    foreign: bool
    merchant_risk: float


class ScoredTxn(BaseModel):
    """A transaction with its fraud probability."""

    txn_id: int
    amount: float
    fraud_p: float


class Transactions(Component):
    """Generate N transactions (reproducible with SEED)."""

    n: InPort[int] = port(description="how many transactions", causal=False)
    seed: InPort[int] = port(description="random seed", default=0, causal=False)
    amount_scale: InPort[float] = port(
        description="fault knob: multiply every amount", default=1.0, causal=False
    )
    foreign: InPort[float] = port(
        description="fault knob: the share of foreign transactions", default=0.15, causal=False
    )
    out: OutPort[Transaction]

    async def run(self) -> None:
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        scale = await self.amount_scale.receive()
        foreign = await self.foreign.receive()
        for i in range(n):
            await self.out.send(
                Transaction(
                    txn_id=i,
                    amount=round(rng.lognormvariate(3.5, 0.9) * scale, 2),
                    hour=rng.randrange(24),
                    foreign=rng.random() < foreign,
                    merchant=rng.choices(_MERCHANTS, weights=(5, 2, 2, 3))[0],
                )
            )


class TxnFeatures(Component):
    """Turn a transaction into model features."""

    in_: InPort[Transaction]
    bug: InPort[bool] = port(
        description="fault knob: night hours are no longer recognised", default=False, causal=False
    )
    out: OutPort[FeatureVector]

    async def process(self, in_: Transaction, bug: bool) -> None:
        night = (not bug) and (in_.hour < 6 or in_.hour >= 23)
        await self.out.send(
            FeatureVector(
                txn_id=in_.txn_id,
                amount=in_.amount,
                log_amount=math.log1p(in_.amount),
                night=night,
                foreign=in_.foreign,
                merchant_risk=_MERCHANT_RISK[in_.merchant],
            )
        )


class FraudScore(Component):
    """A logistic fraud model over the features."""

    in_: InPort[FeatureVector]
    drift: InPort[float] = port(
        description="fault knob: added to the model's logit (a stale model)",
        default=0.0,
        causal=False,
    )
    out: OutPort[ScoredTxn]

    async def process(self, in_: FeatureVector, drift: float) -> None:
        logit = (
            -6.0
            + 0.8 * in_.log_amount
            + 1.5 * in_.night
            + 1.2 * in_.foreign
            + 0.9 * in_.merchant_risk
            + drift
        )
        p = 1.0 / (1.0 + math.exp(-logit))
        await self.out.send(ScoredTxn(txn_id=in_.txn_id, amount=in_.amount, fraud_p=p))


class Triage(Component):
    """Approve a transaction whose fraud probability is below CUT, else send it to review."""

    in_: InPort[ScoredTxn]
    cut: InPort[float] = port(description="the review threshold", default=0.2)
    approve: OutPort[ScoredTxn]
    review: OutPort[ScoredTxn]

    async def process(self, in_: ScoredTxn, cut: float) -> None:
        await (self.review if in_.fraud_p >= cut else self.approve).send(in_)


class AutoApprove(Component):
    """The expected loss of an approved transaction: amount times fraud probability."""

    in_: InPort[ScoredTxn]
    out: OutPort[float]

    async def process(self, in_: ScoredTxn) -> None:
        await self.out.send(in_.amount * in_.fraud_p)


class ManualReview(Component):
    """The cost of reviewing a transaction: a fixed fee and a share of the amount."""

    in_: InPort[ScoredTxn]
    out: OutPort[float]

    async def process(self, in_: ScoredTxn) -> None:
        await self.out.send(4.0 + 0.02 * in_.amount)


class Ledger(Component):
    """Join both branches: the cost of every transaction."""

    approved: InPort[float]
    reviewed: InPort[float]
    bug: InPort[bool] = port(
        description="fault knob: review costs booked twice", default=False, causal=False
    )
    out: OutPort[float]

    async def run(self) -> None:
        bug = await self.bug.receive()
        async for source, cost in merge(self.approved, self.reviewed):
            if bug and source is self.reviewed:
                cost *= 2.0
            await self.out.send(cost, parents=[source.last_ip] if source.last_ip else None)
