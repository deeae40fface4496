"""Saving and loading fitted models, refusing files written by incompatible versions.

A saved model is a pickle of a dict: a format name and version, the versions of the
libraries whose objects it holds, and the model's parts. Pickled scikit-learn and
dowhy objects are only safe to load with the versions that wrote them, so a mismatch
of any of them (major.minor) is an error unless ``strict=False``.
"""

from __future__ import annotations

import os
import pickle
import sys
from importlib import metadata
from typing import TYPE_CHECKING

import pandas as pd

from fbp._core._exceptions import CausalModelError

from .._deps import require

if TYPE_CHECKING:
    from ._fit import FittedModel

__all__ = ("FORMAT", "FORMAT_VERSION", "library_versions", "load_model", "save_model")

FORMAT = "fbp.causal.FittedModel"
FORMAT_VERSION = 1
_LIBRARIES = ("dowhy", "scikit-learn", "numpy", "pandas", "networkx")


def library_versions() -> dict[str, str]:
    """Return the versions of Python and of the libraries a saved model depends on."""
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are installed
            out[lib] = "missing"
    return out


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def save_model(model: FittedModel, path: str | os.PathLike[str], *, include_data: bool) -> None:
    """Pickle ``model`` to ``path`` with its format and library versions."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": library_versions(),
        "graph": model.graph,
        "scm": model.scm,
        "data": model.data if include_data else model.data.iloc[:0],
        "mechanisms": dict(model.mechanisms),
        "seed": model.seed,
    }
    with open(path, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_model(path: str | os.PathLike[str], *, strict: bool) -> FittedModel:
    """Unpickle a model written by :func:`save_model`, checking format and versions."""
    from .._tables._graph import CausalGraph
    from ._fit import FittedModel

    require("dowhy.gcm")  # the pickle holds dowhy objects
    try:
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
    except FileNotFoundError:
        msg = f"no saved causal model at {os.fspath(path)!r}; write one with FittedModel.save"
        raise CausalModelError(msg) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ModuleNotFoundError,
        ImportError,
    ) as exc:
        msg = (
            f"{os.fspath(path)!r} is not a readable saved causal model ({exc}); refit "
            "with fbp.causal.fit and save again"
        )
        raise CausalModelError(msg) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        msg = f"{os.fspath(path)!r} is not a saved causal model (no {FORMAT!r} header)"
        raise CausalModelError(msg)
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        msg = (
            f"{os.fspath(path)!r} has model format version {version}, this fbp reads version "
            f"{FORMAT_VERSION}; refit with fbp.causal.fit and save again"
        )
        raise CausalModelError(msg)
    saved: dict[str, str] = payload.get("versions", {})
    now = library_versions()
    diff = [
        f"{lib} {saved.get(lib, '?')} (now {now[lib]})"
        for lib in ("python", *_LIBRARIES)
        if _minor(saved.get(lib, "?")) != _minor(now[lib])
    ]
    if diff and strict:
        msg = (
            f"{os.fspath(path)!r} was saved with " + ", ".join(diff) + "; pickled models are "
            "only safe with the versions that wrote them: refit and save again, or load with "
            "strict=False if you accept the risk"
        )
        raise CausalModelError(msg)
    cg = CausalGraph.from_networkx(payload["graph"])
    data: pd.DataFrame = payload["data"]
    return FittedModel(cg, payload["scm"], data, payload["mechanisms"], payload["seed"])
