"""Checking and encoding the DataFrames a query is given.

One row per unit of work, one column per variable. Columns must be numeric, boolean or
pandas ``category``; categories are encoded as integer codes over the union of the
categories seen in every frame, so "before" and "after" share one code book.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fbp._core._exceptions import CausalModelError

from ._graph import suggest

__all__ = (
    "MIN_ROWS",
    "Encoded",
    "encode",
    "to_dowhy_frame",
)

MIN_ROWS = 20
"""The fewest rows a frame may have; below this no test or fit means anything."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """Frames encoded as float matrices over a shared column order.

    Attributes:
        columns: the variables, in the order of the matrix columns.
        arrays: one ``(rows, len(columns))`` float64 matrix per frame.
        categories: category labels of every categorical column; its codes are
            ``0 .. len(labels) - 1``.
    """

    columns: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]
    categories: Mapping[str, tuple[str, ...]]

    def is_categorical(self, column: str) -> bool:
        """Return whether ``column`` holds category codes."""
        return column in self.categories


def _check_frame(frame: object, name: str, columns: Sequence[str], min_rows: int) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        msg = (
            f"{name} must be a pandas DataFrame with one column per variable, "
            f"got {type(frame).__name__}"
        )
        raise CausalModelError(msg)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hint = suggest(str(missing[0]), [str(c) for c in frame.columns])
        msg = (
            f"{name} has no column for variable(s) {missing[:5]}"
            f"{' (and more)' if len(missing) > 5 else ''}{hint or ''}; "
            "the frame needs one column per node of the causal graph"
        )
        raise CausalModelError(msg)
    if len(frame) < min_rows:
        msg = (
            f"{name} has {len(frame)} row(s); the causal layer needs at least {min_rows} "
            "units of work per frame: trace a longer run"
        )
        raise CausalModelError(msg)
    for col in columns:
        dtype = frame[col].dtype
        ok = (
            isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_numeric_dtype(dtype)
        ) and not pd.api.types.is_complex_dtype(dtype)
        if not ok:
            msg = (
                f"{name} column {col!r} has dtype {dtype}; causal variables must be numeric, "
                "bool or pandas 'category': project payloads to a number, or convert "
                f"labels with {name}[{col!r}].astype('category')"
            )
            raise CausalModelError(msg)
        if frame[col].isna().any():
            n = int(frame[col].isna().sum())
            msg = (
                f"{name} column {col!r} has {n} missing value(s); a port that did not fire "
                "is structural: fill its value with 0 and add an indicator variable"
            )
            raise CausalModelError(msg)
    return frame


def encode(
    frames: Sequence[object],
    names: Sequence[str],
    columns: Sequence[str],
    *,
    min_rows: int = MIN_ROWS,
) -> Encoded:
    """Check ``frames`` and encode ``columns`` of each as a float matrix.

    Args:
        frames: the DataFrames, e.g. ``(before, after)``.
        names: how errors call each frame (``"before"``).
        columns: the variables to keep, in order.
        min_rows: the fewest rows a frame may have.

    Raises:
        CausalModelError: a frame is not a DataFrame, lacks a column, has a column
            that is not numeric, bool or category, has missing values, or has too few
            rows.
    """
    checked = [_check_frame(f, n, columns, min_rows) for f, n in zip(frames, names, strict=True)]
    categories: dict[str, tuple[str, ...]] = {}
    for col in columns:
        if any(isinstance(f[col].dtype, pd.CategoricalDtype) for f in checked):
            seen: set[str] = set()
            for f in checked:
                s = f[col]
                cats = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else s.unique()
                seen.update(str(v) for v in cats)
            categories[col] = tuple(sorted(seen))
    arrays = []
    for f, name in zip(checked, names, strict=True):
        out = np.empty((len(f), len(columns)), dtype=np.float64)
        for j, col in enumerate(columns):
            s = f[col]
            if col in categories:
                labels = pd.Index(categories[col])
                out[:, j] = pd.Categorical(s.astype(str), categories=labels).codes
            else:
                out[:, j] = s.to_numpy(dtype=np.float64)
                if not np.isfinite(out[:, j]).all():
                    msg = (
                        f"{name} column {col!r} has infinite values; clip or drop them "
                        "before asking causal questions"
                    )
                    raise CausalModelError(msg)
        arrays.append(out)
    return Encoded(tuple(columns), tuple(arrays), categories)


def to_dowhy_frame(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return ``frame[columns]`` as dowhy wants it: floats, and categories as strings."""
    out = {}
    for col in columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(str).astype(object)
        else:
            out[col] = s.astype(np.float64)
    return pd.DataFrame(out, index=frame.index)
