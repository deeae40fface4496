"""Running async code to its end from synchronous code, notebooks included."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

__all__ = ("run_sync",)

T = TypeVar("T")


def run_sync(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` to its end on a new event loop, even where one already runs here.

    Where an event loop already runs in this thread (a Jupyter notebook's cell), a second
    one cannot: ``main()`` then runs on an event loop of its own in a worker thread, and
    this call waits for it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(main)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fbp-run") as pool:
        return pool.submit(anyio.run, main).result()
