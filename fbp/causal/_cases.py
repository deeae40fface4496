"""Former home of the fault cases: they are public in :mod:`fbp.causal.testing`."""

from __future__ import annotations

from .testing import FAULT_KINDS, FaultCase, FaultKind, fault_case

__all__ = ("FAULT_KINDS", "FaultCase", "FaultKind", "fault_case")
