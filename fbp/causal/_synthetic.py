"""Former home of the synthetic networks: they are public in :mod:`fbp.causal.testing`."""

from __future__ import annotations

from .testing import Fault, Kind, SyntheticNetwork, SyntheticProcess, make_network

__all__ = ("Fault", "Kind", "SyntheticNetwork", "SyntheticProcess", "make_network")
