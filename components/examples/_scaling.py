"""The scaling example: a ``Reading`` model and a ``Scale`` component for it."""

from __future__ import annotations

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, port

__all__ = ("Reading", "Scale")


class Reading(BaseModel):
    """One measurement of a sensor."""

    sensor: str
    value: float


class Scale(Component):
    """Multiply every reading by a factor that arrives once, as an IIP.

    Example: ``2.0 -> FACTOR Scale(examples/Scale)``.
    """

    in_: InPort[Reading] = port(description="readings to scale")
    factor: InPort[float] = port(description="the multiplier")
    out: OutPort[Reading] = port(description="each reading with its value times FACTOR")

    async def run(self) -> None:
        factor = await self.factor.receive()
        async for r in self.in_:
            await self.out.send(r.model_copy(update={"value": r.value * factor}))
