"""A sensor ETL: calibration, a validity filter, a heat index and an alert level.

Readings (temperature, humidity) are calibrated, invalid ones (humidity above the
filter's limit) are dropped, the heat index of the valid ones is computed (the
non-linear Rothfusz regression), and an alert level (a logistic of the heat index) is
the business metric.

Knobs (``causal=False``): ``Sensors.DRIFT`` (an input shift: the sensors read warmer),
``Calibrate.BUG`` (a calibration offset applied twice), ``Valid.MAX_HUMIDITY`` (the
filter's limit), ``HeatIndex.BUG`` (the humidity term dropped).
"""

from __future__ import annotations

import math
import random

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, port


class Reading(BaseModel):
    """A raw sensor reading."""

    sensor_id: int
    temperature: float
    humidity: float


class Calibrated(BaseModel):
    """A calibrated reading."""

    temperature: float
    humidity: float


class Sensors(Component):
    """Emit N readings (reproducible with SEED)."""

    n: InPort[int] = port(description="how many readings", causal=False)
    seed: InPort[int] = port(description="random seed", default=0, causal=False)
    drift: InPort[float] = port(
        description="fault knob: degrees added to every temperature", default=0.0, causal=False
    )
    out: OutPort[Reading]

    async def run(self) -> None:
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        drift = await self.drift.receive()
        for i in range(n):
            temp = rng.gauss(29.0, 3.0) + drift
            humidity = min(100.0, max(5.0, rng.gauss(60.0, 15.0) - 1.5 * (temp - 29.0)))
            await self.out.send(
                Reading(sensor_id=i % 40, temperature=round(temp, 2), humidity=round(humidity, 1))
            )


class Calibrate(Component):
    """Correct a reading for the sensors' known bias."""

    in_: InPort[Reading]
    bug: InPort[bool] = port(
        description="fault knob: the temperature offset applied twice", default=False, causal=False
    )
    out: OutPort[Calibrated]

    async def process(self, in_: Reading, bug: bool) -> None:
        offset = -1.6 if bug else -0.8
        await self.out.send(
            Calibrated(temperature=1.01 * in_.temperature + offset, humidity=in_.humidity + 2.0)
        )


class Valid(Component):
    """Drop readings whose humidity is above MAX_HUMIDITY (a saturated sensor)."""

    in_: InPort[Calibrated]
    max_humidity: InPort[float] = port(
        description="fault knob: the filter's limit", default=80.0, causal=False
    )
    out: OutPort[Calibrated]

    async def process(self, in_: Calibrated, max_humidity: float) -> None:
        if in_.humidity <= max_humidity:
            await self.out.send(in_)


class HeatIndex(Component):
    """The heat index (degrees Celsius) of a reading, by the Rothfusz regression."""

    in_: InPort[Calibrated]
    bug: InPort[bool] = port(
        description="fault knob: the humidity term dropped", default=False, causal=False
    )
    out: OutPort[float]

    async def process(self, in_: Calibrated, bug: bool) -> None:
        t = in_.temperature * 9 / 5 + 32
        rh = 0.0 if bug else in_.humidity
        hi = (
            -42.379
            + 2.04901523 * t
            + 10.14333127 * rh
            - 0.22475541 * t * rh
            - 6.83783e-3 * t * t
            - 5.481717e-2 * rh * rh
            + 1.22874e-3 * t * t * rh
            + 8.5282e-4 * t * rh * rh
            - 1.99e-6 * t * t * rh * rh
        )
        await self.out.send((hi - 32) * 5 / 9)


class Alert(Component):
    """An alert level in [0, 100]: a logistic of the heat index around 32 degrees."""

    in_: InPort[float]
    out: OutPort[float]

    async def process(self, in_: float) -> None:
        await self.out.send(100.0 / (1.0 + math.exp(-(in_ - 32.0) / 2.0)))
