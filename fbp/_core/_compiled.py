"""The optional compiled modules, loaded in one place that remembers why one is not used.

fbp's hot paths have C versions (``setup.py`` builds them where a compiler is
available): ``fbp._core._accel`` (the traced send), ``fbp._core._fastports`` (the port
and channel fast paths), ``fbp.tracing._split`` (a commit of records into columns) and
``fbp.tracing._scan`` (the passes over a run's columns). Each has a Python twin with the
same results, used when the compiled module is not there.

Three cases are told apart, because only one of them is the user's choice:

- ``FBP_NO_ACCEL`` is set: the Python paths are chosen; nothing is said.
- The module was not built (no compiler at install time): the Python paths run, and
  the runtime says so once per process (:func:`fbp._core._fast.report_missing`).
- The module was built but cannot be loaded (built for another Python, a stale build
  left after an upgrade, a missing symbol, a build of older sources whose ``API``
  constant is not the one these sources need): a :class:`RuntimeWarning` names the module,
  the loader's error and the fix, at the moment it is loaded. Without it a broken
  build would silently make every run slower.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Final

__all__ = ("MODULES", "load", "reason", "status")

#: Every optional compiled module, by import name.
MODULES: Final = (
    "fbp._core._accel",
    "fbp._core._fastports",
    "fbp.tracing._split",
    "fbp.tracing._scan",
)

#: The API version a module built from these sources has (its ``API`` constant; 1 when
#: it has none): a build of older sources loads but lacks what the Python side calls.
_API: Final = {"fbp._core._fastports": 3}

#: Why each module looked up is not used ("" when it is).
_why: dict[str, str] = {}


def load(name: str) -> ModuleType | None:
    """The compiled module ``name``, or None (and the reason remembered) when it is
    turned off, not built, or built but not loadable (which also warns)."""
    if os.environ.get("FBP_NO_ACCEL"):
        _why[name] = "turned off by FBP_NO_ACCEL"
        return None
    try:
        module = importlib.import_module(name)
        api = getattr(module, "API", 1)
        if api != _API.get(name, 1):
            msg = f"built from other sources (API {api}, these sources need {_API.get(name, 1)})"
            raise ImportError(msg)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise  # something the module imports is missing: a real error
        _why[name] = "not built"
        return None
    except ImportError as e:
        _why[name] = f"built but cannot be loaded: {e}"
        warnings.warn(
            f"{name} is built but cannot be loaded ({e}); fbp runs the Python path"
            " instead, which is slower. Rebuild it: pip install --force-reinstall"
            " --no-deps fbp-causal (from a checkout: pip install --no-build-isolation"
            " --no-deps -e .), or set FBP_NO_ACCEL=1 to choose the Python paths",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    _why[name] = ""
    return module


def reason(name: str) -> str:
    """Why the module ``name``, looked up with :func:`load` before, is not used ("" when
    it is)."""
    return _why[name]


def status() -> dict[str, str]:
    """Each optional compiled module and why it is not used ("" when it is), loading
    those not looked up yet."""
    for name in MODULES:
        if name not in _why:
            load(name)
    return {name: _why[name] for name in MODULES}
