"""Benchmarks of the fbp runtime: ``python -m benchmarks --help``.

Throughput of fbp networks against the practical limit of a bare asyncio pipeline
(anyio memory object streams on their non-blocking fast path), plain ``asyncio.Queue``
pipelines and other Python stream tools (pypeln, aiostream, streamz, bytewax), doing
the same work over the same items; plus scaling to 1,000 processes, a long run that
checks memory stays flat, batched ports, and a profile of fbp's per-hop cost. See
``benchmarks/README.md``.
"""

from ._cli import main as main
from ._settings import Settings as Settings
from ._suite import run_suite as run_suite
from ._suite import select as select

__all__ = ("Settings", "main", "run_suite", "select")
