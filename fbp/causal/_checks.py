"""Checks of the arguments the causal queries share, so that each query says the same words."""

from __future__ import annotations

from fbp._core._exceptions import CausalModelError

from ._model._fit import FittedModel

__all__ = ("check_fraction", "check_method", "require_fitted")


def require_fitted(model: object, query: str) -> None:
    """Raise unless ``model`` is a :class:`FittedModel`: ``query`` (as ``anomaly()``)
    names the function in the message."""
    if not isinstance(model, FittedModel):
        msg = f"{query} needs a FittedModel from fbp.causal.fit, got {type(model).__name__}"
        raise CausalModelError(msg)


def check_method(method: str) -> None:
    """Raise unless ``method`` is one of the two every query offers."""
    if method not in ("fast", "dowhy"):
        msg = f"unknown method {method!r}; use 'fast' or 'dowhy'"
        raise CausalModelError(msg)


def check_fraction(name: str, value: float, example: str | None = None) -> None:
    """Raise unless ``0 < value < 1`` (a confidence, a significance level); the message
    suggests ``example`` when given."""
    if not 0.0 < value < 1.0:
        hint = f"; use e.g. {example}" if example else ""
        msg = f"{name} must be between 0 and 1, got {value}{hint}"
        raise CausalModelError(msg)
