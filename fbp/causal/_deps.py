"""The causal layer's optional dependencies, with an install hint when one is missing."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ("INSTALL_HINT", "require")

INSTALL_HINT = "install the causal extra: pip install 'fbp-causal[causal]'"


def require(module: str) -> Any:
    """Import ``module``, or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        msg = f"fbp.causal needs {missing!r}, which is not installed; {INSTALL_HINT}"
        raise ImportError(msg) from exc
