"""Shared fixtures: behavioural tests run at several channel capacities."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[0, 1, 3, 32], ids=lambda c: f"cap{c}")
def capacity(request: pytest.FixtureRequest) -> int:
    """Edge capacities where back-pressure bugs like to hide."""
    return int(request.param)
