"""Running small linear algebra on one BLAS thread.

The matrices of the causal layer are small (a few dozen columns): BLAS threads cost
far more in synchronisation than they save, measured at 14 ms instead of 0.3 ms for a
40x40 ``eigh`` on a busy 2-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ("one_blas_thread",)

_controller: Any = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block, and restore the limit afterwards.

    The libraries are found once per process (finding them reads the process's memory
    map, about 10 ms: more than many of the blocks this wraps).
    """
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield
