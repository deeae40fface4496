"""The ML deployment application: ingest, clean, features, model, decision, metric.

Loan applications arrive (income, debt, age, a sometimes-missing credit history length);
cleaning clips outliers and fills gaps; features are ratios and logs; a logistic model
scores the default risk; the decision approves below a risk threshold (a real
parameter, THRESHOLD); the business metric is the revenue of each application (interest
earned on approved good loans, losses on approved defaults, nothing when refused).

Knobs (``causal=False``): ``Ingest.INCOME_SCALE`` (an upstream data shift, e.g. a
currency change), ``Clean.BUG`` (outlier clipping disabled by a bad deploy),
``Score.DRIFT`` (stale model weights pushed to production).

``CleanV2`` and ``ScoreV2`` are the next release of two of its components, the code
change that ``fbp replay`` and ``fbp causal replay-shift`` try on recorded runs.
"""

from __future__ import annotations

import math
import random

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, port


class Application(BaseModel):
    """A loan application as it arrives."""

    app_id: int
    income: float
    debt: float
    age: int
    history_years: float | None
    defaults: bool  # the ground truth, known later; used only for the metric


class Cleaned(BaseModel):
    """An application after cleaning."""

    app_id: int
    income: float
    debt: float
    age: int
    history_years: float
    defaults: bool


class FeatureRow(BaseModel):
    """Model inputs."""

    app_id: int
    debt_ratio: float
    log_income: float
    history_years: float
    amount: float
    defaults: bool


class Scored(BaseModel):
    """A scored application."""

    app_id: int
    risk: float
    amount: float
    defaults: bool


class Decision(BaseModel):
    """The decision on an application."""

    app_id: int
    approved: bool
    amount: float
    defaults: bool


class Ingest(Component):
    """Generate N applications (reproducible with SEED)."""

    n: InPort[int] = port(description="how many applications", causal=False)
    seed: InPort[int] = port(description="random seed", default=0, causal=False)
    income_scale: InPort[float] = port(
        description="fault knob: multiply incomes (upstream data shift)",
        default=1.0,
        causal=False,
    )
    out: OutPort[Application]

    async def run(self) -> None:
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        scale = await self.income_scale.receive()
        for i in range(n):
            income = rng.lognormvariate(10.5, 0.5)
            if rng.random() < 0.02:
                income *= 20  # data-entry outliers
            debt = max(0.0, rng.gauss(0.3, 0.15)) * income
            history = rng.uniform(0, 25) if rng.random() > 0.1 else None
            risk = 1 / (1 + math.exp(-(3 * debt / income - 0.08 * (history or 5) - 0.5)))
            await self.out.send(
                Application(
                    app_id=i,
                    income=income * scale,
                    debt=debt * scale,
                    age=rng.randint(21, 75),
                    history_years=history,
                    defaults=rng.random() < risk,
                )
            )


class Clean(Component):
    """Clip incomes above CAP and fill a missing credit history with 5 years."""

    in_: InPort[Application]
    cap: InPort[float] = port(description="income cap", default=300_000.0, causal=False)
    bug: InPort[bool] = port(
        description="fault knob: clipping disabled", default=False, causal=False
    )
    out: OutPort[Cleaned]

    async def process(self, in_: Application, cap: float, bug: bool) -> None:
        income = in_.income if bug else min(in_.income, cap)
        await self.out.send(
            Cleaned(
                app_id=in_.app_id,
                income=income,
                debt=in_.debt,
                age=in_.age,
                history_years=in_.history_years if in_.history_years is not None else 5.0,
                defaults=in_.defaults,
            )
        )


class Features(Component):
    """Compute the debt ratio, log income and the requested amount."""

    in_: InPort[Cleaned]
    out: OutPort[FeatureRow]

    async def process(self, in_: Cleaned) -> None:
        await self.out.send(
            FeatureRow(
                app_id=in_.app_id,
                debt_ratio=in_.debt / max(in_.income, 1.0),
                log_income=math.log(max(in_.income, 1.0)),
                history_years=in_.history_years,
                amount=0.2 * in_.income,
                defaults=in_.defaults,
            )
        )


class Score(Component):
    """Score default risk with a logistic model."""

    in_: InPort[FeatureRow]
    drift: InPort[float] = port(
        description="fault knob: stale weights (0 = current)", default=0.0, causal=False
    )
    out: OutPort[Scored]

    async def process(self, in_: FeatureRow, drift: float) -> None:
        z = (3.0 - drift) * in_.debt_ratio - 0.08 * in_.history_years - 0.5
        await self.out.send(
            Scored(
                app_id=in_.app_id,
                risk=1 / (1 + math.exp(-z)),
                amount=in_.amount,
                defaults=in_.defaults,
            )
        )


class CleanV2(Clean):
    """The next release of Clean: a lower income cap and a shorter history for gaps."""

    async def process(self, in_: Application, cap: float, bug: bool) -> None:
        income = in_.income if bug else min(in_.income, 0.8 * cap)
        await self.out.send(
            Cleaned(
                app_id=in_.app_id,
                income=income,
                debt=in_.debt,
                age=in_.age,
                history_years=in_.history_years if in_.history_years is not None else 3.0,
                defaults=in_.defaults,
            )
        )


class ScoreV2(Score):
    """The retrained model: the same features, refitted weights."""

    async def process(self, in_: FeatureRow, drift: float) -> None:
        z = (3.6 - drift) * in_.debt_ratio - 0.1 * in_.history_years - 0.7
        await self.out.send(
            Scored(
                app_id=in_.app_id,
                risk=1 / (1 + math.exp(-z)),
                amount=in_.amount,
                defaults=in_.defaults,
            )
        )


class Decide(Component):
    """Approve applications whose risk is below THRESHOLD."""

    in_: InPort[Scored]
    threshold: InPort[float] = port(description="the highest risk approved", default=0.35)
    out: OutPort[Decision]

    async def process(self, in_: Scored, threshold: float) -> None:
        await self.out.send(
            Decision(
                app_id=in_.app_id,
                approved=in_.risk < threshold,
                amount=in_.amount,
                defaults=in_.defaults,
            )
        )


class Revenue(Component):
    """The business metric: interest on good approved loans, losses on defaults."""

    in_: InPort[Decision]
    out: OutPort[float]

    async def process(self, in_: Decision) -> None:
        if not in_.approved:
            value = 0.0
        elif in_.defaults:
            value = -0.5 * in_.amount
        else:
            value = 0.08 * in_.amount
        await self.out.send(value)
