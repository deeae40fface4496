"""Run settings: what ``--quick`` and full mode mean, and the matrix's cases."""

from __future__ import annotations

from dataclasses import dataclass

from ._cases import MERGE_SOURCES, Case, Shape
from ._payloads import PayloadKind

__all__ = ("SECTIONS", "Settings", "matrix_cases")

#: The parts of a suite run, in order.
SECTIONS = ("matrix", "scaling", "memory", "batching", "profile")


@dataclass(frozen=True, slots=True)
class Settings:
    """How big a suite run is.

    Attributes:
        quick: the CI smoke mode (seconds) rather than the full mode (minutes).
        repeats: runs per tool and case; the median is reported.
        hops: channel transfers per item times items, per run (sizes each case).
        target_s: a slow tool runs fewer items, so that one run takes about this long.
        min_items: never fewer items than this.
        scale_processes: network sizes of the scaling runs.
        scale_hops: at most this many channel transfers per scaling run.
        scale_s: a scaling run that would take longer runs fewer items.
        memory_items: IPs through the memory run.
        traced_memory_ips: IPs recorded by the traced memory run.
        profile_items: items through the profiled pipeline.
    """

    quick: bool
    repeats: int
    hops: int
    target_s: float
    min_items: int
    scale_processes: tuple[int, ...]
    scale_hops: int
    scale_s: float
    memory_items: int
    traced_memory_ips: int
    profile_items: int

    @classmethod
    def make(cls, *, quick: bool, big: bool = False, repeats: int | None = None) -> Settings:
        """The settings of a mode; ``big`` forces the 10-million-IP memory run."""
        if quick:
            s = cls(
                quick=True,
                repeats=3,
                hops=12_000,
                target_s=0.015,
                min_items=200,
                scale_processes=(100, 1000),
                scale_hops=40_000,
                scale_s=0.03,
                memory_items=100_000,
                traced_memory_ips=40_000,
                profile_items=3_000,
            )
        else:
            s = cls(
                quick=False,
                repeats=5,
                hops=240_000,
                target_s=0.2,
                min_items=2_000,
                scale_processes=(100, 1000),
                scale_hops=1_000_000,
                scale_s=0.5,
                memory_items=10_000_000,
                traced_memory_ips=5_000_000,
                profile_items=40_000,
            )
        changes: dict[str, object] = {}
        if big:
            changes["memory_items"] = 10_000_000
        if repeats is not None:
            changes["repeats"] = repeats
        return s.replace(**changes) if changes else s

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)  # type: ignore[arg-type]


def _case(shape: Shape, stages: int, payload: PayloadKind, s: Settings) -> Case:
    name = f"linear-k{stages}-{payload}" if shape == "linear" else f"{shape}-{payload}"
    probe = Case(name, shape, stages, payload, 1)
    items = max(s.min_items, s.hops // probe.hops)
    items -= items % MERGE_SOURCES
    return Case(name, shape, stages, payload, items)


def matrix_cases(s: Settings) -> list[Case]:
    """The cases of the comparison matrix."""
    return [
        _case("linear", 1, "int", s),
        _case("linear", 5, "int", s),
        _case("linear", 20, "int", s),
        _case("linear", 5, "small", s),
        _case("linear", 5, "wide", s),
        _case("diamond", 0, "int", s),
        _case("merge", 0, "int", s),
    ]
